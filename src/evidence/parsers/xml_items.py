"""Reading XML backups that hold one element per item (`<smses>` of `<sms>`), damaged ones included.

A phone backup can hold years of a victim's messages; a few damaged bytes must cost the items they hit,
not the whole file. Three kinds of damage are repaired or worked around, each counted so that the
parser can warn:

- numeric character references no XML parser accepts (SMS Backup & Restore writes emoji as UTF-16
  surrogate pairs, `&#55357;&#56832;`): pairs are combined into the character, anything else forbidden
  becomes U+FFFD;
- bytes that are not UTF-8 and raw control characters (a damaged copy, a bad sector): U+FFFD;
- anything else that stops the XML parser part-way (a tag cut in two, a lost quote): the rest of the
  file is read again item by item, each item's bytes running from its start tag to the next item's, so
  only the damaged items are lost, and each is named by its line.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

REPLACEMENT = "\ufffd".encode()
# C0 controls XML 1.0 forbids (tab, line feed and carriage return are allowed).
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_DECLARATION = re.compile(rb"\s*(<\?xml[^>]*\?>)")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)""")
CHUNK = 1 << 20
_HEAD = 256  # bytes that show a file's encoding (a byte order mark, the XML declaration)


def repair_mode(head: bytes) -> str:
    """What may be repaired in a file starting with `head`.

    "utf-8": bytes that are not UTF-8 and control characters; "control": control characters only (a
    single-byte encoding, where every byte is some character); "none": UTF-16 or UTF-32, where NUL bytes
    are part of every character and items cannot be found by their ASCII start tags.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head[:4]:
        return "none"
    declaration = _DECLARATION.match(head)
    encoding = _ENCODING.search(declaration.group(1)) if declaration else None
    if encoding and encoding.group(1).lower() not in (b"utf-8", b"utf8"):
        return "none" if encoding.group(1).lower().startswith((b"utf-16", b"utf-32", b"ucs")) else "control"
    return "utf-8"


def _whole_characters(data: bytes | bytearray, cut: int) -> int:
    """`cut` moved back to the start of a UTF-8 sequence that it would split in two."""
    i = cut - 1
    while i >= 0 and cut - i <= 4 and data[i] & 0xC0 == 0x80:
        i -= 1
    if i >= 0 and data[i] >= 0xC0:
        length = 2 if data[i] < 0xE0 else 3 if data[i] < 0xF0 else 4
        if i + length > cut:
            return i
    return cut


class CharRefFixer:
    """File wrapper that repairs what stops an XML parser at the character level, counting each kind."""

    _REF = re.compile(rb"&#(x[0-9a-fA-F]{1,8}|[0-9]{1,10});(?:&#(x[0-9a-fA-F]{1,8}|[0-9]{1,10});)?")
    _TRAILING_REF = re.compile(rb"&#(?:x[0-9a-fA-F]{1,8}|[0-9]{1,10});\Z")

    def __init__(self, raw: BinaryIO, mode: str | None = None) -> None:
        self._raw = raw
        self._pending = b""
        self.mode = mode  # repair_mode of the file; None: decided by read() on the file's first bytes
        self.replaced = 0  # character references to forbidden code points
        self.bad_bytes = 0  # invalid UTF-8 sequences and control characters

    @staticmethod
    def _value(token: bytes) -> int:
        return int(token[1:], 16) if token[:1] in (b"x", b"X") else int(token)

    @staticmethod
    def _allowed(cp: int) -> bool:
        return (
            cp in (0x9, 0xA, 0xD)
            or 0x20 <= cp <= 0xD7FF
            or 0xE000 <= cp <= 0xFFFD
            or 0x10000 <= cp <= 0x10FFFF
        )

    def _one(self, token: bytes) -> bytes:
        cp = self._value(token)
        if self._allowed(cp):
            return b"&#" + token + b";"
        self.replaced += 1
        return b"&#xFFFD;"

    def _sub(self, match: re.Match[bytes]) -> bytes:
        first, second = match.group(1), match.group(2)
        if second is not None:
            hi, lo = self._value(first), self._value(second)
            if 0xD800 <= hi <= 0xDBFF and 0xDC00 <= lo <= 0xDFFF:
                return b"&#x%X;" % (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
            return self._one(first) + self._one(second)
        return self._one(first)

    def _bytes(self, data: bytes) -> bytes:
        if self.mode == "none":
            return data
        if self.mode == "utf-8" and not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("utf-8", "replace")
                self.bad_bytes += text.count("\ufffd") - data.count(REPLACEMENT)
                data = text.encode("utf-8")
        if _CONTROL.search(data):
            data, count = _CONTROL.subn(REPLACEMENT, data)
            self.bad_bytes += count
        return data

    def repair(self, data: bytes) -> bytes:
        """Whole characters' bytes (a piece cut at an ASCII byte), repaired as the file's mode allows."""
        data = self._bytes(data)
        return self._REF.sub(self._sub, data) if b"&#" in data else data

    def read(self, size: int = -1) -> bytes:
        if self.mode is None:  # decided on the file's first bytes, however little the first read asks for
            self._pending = self._raw.read(_HEAD)
            self.mode = repair_mode(self._pending)
        while True:
            chunk = self._raw.read(size if size and size > 0 else CHUNK)
            if not chunk:
                data, self._pending = self._pending, b""
                return self.repair(data)
            data = self._pending + chunk
            # Hold back a reference that may continue in the next chunk, and the one just before it (a
            # high surrogate whose low half is being held back).
            cut = data.rfind(b"&", max(0, len(data) - 24))
            if cut < 0:
                cut = len(data)
            else:
                before = self._TRAILING_REF.search(data, 0, cut)
                if before:
                    cut = before.start()
            if self.mode == "utf-8":
                cut = _whole_characters(data, cut)
            self._pending = data[cut:]
            if cut:
                return self.repair(data[:cut])


def declaration(head: bytes) -> bytes:
    """A declaration naming the file's encoding, for reading its pieces alone. Written afresh rather than
    copied: the file's own may be what is damaged. None named (or no name readable) means UTF-8."""
    match = _DECLARATION.match(head)
    encoding = _ENCODING.search(match.group(1)) if match else None
    return b'<?xml version="1.0" encoding="%s"?>' % encoding.group(1) if encoding else b""


class ItemBytes(NamedTuple):
    """One piece of a file cut before every item's start tag."""

    tag: str | None  # the item's tag; None for the prolog and the root's start tag
    line: int  # the line the piece starts on
    data: bytes
    last: bool  # the file's last piece (which also holds the root's end tag, if the file has one)


def item_pieces(raw: BinaryIO, tags: tuple[str, ...]) -> Iterator[ItemBytes]:
    """The file cut before every start tag of an item, from its first byte to its last.

    Attribute values cannot hold a raw `<`, so in an undamaged file every cut falls between items.
    """
    start = re.compile(rb"<(" + b"|".join(re.escape(t.encode()) for t in tags) + rb")[\s/>]")
    data = bytearray()
    tag: str | None = None
    line = 1
    scan_from = 1  # past the start tag of the piece being collected
    while True:
        chunk = raw.read(CHUNK)
        data += chunk
        while (match := start.search(data, scan_from)) is not None:
            piece = bytes(data[: match.start()])
            yield ItemBytes(tag, line, piece, last=False)
            line += piece.count(b"\n")
            tag = match.group(1).decode()
            del data[: match.start()]
            scan_from = 1
        if not chunk:
            break
        scan_from = max(1, len(data) - 16)  # a start tag may be split by the chunk's end
    yield ItemBytes(tag, line, bytes(data), last=True)


@dataclass
class Piece:
    """What one item's bytes held when read alone."""

    element: Element | None = None  # the item; None when it could not be read whole
    opened: Element | None = None  # the item as its start tag gave it (its attributes are whole)
    others: list[str] = field(default_factory=list)  # tags of further whole elements after it
    error: str | None = None  # why the item, or what follows it, could not be read


def read_piece(piece: bytes, prolog: bytes, fixer: CharRefFixer) -> Piece:
    """Parse one item's bytes alone (wrapped in an element of their own, with the file's declaration)."""
    out = Piece()
    depth = 0
    wrapped = prolog + b"<piece>" + fixer.repair(piece) + b"</piece>"
    try:
        for event, el in DET.iterparse(io.BytesIO(wrapped), events=("start", "end")):
            if event == "start":
                depth += 1
                if depth == 2 and out.opened is None:
                    out.opened = el
                continue
            depth -= 1
            if depth == 1:
                if out.element is None:
                    out.element = el
                else:
                    out.others.append(el.tag)
    except (ParseError, DefusedXmlException) as exc:
        out.error = str(exc)
    return out
