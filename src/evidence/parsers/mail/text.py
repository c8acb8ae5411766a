"""Text of a mail message: bytes in unknown or wrong charsets decoded with a warning and a flag, HTML bodies
made readable. Every repair is recorded on the message (MessageState), never done silently."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from html import unescape
from typing import TYPE_CHECKING

from evidence.parsers.export_text import MAX_HTML_DEPTH, HtmlTooDeepError, read_html

if TYPE_CHECKING:
    from evidence.parsers.context import ParseContext

_TAG = re.compile(r"<[^>]*>")  # a tag, comment or declaration, for the fallback of html_to_text


@dataclass
class MessageState:
    """What one message collects while it is read: warnings are sent at once, flags go on the row."""

    ctx: ParseContext
    locator: str
    flags: list[str] = field(default_factory=list)

    def warn(self, text: str, locator: str | None = None) -> None:
        self.ctx.warn(text, locator or self.locator)

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)


def _has_surrogates(text: str) -> bool:
    if text.isascii():  # most header values and bodies: checked in C
        return False
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def decode_8bit(data: bytes) -> tuple[str, str, bool]:
    """Bytes of unknown charset -> (text, charset used, lossy). UTF-8 when it is mostly UTF-8, else cp1252."""
    try:
        return data.decode("utf-8"), "utf-8", False
    except UnicodeDecodeError:
        pass
    lenient = data.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    good = sum(1 for ch in lenient if ord(ch) > 127 and ch != "\ufffd")
    if good > bad:
        return lenient, "utf-8", True
    try:
        return data.decode("cp1252"), "windows-1252", True
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1", True


def clean_text(text: str, state: MessageState, what: str) -> str:
    """Turn raw bytes the parser kept as surrogates into characters, with a warning and a flag."""
    if not _has_surrogates(text):
        return text
    raw = text.encode("utf-8", errors="surrogateescape")
    decoded, charset, _ = decode_8bit(raw)
    state.warn(
        f"{what} contains undecodable 8-bit bytes (raw, or in an unknown charset); decoded as {charset}"
    )
    state.flag("decode_errors")
    return decoded


def decode_payload(data: bytes, charset: str | None, state: MessageState, locator: str) -> str:
    """Body bytes -> text in the declared charset, falling back (with a warning) when it does not fit."""
    declared = (charset or "us-ascii").strip().lower()
    try:
        codecs.lookup(declared)
    except (LookupError, ValueError):  # unknown name, or one with a NUL in it
        state.warn(f"unknown charset {declared!r}; decoded as UTF-8 or Windows-1252", locator)
        state.flag("decode_errors")
        return decode_8bit(data)[0]
    try:
        return data.decode(declared)
    except (LookupError, ValueError):  # invalid bytes (UnicodeError), or a non-text codec such as rot13
        text, used, _ = decode_8bit(data)
        state.warn(f"text is not valid {declared}; decoded as {used}", locator)
        state.flag("decode_errors")
        return text


def html_to_text(html: str, state: MessageState | None = None) -> str:
    """Readable text of an HTML body: scripts and styles dropped, one line per block, no blank runs.

    A body nested too deeply to read in reasonable time (export_text.MAX_HTML_DEPTH) keeps its text with
    every tag removed instead, flagged `html_not_rendered` (with a warning) when the message is known.
    """
    try:
        soup = read_html(html)
    except HtmlTooDeepError:
        if state is not None:
            state.warn(
                f"HTML body nested more than {MAX_HTML_DEPTH} elements deep (closing tags missing all the way "
                "down); its text was kept with the tags removed instead of being rendered"
            )
            state.flag("html_not_rendered")
        pieces = (unescape(" ".join(piece.split())) for piece in _TAG.split(html))
        return "\n".join(piece for piece in pieces if piece)
    for node in soup(["script", "style", "head", "title"]):
        node.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    text = soup.get_text("\n")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def tidy_body(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").rstrip()
