"""DiscordChatExporter JSON. No real export is in the shared corpus, so the test writes one in the
layout DiscordChatExporter 2.x produces (JsonMessageWriter): guild, channel, dateRange, messages,
messageCount.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from rows import file_row

from evidence.acquire.found_file import FoundFile
from evidence.acquire.store import OriginalsStore
from evidence.parsers.context import ParseOptions, message_id_for
from evidence.pipeline.extract import extract_items


def _author(user_id: str, name: str, nickname: str | None = None, discriminator: str = "0000", bot=False):
    return {
        "id": user_id,
        "name": name,
        "discriminator": discriminator,
        "nickname": nickname or name,
        "color": None,
        "isBot": bot,
        "roles": [],
        "avatarUrl": f"https://cdn.discordapp.com/avatars/{user_id}/abc.png?size=512",
    }


STALKER = _author("123456789012345678", "mallory_x", nickname="Mal")
VICTIM = _author("876543210987654321", "alice")


def _message(msg_id: str, timestamp: str, author: dict, content: str, **extra) -> dict:
    message = {
        "id": msg_id,
        "type": "Default",
        "timestamp": timestamp,
        "timestampEdited": None,
        "callEndedTimestamp": None,
        "isPinned": False,
        "content": content,
        "author": author,
        "attachments": [],
        "embeds": [],
        "stickers": [],
        "reactions": [],
        "mentions": [],
    }
    message.update(extra)
    return message


def _export() -> dict:
    greeting = _message(
        "1100000000000000001", "2023-05-01T20:15:00.123+01:00", STALKER, "hey alice, remember me?"
    )
    messages = [
        greeting,
        _message(
            "1100000000000000002",
            "2023-05-01T20:16:30+01:00",
            VICTIM,
            "leave me alone",
            type="Reply",
            reference={"messageId": "1100000000000000001", "channelId": "999", "guildId": None},
        ),
        _message(
            "1100000000000000003",
            "2023-05-01T20:17:00+01:00",
            STALKER,
            "you can't hide @alice",
            timestampEdited="2023-05-01T20:19:45.5+01:00",
            mentions=[{k: VICTIM[k] for k in ("id", "name", "discriminator", "nickname", "isBot")}],
        ),
        _message(
            "1100000000000000004",
            "2023-05-01T20:18:00+01:00",
            STALKER,
            "",
            attachments=[
                {
                    "id": "1100000000000000099",
                    "url": "dm-alice.json_Files/house-1A2B3.jpg",
                    "fileName": "house.jpg",
                    "fileSizeBytes": 13,
                }
            ],
        ),
        _message(
            "1100000000000000005",
            "2023-05-02T08:00:00+00:00",
            _author("555555555555555555", "Deleted User 5e1f2a3b"),
            "message from an account that was deleted",
        ),
        _message(
            "1100000000000000006",
            "2023-05-02T08:05:00+00:00",
            STALKER,
            "",
            type="Call",
            callEndedTimestamp="2023-05-02T08:05:40+00:00",
        ),
        _message("1100000000000000007", "2023-05-02T08:06:00+00:00", VICTIM, "", type="ChannelPinnedMessage"),
        greeting,  # the same record twice (exports merged by hand, or a re-run appended)
        _message("1100000000000000008", "yesterday", STALKER, "bad time"),
    ]
    return {
        "guild": {
            "id": "0",
            "name": "Direct Messages",
            "iconUrl": "https://cdn.discordapp.com/embed/avatars/0.png",
        },
        "channel": {
            "id": "999",
            "type": "DirectTextChat",
            "categoryId": None,
            "category": "Private",
            "name": "mallory_x",
            "topic": None,
        },
        "dateRange": {"after": None, "before": None},
        "exportedAt": "2023-06-01T10:00:00.0000000+00:00",
        "messages": messages,
        "messageCount": len(messages),
    }


def _write(tmp_path: Path, data: object, name: str = "dm-alice.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def test_written_export(tmp_path):
    store = OriginalsStore(tmp_path / "originals")
    photo = store.put_bytes(b"\xff\xd8\xff house")
    path = _write(tmp_path, _export())
    blob = store.put_file(path)
    item = FoundFile(
        blob.sha256,
        blob.md5,
        blob.size_bytes,
        str(path),
        path.name,
        siblings={"house-1A2B3.jpg": photo.sha256},
    )
    ex = extract_items(
        [item],
        store=store,
        run_id="t",
        options=ParseOptions(owners=("discord:876543210987654321",)),
        per_message=False,
    )
    row = ex.rows["run_files"][0]
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == (
        "parsed",
        "discord_json",
        9,
        2,
    )
    messages = ex.rows["messages"]
    assert [m["source_locator"] for m in messages] == [f"/messages/{i}" for i in range(9)]
    first, reply, edited, media, deleted, call, pinned, again, bad = messages
    assert first["sent_at_utc"] == datetime(2023, 5, 1, 19, 15, 0, 123000, tzinfo=UTC)
    assert call["sent_at_utc"] == datetime(2023, 5, 2, 8, 5, tzinfo=UTC)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert first == {
        "message_id": message_id_for(sha, "/messages/0"),
        "platform": "discord",
        "conversation": "Direct Messages / Private / mallory_x",
        "sender": "Mal (mallory_x)",
        "sender_identifier": "discord:123456789012345678",
        "recipients": [],
        "sent_at_utc": datetime(2023, 5, 1, 19, 15, 0, 123000, tzinfo=UTC),
        "sent_at_local": "2023-05-01T20:15:00.123+01:00",
        "tz_source": "offset",
        "time_precision": "second",
        "kind": "message",
        "body": "hey alice, remember me?",
        "source_sha256": sha,
        "source_locator": "/messages/0",
        "duplicate_of": None,
        "subject": None,
        "external_id": "1100000000000000001",
        "direction": "incoming",
        "flags": [],
        "parser": "discord_json",
    }
    assert (reply["sender"], reply["direction"]) == ("alice", "outgoing")
    assert reply["flags"] == ["reply_to:1100000000000000001"]
    assert reply["body"] == "leave me alone"
    assert edited["flags"] == ["edited", "edited_at:2023-05-01T19:19:45Z"]
    mentioned = [
        link for link in ex.rows["message_identifiers"] if link["message_id"] == edited["message_id"]
    ]
    assert sorted(link["role"] for link in mentioned) == ["mentioned", "sender"]
    assert (media["kind"], media["body"]) == ("media", None)
    (attachment,) = ex.rows["attachments"]
    assert attachment == {
        "message_id": media["message_id"],
        "file_name": "house.jpg",
        "mime": "image/jpeg",
        "sha256": photo.sha256,
        "size_bytes": None,
        "locator": "/messages/3/attachments/0",
    }
    assert deleted["sender"] == "Deleted User 5e1f2a3b"
    assert deleted["sender_identifier"] == "discord:555555555555555555"
    assert deleted["flags"] == ["deleted_user"]
    assert (call["kind"], call["body"]) == ("call", "call (ended 2023-05-02T08:05:40+00:00)")
    assert (pinned["kind"], pinned["body"]) == ("system", "ChannelPinnedMessage")
    assert again["external_id"] == first["external_id"]
    assert again["message_id"] != first["message_id"]
    assert bad["sent_at_utc"] is None
    errors = [e["error"] for e in ex.rows["ingest_errors"]]
    assert errors == [
        "message id 1100000000000000001 appears again (first at /messages/0); both kept",
        "unreadable timestamp 'yesterday'",
    ]


def test_shared_deleted_user_placeholder_is_not_an_identifier(parse, tmp_path):
    data = _export()
    data["messages"] = [
        _message("1", "2023-05-02T08:00:00+00:00", _author("456226577798135808", "Deleted User"), "a"),
        _message("2", "2023-05-02T08:01:00+00:00", _author("456226577798135808", "Deleted User"), "b"),
    ]
    ex = parse(_write(tmp_path, data))
    assert [m["sender_identifier"] for m in ex.rows["messages"]] == [None, None]
    assert [m["flags"] for m in ex.rows["messages"]] == [["deleted_user"], ["deleted_user"]]


def test_look_alike_json_is_unsupported(parse, tmp_path):
    data = {"server": "x", "channel_name": "general", "messages": [{"id": "1", "content": "hi"}]}
    row = file_row(parse(_write(tmp_path, data)))
    assert row["status"] == "unsupported" and "no parser" in row["status_reason"]


def test_export_cut_short_keeps_its_complete_messages(parse, tmp_path):
    """A file that stops early (a download or copy cut short): the messages complete before the cut are
    read exactly as from the whole file, the half-written one is left out, and the file says so."""
    raw = json.dumps(_export(), indent=2).encode()
    whole = tmp_path / "whole-dm-alice.json"
    whole.write_bytes(raw)
    path = tmp_path / "dm-alice.json"
    path.write_bytes(raw[: len(raw) // 2])
    every = {(m["source_locator"], m["body"]) for m in parse(whole).rows["messages"]}
    ex = parse(path)
    row = file_row(ex)
    assert row["status"] == "parsed"
    read = {(m["source_locator"], m["body"]) for m in ex.rows["messages"]}
    assert 0 < len(read) < len(every) and read <= every
    assert any("cut short" in e["error"] for e in ex.rows["ingest_errors"])


def test_messages_not_a_list_fails_with_reason(parse, tmp_path):
    data = {"guild": {"name": "g"}, "channel": {"name": "c"}, "messages": None}
    row = file_row(parse(_write(tmp_path, data)))
    assert row["status"] == "failed"
    assert "'messages' is missing or not a list" in row["status_reason"]
