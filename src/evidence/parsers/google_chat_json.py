"""Google Chat Takeout `messages.json` (one space or DM per file: Groups/Space AAAA.../messages.json).

`created_date` is English prose ("Monday, January 7, 2019 at 7:25:08\\u202fPM UTC", with a narrow no-break
space before AM/PM); Takeout writes it in UTC, so the zone in the text gives tz_source offset. A date without
a zone is read in the run's --tz. The creator's email is the sender identifier. The conversation is the
Takeout folder name ("Space AAAAdvGdRgs", "DM ...") when the file sits in one, since the name of the space
is in a separate group_info.json. external_id is Google's message_id ("space/topic/message").
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import PurePath
from typing import Any

from evidence.parsers.base import Parser, Sample
from evidence.parsers.context import ParseContext, sibling_sha256
from evidence.parsers.export_text import utc_iso
from evidence.parsers.json_export import has_keys, json_head, listed, load_json, read_messages, require
from evidence.parsers.registry import register
from evidence.timeutil import TimeValue, from_aware, from_local

PLATFORM = "google_chat"

_DATE_RE = re.compile(
    r"^(?:[A-Za-z]+,\s*)?(?P<date>[A-Za-z]+ \d{1,2}, \d{4})\s+at\s+"
    r"(?P<time>\d{1,2}:\d{2}(?::\d{2})?)\s*(?P<ampm>[AaPp][Mm])?"
    r"(?:\s*(?P<zone>UTC|GMT)(?P<offset>[+-]\d{1,2}(?::?\d{2})?)?)?\s*$"
)

# "Wednesday, September 20, 2023 at 11:52:09 PM UTC+05:30" and its like are under 60 characters; a
# longer value is no date, and is not matched at all.
_LONGEST_DATE = 200


@register
class GoogleChatJsonParser(Parser):
    name = "google_chat_json"
    # 2: dates with whitespace runs read once the runs are one space; over 200 characters, no date
    version = "2"
    platform = PLATFORM
    description = "Google Chat Takeout messages.json"

    def sniff(self, sample: Sample) -> bool:
        head = json_head(sample)
        return head is not None and has_keys(head, "messages", "creator", "created_date")

    def parse(self, ctx: ParseContext) -> None:
        data = load_json(ctx, "Google Chat Takeout JSON")
        require(isinstance(data, dict), "Google Chat Takeout JSON: the top level is not an object")
        messages = data.get("messages")
        require(isinstance(messages, list), "Google Chat Takeout JSON: 'messages' is missing or not a list")
        conversation = _conversation(ctx.source_path)
        read_messages(ctx, messages, lambda message, locator: _message(ctx, message, locator, conversation))


def _conversation(source_path: str) -> str | None:
    folder = PurePath(source_path.replace("\\", "/").split("!/")[-1]).parent.name
    return folder if folder.startswith(("Space ", "DM ")) else None


def parse_created_date(text: str, tz_name: str) -> TimeValue:
    """Parse Takeout's prose date; raises ValueError when it is not in that form.

    Whitespace runs are made one space first: the pattern's optional parts each allow whitespace, so a
    long run of it followed by anything unexpected made the match backtrack for minutes (a damaged
    file of 190 KB took over two)."""
    if len(text) > _LONGEST_DATE:
        raise ValueError(text[:_LONGEST_DATE])
    normal = " ".join(text.split())  # also NARROW NO-BREAK SPACE and NO-BREAK SPACE, which Takeout writes
    match = _DATE_RE.match(normal)
    if not match:
        raise ValueError(text)
    clock = match["time"] + (f" {match['ampm'].upper()}" if match["ampm"] else "")
    seconds = clock.count(":") == 2
    fmt = (
        ("%I" if match["ampm"] else "%H")
        + (":%M:%S" if seconds else ":%M")
        + (" %p" if match["ampm"] else "")
    )
    naive = datetime.strptime(f"{match['date']} {clock}", f"%B %d, %Y {fmt}")
    precision = "second" if seconds else "minute"
    if match["zone"] is None:
        return from_local(naive, tz_name, text, precision)
    offset = timedelta()
    if match["offset"]:
        sign = -1 if match["offset"].startswith("-") else 1
        digits = match["offset"][1:].replace(":", "")
        hours, minutes = (digits, "0") if len(digits) <= 2 else (digits[:-2], digits[-2:])
        offset = sign * timedelta(hours=int(hours), minutes=int(minutes))
    return from_aware(naive.replace(tzinfo=timezone(offset)), text, precision)


def _message(ctx: ParseContext, msg: dict[str, Any], locator: str, conversation: str | None) -> None:
    created = msg.get("created_date")
    if isinstance(created, str) and created:
        try:
            time = parse_created_date(created, ctx.options.tz)
        except ValueError:
            ctx.warn(f"unreadable created_date {created[:_LONGEST_DATE]!r}", locator)
            time = TimeValue.missing(created, "unparseable_date")
    else:
        ctx.warn("message without created_date", locator)
        time = TimeValue.missing(None)
    creator = msg.get("creator") if isinstance(msg.get("creator"), dict) else {}
    email = creator.get("email")
    files = [f for f in listed(msg, "attached_files") if isinstance(f, dict)]
    text = msg.get("text") if isinstance(msg.get("text"), str) else ""
    flags: list[str] = []
    if creator.get("user_type") and creator.get("user_type") != "Human":
        flags.append(f"user_type:{creator['user_type']}")
    updated = msg.get("updated_date")
    if isinstance(updated, str) and updated and updated != created:
        try:
            flags += ["edited", f"edited_at:{utc_iso(parse_created_date(updated, ctx.options.tz).utc)}"]
        except ValueError:
            flags += ["edited", "edited_at:unknown"]
    if msg.get("deleted_date"):
        flags.append("deleted")
    message_id = ctx.add_message(
        platform=PLATFORM,
        kind="media" if files and not text else "message",
        locator=locator,
        time=time,
        body=text or None,
        sender=creator.get("name") or email,
        sender_identifier=ctx.identifier("email", email) if isinstance(email, str) else None,
        conversation=conversation,
        external_id=str(msg["message_id"]) if msg.get("message_id") else None,
        flags=flags,
    )
    for number, item in enumerate(files):
        export_name = item.get("export_name")
        original = item.get("original_name")
        ctx.add_attachment(
            message_id,
            locator=f"{locator}/attached_files/{number}",
            file_name=original or export_name,
            mime=None,
            sha256=sibling_sha256(ctx, export_name) or sibling_sha256(ctx, original),
        )
