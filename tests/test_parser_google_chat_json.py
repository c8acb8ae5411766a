"""Google Chat Takeout messages.json: the real fixture plus written variants (folder, siblings, dates)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rows import file_row

from evidence.acquire.found_file import FoundFile
from evidence.acquire.store import OriginalsStore
from evidence.parsers.context import ParseOptions, message_id_for
from evidence.parsers.google_chat_json import parse_created_date
from evidence.pipeline.extract import extract_items

FIXTURE = "google_chat/gvoice-sms-takeout-xml/messages.json"


def _write(folder: Path, data: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "messages.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def test_fixture(parse, shared_fixtures):
    path = shared_fixtures / FIXTURE
    ex = parse(path)
    row = file_row(ex)
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == (
        "parsed",
        "google_chat_json",
        5,
        0,
    )
    messages = ex.rows["messages"]
    assert [m["sender"] for m in messages] == [
        "Maria S Curie",
        "Maria S Curie",
        "F Scott Fitzgerald",
        "Maria S Curie",
        "F Scott Fitzgerald",
    ]
    assert messages[0]["sent_at_utc"] == datetime(2019, 1, 7, 19, 25, 8, tzinfo=UTC)
    assert messages[-1]["sent_at_utc"] == datetime(2019, 1, 10, 20, 25, 48, tzinfo=UTC)
    assert {i["value"] for i in ex.rows["identifiers"]} == {
        "mssc@science.example.org",
        "fskf@authors.example.com",
    }
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert messages[-1] == {
        "message_id": message_id_for(sha, "/messages/4"),
        "platform": "google_chat",
        "conversation": None,  # the fixture is not inside its "Space AAAAdvGdRgs" folder here
        "sender": "F Scott Fitzgerald",
        "sender_identifier": "fskf@authors.example.com",
        "recipients": [],
        "sent_at_utc": datetime(2019, 1, 10, 20, 25, 48, tzinfo=UTC),
        "sent_at_local": "Thursday, January 10, 2019 at 8:25:48\u202fPM UTC",
        "tz_source": "offset",
        "time_precision": "second",
        "kind": "media",
        "body": None,
        "source_sha256": sha,
        "source_locator": "/messages/4",
        "duplicate_of": None,
        "subject": None,
        "external_id": "AAAAdvGdRgs/Xkm-RRFJCHg/Xkm-RRFJCHg",
        "direction": None,
        "flags": [],
        "parser": "google_chat_json",
    }
    (attachment,) = ex.rows["attachments"]
    assert (attachment["file_name"], attachment["sha256"], attachment["locator"]) == (
        "Cat_Hilarious.png",
        None,
        "/messages/4/attached_files/0",
    )


@pytest.mark.parametrize(
    ("text", "utc", "source", "precision"),
    [
        (
            "Monday, January 7, 2019 at 7:25:08\u202fPM UTC",
            datetime(2019, 1, 7, 19, 25, 8, tzinfo=UTC),
            "offset",
            "second",
        ),
        (
            "Monday, January 7, 2019 at 12:05:00 AM UTC",
            datetime(2019, 1, 7, 0, 5, tzinfo=UTC),
            "offset",
            "second",
        ),
        ("January 7, 2019 at 19:25 UTC+05:30", datetime(2019, 1, 7, 13, 55, tzinfo=UTC), "offset", "minute"),
        (
            "Sunday, July 7, 2019 at 7:25:08\u00a0PM",
            datetime(2019, 7, 7, 18, 25, 8, tzinfo=UTC),
            "run_parameter",
            "second",
        ),
    ],
)
def test_created_date_forms(text, utc, source, precision):
    value = parse_created_date(text, "Europe/London")
    assert (value.utc, value.tz_source, value.precision) == (utc, source, precision)
    assert value.local_text == text


def test_created_date_with_whitespace_runs_is_read_or_refused_at_once():
    """A damaged date with a long whitespace run made the pattern backtrack for minutes (a fuzzed file)."""
    spaced = parse_created_date("January 7, 2019 at   \u202f 19:25" + " " * 40 + "UTC", "Europe/London")
    assert spaced.utc == datetime(2019, 1, 7, 19, 25, tzinfo=UTC)
    for text in ("January 7, 2019 at 19:25" + " " * 150 + "x", "January 7, 2019 at 19:25" + " " * 100_000):
        with pytest.raises(ValueError):
            parse_created_date(text, "Europe/London")


def test_written_space(tmp_path):
    data = {
        "messages": [
            {
                "creator": {"name": "Mallory", "email": "Mallory@Example.COM", "user_type": "Human"},
                "created_date": "Friday, March 1, 2024 at 9:00:00\u202fAM UTC",
                "updated_date": "Friday, March 1, 2024 at 9:03:10\u202fAM UTC",
                "text": "see attached",
                "attached_files": [{"original_name": "you.jpg", "export_name": "File-you.jpg"}],
                "topic_id": "t1",
                "message_id": "SPACE/t1/t1",
            },
            {
                "creator": {"name": "Reminder bot", "user_type": "Bot"},
                "created_date": "the day after",
                "text": "bot text",
                "topic_id": "t2",
                "message_id": "SPACE/t2/t2",
            },
            {"creator": {"name": "Mallory", "email": "mallory@example.com"}, "text": "no date"},
        ]
    }
    store = OriginalsStore(tmp_path / "originals")
    picture = store.put_bytes(b"\x89PNG fake")
    path = _write(tmp_path / "Takeout" / "Google Chat" / "Groups" / "Space AAAAxyz", data)
    blob = store.put_file(path)
    item = FoundFile(
        blob.sha256,
        blob.md5,
        blob.size_bytes,
        str(path),
        path.name,
        siblings={"File-you.jpg": picture.sha256},
    )
    ex = extract_items([item], store=store, run_id="t", options=ParseOptions(), per_message=False)
    row = ex.rows["run_files"][0]
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 3, 2)
    first, bot, undated = ex.rows["messages"]
    assert first["conversation"] == "Space AAAAxyz"
    assert first["sender_identifier"] == "mallory@example.com"
    assert (first["kind"], first["body"]) == ("message", "see attached")
    assert first["flags"] == ["edited", "edited_at:2024-03-01T09:03:10Z"]
    (attachment,) = ex.rows["attachments"]
    assert (attachment["file_name"], attachment["sha256"]) == ("you.jpg", picture.sha256)
    assert bot["sender_identifier"] is None and bot["flags"] == ["unparseable_date", "user_type:Bot"]
    assert undated["sent_at_utc"] is None and undated["flags"] == ["no_date"]


def test_look_alike_json_is_unsupported(parse, tmp_path):
    data = {"messages": [{"author": {"name": "x"}, "date": "2024-01-01", "text": "hi"}]}
    row = file_row(parse(_write(tmp_path, data)))
    assert row["status"] == "unsupported" and "no parser" in row["status_reason"]


def test_export_cut_short_keeps_its_complete_messages(parse, shared_fixtures, tmp_path):
    """A file that stops early (a download or copy cut short): the messages complete before the cut are
    read exactly as from the whole file, the half-written one is left out, and the file says so."""
    raw = (shared_fixtures / FIXTURE).read_bytes()
    whole = tmp_path / "whole-messages.json"
    whole.write_bytes(raw)
    path = tmp_path / "messages.json"
    path.write_bytes(raw[:900])
    every = {(m["source_locator"], m["body"]) for m in parse(whole).rows["messages"]}
    ex = parse(path)
    row = file_row(ex)
    assert row["status"] == "parsed"
    read = {(m["source_locator"], m["body"]) for m in ex.rows["messages"]}
    assert 0 < len(read) < len(every) and read <= every
    assert any("cut short" in e["error"] for e in ex.rows["ingest_errors"])


def test_messages_not_a_list_fails_with_reason(parse, tmp_path):
    data = {"messages": {"creator": {"name": "x"}, "created_date": "y"}}
    row = file_row(parse(_write(tmp_path, data)))
    assert row["status"] == "failed"
    assert "'messages' is missing or not a list" in row["status_reason"]
