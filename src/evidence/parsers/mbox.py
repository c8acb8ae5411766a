"""mbox mailboxes: messages separated by "From " lines, read one at a time so a mailbox may be gigabytes.

Each message goes through `mail.message.read_message`, so it yields exactly what the same message saved as
an .eml would. Locators are `msg/N;offset=B`: N counts messages from 1 in file order and B is the byte
offset of the message's "From " separator line, so an examiner can find it in the original with any tool.
Attachments are at `msg/N/part/...`.

Splitting: a line is a separator only if it starts with "From " and carries a time and a four-digit year
(`From sender Sat Jan  3 01:05:34 1996`), so an unquoted "From what I heard" in a body does not cut a
message in two. Quoted lines are unquoted the mboxrd way (">From " -> "From ", ">>From " -> ">From ");
for mboxo files that is right for every line the writer quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from evidence.errors import is_disk_full
from evidence.parsers.base import Parser, Sample
from evidence.parsers.registry import register
from evidence.timeutil import TimeValue

if TYPE_CHECKING:
    from evidence.parsers.context import ParseContext

# The mail reader (parsers/mail/) is imported where used: the email package's parsers are only loaded
# when mail is read.
PLATFORM = "email"

_TIME = re.compile(rb"\d{1,2}:\d{2}")
_YEAR = re.compile(rb"(?<!\d)\d{4}(?!\d)")
_SEPARATOR = re.compile(rb"^From \S+ +\S")
_QUOTED_FROM = re.compile(rb"^>+From ")


def is_separator(line: bytes) -> bool:
    """An mbox "From " line: sender then a date with a time and a year."""
    return bool(_SEPARATOR.match(line) and _TIME.search(line) and _YEAR.search(line))


# A separator with one character damaged or lost ("Frxm sender Thu ...", "Fom", "Fromsender", a year
# "2X24"): no separator by the rule above, so the next message's header fields and body used to be read as
# the end of the message before it, under its sender. Taken as a separator only after a blank line (mbox
# writes one before each) and before a header field line.
_FROM_DAMAGED = rb"(?:.rom|F.om|Fr.m|Fro.|From|rom|Fom|Frm|Fro)"  # "From" with one letter changed or lost
_NEAR_SEPARATOR = re.compile(rb"^" + _FROM_DAMAGED + rb"[ \t]?\S+ +\S")
_HEADER_FIELD = re.compile(rb"^[A-Za-z][A-Za-z0-9-]{1,60}:[ \t]")
# A separator split in two by an inserted line break ("From a@b.org Mon Mar  4 21:07:00 20" then "24"):
# its first part begins like one, and the two put back together must be one (_near_separator).
_NEAR_SEPARATOR_WORD = re.compile(rb"^(?:" + _FROM_DAMAGED + rb"[ \t]?\S|F(?:r(?:om?)?)?[ \t]?\r?\n)")
_SPLIT_REST_BYTES = 120  # the longest second part taken (a separator line is rarely longer)
DAMAGED_SEPARATOR = "separator_damaged"


# The end of a separator after zero bytes ("...\x00\x00 Thu Mar  7 10:30:00 2024"): a zeroed run took the
# blank line and the start of the separator, and what is left sits at the end of the message before it.
_ZEROED_SEPARATOR = re.compile(rb"\x00[^\x00]*\d{1,2}:\d{2}[^\x00]*(?<!\d)\d{4}\s*$")


def _glued_separator(line: bytes) -> bool:
    """A whole separator after one stray character: the blank line before it became that character."""
    return line[1:6] == b"From " and is_separator(line[1:])


def _near_separator(line: bytes) -> bool:
    return bool(_NEAR_SEPARATOR.match(line) and (_TIME.search(line) or _YEAR.search(line)))


@dataclass
class MboxMessage:
    index: int
    offset: int
    separator: bytes
    raw: bytes
    damaged_separator: bool = False  # begun at a damaged separator line (see _NEAR_SEPARATOR)


class MboxReader:
    """Iterates over the messages of an open binary mbox file line by line, never holding more than one."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.leading_bytes = 0  # non-blank bytes before the first separator (not part of any message)

    def __iter__(self) -> Iterator[MboxMessage]:
        index = 0
        offset = 0
        start = 0
        separator = b""
        damaged = False
        lines: list[bytes] = []
        # a damaged-looking separator (and the line after it, when a line break was inserted into it), until
        # the next line tells
        held: tuple[bytes, int, list[bytes]] | None = None
        for line in self.handle:
            if held is not None:
                candidate, candidate_offset, rest = held
                held = None
                whole = candidate.rstrip(b"\r\n") + rest[0] if rest else candidate
                zeroed = b"\x00" in candidate  # a zeroed line stays with the message it ends
                if _HEADER_FIELD.match(line) and (
                    zeroed or _near_separator(whole) or _glued_separator(whole)
                ):
                    yield MboxMessage(
                        index, start, separator, _join([*lines, candidate] if zeroed else lines), damaged
                    )
                    index += 1
                    start = offset if zeroed else candidate_offset
                    separator, lines, damaged = whole, [], True
                elif (
                    not rest
                    and not zeroed
                    and (line.strip() or _near_separator(candidate))
                    and len(line) <= _SPLIT_REST_BYTES
                    and not (line.startswith(b"From ") and is_separator(line))
                ):
                    # perhaps the rest of a split separator, or (a blank line) the end of one whose last
                    # character became a line break
                    held = (candidate, candidate_offset, [line])
                    offset += len(line)
                    continue
                else:
                    lines += [candidate, *map(_unquoted, rest)]
            if line.startswith(b"From ") and is_separator(line):
                if index:
                    yield MboxMessage(index, start, separator, _join(lines), damaged)
                index += 1
                start, separator, lines, damaged = offset, line, [], False
            elif not index:
                self.leading_bytes += len(line) if line.strip() else 0
            elif (
                (lines and lines[-1] in (b"\n", b"\r\n") and _NEAR_SEPARATOR_WORD.match(line))
                or _glued_separator(line)
                or (b"\x00" in line and _ZEROED_SEPARATOR.search(line))
            ):
                held = (line, offset, [])
            else:
                lines.append(_unquoted(line))
            offset += len(line)
        if held is not None:
            lines += [held[0], *map(_unquoted, held[2])]
        if index:
            yield MboxMessage(index, start, separator, _join(lines), damaged)


def _unquoted(line: bytes) -> bytes:
    """A body line as written before mbox quoted it (">From " back to "From ")."""
    return line[1:] if _QUOTED_FROM.match(line) else line


def _join(lines: list[bytes]) -> bytes:
    """A message's bytes without the blank line that mbox puts before the next separator."""
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(lines)


@register
class MboxParser(Parser):
    """mbox mailbox (mboxo/mboxrd), streamed message by message."""

    name = "mbox"
    version = "1"
    platform = PLATFORM
    description = "mbox mailbox (Thunderbird, Apple Mail, Google Takeout, mutt)"

    def sniff(self, sample: Sample) -> bool:
        from evidence.parsers.mail.headers import header_block, sample_lines

        lines = sample_lines(sample)
        if not lines or not is_separator(lines[0].encode("latin-1")):
            return False
        fields = header_block(lines[1:])
        return bool(fields) and any(name in _MAIL_FIELDS for name, _ in fields)  # type: ignore[union-attr]

    def parse(self, ctx: ParseContext) -> None:
        from evidence.parsers.mail.message import read_message

        mailbox = ctx.name
        with ctx.open() as handle:
            reader = MboxReader(handle)
            for item in reader:
                locator = f"msg/{item.index};offset={item.offset}"
                if not item.raw.strip():
                    ctx.warn("empty message (a separator line with nothing after it)", locator)
                    continue
                before = ctx.message_count
                if item.damaged_separator:
                    ctx.warn(
                        f'the "From " line that begins this message is damaged ({_shown(item.separator)}); a header '
                        "block follows it, so a new message was begun there, as a separator would; flagged "
                        f"{DAMAGED_SEPARATOR}",
                        locator,
                    )
                try:
                    read_message(
                        ctx,
                        item.raw,
                        locator=locator,
                        part_prefix=f"msg/{item.index}/",
                        mailbox=mailbox,
                        flags=(DAMAGED_SEPARATOR,) if item.damaged_separator else (),
                    )
                except Exception as exc:
                    # One message must not cost the mailbox. Not mail (ValueError), or a failure nobody
                    # foresaw while reading it: it is in the mailbox, so its text is kept visible. A full
                    # disk stops the run, and a failure after the message was recorded is not papered over.
                    if is_disk_full(exc) or ctx.message_count != before:
                        raise
                    reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
                    ctx.warn(f"message could not be read as mail ({reason}); kept as text", locator)
                    ctx.add_message(
                        platform=PLATFORM,
                        kind="email",
                        locator=locator,
                        time=TimeValue.missing(None),
                        body=item.raw.decode("utf-8", errors="replace"),
                        conversation=mailbox,
                        flags=["not_mail", *([DAMAGED_SEPARATOR] if item.damaged_separator else [])],
                    )
            if reader.leading_bytes:
                ctx.warn(
                    f'{reader.leading_bytes} bytes before the first "From " line are not part of any message'
                )
            if not ctx.message_count:
                raise ValueError("no messages found in the mailbox")


def _shown(line: bytes) -> str:
    return repr(line.rstrip(b"\r\n").decode("latin-1")[:120])


_MAIL_FIELDS = frozenset(
    {"from", "to", "subject", "date", "message-id", "received", "return-path", "mime-version"}
)
