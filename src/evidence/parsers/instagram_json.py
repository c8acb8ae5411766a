"""Instagram and Facebook Messenger "Download your information" JSON (`message_1.json`).

Both services write the same layout (`participants`, `messages` with `sender_name`, `timestamp_ms`) and the
same mojibake: UTF-8 bytes stored as Latin-1 code points ("â\\x9d¤" for "❤"), repaired in names, content and
reactions when the text round-trips. Messages are newest first; the locator keeps the file position
("/messages/0" is the newest). Times are epoch milliseconds (tz_source epoch).

Decisions:
- platform: "instagram" or "messenger" from what the file itself says (invite link host, media paths
  such as "your_instagram_activity/..."), then from the source path ("instagram", "facebook", "messenger");
  when nothing tells them apart, "instagram" with a warning.
- reactions: one `system` row per reaction, sent by the reacting person ("/messages/3/reactions/0"), so a
  reaction can be filtered by person; the reacted message's body is left as written, which keeps it
  comparable with other copies of the same message. Reactions without their own timestamp take the
  message's time, flagged `time_of_parent_message`.
- shares: the link is appended to the body on its own line and linked as a `mentioned` url identifier.
- photos, videos, audio, gifs, files, stickers: attachments; bytes found by name next to the file.
- polls, joins, adds, group renames, calls: `system` (calls: `call`), recognised by the English texts the
  exports write; other languages stay `message`.
- the export holds names, not account ids, so no sender identifier is linked.
"""

from __future__ import annotations

import re
from typing import Any

from evidence.parsers.base import Parser, Sample
from evidence.parsers.context import ParseContext, sibling_sha256
from evidence.parsers.export_text import fix_mojibake, snippet
from evidence.parsers.json_export import has_keys, json_head, listed, load_json, read_messages, require
from evidence.parsers.registry import register
from evidence.timeutil import TimeValue, from_epoch

MEDIA_LISTS = ("photos", "videos", "audio_files", "gifs", "files")

# Texts the exports write for events rather than messages (English exports).
_SYSTEM_PATTERNS = [
    r".* joined the group\.?",
    r".* left the group\.?",
    r".* added .+ to the group\.?",
    r".* removed .+ from the group\.?",
    r".* named the group .*",
    r".* changed the group (photo|name)\.?.*",
    r".*'s poll has multiple updates\.?",
    r"This poll is no longer available\.?",
    r".* created a poll: .*",
    r".* voted for .* in the poll.*",
    r".* changed (his|her|their) vote .*",
    r".* set (the|your|his|her|their) nickname .*",
    r".* changed the theme .*",
    r".* started (a|an) (video|audio) (chat|call)\.?",
    r".* missed (a|an) (video|audio)? ?(chat|call).*",
    r"You are now connected on Messenger\.?",
    r".* pinned a message\.?",
    r".* unsent a message\.?",
]
_SYSTEM_RE = re.compile("|".join(f"(?:{p})" for p in _SYSTEM_PATTERNS), re.DOTALL)

_INSTAGRAM_MARKERS = ("your_instagram_activity/", "ig.me/", "instagram.com/")
_MESSENGER_MARKERS = ("your_facebook_activity/", "your_activity_across_facebook/", "m.me/", "messenger.com/")


@register
class InstagramJsonParser(Parser):
    name = "instagram_json"
    version = "1"
    platform = "instagram"
    description = "Instagram / Facebook Messenger 'Download your information' message JSON"

    def sniff(self, sample: Sample) -> bool:
        # `participants` is not required: only Meta's exports pair `sender_name` with `timestamp_ms`, and a
        # file whose participants field is damaged still holds every message (json_export reads past it)
        head = json_head(sample)
        return head is not None and has_keys(head, "messages", "sender_name", "timestamp_ms")

    def parse(self, ctx: ParseContext) -> None:
        data = load_json(ctx, "Instagram/Messenger JSON")
        require(isinstance(data, dict), "Instagram/Messenger JSON: the top level is not an object")
        messages = data.get("messages")
        require(isinstance(messages, list), "Instagram/Messenger JSON: 'messages' is missing or not a list")
        platform = _platform(ctx, data)
        participants = [
            fix_mojibake(p["name"]) or ""
            for p in listed(data, "participants")
            if isinstance(p, dict) and isinstance(p.get("name"), str)
        ]
        conversation = fix_mojibake(data.get("title")) if isinstance(data.get("title"), str) else None
        read_messages(
            ctx,
            messages,
            lambda message, locator: _message(ctx, message, locator, platform, conversation, participants),
        )


def _platform(ctx: ParseContext, data: dict[str, Any]) -> str:
    """Instagram or Messenger, from structural fields first (never from message text), then the path."""
    joinable = data.get("joinable_mode")
    clues = [str(joinable.get("link") or "")] if isinstance(joinable, dict) else []
    clues += [uri for _, uri in _media(data)]
    for message in listed(data, "messages"):
        if isinstance(message, dict):
            clues += [uri for _, uri in _media(message)]
    for clue in clues:
        if any(marker in clue for marker in _INSTAGRAM_MARKERS):
            return "instagram"
        if any(marker in clue for marker in _MESSENGER_MARKERS):
            return "messenger"
    path = ctx.source_path.lower()
    if "instagram" in path:
        return "instagram"
    if "facebook" in path or "messenger" in path:
        return "messenger"
    ctx.warn("nothing in the file or its path tells Instagram from Messenger; assumed instagram")
    return "instagram"


def _media(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, uri) of every exported file an object refers to: media lists, sticker, thread image."""
    found = []
    for key in MEDIA_LISTS:
        for item in listed(obj, key):
            if isinstance(item, dict) and item.get("uri"):
                found.append((key, str(item["uri"])))
    for key in ("sticker", "image"):
        item = obj.get(key)
        if isinstance(item, dict) and item.get("uri"):
            found.append((key, str(item["uri"])))
    return found


def _time(ctx: ParseContext, value: object, locator: str, scale: float) -> TimeValue | None:
    if value is None:
        return None
    try:
        return from_epoch(float(value) / scale, local_text=str(value))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        ctx.warn(f"unreadable timestamp {value!r}", locator)
        return TimeValue.missing(str(value), "unparseable_date")


def _message(
    ctx: ParseContext,
    msg: dict[str, Any],
    locator: str,
    platform: str,
    conversation: str | None,
    participants: list[str],
) -> None:
    sender = fix_mojibake(msg.get("sender_name")) if isinstance(msg.get("sender_name"), str) else None
    time = _time(ctx, msg.get("timestamp_ms"), locator, 1000.0)
    if time is None:
        ctx.warn("message without timestamp_ms", locator)
        time = TimeValue.missing(None)
    content = fix_mojibake(msg.get("content")) if isinstance(msg.get("content"), str) else None
    media = [(key, uri) for key, uri in _media(msg) if key != "image"]
    flags: list[str] = []
    body = content
    share = msg.get("share")
    link = None
    if isinstance(share, dict):
        link = share.get("link")
        extra = [fix_mojibake(share.get("share_text")), link]
        for part in extra:
            if part and part not in (body or ""):
                body = f"{body}\n{part}" if body else part
    if "call_duration" in msg or msg.get("type") == "Call":
        kind = "call"
        body = f"{body or 'call'} (duration {msg.get('call_duration', '?')} s)"
    elif (content and _SYSTEM_RE.fullmatch(content)) or msg.get("type") in ("Subscribe", "Unsubscribe"):
        kind = "system"
    elif media and not body:
        kind = "media"
    else:
        kind = "message"
    if not body and not media:
        flags.append("no_content")
    if msg.get("is_unsent"):
        flags.append("unsent")
    message_id = ctx.add_message(
        platform=platform,
        kind=kind,
        locator=locator,
        time=time,
        body=body,
        sender=sender,
        recipients=[p for p in participants if p and p != sender],
        conversation=conversation,
        flags=flags,
    )
    if link:
        url = ctx.identifier("url", str(link))
        if url is not None:
            ctx.link_identifier(message_id, url, "mentioned")
    counters: dict[str, int] = {}
    for key, uri in media:
        number = counters[key] = counters.get(key, -1) + 1
        ctx.add_attachment(
            message_id,
            locator=f"{locator}/{key}/{number}" if key != "sticker" else f"{locator}/sticker",
            file_name=uri,
            mime=None,
            sha256=sibling_sha256(ctx, uri),
        )
    for number, reaction in enumerate(listed(msg, "reactions")):
        if isinstance(reaction, dict):
            _reaction(
                ctx, reaction, f"{locator}/reactions/{number}", time, platform, conversation, sender, body
            )


def _reaction(
    ctx: ParseContext,
    reaction: dict[str, Any],
    locator: str,
    parent_time: TimeValue,
    platform: str,
    conversation: str | None,
    parent_sender: str | None,
    parent_body: str | None,
) -> None:
    """A reaction as its own event by the reacting person (see the module docstring)."""
    actor = fix_mojibake(reaction.get("actor")) if isinstance(reaction.get("actor"), str) else None
    emoji = fix_mojibake(str(reaction.get("reaction") or "?"))
    stamp = reaction.get("timestamp")
    # Seen in seconds; milliseconds would be > 1e11 (years after 5000 in seconds).
    scale = 1000.0 if isinstance(stamp, (int, float)) and stamp > 1e11 else 1.0
    own_time = _time(ctx, stamp, locator, scale)
    flags = [] if own_time is not None else ["time_of_parent_message"]
    target = f"{parent_sender}'s message" if parent_sender else "a message"
    quoted = snippet(parent_body)
    ctx.add_message(
        platform=platform,
        kind="system",
        locator=locator,
        time=own_time or parent_time,
        body=f"reacted {emoji} to {target}" + (f": “{quoted}”" if quoted else ""),
        sender=actor,
        conversation=conversation,
        flags=flags,
    )
