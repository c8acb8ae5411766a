"""Helpers shared by the chat-export parsers (Telegram, Instagram/Messenger, Discord, Google Chat).

They live outside `evidence.parsers` so that code enumerating parser modules does not mistake them for one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evidence.parsers.base import Sample
    from evidence.parsers.context import ParseContext

# How far into a file a sniff looks for the distinctive keys of a JSON export. Exports put their keys
# first (Telegram: name/type/id, Discord: guild/channel), so a few KB is plenty and keeps sniffs cheap.
SNIFF_CHARS = 16 * 1024

# What decoding with "surrogateescape" makes of a byte that is not UTF-8.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


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
        # A few bad bytes (a damaged copy, a broken emoji) must not cost every message of the export: each
        # becomes a lone surrogate, which staging repairs to U+FFFD, flagging its message decode_errors.
        # Bytes outside strings still make the JSON invalid, and the file fails below.
        text = raw.decode("utf-8-sig", "surrogateescape")
        bad = len(_ESCAPED_BYTE.findall(text))
        ctx.warn(
            f"{what}: {bad} byte(s) that are not UTF-8 (the first at byte {exc.start}); each was read as "
            "U+FFFD, and the messages and identifiers holding one are flagged decode_errors"
        )
    try:
        return _loads(ctx, what, text)
    except RecursionError as exc:  # arrays or objects nested thousands deep: no export nests like that
        raise ValueError(f"{what}: nested too deeply to read ({exc})") from exc
    except json.JSONDecodeError as exc:
        # An export cut short fails at its very end, or (inside a string) no longer ends with a bracket.
        body = text.rstrip()
        cut = exc.pos >= len(body) or not body.endswith(("}", "]"))
        if cut and (value := _complete_part(text)) is not None:
            ctx.warn(
                f"{what}: the file is cut short (it stops at line {exc.lineno} column {exc.colno}); every "
                "message complete before the cut was read, the one being written when it stopped was not"
            )
            return value
        hint = " (the file looks truncated)" if cut else ""
        raise ValueError(
            f"{what}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}"
        ) from exc


def _loads(ctx: ParseContext, what: str, text: str) -> Any:
    """json.loads, past three kinds of damage that leave the rest of the export unambiguous, each with a
    warning: raw tabs and line breaks inside strings (some export tools write them; read as written), a
    `\\u` escape without its four hex digits (a damaged byte; read as U+FFFD, its message flagged
    decode_errors) and bytes after the end of the JSON (a copy with something appended; not read)."""
    strict = True
    while True:
        try:
            return json.loads(text, strict=strict)
        except json.JSONDecodeError as exc:
            if strict and exc.msg.startswith("Invalid control character"):
                strict = False
                ctx.warn(
                    f"{what}: raw control characters (tabs, line breaks) inside strings, which JSON does not "
                    f"allow (the first at line {exc.lineno} column {exc.colno}); read as written"
                )
            elif exc.msg.startswith("Invalid \\uXXXX escape") and _BAD_ESCAPE.search(text):
                # A lone surrogate is what staging already repairs to U+FFFD, flagging decode_errors.
                text, count = _BAD_ESCAPE.subn(lambda m: m.group(1) + "\\udcff", text)
                ctx.warn(
                    f"{what}: {count} damaged \\u escape(s) without their four hex digits (the first at line "
                    f"{exc.lineno} column {exc.colno}); each was read as U+FFFD, its message flagged "
                    "decode_errors"
                )
            elif exc.msg == "Extra data":
                start = len(text) - len(text.lstrip())
                value, end = json.JSONDecoder(strict=strict).raw_decode(text, start)
                ctx.warn(
                    f"{what}: {len(text) - end:,} character(s) after the end of the JSON (from line "
                    f"{exc.lineno} column {exc.colno}) were not read"
                )
                return value
            else:
                raise


# A `\u` escape (not itself escaped: an even number of backslashes before it) without four hex digits.
_BAD_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u[0-9a-fA-F]{0,3}(?![0-9a-fA-F])")


# Strings (complete, or one the file stops inside: a lone quote) and the structural characters of JSON.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]|"')


@dataclass
class _Open:
    """A container still open where the file stops."""

    bracket: str  # "{" or "["
    key: str | None  # the key (as written, quoted) whose value it is, inside an object
    complete_to: int  # text[:complete_to] holds only complete elements of it


def _complete_part(text: str, items: str = '"messages"') -> Any:
    """What a JSON export cut short holds in full: its text up to the last complete message, with every
    container still open closed after it; None when that is no valid JSON either.

    The cut is made in the innermost open `messages` array (elsewhere: in the innermost open container),
    after its last element known to be complete (a comma or its closing bracket followed it), so a message
    half written is left out whole rather than read without its later fields.
    """
    stack: list[_Open] = []
    last_string: str | None = None
    key: str | None = None
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == '"':
            break  # a string the file stops inside
        if token[0] == '"':
            last_string = token
        elif token == ":":
            key = last_string
        elif token in "{[":
            inside_object = bool(stack) and stack[-1].bracket == "{"
            stack.append(_Open(token, key if inside_object else None, match.end()))
            key = None
        elif token in "}]":
            if not stack:
                return None
            stack.pop()
            if not stack:
                return None  # the document ends here: not cut short, but invalid after it
            stack[-1].complete_to = match.end()
        else:  # ","
            if stack:
                stack[-1].complete_to = match.start()
            key = None
    if not stack:
        return None
    level = next(
        (i for i in reversed(range(len(stack))) if stack[i].bracket == "[" and stack[i].key == items),
        len(stack) - 1,
    )
    closing = "".join("}" if o.bracket == "{" else "]" for o in reversed(stack[: level + 1]))
    try:
        return json.loads(text[: stack[level].complete_to] + closing, strict=False)
    except (json.JSONDecodeError, RecursionError):
        return None


def require(condition: bool, message: str) -> None:
    """Raise ValueError (which makes the file `failed` with this reason) when a structural check fails."""
    if not condition:
        raise ValueError(message)
