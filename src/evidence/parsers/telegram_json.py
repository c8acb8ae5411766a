"""Telegram Desktop JSON export: one chat (`result.json` with `messages`) or the whole account (`chats.list`).

Times: `date_unixtime` is an absolute instant and wins (tz_source epoch); `date` is the exporting machine's
wall-clock time without an offset and is kept as the local text, or, in old exports without unixtime,
read in the run's --tz (tz_source run_parameter). Edits, replies and forwards become flags
(`edited`, `edited_at:<UTC>`, `reply_to:<id>`, `forwarded`, `forwarded_from:<name>`), never body changes.
Locators are JSON pointers to the message object ("/messages/12", "/chats/list/0/messages/3").
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from evidence.identifiers import Identifier, normalize_handle
from evidence.parsers.base import SAMPLE_BYTES, Parser, Sample
from evidence.parsers.context import ParseContext, id_text, sibling_sha256
from evidence.parsers.export_text import utc_iso
from evidence.parsers.json_export import has_keys, json_head, listed, load_json, read_messages, require
from evidence.parsers.registry import register
from evidence.timeutil import TimeValue, from_aware, from_epoch, from_local

PLATFORM = "telegram"

# Chat types written by Telegram Desktop; one of them next to "messages" identifies a single-chat export.
CHAT_TYPES = (
    "personal_chat",
    "bot_chat",
    "saved_messages",
    "private_group",
    "private_supergroup",
    "public_supergroup",
    "private_channel",
    "public_channel",
)
_CHAT_TYPE_RE = re.compile(r'"type"\s*:\s*"(?:' + "|".join(CHAT_TYPES) + ')"')

# Service actions that are calls rather than chat events.
CALL_ACTIONS = {"phone_call", "group_call", "invite_to_group_call"}

# Media keys; their value is a path relative to the export folder, or a "(File not included...)" note.
MEDIA_KEYS = ("photo", "file")


@register
class TelegramJsonParser(Parser):
    name = "telegram_json"
    # 2: a value of another JSON type where text or an id belongs is no longer spelled as Python's repr
    version = "2"
    platform = PLATFORM
    description = "Telegram Desktop JSON export (single chat result.json or full-account export)"

    def sniff(self, sample: Sample) -> bool:
        head = json_head(sample, SAMPLE_BYTES)
        if head is None:
            return False
        if has_keys(head, "messages") and (has_keys(head, "date_unixtime") or _CHAT_TYPE_RE.search(head)):
            return True
        if has_keys(head, "chats", "list") and has_keys(head, "messages"):
            return True
        # Full-account export whose chats section starts beyond the sample (long contact lists).
        return has_keys(head, "about", "personal_information") and "Telegram" in head

    def parse(self, ctx: ParseContext) -> None:
        data = load_json(ctx, "Telegram JSON export")
        require(isinstance(data, dict), "Telegram JSON export: the top level is not an object")
        if "messages" in data:
            self._chat(ctx, data, "")
            return
        sections = [key for key in ("chats", "left_chats") if isinstance(data.get(key), dict)]
        if not sections:
            require(
                "personal_information" in data,
                "Telegram JSON export: neither 'messages' nor 'chats.list' found",
            )
            ctx.warn("full-account Telegram export without chats: no messages to read")
            return
        for key in sections:
            chats = data[key].get("list")
            require(isinstance(chats, list), f"Telegram JSON export: '{key}.list' is not a list")
            for index, chat in enumerate(chats):
                pointer = f"/{key}/list/{index}"
                if not isinstance(chat, dict) or "messages" not in chat:
                    ctx.warn("chat entry without messages skipped", pointer)
                    continue
                self._chat(ctx, chat, pointer)

    def _chat(self, ctx: ParseContext, chat: dict[str, Any], pointer: str) -> None:
        messages = chat.get("messages")
        require(isinstance(messages, list), f"Telegram JSON export: '{pointer}/messages' is not a list")
        conversation = chat.get("name") or (
            "Saved Messages" if chat.get("type") == "saved_messages" else _chat_label(chat)
        )
        read_messages(
            ctx,
            messages,
            lambda message, locator: self._message(ctx, message, locator, conversation),
            pointer,
        )

    def _message(
        self, ctx: ParseContext, msg: dict[str, Any], locator: str, conversation: str | None
    ) -> None:
        time = _time(ctx, msg, locator)
        flags: list[str] = []
        text, entities = _text(msg.get("text"), msg.get("text_entities"))
        is_service = msg.get("type") == "service"
        if is_service:
            action = str(msg.get("action") or "unknown_action")
            kind = "call" if action in CALL_ACTIONS else "system"
            sender, sender_id = msg.get("actor"), msg.get("actor_id")
            body: str | None = _describe_action(action, msg, text)
        else:
            sender, sender_id = msg.get("from"), msg.get("from_id")
            body = text or None
            media = [key for key in MEDIA_KEYS if msg.get(key)] or (
                ["media_type"] if msg.get("media_type") else []
            )
            kind = "media" if media and not body else "message"
            if not body:
                body = _describe_content(msg)
        edited = _edited(msg, ctx.options.tz)
        if edited is not None:
            flags += ["edited", f"edited_at:{edited}"]
        if msg.get("reply_to_message_id") is not None:
            flags.append(f"reply_to:{msg['reply_to_message_id']}")
        if msg.get("forwarded_from") or msg.get("saved_from"):
            flags += ["forwarded", f"forwarded_from:{msg.get('forwarded_from') or msg.get('saved_from')}"]
        message_id = ctx.add_message(
            platform=PLATFORM,
            kind=kind,
            locator=locator,
            time=time,
            body=body,
            sender=sender,
            sender_identifier=user_identifier(sender_id),
            conversation=conversation,
            external_id=str(msg["id"]) if msg.get("id") is not None else None,
            flags=flags,
        )
        for ident in _entity_identifiers(ctx, entities):
            ctx.link_identifier(message_id, ident, "mentioned")
        _attachments(ctx, message_id, msg, locator)  # service rows too: a new group photo is evidence


def user_identifier(raw: object) -> Identifier | None:
    """Telegram ids ("user123", "channel456"; bare numbers in old exports are users) -> "telegram:user123".
    None for a list or object (a damaged or edited file): no identifier is spelled from one."""
    text = id_text(raw)
    if not text:
        return None
    value = f"user{text}" if isinstance(raw, int) or text.isdigit() else text
    return normalize_handle(value, platform=PLATFORM)


def _chat_label(chat: dict[str, Any]) -> str | None:
    return f"chat {chat['id']}" if chat.get("id") is not None else None


def _time(ctx: ParseContext, msg: dict[str, Any], locator: str) -> TimeValue:
    """date_unixtime wins; date (local, no offset) is its local text, or the fallback read in --tz."""
    local = msg.get("date") if isinstance(msg.get("date"), str) else None
    unix = msg.get("date_unixtime")
    if unix not in (None, ""):
        try:
            value = from_epoch(int(unix), local_text=local or str(unix))
        except (TypeError, ValueError):
            ctx.warn(f"unreadable date_unixtime {unix!r}; falling back to date", locator)
        else:
            _check_agreement(ctx, local, value, locator)
            return value
    if local:
        try:
            moment = datetime.fromisoformat(local)
        except ValueError:
            ctx.warn(f"unreadable date {local!r}", locator)
            return TimeValue.missing(local, "unparseable_date")
        if moment.tzinfo is not None:
            return from_aware(moment, local, "second")
        return from_local(moment, ctx.options.tz, local, "second")
    ctx.warn("message without date", locator)
    return TimeValue.missing(None)


def _check_agreement(ctx: ParseContext, local: str | None, value: TimeValue, locator: str) -> None:
    """`date` and `date_unixtime` must differ by a real UTC offset; anything else suggests tampering."""
    if not local or value.utc is None:
        return
    try:
        naive = datetime.fromisoformat(local)
    except ValueError:
        return
    if naive.tzinfo is not None:
        return
    delta = naive - value.utc.replace(tzinfo=None)
    if abs(delta) > timedelta(hours=14) or delta % timedelta(minutes=15):
        ctx.warn(f"date {local!r} and date_unixtime disagree by {delta}; the unixtime was used", locator)


def _edited(msg: dict[str, Any], tz_name: str) -> str | None:
    """UTC time of the last edit (edited_unixtime, else `edited` read in --tz), "unknown" when unusable."""
    unix = msg.get("edited_unixtime")
    if unix not in (None, ""):
        try:
            return utc_iso(from_epoch(int(unix)).utc)
        except (TypeError, ValueError):
            return "unknown"
    local = msg.get("edited")
    if not local:
        return None
    try:
        moment = datetime.fromisoformat(str(local))
    except ValueError:
        return "unknown"
    if moment.tzinfo is not None:
        return utc_iso(moment)
    return utc_iso(from_local(moment, tz_name, str(local), "second").utc)


def _text(text: object, entities: object) -> tuple[str, list[dict[str, Any]]]:
    """Body text from a plain string or an entity list (plain strings mixed with {type, text} objects)."""
    source = entities if isinstance(entities, list) else text if isinstance(text, list) else []
    parts = [e for e in source if isinstance(e, dict)]
    if isinstance(text, str):
        return text, parts
    if isinstance(text, list):
        return "".join(
            i if isinstance(i, str) else str(i.get("text") or "") for i in text if isinstance(i, (str, dict))
        ), parts
    return "", parts


def _entity_identifiers(ctx: ParseContext, entities: list[dict[str, Any]]) -> list[Identifier]:
    """Links (also hidden behind text_link), @mentions, phone numbers and emails written in the message."""
    found: list[Identifier] = []
    for entity in entities:
        kind, text = entity.get("type"), str(entity.get("text") or "")
        ident: Identifier | None = None
        if kind == "link":
            ident = ctx.identifier("url", text)
        elif kind == "text_link" and entity.get("href"):
            ident = ctx.identifier("url", str(entity["href"]))
        elif kind == "mention" and text:
            ident = normalize_handle(text, platform=PLATFORM)
        elif kind == "mention_name" and entity.get("user_id") is not None:
            ident = user_identifier(entity["user_id"])
        elif kind == "phone":
            ident = ctx.identifier("phone", text)
        elif kind == "email":
            ident = ctx.identifier("email", text)
        if ident is not None:
            found.append(ident)
    return found


def _describe_action(action: str, msg: dict[str, Any], text: str) -> str:
    """A readable body for a service message: the action and the details the export gives."""
    details = []
    if msg.get("title"):
        details.append(f"title {msg['title']!r}")
    if isinstance(msg.get("members"), list):
        details.append("members " + ", ".join(str(m) for m in msg["members"]))
    if msg.get("duration_seconds") is not None:
        details.append(f"duration {msg['duration_seconds']} s")
    if msg.get("discard_reason"):
        details.append(f"discard reason {msg['discard_reason']}")
    body = action + (f" ({'; '.join(details)})" if details else "")
    return f"{body}: {text}" if text else body


def _describe_content(msg: dict[str, Any]) -> str | None:
    """Text for messages that carry no text: polls, locations, contacts, stickers."""
    poll = msg.get("poll")
    if isinstance(poll, dict):
        answers = ", ".join(str(a.get("text")) for a in listed(poll, "answers") if isinstance(a, dict))
        return f"[poll] {poll.get('question', '')}" + (f" ({answers})" if answers else "")
    location = msg.get("location_information")
    if isinstance(location, dict):
        return f"[location] {location.get('latitude')}, {location.get('longitude')}"
    contact = msg.get("contact_information")
    if isinstance(contact, dict):
        name = " ".join(str(contact.get(k) or "") for k in ("first_name", "last_name")).strip()
        return f"[contact] {name} {contact.get('phone_number') or ''}".strip()
    if msg.get("sticker_emoji"):
        return f"[sticker] {msg['sticker_emoji']}"
    return None


def _attachments(ctx: ParseContext, message_id: str, msg: dict[str, Any], locator: str) -> None:
    for key in MEDIA_KEYS:
        value = msg.get(key)
        if not isinstance(value, str) or not value:
            continue
        omitted = value.startswith("(")  # "(File not included. Change data exporting settings to download.)"
        name = msg.get("file_name") if omitted else value
        ctx.add_attachment(
            message_id,
            locator=f"{locator}/{key}",
            file_name=name,
            mime=msg.get("mime_type") if key == "file" else None,
            sha256=None if omitted else sibling_sha256(ctx, value),
        )
