"""Text that cannot be stored as it is: file names that are not UTF-8, and lone surrogates in parsed text.

Two different problems, two different answers:

- A path or file name found on disk is evidence of where something was. Python reads names that are not
  valid UTF-8 with the `surrogateescape` error handler (each undecodable byte becomes U+DC80-U+DCFF), and
  such text cannot be written as UTF-8 (custody log, Parquet, DuckDB). `escape_path` writes each of those
  bytes as the four characters `\\xNN` (`bad\\xff\\xfename.txt`); `path_hex` gives the exact bytes in hex
  whenever the text had to be escaped, so the original name stays recoverable without ambiguity.
- Text read from inside a file (a message body with half an emoji: a JSON `"\\ud83d"` escape without its
  pair) is content: `repair_text` replaces each lone surrogate by U+FFFD, and the caller flags the row.

Names are never used to build a path, so none of this is about safety on disk; `for_display` is about
the terminal, where a newline or a right-to-left override in a name could disguise a line.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogates(text: str) -> bool:
    """True when the text holds a code point UTF-8 cannot encode (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # one undecodable byte, as surrogateescape reads it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def escape_path(text: str) -> str:
    """A path or name as storable text: bytes that were not UTF-8 become `\\xNN`, other text is unchanged."""
    if not has_surrogates(text):
        return text
    return _SURROGATE.sub(_escape_one, text)


def path_hex(text: str) -> str | None:
    """The exact bytes of a path read from the file system, in hex, when escape_path had to change it."""
    if not has_surrogates(text):
        return None
    try:
        return text.encode("utf-8", "surrogateescape").hex()
    except UnicodeEncodeError:  # a surrogate no file system name gives: keep its code point's bytes
        return text.encode("utf-8", "surrogatepass").hex()


def repair_text(text: str) -> str:
    """Text with each lone surrogate replaced by U+FFFD (a pair written as two escapes is joined)."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def repair_value(value: Any) -> tuple[Any, bool]:
    """A row value (text, or lists and dicts of text) repaired; the flag says whether anything changed."""
    if isinstance(value, str):
        if has_surrogates(value):
            return repair_text(value), True
        return value, False
    if isinstance(value, list | tuple):
        changed = False
        items = []
        for item in value:
            fixed, hit = repair_value(item)
            items.append(fixed)
            changed = changed or hit
        return (type(value)(items) if changed else value), changed
    if isinstance(value, dict):
        changed = False
        fixed_dict = {}
        for key, item in value.items():
            fixed, hit = repair_value(item)
            fixed_dict[key] = fixed
            changed = changed or hit
        return (fixed_dict if changed else value), changed
    return value, False


def escape_strings(value: Any) -> Any:
    """Every string inside a JSON-like value passed through escape_path (for records such as custody)."""
    if isinstance(value, str):
        return escape_path(value)
    if isinstance(value, list | tuple):
        return [escape_strings(v) for v in value]
    if isinstance(value, dict):
        return {escape_strings(k): escape_strings(v) for k, v in value.items()}
    return value


def for_display(text: str) -> str:
    """Text for a terminal line: control and bidirectional-format characters written as escapes.

    A newline in a file name would start a new line of the run summary, and U+202E (right-to-left
    override) could show `photo\\u202egpj.exe` as `photoexe.jpg`; the stored text keeps them unchanged.
    """
    out = []
    for char in escape_path(text):
        category = unicodedata.category(char)
        if char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif category in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)
