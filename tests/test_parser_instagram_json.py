"""Instagram / Messenger JSON: the real mojibake fixture plus written Messenger and edge-case exports."""

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

FIXTURE = "instagram/chat-miner/testlog.json"


def _mojibake(text: str) -> str:
    """How Facebook writes UTF-8 text: each byte as a Latin-1 code point."""
    return text.encode("utf-8").decode("latin-1")


def _write(folder: Path, data: object, name: str = "message_1.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    # ensure_ascii like the real exports: mojibake written as \\u00e2 escapes.
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def test_fixture(parse, shared_fixtures):
    path = shared_fixtures / FIXTURE
    ex = parse(path)
    row = file_row(ex)
    # 13 messages + 4 reactions (two messages with two reactions each), no warnings: the ig.me invite
    # link says instagram.
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == (
        "parsed",
        "instagram_json",
        17,
        0,
    )
    messages = ex.rows["messages"]
    assert {m["platform"] for m in messages} == {"instagram"}
    assert [m["source_locator"] for m in messages][:3] == [
        "/messages/0",
        "/messages/0/reactions/0",
        "/messages/0/reactions/1",
    ]
    # Newest first in the file; the locator keeps the file order.
    assert messages[0]["sent_at_utc"] == datetime(2022, 2, 28, 5, 25, 43, 621000, tzinfo=UTC)
    assert messages[-1]["sent_at_utc"] == datetime(2019, 12, 24, 11, 23, tzinfo=UTC)
    assert {m["sender"] for m in messages} == {"John Doe", "J❤️hn Doe", "Jane Doe", "Lionel Messi", "❤️"}
    by_locator = {m["source_locator"]: m for m in messages}
    assert by_locator["/messages/1"]["kind"] == "system"  # poll update
    assert by_locator["/messages/2"]["kind"] == "system"  # poll no longer available
    assert by_locator["/messages/7"]["kind"] == "system"  # joined the group
    assert by_locator["/messages/3"]["kind"] == "media"  # audio only
    assert by_locator["/messages/5"]["body"] == (
        "John Doe sent an attachment.\nhttps://www.instagram.com/p/CmUv48DLvxd/?feed_type=reshare_chaining"
    )
    assert by_locator["/messages/11"]["body"] == "Testing message with emoji: ❤️"
    reaction = by_locator["/messages/8/reactions/0"]
    assert (reaction["kind"], reaction["sender"], reaction["body"]) == (
        "system",
        "J❤️hn Doe",
        "reacted ❤️ to John Doe's message: “Testing message with reactions.”",
    )
    assert reaction["flags"] == ["time_of_parent_message"]
    assert len(ex.rows["attachments"]) == 3
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert by_locator["/messages/10"] == {
        "message_id": message_id_for(sha, "/messages/10"),
        "platform": "instagram",
        "conversation": "Test Log",
        "sender": "J❤️hn Doe",
        "sender_identifier": None,
        "recipients": ["John Doe", "Jane Doe", "Lionel Messi"],
        "sent_at_utc": datetime(2020, 1, 18, 14, 53, tzinfo=UTC),
        "sent_at_local": "1579359180000",
        "tz_source": "epoch",
        "time_precision": "second",
        "kind": "message",
        "body": "Testing username with emoji: J❤️hn Doe",
        "source_sha256": sha,
        "source_locator": "/messages/10",
        "duplicate_of": None,
        "subject": None,
        "external_id": None,
        "direction": None,
        "flags": [],
        "parser": "instagram_json",
    }


def _messenger() -> dict:
    return {
        "participants": [{"name": _mojibake("Zoë Stalker")}, {"name": "Victim"}],
        "messages": [
            {
                "sender_name": _mojibake("Zoë Stalker"),
                "timestamp_ms": 1700000300000,
                "content": "You missed a call from Zoë.",
                "call_duration": 0,
                "is_geoblocked_for_viewer": False,
            },
            {
                "sender_name": "Victim",
                "timestamp_ms": 1700000200000,
                "content": "please stop",
                "reactions": [
                    {"reaction": _mojibake("😂"), "actor": _mojibake("Zoë Stalker"), "timestamp": 1700000250}
                ],
                "is_unsent": True,
            },
            {
                "sender_name": _mojibake("Zoë Stalker"),
                "timestamp_ms": 1700000100000,
                "photos": [
                    {
                        "uri": "your_facebook_activity/messages/inbox/zoe_123/photos/1234_n.jpg",
                        "creation_timestamp": 1700000100,
                    }
                ],
            },
            {"sender_name": "Victim", "content": "no time"},
            {"sender_name": "Victim", "timestamp_ms": "soon", "content": "bad time"},
            {"sender_name": "Victim", "timestamp_ms": 1700000000000, "content": "café"},  # real Latin-1
        ],
        "title": _mojibake("Zoë Stalker"),
        "is_still_participant": True,
        "thread_path": "inbox/zoe_123",
    }


def test_messenger_export(tmp_path):
    store = OriginalsStore(tmp_path / "originals")
    photo = store.put_bytes(b"\xff\xd8\xff fake jpeg")
    path = _write(tmp_path / "export", _messenger())
    blob = store.put_file(path)
    item = FoundFile(
        blob.sha256, blob.md5, blob.size_bytes, str(path), path.name, siblings={"1234_n.jpg": photo.sha256}
    )
    ex = extract_items([item], store=store, run_id="t", options=ParseOptions(), per_message=False)
    row = ex.rows["run_files"][0]
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 7, 2)
    rows = {m["source_locator"]: m for m in ex.rows["messages"]}
    assert {m["platform"] for m in rows.values()} == {"messenger"}  # from the media path
    call = rows["/messages/0"]
    assert (call["kind"], call["sender"], call["conversation"]) == ("call", "Zoë Stalker", "Zoë Stalker")
    assert call["body"] == "You missed a call from Zoë. (duration 0 s)"
    assert call["recipients"] == ["Victim"]
    assert rows["/messages/1"]["flags"] == ["unsent"]
    reaction = rows["/messages/1/reactions/0"]
    assert reaction["sent_at_utc"] == datetime.fromtimestamp(1700000250, UTC)
    assert reaction["flags"] == []
    assert reaction["body"] == "reacted 😂 to Victim's message: “please stop”"
    (attachment,) = ex.rows["attachments"]
    assert attachment["sha256"] == photo.sha256
    assert attachment["message_id"] == rows["/messages/2"]["message_id"]
    assert rows["/messages/2"]["kind"] == "media"
    assert rows["/messages/3"]["sent_at_utc"] is None
    assert rows["/messages/4"]["flags"] == ["unparseable_date"]
    assert rows["/messages/5"]["body"] == "café"


def test_platform_from_path_or_warning(parse, tmp_path):
    data = {
        "participants": [{"name": "A"}],
        "messages": [{"sender_name": "A", "timestamp_ms": 1, "content": "x"}],
        "title": "A",
    }
    ex = parse(_write(tmp_path / "facebook-victim" / "messages" / "inbox" / "a_1", data))
    assert ex.rows["messages"][0]["platform"] == "messenger"
    assert file_row(ex)["warnings"] == 0
    ex = parse(_write(tmp_path / "export", data))
    assert ex.rows["messages"][0]["platform"] == "instagram"
    assert file_row(ex)["warnings"] == 1
    assert "assumed instagram" in ex.rows["ingest_errors"][0]["error"]


def test_look_alike_json_is_unsupported(parse, tmp_path):
    data = {"participants": ["a", "b"], "messages": [{"from": "a", "time": 1, "text": "x"}]}
    row = file_row(parse(_write(tmp_path, data)))
    assert row["status"] == "unsupported" and "no parser" in row["status_reason"]


def test_export_cut_short_keeps_its_complete_messages(parse, shared_fixtures, tmp_path):
    """A file that stops early (a download or copy cut short): the messages complete before the cut are
    read exactly as from the whole file, the half-written one is left out, and the file says so."""
    raw = (shared_fixtures / FIXTURE).read_bytes()
    whole = tmp_path / "whole-message_1.json"
    whole.write_bytes(raw)
    path = tmp_path / "message_1.json"
    path.write_bytes(raw[:2000])
    every = {(m["source_locator"], m["body"]) for m in parse(whole).rows["messages"]}
    ex = parse(path)
    row = file_row(ex)
    assert row["status"] == "parsed"
    read = {(m["source_locator"], m["body"]) for m in ex.rows["messages"]}
    assert 0 < len(read) < len(every) and read <= every
    assert any("cut short" in e["error"] for e in ex.rows["ingest_errors"])


def test_messages_not_a_list_fails_with_reason(parse, tmp_path):
    data = {"participants": [], "messages": {"sender_name": "a", "timestamp_ms": 1}}
    row = file_row(parse(_write(tmp_path, data)))
    assert row["status"] == "failed"
    assert "'messages' is missing or not a list" in row["status_reason"]
