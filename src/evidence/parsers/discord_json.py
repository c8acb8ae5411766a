"""DiscordChatExporter JSON (`guild`, `channel`, `messages`), one channel or DM per file.

Times are ISO 8601 with an offset (tz_source offset). The author's numeric id is the identifier
("discord:<id>"); names and nicknames change, ids do not. Decisions:
- edits: flags `edited` and `edited_at:<UTC>`; the body is the text as last edited (all the export has).
- replies: external_id is the Discord message id and the reply carries the flag `reply_to:<message id>`,
  so the replied-to row can be joined on external_id; the body is not changed.
- "Deleted User" authors are kept and flagged `deleted_user`; their id is still linked, except the shared
  placeholder id Discord uses for some deleted accounts, which would otherwise merge unrelated people.
- the same message id twice in a file: both rows are kept (locators differ by position) and a warning
  names both places; deduplication is the linker's job.
- mentions are linked as `mentioned` identifiers; attachments are listed, bytes found by name next to the
  file (DiscordChatExporter's --media writes them beside the JSON).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from evidence.identifiers import Identifier, normalize_handle
from evidence.parsers.base import Parser, Sample
from evidence.parsers.context import ParseContext, id_text, sibling_sha256
from evidence.parsers.export_text import utc_iso
from evidence.parsers.json_export import has_keys, json_head, listed, load_json, read_messages, require
from evidence.parsers.registry import register
from evidence.timeutil import TimeValue, from_aware, from_local

PLATFORM = "discord"

# The id Discord reports for some deleted accounts; shared by all of them, so never an identifier.
DELETED_USER_PLACEHOLDER_ID = "456226577798135808"

MESSAGE_TYPES = {"Default", "Reply"}
CALL_TYPES = {"Call"}


@register
class DiscordJsonParser(Parser):
    name = "discord_json"
    # 2: a value of another JSON type where text or an id belongs is no longer spelled as Python's repr
    version = "2"
    platform = PLATFORM
    description = "DiscordChatExporter JSON channel export"

    def sniff(self, sample: Sample) -> bool:
        head = json_head(sample)
        return head is not None and has_keys(head, "guild", "channel", "messages")

    def parse(self, ctx: ParseContext) -> None:
        data = load_json(ctx, "DiscordChatExporter JSON")
        require(isinstance(data, dict), "DiscordChatExporter JSON: the top level is not an object")
        messages = data.get("messages")
        require(isinstance(messages, list), "DiscordChatExporter JSON: 'messages' is missing or not a list")
        conversation = _conversation(data.get("guild"), data.get("channel"))
        seen: dict[str, str] = {}

        def read_one(message: dict[str, Any], locator: str) -> None:
            external_id = str(message["id"]) if message.get("id") is not None else None
            if external_id is not None:
                if external_id in seen:
                    ctx.warn(
                        f"message id {external_id} appears again (first at {seen[external_id]}); both kept",
                        locator,
                    )
                else:
                    seen[external_id] = locator
            _message(ctx, message, locator, conversation, external_id)

        read_messages(ctx, messages, read_one)


def _conversation(guild: object, channel: object) -> str | None:
    guild_name = guild.get("name") if isinstance(guild, dict) else None
    channel_name = channel.get("name") if isinstance(channel, dict) else None
    if isinstance(channel, dict) and channel.get("category"):
        channel_name = f"{channel['category']} / {channel_name}"
    parts = [str(p) for p in (guild_name, channel_name) if p]
    return " / ".join(parts) or None


def _user(user: object) -> tuple[str | None, Identifier | None, bool]:
    """(name as shown, identifier, is a deleted user) for an author or mention object."""
    if not isinstance(user, dict):
        return None, None, False
    name = id_text(user.get("name")) or None
    discriminator = id_text(user.get("discriminator")) or ""
    handle = f"{name}#{discriminator}" if name and discriminator and discriminator != "0000" else name
    nickname = id_text(user.get("nickname")) or ""
    shown = f"{nickname} ({handle})" if nickname and nickname != name and handle else handle
    deleted = bool(name and name.startswith("Deleted User"))
    user_id = id_text(user.get("id")) or ""
    ident = None
    if user_id and user_id != DELETED_USER_PLACEHOLDER_ID:
        ident = normalize_handle(user_id, platform=PLATFORM)
    return shown, ident, deleted


def _time(ctx: ParseContext, value: object, locator: str) -> TimeValue:
    if not isinstance(value, str) or not value:
        ctx.warn("message without timestamp", locator)
        return TimeValue.missing(None)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        ctx.warn(f"unreadable timestamp {value!r}", locator)
        return TimeValue.missing(value, "unparseable_date")
    if moment.tzinfo is None:
        ctx.warn(f"timestamp {value!r} has no offset; read in the run's time zone", locator)
        return from_local(moment, ctx.options.tz, value, "second")
    return from_aware(moment, value, "second")


def _message(
    ctx: ParseContext, msg: dict[str, Any], locator: str, conversation: str | None, external_id: str | None
) -> None:
    time = _time(ctx, msg.get("timestamp"), locator)
    sender, sender_ident, deleted = _user(msg.get("author"))
    content = msg.get("content") if isinstance(msg.get("content"), str) else ""
    attachments = [a for a in listed(msg, "attachments") if isinstance(a, dict)]
    stickers = [s for s in listed(msg, "stickers") if isinstance(s, dict)]
    msg_type = str(msg.get("type") or "Default")
    flags: list[str] = []
    body: str | None = content or None
    if msg_type in CALL_TYPES:
        kind = "call"
        ended = msg.get("callEndedTimestamp")
        body = body or ("call" + (f" (ended {ended})" if ended else ""))
    elif msg_type not in MESSAGE_TYPES:
        kind = "system"
        body = f"{msg_type}: {content}" if content else msg_type
    elif not content and (attachments or stickers):
        kind = "media"
        body = " ".join(f"[sticker {s.get('name')}]" for s in stickers) or None
    else:
        kind = "message"
    edited = msg.get("timestampEdited")
    if edited:
        try:
            flags += ["edited", f"edited_at:{utc_iso(datetime.fromisoformat(str(edited)))}"]
        except ValueError:
            flags += ["edited", "edited_at:unknown"]
    reference = msg.get("reference")
    if isinstance(reference, dict) and reference.get("messageId"):
        flags.append(f"reply_to:{reference['messageId']}")
    if deleted:
        flags.append("deleted_user")
    if isinstance(msg.get("author"), dict) and msg["author"].get("isBot"):
        flags.append("bot")
    if msg.get("isPinned"):
        flags.append("pinned")
    message_id = ctx.add_message(
        platform=PLATFORM,
        kind=kind,
        locator=locator,
        time=time,
        body=body,
        sender=sender,
        sender_identifier=sender_ident,
        conversation=conversation,
        external_id=external_id,
        flags=flags,
    )
    for mention in listed(msg, "mentions"):
        _, ident, _ = _user(mention)
        if ident is not None:
            ctx.link_identifier(message_id, ident, "mentioned")
    for number, attachment in enumerate(attachments):
        url = str(attachment.get("url") or "")
        name = attachment.get("fileName") or (url.rsplit("/", 1)[-1] if url else None)
        ctx.add_attachment(
            message_id,
            locator=f"{locator}/attachments/{number}",
            file_name=name,
            mime=None,
            sha256=sibling_sha256(ctx, url if url and "://" not in url else name),
        )
