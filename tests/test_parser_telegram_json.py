"""Telegram Desktop JSON: real single-chat and full-account fixtures, plus written variants."""

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

RESULT = "telegram/langchain-community/result.json"
BATCH = "telegram/chat-miner/test_batch_export.json"


def _write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_single_chat_fixture(parse, shared_fixtures):
    path = shared_fixtures / RESULT
    ex = parse(path)
    row = file_row(ex)
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == (
        "parsed",
        "telegram_json",
        4,
        0,
    )
    messages = ex.rows["messages"]
    assert [m["sender"] for m in messages] == [
        "Jimmeny Marvelton",
        "Batman & Robin",
        "Jimmeny Marvelton",
        "Jimmeny Marvelton",
    ]
    assert messages[0]["sent_at_utc"] == datetime(2023, 8, 23, 20, 11, 23, tzinfo=UTC)
    assert messages[-1]["sent_at_utc"] == datetime(2023, 8, 23, 20, 15, 53, tzinfo=UTC)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert messages[0] == {
        "message_id": message_id_for(sha, "/messages/0"),
        "platform": "telegram",
        "conversation": "Jimmeny",
        "sender": "Jimmeny Marvelton",
        "sender_identifier": "telegram:user123450513",
        "recipients": [],
        "sent_at_utc": datetime(2023, 8, 23, 20, 11, 23, tzinfo=UTC),
        "sent_at_local": "2023-08-23T13:11:23",
        "tz_source": "epoch",
        "time_precision": "second",
        "kind": "message",
        "body": "i refuse to converse with you",
        "source_sha256": sha,
        "source_locator": "/messages/0",
        "duplicate_of": None,
        "subject": None,
        "external_id": "1",
        "direction": None,
        "flags": [],
        "parser": "telegram_json",
    }
    handles = {i["value"] for i in ex.rows["identifiers"]}
    assert handles == {"telegram:user123450513", "telegram:user6565661032"}


def test_owner_gives_direction(parse, shared_fixtures):
    ex = parse(shared_fixtures / RESULT, owners=("telegram:user6565661032",))
    assert [m["direction"] for m in ex.rows["messages"]] == ["incoming", "outgoing", "incoming", "incoming"]


def test_full_account_fixture(parse, shared_fixtures):
    ex = parse(shared_fixtures / BATCH)
    row = file_row(ex)
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 2, 0)
    first, last = ex.rows["messages"]
    assert [first["source_locator"], last["source_locator"]] == [
        "/chats/list/0/messages/0",
        "/chats/list/0/messages/1",
    ]
    assert (first["sender"], last["sender"]) == ("Author 1", "Author 2")
    assert first["sent_at_utc"] == datetime(2018, 12, 5, 10, 39, 10, tzinfo=UTC)
    assert last["sent_at_utc"] == datetime(2018, 12, 5, 10, 49, 24, tzinfo=UTC)
    assert first["conversation"] == "Chatname"
    assert first["sent_at_local"] == "1544006350"  # no `date`: the unixtime as written
    assert last["body"] == "Link:https://telegram.org/"  # entity list joined as displayed
    assert last["sender_identifier"] is None
    assert [i["value"] for i in ex.rows["identifiers"]] == ["https://telegram.org"]
    assert ex.rows["message_identifiers"][0]["role"] == "mentioned"


def _variants() -> dict:
    return {
        "name": "Stalker",
        "type": "personal_chat",
        "id": 42,
        "messages": [
            {
                "id": 10,
                "type": "service",
                "date": "2024-03-31T00:59:00",
                "date_unixtime": "1711846740",
                "actor": "Mallory",
                "actor_id": "user777",
                "action": "phone_call",
                "duration_seconds": 35,
                "discard_reason": "hangup",
                "text": "",
                "text_entities": [],
            },
            {
                "id": 11,
                "type": "message",
                "date": "2024-03-31T01:30:00",
                "date_unixtime": "1711848600",
                "edited": "2024-03-31T01:35:00",
                "edited_unixtime": "1711848900",
                "from": "Mallory",
                "from_id": "user777",
                "reply_to_message_id": 10,
                "text": [
                    "I know where ",
                    {"type": "bold", "text": "you"},
                    " live, see ",
                    {"type": "text_link", "text": "here", "href": "https://example.org/map"},
                    " and ask ",
                    {"type": "mention", "text": "@SomeFriend"},
                ],
                "text_entities": [
                    {"type": "plain", "text": "I know where "},
                    {"type": "bold", "text": "you"},
                    {"type": "plain", "text": " live, see "},
                    {"type": "text_link", "text": "here", "href": "https://example.org/map"},
                    {"type": "plain", "text": " and ask "},
                    {"type": "mention", "text": "@SomeFriend"},
                ],
            },
            {
                "id": 12,
                "type": "message",
                "date": "2024-03-31T02:00:00",
                "date_unixtime": "1711850400",
                "from": "Mallory",
                "from_id": "user777",
                "forwarded_from": "Someone Else",
                "photo": "photos/photo_1@31-03-2024_02-00-00.jpg",
                "width": 800,
                "height": 600,
                "text": "",
                "text_entities": [],
            },
            {
                "id": 13,
                "type": "message",
                "date": "2024-03-31T02:05:00",
                "date_unixtime": "1711850700",
                "from": "Victim",
                "from_id": 555,
                "file": "(File not included. Change data exporting settings to download.)",
                "file_name": "voice.ogg",
                "media_type": "voice_message",
                "mime_type": "audio/ogg",
                "text": "",
            },
            # Old export without date_unixtime: local time read in --tz (01:30 on spring-forward day).
            {
                "id": 14,
                "type": "message",
                "date": "2024-03-31T01:30:00",
                "edited": "2024-03-31T03:00:00",
                "from": "Victim",
                "text": "old",
            },
            {"id": 15, "type": "message", "date": "yesterday", "from": "Victim", "text": "bad date"},
            {
                "id": 16,
                "type": "message",
                "date": "2024-03-31T05:17:01",
                "date_unixtime": "1711850400",
                "from": "Mallory",
                "text": "date and unixtime disagree",
            },
            "not a message",
        ],
    }


def test_written_variants(parse, tmp_path):
    path = _write(tmp_path, "result.json", _variants())
    ex = parse(path, tz="Europe/London")
    row = file_row(ex)
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 7, 3)
    call, threat, photo, voice, old, bad, odd = ex.rows["messages"]
    assert call["kind"] == "call"
    assert call["sender"] == "Mallory" and call["sender_identifier"] == "telegram:user777"
    assert call["body"] == "phone_call (duration 35 s; discard reason hangup)"
    assert threat["body"] == "I know where you live, see here and ask @SomeFriend"
    assert threat["flags"] == ["edited", "edited_at:2024-03-31T01:35:00Z", "reply_to:10"]
    assert threat["external_id"] == "11"
    mentioned = {
        i["value"]
        for i, link in zip(ex.rows["identifiers"], ex.rows["message_identifiers"], strict=True)
        if link["message_id"] == threat["message_id"] and link["role"] == "mentioned"
    }
    assert mentioned == {"https://example.org/map", "telegram:somefriend"}
    assert photo["kind"] == "media" and photo["body"] is None
    assert photo["flags"] == ["forwarded", "forwarded_from:Someone Else"]
    assert voice["sender_identifier"] == "telegram:user555"  # bare number from old exports
    attachments = {a["locator"]: a for a in ex.rows["attachments"]}
    assert attachments["/messages/2/photo"]["file_name"] == "photos/photo_1@31-03-2024_02-00-00.jpg"
    assert attachments["/messages/2/photo"]["sha256"] is None
    assert attachments["/messages/3/file"] == {
        "message_id": voice["message_id"],
        "file_name": "voice.ogg",
        "mime": "audio/ogg",
        "sha256": None,
        "size_bytes": None,
        "locator": "/messages/3/file",
    }
    assert old["tz_source"] == "run_parameter"
    assert old["sent_at_utc"] == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)  # 01:30 does not exist: 02:30 BST
    assert old["flags"] == ["dst_gap", "edited", "edited_at:2024-03-31T02:00:00Z"]
    assert bad["sent_at_utc"] is None and bad["flags"] == ["unparseable_date"]
    assert odd["tz_source"] == "epoch"
    warnings = [e["error"] for e in ex.rows["ingest_errors"]]
    assert any("disagree" in w for w in warnings)
    assert any("not an object" in w for w in warnings)


def test_photo_found_next_to_the_export(tmp_path):
    store = OriginalsStore(tmp_path / "originals")
    photo = store.put_bytes(b"\xff\xd8\xff fake jpeg")
    path = _write(tmp_path, "result.json", _variants())
    blob = store.put_file(path)
    item = FoundFile(
        blob.sha256,
        blob.md5,
        blob.size_bytes,
        str(path),
        path.name,
        siblings={"photo_1@31-03-2024_02-00-00.jpg": photo.sha256, "result.json": blob.sha256},
    )
    ex = extract_items([item], store=store, run_id="t", options=ParseOptions(), per_message=False)
    (attachment,) = [a for a in ex.rows["attachments"] if a["locator"] == "/messages/2/photo"]
    assert attachment["sha256"] == photo.sha256


def test_full_account_with_left_chats(parse, tmp_path):
    data = {
        "about": "Here is the data you requested. Telegram is ad free.",
        "personal_information": {"user_id": 555, "first_name": "Victim"},
        "chats": {
            "about": "This page lists all chats from this export.",
            "list": [
                {"name": "Mallory", "type": "personal_chat", "id": 777, "messages": []},
                {
                    "name": "Mallory",
                    "type": "personal_chat",
                    "id": 777,
                    "messages": [
                        {"id": 1, "type": "message", "date_unixtime": "1700000000", "from": "M", "text": "a"}
                    ],
                },
            ],
        },
        "left_chats": {
            "list": [
                {
                    "type": "private_group",
                    "id": 9,
                    "messages": [
                        {"id": 2, "type": "message", "date_unixtime": "1700000100", "from": "M", "text": "b"}
                    ],
                },
                {"name": "broken"},
            ]
        },
    }
    ex = parse(_write(tmp_path, "result.json", data))
    row = file_row(ex)
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 2, 1)
    assert [m["source_locator"] for m in ex.rows["messages"]] == [
        "/chats/list/1/messages/0",
        "/left_chats/list/0/messages/0",
    ]
    assert [m["conversation"] for m in ex.rows["messages"]] == ["Mallory", "chat 9"]


def test_full_account_without_chats_is_parsed_with_a_warning(parse, tmp_path):
    data = {"about": "Telegram export", "personal_information": {"user_id": 1}, "contacts": {"list": []}}
    row = file_row(parse(_write(tmp_path, "result.json", data)))
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == (
        "parsed",
        "telegram_json",
        0,
        1,
    )


def test_look_alike_json_is_unsupported(parse, tmp_path):
    data = {"messages": [{"author": "x", "date": "2024-01-01", "text": "hello"}]}
    row = file_row(parse(_write(tmp_path, "export.json", data)))
    assert row["status"] == "unsupported"
    assert row["format"] is None
    assert "no parser" in row["status_reason"]


def test_export_cut_short_keeps_its_complete_messages(parse, shared_fixtures, tmp_path):
    """A file that stops early (a download or copy cut short): the messages complete before the cut are
    read exactly as from the whole file, the half-written one is left out, and the file says so."""
    raw = (shared_fixtures / RESULT).read_bytes()
    whole = tmp_path / "whole-result.json"
    whole.write_bytes(raw)
    path = tmp_path / "result.json"
    path.write_bytes(raw[: len(raw) // 2])
    every = {(m["source_locator"], m["body"]) for m in parse(whole).rows["messages"]}
    ex = parse(path)
    row = file_row(ex)
    assert row["status"] == "parsed"
    read = {(m["source_locator"], m["body"]) for m in ex.rows["messages"]}
    assert 0 < len(read) < len(every) and read <= every
    assert any("cut short" in e["error"] for e in ex.rows["ingest_errors"])


def test_wrong_structure_fails_with_reason(parse, tmp_path):
    data = {"name": "x", "type": "personal_chat", "messages": {"date_unixtime": "1"}}
    row = file_row(parse(_write(tmp_path, "result.json", data)))
    assert row["status"] == "failed"
    assert "'/messages' is not a list" in row["status_reason"]
