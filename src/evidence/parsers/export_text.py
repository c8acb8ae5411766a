"""Text and markup as exports write it: mojibake, one-line excerpts, compact UTC stamps for flags, HTML elements."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def is_tag(value: object) -> bool:
    """An element of a BeautifulSoup tree (bs4 is imported only by the HTML parsers that read files)."""
    from bs4 import Tag

    return isinstance(value, Tag)


def detach_nested(elements: list[Any], container: Any) -> int:
    """Take out of the tree every element that sits inside another one rather than directly in `container`,
    innermost first; returns how many there were. Elements in place are left alone.

    In damaged HTML (a message whose closing tag is missing or mangled) the parser nests every later
    message inside the unclosed one. Read in place, the outer message would hold the others' text and
    media, each look-up inside it would search all later messages (quadratic: 2,000 such messages took
    over 20 s), and a reader that looked only at top-level messages would lose the nested ones. Detached,
    each holds only its own content. (Detaching every element would cost a scan of its parent's children
    each: quadratic again on a page of thousands of messages.)
    """
    nested = [element for element in elements if element.parent is not container]
    for element in reversed(nested):  # document order reversed: inner elements leave before outer ones
        element.extract()
    return len(nested)


def fix_mojibake(text: str | None) -> str | None:
    """Undo UTF-8 read as Latin-1 (Facebook/Instagram JSON writes "â\\x9d¤" for "❤").

    Only applied when the text round-trips: real Latin-1 text such as "café" does not decode as UTF-8 and is
    kept as it is, and text with characters above U+00FF was never mangled.
    """
    if not text:
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def utc_iso(moment: datetime | None) -> str | None:
    """Compact UTC ISO form used inside flags such as `edited_at:2023-08-23T20:15:00Z`."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def snippet(text: str | None, limit: int = 80) -> str:
    """A one-line excerpt for bodies that refer to another message (reactions)."""
    if not text:
        return ""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
