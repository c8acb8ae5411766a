"""macOS chat.db: the real sample database plus databases built here for what it lacks."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rows import file_row

from evidence.acquire.found_file import FoundFile
from evidence.acquire.store import OriginalsStore
from evidence.parsers.context import ParseOptions
from evidence.parsers.imessage_db import AttributedBodyError, apple_time, decode_attributed_body
from evidence.pipeline.extract import extract_items

FIXTURE = "imessage/langchain-community/imessage_chat.db"
APPLE = 978_307_200


def typedstream(text: str) -> bytes:
    """A minimal NSAttributedString typedstream as Messages writes it."""
    data = text.encode()
    if len(data) < 0x80:
        length = bytes([len(data)])
    elif len(data) < 0x8000:
        length = b"\x81" + len(data).to_bytes(2, "little")
    else:
        length = b"\x82" + len(data).to_bytes(4, "little")
    return (
        b"\x04\x0bstreamtyped\x81\xe8\x03\x84\x01@\x84\x84\x84\x12NSAttributedString\x00\x84\x84\x08NSObject"
        b"\x00\x85\x92\x84\x84\x84\x08NSString\x01\x94\x84\x01+"
        + length
        + data
        + b"\x86\x84\x02iI\x01\x03\x92"
    )


def test_real_database(parse, shared_fixtures: Path) -> None:
    path = shared_fixtures / FIXTURE
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    out = parse(path)
    row = file_row(out, "imessage_chat.db")
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == (
        "parsed",
        "imessage_db",
        23,
        0,
    )
    messages = out.rows["messages"]
    assert Counter(m["direction"] for m in messages) == {"outgoing": 13, "incoming": 10}
    assert Counter(m["sender"] for m in messages) == {"me": 13, "testemail@gmail.com": 10}
    assert min(m["sent_at_utc"] for m in messages) == datetime(2023, 11, 5, 2, 50, 50, 393148, tzinfo=UTC)
    assert max(m["sent_at_utc"] for m in messages) == datetime(2023, 11, 17, 11, 27, 36, 509087, tzinfo=UTC)
    by_locator = {m["source_locator"]: m for m in messages}
    # text NULL: the body comes from attributedBody (including a multi-byte character).
    assert by_locator["message/241615"]["body"].endswith("can’t play games too well")
    assert by_locator["message/251968"]["body"].startswith("aaaaabbbbb")
    assert by_locator["message/252040"]["flags"] == ["reaction"]
    # In this sample the text column was edited after the fact: the parser keeps text and says so.
    assert sum("attributed_body_differs" in m["flags"] for m in messages) == 4
    assert by_locator["message/241485"] == {
        "message_id": by_locator["message/241485"]["message_id"],
        "platform": "imessage",
        "conversation": "testemail@gmail.com",
        "sender": "me",
        "sender_identifier": None,
        "recipients": ["testemail@gmail.com"],
        "sent_at_utc": datetime(2023, 11, 5, 2, 51, 24, 177866, tzinfo=UTC),
        "sent_at_local": "720845484177865472",
        "tz_source": "epoch",
        "time_precision": "second",
        "kind": "message",
        "body": "Woaaaaaah",
        "source_sha256": before,
        "source_locator": "message/241485",
        "duplicate_of": None,
        "subject": None,
        "external_id": "517F45ED-2F1A-4C1C-B101-1CC33D349C01",
        "direction": "outgoing",
        "flags": [],
        "parser": "imessage_db",
    }
    assert {(i["kind"], i["value"]) for i in out.rows["identifiers"]} == {("email", "testemail@gmail.com")}
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def _build_chat_db(path: Path, *, wal: bool = False) -> sqlite3.Connection:
    con = sqlite3.connect(path)
    if wal:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA wal_autocheckpoint=0")
    con.executescript(
        """
        CREATE TABLE handle (ROWID INTEGER PRIMARY KEY AUTOINCREMENT UNIQUE, id TEXT NOT NULL, service TEXT);
        CREATE TABLE message (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, text TEXT,
            handle_id INTEGER DEFAULT 0, subject TEXT, attributedBody BLOB, service TEXT, date INTEGER,
            is_from_me INTEGER DEFAULT 0, associated_message_type INTEGER DEFAULT 0);
        CREATE TABLE chat (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, chat_identifier TEXT, display_name TEXT);
        CREATE TABLE chat_message_join (chat_id INTEGER, message_id INTEGER,
            PRIMARY KEY (chat_id, message_id));
        CREATE TABLE chat_handle_join (chat_id INTEGER, handle_id INTEGER, UNIQUE (chat_id, handle_id));
        CREATE TABLE attachment (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, filename TEXT, mime_type TEXT,
            transfer_name TEXT);
        CREATE TABLE message_attachment_join (message_id INTEGER, attachment_id INTEGER);
        INSERT INTO handle VALUES (1, '+447700900123', 'SMS'), (2, 'Stalker@Example.com', 'iMessage');
        INSERT INTO chat VALUES (1, '+447700900123', ''), (2, 'chat123456', 'Running club');
        INSERT INTO chat_handle_join VALUES (1, 1), (2, 1), (2, 2);
        """
    )
    rows = [
        # seconds-based date (macOS before 10.13), plain text
        (1, "G1", "where are you", 1, None, "SMS", 600_000_000, 0),
        # nanosecond date, text only in attributedBody
        (2, "G2", None, 2, typedstream("I know where you live ✔"), "iMessage", 700_000_000_123_456_789, 0),
        # long attributedBody (two-byte length) from me in a group chat
        (3, "G3", None, 0, typedstream("x" * 300), "iMessage", 700_000_100_000_000_000, 1),
        # attributedBody that cannot be decoded
        (4, "G4", None, 2, b"\x04\x0bstreamtyped garbage", "iMessage", 700_000_200_000_000_000, 0),
    ]
    con.executemany(
        "INSERT INTO message (ROWID, guid, text, handle_id, attributedBody, service, date, is_from_me) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    con.executescript(
        """
        INSERT INTO chat_message_join VALUES (1, 1), (2, 2), (2, 3), (2, 4);
        INSERT INTO attachment VALUES
            (1, '~/Library/Messages/Attachments/ab/12/X/IMG_0001.jpeg', 'image/jpeg', 'IMG_0001.jpeg'),
            (2, '~/Library/Messages/Attachments/cd/34/Y/voice.caf', 'audio/x-caf', NULL);
        INSERT INTO message_attachment_join VALUES (2, 1), (2, 2);
        """
    )
    con.commit()
    return con


def _extract(tmp_path: Path, files: dict[str, Path], options: ParseOptions | None = None):
    """Store files as one folder (so they are each other's siblings) and extract the first."""
    store = OriginalsStore(tmp_path / "originals")
    blobs = {name: store.put_file(path) for name, path in files.items()}
    siblings = {name: blob.sha256 for name, blob in blobs.items()}
    name, blob = next(iter(blobs.items()))
    item = FoundFile(blob.sha256, blob.md5, blob.size_bytes, str(files[name]), name, siblings=siblings)
    out = extract_items([item], store=store, run_id="t", options=options or ParseOptions(), per_message=False)
    return out, store, blob


def test_built_database_text_attributed_body_dates_and_attachments(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    _build_chat_db(db).close()
    image = tmp_path / "IMG_0001.jpeg"
    image.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out, store, blob = _extract(
        tmp_path, {"chat.db": db, "IMG_0001.jpeg": image}, ParseOptions(owners=("victim@example.org",))
    )
    row = file_row(out, "chat.db")
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 4, 1)
    first, second, third, fourth = out.rows["messages"]
    # service SMS went through the carrier; the others through Apple
    assert [m["platform"] for m in out.rows["messages"]] == ["sms", "imessage", "imessage", "imessage"]
    assert first["sent_at_utc"] == datetime.fromtimestamp(600_000_000 + APPLE, UTC)
    assert (first["sender_identifier"], first["conversation"], first["recipients"]) == (
        "+447700900123",
        "+447700900123",
        ["victim@example.org"],
    )
    assert second["body"] == "I know where you live ✔"
    assert second["sent_at_utc"] == datetime(2023, 3, 8, 20, 26, 40, 123457, tzinfo=UTC)
    assert second["sent_at_local"] == "700000000123456789"
    assert (second["sender"], second["sender_identifier"]) == ("Stalker@Example.com", "stalker@example.com")
    assert second["conversation"] == "Running club"
    assert second["recipients"] == ["+447700900123", "victim@example.org"]
    assert third["body"] == "x" * 300
    assert (third["sender"], third["sender_identifier"], third["direction"]) == (
        "victim@example.org",
        "victim@example.org",
        "outgoing",
    )
    assert third["recipients"] == ["+447700900123", "Stalker@Example.com"]
    assert fourth["body"] is None and fourth["flags"] == ["body_undecoded"]
    (warning,) = out.rows["ingest_errors"]
    assert warning["locator"] == "message/4" and "attributedBody" in warning["error"]
    attachments = out.rows["attachments"]
    assert [(a["locator"], a["file_name"], a["mime"], a["sha256"]) for a in attachments] == [
        (
            "message/2/attachment/1",
            "IMG_0001.jpeg",
            "image/jpeg",
            hashlib.sha256(image.read_bytes()).hexdigest(),
        ),
        ("message/2/attachment/2", "voice.caf", "audio/x-caf", None),
    ]
    # The stored original was never opened in place: no journal, -wal or -shm appeared beside it.
    folder = store.path_for(blob.sha256).parent
    assert sorted(p.name for p in folder.iterdir()) == [blob.sha256]


def test_wal_sibling_is_read_and_missing_wal_is_reported(tmp_path: Path) -> None:
    live = tmp_path / "live" / "chat.db"
    live.parent.mkdir()
    con = _build_chat_db(live, wal=True)
    con.execute(
        "INSERT INTO message (ROWID, guid, text, handle_id, date) VALUES (5, 'G5', 'only in wal', 1, 1)"
    )
    con.commit()
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copyfile(live, copy / "chat.db")
    shutil.copyfile(live.with_name("chat.db-wal"), copy / "chat.db-wal")
    con.close()

    out, _, _ = _extract(tmp_path / "a", {"chat.db": copy / "chat.db", "chat.db-wal": copy / "chat.db-wal"})
    assert "only in wal" in [m["body"] for m in out.rows["messages"]]
    assert any("-wal found" in e["error"] for e in out.rows["ingest_errors"])

    out, _, _ = _extract(tmp_path / "b", {"chat.db": copy / "chat.db"})
    assert "only in wal" not in [m["body"] for m in out.rows["messages"]]
    assert any("WAL mode" in e["error"] for e in out.rows["ingest_errors"])


def test_look_alike_databases(parse, tmp_path: Path, shared_fixtures: Path) -> None:
    other = tmp_path / "contacts.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE people (name TEXT)")
    con.close()
    row = file_row(parse(other), "contacts.db")
    assert (row["status"], row["format"]) == ("unsupported", None)

    named = tmp_path / "chat.db"
    with sqlite3.connect(named) as con:
        con.execute("CREATE TABLE messages (body TEXT)")
    con.close()
    row = file_row(parse(named), "chat.db")
    assert row["status"] == "failed" and "not an iMessage chat.db" in row["status_reason"]

    truncated = tmp_path / "cut.db"
    truncated.write_bytes((shared_fixtures / FIXTURE).read_bytes()[:4096])
    row = file_row(parse(truncated), "cut.db")
    assert row["status"] == "failed" and "SQLite" in row["status_reason"]


def test_attributed_body_decoder_edges() -> None:
    assert decode_attributed_body(typedstream("")) == ""
    assert decode_attributed_body(typedstream("é" * 40000)) == "é" * 40000
    with pytest.raises(AttributedBodyError):
        decode_attributed_body(typedstream("abc")[:-10])  # length runs past the end
    with pytest.raises(AttributedBodyError):
        decode_attributed_body(b"bplist00")
    assert apple_time(0).utc is None
    assert apple_time(1).utc == datetime(2001, 1, 1, 0, 0, 1, tzinfo=UTC)
