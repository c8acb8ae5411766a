"""Helpers shared by the chat-export parsers (Telegram, Instagram/Messenger, Discord, Google Chat).

They live outside `evidence.parsers` so that code enumerating parser modules does not mistake them for one.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
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
        text = exc.doc  # with any damaged message already taken out
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
    """json.loads, past four kinds of damage that leave the rest of the export unambiguous, each with a
    warning: raw tabs and line breaks inside strings (some export tools write them; read as written), a
    `\\u` escape without its four hex digits (a damaged byte; read as U+FFFD, its message flagged
    decode_errors), bytes after the end of the JSON (a copy with something appended; not read), any
    other error inside one message of a `messages` array (that message not read: _blank_damaged_message),
    an error in the export's own fields before or after its one `messages` array (those fields not
    read: _set_aside_damaged_fields), and anywhere else, an error in an entry that holds no messages (a
    contact, a chat's name in a whole-account export: that entry not read, _set_aside_damaged_entry).
    A final error is raised with the text as repaired so far (`exc.doc`) and the file's own line."""
    strict = True
    blanked = 0
    set_aside = 0
    set_aside_entries = 0
    shift = 0  # line breaks taken out with damaged messages before the error: lines are the file's own
    while True:
        try:
            return json.loads(text, strict=strict)
        except json.JSONDecodeError as exc:
            exc.lineno += shift
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
            elif blanked < MOST_DAMAGED_MESSAGES and (repair := _blank_damaged_message(text, exc.pos)):
                blanked += 1
                text = repair.text
                if repair.lost:
                    ctx.warn(
                        f"{what}: the message beginning at line {repair.line + shift} is damaged ({exc.msg} at "
                        f"line {exc.lineno} column {exc.colno}); it was not read, and null stands in its place so "
                        "that the messages after it keep their positions (unless the damage took a message's "
                        "opening brace with it)"
                    )
                else:
                    ctx.warn(
                        f"{what}: the comma before the message beginning at line {repair.line + shift} was "
                        "missing; it was put back and both messages were read"
                    )
                shift += repair.lines
            elif set_aside < 2 and (repair := _set_aside_damaged_fields(text, exc.pos)):
                set_aside += 1
                text = repair.text
                where = "before" if repair.line == 1 else "after"
                ctx.warn(
                    f"{what}: the export's own fields {where} its messages are damaged ({exc.msg} at line "
                    f"{exc.lineno} column {exc.colno}); they were not read (the chat's name, type or "
                    "participants may be missing), the messages were"
                )
                shift += repair.lines
            elif set_aside_entries < MOST_DAMAGED_ENTRIES and (
                repair := _set_aside_damaged_entry(text, exc.pos)
            ):
                set_aside_entries += 1
                text = repair.text
                entry = "an element" if repair.in_array else "a field"
                if repair.lost:
                    ctx.warn(
                        f"{what}: {entry} of {repair.where} beginning at line {repair.line + shift} is damaged "
                        f"({exc.msg} at line {exc.lineno} column {exc.colno}); it was not read"
                        + (" and null stands in its place" if repair.in_array else "")
                        + " (it held no messages)"
                    )
                else:
                    ctx.warn(
                        f"{what}: the comma before {entry} of {repair.where} beginning at line "
                        f"{repair.line + shift} was missing; it was put back and nothing was lost"
                    )
                shift += repair.lines
            else:
                raise


# Damaged entries that hold no messages (contacts, profile fields, a chat's own fields) taken out of one
# file at most, each also costing one more parse.
MOST_DAMAGED_ENTRIES = 20
# Damaged messages taken out of one file at most (each costs one more parse of the whole file); beyond
# this the file fails with the position of its next error.
MOST_DAMAGED_MESSAGES = 100
# A `\u` escape (not itself escaped: an even number of backslashes before it) without four hex digits.
_BAD_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u[0-9a-fA-F]{0,3}(?![0-9a-fA-F])")


# Strings (complete, or one the file stops inside: a lone quote) and the structural characters of JSON.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]|"')


@dataclass
class _Open:
    """A container still open where the file stops."""

    bracket: str  # "{" or "["
    key: str | None  # the key (as written, quoted) whose value it is, inside an object
    complete_to: int  # text[:complete_to] holds only complete elements of it (up to a comma: before it)
    start: int  # where its bracket is


def _open_containers(text: str) -> list[_Open] | None:
    """The containers still open at the end of `text` (a JSON document's start), outermost first; None
    when `text` closes the document or closes more than it opened."""
    stack: list[_Open] = []
    last_string: str | None = None
    key: str | None = None
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == '"':
            break  # a string the text stops inside
        if token[0] == '"':
            last_string = token
        elif token == ":":
            key = last_string
        elif token in "{[":
            inside_object = bool(stack) and stack[-1].bracket == "{"
            stack.append(_Open(token, key if inside_object else None, match.end(), match.start()))
            key = None
        elif token in "}]":
            if not stack:
                return None
            stack.pop()
            if not stack:
                return None  # the document ends here
            stack[-1].complete_to = match.end()
        else:  # ","
            if stack:
                stack[-1].complete_to = match.start()
            key = None
    return stack


def _innermost(stack: list[_Open], items: str) -> int | None:
    """The innermost open array of `items` (a quoted key) in the stack, by its level."""
    return next(
        (i for i in reversed(range(len(stack))) if stack[i].bracket == "[" and stack[i].key == items), None
    )


def _complete_part(text: str, items: str = '"messages"') -> Any:
    """What a JSON export cut short holds in full: its text up to the last complete message, with every
    container still open closed after it; None when that is no valid JSON either.

    The cut is made in the innermost open `messages` array (elsewhere: in the innermost open container),
    after its last element known to be complete (a comma or its closing bracket followed it), so a message
    half written is left out whole rather than read without its later fields.
    """
    stack = _open_containers(text)
    if not stack:
        return None
    level = _innermost(stack, items)
    level = len(stack) - 1 if level is None else level
    closing = "".join("}" if o.bracket == "{" else "]" for o in reversed(stack[: level + 1]))
    try:
        return json.loads(text[: stack[level].complete_to] + closing, strict=False)
    except (json.JSONDecodeError, RecursionError):
        return None


@dataclass(frozen=True)
class _Repair:
    """A damaged message taken out of the text, null in its place."""

    text: str
    line: int  # where the damaged message began
    lines: int  # line breaks taken out with it
    lost: bool = True  # False: nothing was lost (a comma between two messages put back)


def _blank_damaged_message(text: str, position: int, items: str = '"messages"') -> _Repair | None:
    """`text` with the message holding a JSON error at `position` replaced by null, so that the messages
    after it keep their index (and locator); None when that cannot be done safely.

    Only inside a `messages` array written one message per line start (`{` at the same indentation), as
    every supported export writes them: the damaged message runs from the start of the element after the
    last complete one to the next such start (or the array's closing bracket, on the line indented as the
    one that opens it). A damage that swallowed a later message's opening `{` takes that message too, and
    later ones then shift by one; the warning says so. Minified JSON is not repaired.
    """
    stack = _open_containers(text[:position])
    level = _innermost(stack, items) if stack else None
    if stack is None or level is None:
        return None
    array = stack[level]
    begin = array.complete_to + (1 if text.startswith(",", array.complete_to) else 0)
    first = _SPACE.match(text, array.start + 1).end()  # the array's first element
    newline = text.rfind("\n", array.start, first)
    damaged = _SPACE.match(text, begin).end()
    if newline < 0 or not text.startswith("{", first) or damaged > position:
        return None
    after_element = array.complete_to > array.start + 1 and not text.startswith(",", array.complete_to)
    if damaged == position and after_element and text.startswith("{", damaged):
        # Two whole messages with no comma between them: the comma is put back and nothing is lost.
        return _Repair(
            text[: array.complete_to] + "," + text[array.complete_to :], _line(text, damaged), 0, False
        )
    indent = text[newline + 1 : first]
    opening_line = text.rfind("\n", 0, array.start) + 1
    closing = "\n" + _INDENT.match(text, opening_line).group() + "]"
    following = text.find("\n" + indent + "{", damaged + 1)
    end = text.find(closing, damaged)
    if end < 0:
        return None  # the array does not close: a file cut short, not damaged inside
    stop = following if 0 <= following < end else end
    filler = "null," if stop == following else "null"
    return _Repair(
        text[:damaged] + filler + text[stop:], _line(text, damaged), text.count("\n", damaged, stop)
    )


@dataclass(frozen=True)
class _EntryRepair:
    """A damaged entry taken out of the text (null in its place inside an array)."""

    text: str
    line: int  # where the damaged entry began
    lines: int  # line breaks taken out with it
    where: str  # the container it was in, by keys ("*": an element of an array): "/contacts/list", "/chats/list/*"
    in_array: bool  # True: an element of that array (null in its place); False: a field of that object
    lost: bool = True  # False: nothing was lost (a comma between two entries put back)


def _set_aside_damaged_entry(text: str, position: int) -> _EntryRepair | None:
    """`text` without the entry holding the JSON error at `position`, when that entry holds no messages (no
    `messages` key, no list of objects); None when it cannot be done safely.

    A whole-account export's contacts, profile and each chat's own fields sit outside any one messages
    array, and one damaged byte there used to fail the whole file. Only pretty-printed JSON (each entry
    on a line of its own). The innermost container open at the error is tried first, then the ones around
    it (damage can open a container of its own, on the damaged line). In an object the member is dropped;
    in an array null stands in its place, so later elements (chats, and with them the locators of their
    messages) keep their index.
    """
    stack = _open_containers(text[:position])
    for level in reversed(range(len(stack or ()))):
        if repair := _entry_of(text, stack, level, position):  # type: ignore[arg-type]
            return repair
    return None


def _entry_of(text: str, stack: list[_Open], level: int, position: int) -> _EntryRepair | None:
    """The repair that takes out the entry of stack[level] holding `position`, or None.

    The entry runs from the end of the container's last complete entry to the next line indented as its
    entries that does not close something, or to the container's closing line.
    """
    if any(o.key == '"messages"' for o in stack[: level + 1]):
        return None  # inside a message: only _blank_damaged_message takes one out, whole
    box = stack[level]
    complete_to = box.complete_to  # (an outer container's: where its entries ended before the inner one)
    begin = complete_to + (1 if text.startswith(",", complete_to) else 0)
    damaged = _SPACE.match(text, begin).end()
    first = _SPACE.match(text, box.start + 1).end()
    newline = text.rfind("\n", box.start, first)
    if newline < 0 or damaged > position or text.startswith(("]", "}"), damaged):
        return None  # minified, or the error is at a closing bracket: the structure itself is damaged
    indent = text[newline + 1 : first]
    opening_line = text.rfind("\n", 0, box.start) + 1
    closing = "\n" + _INDENT.match(text, opening_line).group() + ("]" if box.bracket == "[" else "}")
    end = text.find(closing, damaged)
    if end < 0 or len(indent) <= len(closing) - 2:
        return None  # the container does not close (a file cut short), or its entries are not indented
    following = re.compile("\n" + re.escape(indent) + r"(?=[^\s\]}])").search(text, damaged + 1, end)
    stop = following.start() if following else end
    if _HOLDS_MESSAGES.search(text, damaged, stop):
        return None  # messages, or a list of objects that could be messages under a damaged key
    in_array = box.bracket == "["
    where = "/" + "/".join(o.key.strip('"') if o.key else "*" for o in stack[1 : level + 1])
    if damaged == position and complete_to > box.start + 1 and not text.startswith(",", complete_to):
        # two whole entries with no comma between them: the comma is put back and nothing is lost
        fixed = text[:complete_to] + "," + text[complete_to:]
        return _EntryRepair(fixed, _line(text, damaged), 0, where, in_array, lost=False)
    if in_array and _MEMBER.match(text, damaged):
        return None  # "key": inside an array: the object that held it lost its opening brace
    if following:
        repaired = text[:damaged] + ("null," if in_array else "") + text[stop:]
    elif in_array:
        repaired = text[:damaged] + "null" + text[stop:]
    else:  # the object's last member: the comma before it goes with it
        repaired = text[:complete_to] + text[stop:]
    if repaired == text:
        return None  # the same entry again (null already stands there): the damage is elsewhere
    return _EntryRepair(repaired, _line(text, damaged), text.count("\n", damaged, stop), where, in_array)


# An object member's start, "key":
_MEMBER = re.compile(r'"[^"\n]*"\s*:')
# Text that may hold messages: the key's name (even with its quotes or colon damaged), a list of objects.
_NAMES_MESSAGES = re.compile(r'"messages"|messages"?\s*:?\s*\[')
_HOLDS_MESSAGES = re.compile(_NAMES_MESSAGES.pattern + r"|\[\s*\{")


# The key of an export's messages array, on a line of its own inside the top-level object.
_MESSAGES_KEY = re.compile(r'^([ \t]+)"messages"\s*:\s*\[', re.MULTILINE)


def _set_aside_damaged_fields(text: str, position: int) -> _Repair | None:
    """`text` without the export's own fields (its name, type, participants, title) when the error at
    `position` lies among them, before or after its messages array; None when it does not, or when the
    file has no single `messages` key of its own line (a whole-account export, minified JSON).

    The array is found by its key's line and by the line that closes it, indented as the key: inside a
    pretty-printed export nothing else sits at that indentation. Fields before it are dropped up to the
    document's opening brace (the repair's line is 1), fields after it up to the end, where a closing brace
    is written; the messages themselves are untouched. A file cut short in those fields is left to the
    caller, which reads it as cut short.
    """
    keys = list(_MESSAGES_KEY.finditer(text))
    if len(keys) != 1:
        return None
    key = keys[0]
    opening = _SPACE.match(text).end()
    first = _SPACE.match(text, opening + 1).end()
    if key.group(1) != text[text.rfind("\n", opening, first) + 1 : first]:
        return None  # not indented as the top-level object's fields: a whole-account export's only chat
    if position < key.start():
        if not text.startswith("{", opening) or _NAMES_MESSAGES.search(text, opening, key.start()):
            return None  # (another messages array, its key damaged: not the fields of a one-chat export)
        removed = text.count("\n", opening + 1, key.start()) - 1
        return _Repair(text[: opening + 1] + "\n" + text[key.start() :], 1, max(removed, 0))
    close = text.find("\n" + key.group(1) + "]", key.end())
    if close < 0:
        return None
    after = close + len(key.group(1)) + 2
    if position < after or position >= len(text.rstrip()) or _NAMES_MESSAGES.search(text, after):
        return None
    return _Repair(text[:after] + "\n}\n", _line(text, after), text.count("\n", after))


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


_SPACE = re.compile(r"\s*")
_INDENT = re.compile(r"[ \t]*")


def listed(obj: dict[str, Any], key: str) -> list[Any]:
    """obj[key] when it is a list, else an empty one: exports write lists there, and a value of another type
    (a damaged or edited file) must not end the reading of the message."""
    value = obj.get(key)
    return value if isinstance(value, list) else []


def read_messages(
    ctx: ParseContext, messages: list[Any], read_one: Callable[[dict[str, Any], str], None], pointer: str = ""
) -> None:
    """Each entry of an export's `messages` list through read_one(message, locator), each alone
    (ParseContext.read_alone): an entry that is no object, or one whose fields have types the format does
    not use (a damaged or edited file), is skipped with a warning naming its locator."""
    with _document_left_out_of_collections():
        for index, message in enumerate(messages):
            locator = f"{pointer}/messages/{index}"
            if not isinstance(message, dict):
                ctx.warn("message entry is not an object; skipped", locator)
                continue
            ctx.read_alone(locator, partial(read_one, message, locator))


@contextmanager
def _document_left_out_of_collections() -> Iterator[None]:
    """Python's cycle collector left out of the objects alive now (the whole decoded document) while its
    messages are read: each full collection walked every one of them, and a 40,000-message export took
    about 30 us per message against 17 for 5,000 (benchmarks/parser_scaling_bench.py). The document holds
    no cycles (json builds none), so reference counting still frees it; what the reading creates is
    collected as usual."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def require(condition: bool, message: str) -> None:
    """Raise ValueError (which makes the file `failed` with this reason) when a structural check fails."""
    if not condition:
        raise ValueError(message)
