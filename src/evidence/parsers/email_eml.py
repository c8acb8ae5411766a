"""One RFC 5322 mail message (.eml, or any text file that is a mail message), read by the one mail reader
(parsers/mail/message.py, whose docstring says how a mail becomes rows)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evidence.parsers.base import Parser, Sample
from evidence.parsers.mail.headers import header_block, looks_like_headers, sample_lines
from evidence.parsers.mail.message import PLATFORM, read_message
from evidence.parsers.registry import register

if TYPE_CHECKING:
    from evidence.parsers.context import ParseContext


@register
class EmailParser(Parser):
    """A single RFC 5322 message; conversation is the thread subject (see parsers/mail/message.py)."""

    name = "email_eml"
    version = "1"
    platform = PLATFORM
    description = "Single email message (.eml / RFC 5322 text)"

    def sniff(self, sample: Sample) -> bool:
        return looks_like_headers(header_block(sample_lines(sample)))

    def parse(self, ctx: ParseContext) -> None:
        read_message(ctx, ctx.read_bytes(), locator="message", mailbox=ctx.name)
