"""Helpers shared by the chat-export parsers (Telegram, Instagram/Messenger, Discord, Google Chat).

They live outside `evidence.parsers` so that code enumerating parser modules does not mistake them for one.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evidence.extraction import ParseContext
    from evidence.parsers.base import Sample

# How far into a file a sniff looks for the distinctive keys of a JSON export. Exports put their keys
# first (Telegram: name/type/id, Discord: guild/channel), so a few KB is plenty and keeps sniffs cheap.
SNIFF_CHARS = 16 * 1024


def is_tag(value: object) -> bool:
    """An element of a BeautifulSoup tree (bs4 is imported only by the HTML parsers that read files)."""
    from bs4 import Tag

    return isinstance(value, Tag)


def json_head(sample: Sample, limit: int = SNIFF_CHARS) -> str | None:
    """The start of a JSON object document, or None when the sample is not one (no parsing)."""
    text = sample.text()[:limit].lstrip()
    return text if text.startswith("{") else None


def has_keys(head: str, *keys: str) -> bool:
    """True when every key appears as a JSON object key ("key" followed by a colon) in head."""
    return all(re.search(rf'"{re.escape(key)}"\s*:', head) for key in keys)


def load_json(ctx: ParseContext, what: str) -> Any:
    """Parse the whole file; a truncated or invalid file raises ValueError naming the format and position."""
    raw = ctx.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what}: not UTF-8 text ({exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # An export cut short fails at its very end, or (inside a string) no longer ends with a bracket.
        body = text.rstrip()
        cut = exc.pos >= len(body) or not body.endswith(("}", "]"))
        hint = " (the file looks truncated)" if cut else ""
        raise ValueError(
            f"{what}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}"
        ) from exc


def require(condition: bool, message: str) -> None:
    """Raise ValueError (which makes the file `failed` with this reason) when a structural check fails."""
    if not condition:
        raise ValueError(message)


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


def sibling_sha256(ctx: ParseContext, reference: str | None) -> str | None:
    """SHA-256 of a file exported next to this one, by the name or relative path the export uses.

    Acquisition keys siblings by base name, so "photos/photo_1.jpg" is looked up as written, then as
    "photo_1.jpg". None when the export did not include the file.
    """
    if not reference:
        return None
    if reference in ctx.siblings:
        return ctx.siblings[reference]
    name = PurePosixPath(reference.replace("\\", "/")).name
    return ctx.siblings.get(name) if name else None


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
