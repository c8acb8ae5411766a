"""WhatsApp .txt exports: the three real fixtures, locale variants written here, time edge cases, media
linking, and what happens to files that only look like WhatsApp."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rows import file_row
from whatsapp_generator import generate_export

from evidence.acquire.found_file import FoundFile
from evidence.acquire.store import OriginalsStore
from evidence.parsers.context import ParseOptions, message_id_for
from evidence.parsers.detect import sample_file
from evidence.parsers.registry import REGISTRY
from evidence.parsers.rows import ParsedRows
from evidence.parsers.whatsapp.lines import conversation_from_name
from evidence.pipeline.extract import extract_items, parse_path

Parse = Callable[..., ParsedRows]
PARSER = "whatsapp_txt"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def messages(out: ParsedRows) -> list[dict[str, Any]]:
    return out.rows.get("messages", [])


def by_locator(out: ParsedRows) -> dict[str, dict[str, Any]]:
    return {row["source_locator"]: row for row in messages(out)}


def warnings(out: ParsedRows) -> list[dict[str, Any]]:
    return [e for e in out.rows.get("ingest_errors", []) if e["severity"] == "warning"]


def run_file(out: ParsedRows) -> dict[str, Any]:
    (row,) = out.rows["run_files"]
    return row


def sniffs(path: Path) -> bool:
    return REGISTRY.get(PARSER).sniff(sample_file(path, path.name))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def row(sha: str, locator: str, **values: Any) -> dict[str, Any]:
    """A full expected messages row: defaults for a WhatsApp message, overridden by values."""
    base: dict[str, Any] = {
        "message_id": message_id_for(sha, locator),
        "platform": "whatsapp",
        "conversation": None,
        "sender": None,
        "sender_identifier": None,
        "recipients": [],
        "sent_at_utc": None,
        "sent_at_local": None,
        "tz_source": "run_parameter",
        "time_precision": "minute",
        "kind": "message",
        "body": None,
        "source_sha256": sha,
        "source_locator": locator,
        "duplicate_of": None,
        "subject": None,
        "external_id": None,
        "direction": None,
        "flags": [],
        "parser": PARSER,
    }
    base.update(values)
    return base


# --- the real third-party fixtures -------------------------------------------------------------------


FIXTURES = {
    "chat-miner/testlog.txt": {
        "count": 23,
        "kinds": {"message": 20, "system": 3},
        "senders": {"John Doe", "Jahn Doe", "+12 345 578", "John-John Doe", "John Doe 🤓", "🤓"},
        "first": utc(2019, 12, 24, 11, 23),
        "last": utc(2022, 12, 24, 13, 1),
        "earliest": utc(2014, 12, 24, 17, 8),
        "latest": utc(2022, 12, 24, 13, 1),
        "warnings": 0,
        "row": (
            "line/14",
            {
                "conversation": "testlog.txt",
                "sender": "+12 345 578",
                "sender_identifier": "+12345578",
                "sent_at_utc": utc(2017, 7, 16, 18, 13),
                "sent_at_local": "7/16/17, 19:13",
                "body": "Lorem ipsum.",
            },
        ),
    },
    "chat-miner/test_mmddyyyy_12hrs.txt": {
        "count": 9,
        "kinds": {"message": 7, "system": 2},
        "senders": {"John Doe", "Jahn Doe", "John-John Doe", "John Doe 🤓", "🤓"},
        "first": utc(2019, 1, 1, 11, 25),
        "last": utc(2021, 12, 30, 22, 1),
        "earliest": utc(2019, 1, 1, 11, 25),
        "latest": utc(2021, 12, 30, 22, 1),
        "warnings": 1,  # 00:08 a. m. is not a 12-hour clock hour
        "row": (
            "line/6",
            {
                "conversation": "test_mmddyyyy_12hrs.txt",
                "sent_at_utc": utc(2020, 6, 19, 23, 8),
                "sent_at_local": "06/20/2020, 00:08 a. m.",
                "kind": "system",
                "body": '+12 345 578 created group "Groupname"',
                "flags": ["invalid_12h_hour"],
            },
        ),
    },
    "langchain-community/chat_loaders/whatsapp_chat.txt": {
        "count": 12,
        "kinds": {"message": 8, "media": 3, "system": 1},
        "senders": {"Dr. Feather", "Jungle Jane"},
        "first": utc(2023, 8, 15, 8, 12, 33),
        "last": utc(2023, 8, 15, 20, 25, 16),
        "earliest": utc(2023, 8, 15, 8, 12, 33),
        "latest": utc(2023, 8, 15, 20, 25, 16),
        "warnings": 0,
        "row": (
            "line/3",
            {
                "conversation": "whatsapp_chat.txt",
                "sender": "Dr. Feather",
                "sent_at_utc": utc(2023, 8, 15, 8, 12, 48),
                "sent_at_local": "8/15/23, 9:12:48 AM",
                "time_precision": "second",
                "kind": "media",
                "body": "image omitted",
                "flags": ["media_not_in_export"],
            },
        ),
    },
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_real_fixture(name: str, shared_fixtures: Path, parse: Parse) -> None:
    path = shared_fixtures / "whatsapp" / name
    expected = FIXTURES[name]
    assert sniffs(path)
    out = parse(path)
    assert run_file(out)["status"] == "parsed"
    assert run_file(out)["format"] == PARSER
    rows = messages(out)
    assert len(rows) == expected["count"]
    assert Counter(r["kind"] for r in rows) == expected["kinds"]
    assert {r["sender"] for r in rows if r["sender"] is not None} == expected["senders"]
    times = [r["sent_at_utc"] for r in rows]
    assert times[0] == expected["first"]
    assert times[-1] == expected["last"]
    assert min(times) == expected["earliest"]
    assert max(times) == expected["latest"]
    assert len(warnings(out)) == expected["warnings"]
    locator, values = expected["row"]
    assert by_locator(out)[locator] == row(sha256_of(path), locator, **values)


def test_testlog_details(shared_fixtures: Path, parse: Parse) -> None:
    out = parse(shared_fixtures / "whatsapp/chat-miner/testlog.txt")
    rows = by_locator(out)
    assert rows["line/5"]["body"].count("\n") == 5  # six lines, the header's and five continuations
    assert rows["line/24"]["sent_at_local"] == "09/10/22, 10:37 p.\u00a0m."  # NBSP kept as written
    assert rows["line/24"]["sent_at_utc"] == utc(2022, 9, 10, 21, 37)
    assert rows["line/19"]["body"] == "Testing brackets"
    assert rows["line/19"]["time_precision"] == "second"
    assert rows["line/27"]["sent_at_local"] == "2022/12/24, 13:01"  # trailing dot after the time dropped
    assert rows["line/11"]["kind"] == "system" and rows["line/11"]["sender"] is None
    assert {i["value"] for i in out.rows["identifiers"]} == {"+12345578"}
    links = out.rows["message_identifiers"]
    assert links == [
        {
            "message_id": rows["line/14"]["message_id"],
            "identifier_id": links[0]["identifier_id"],
            "role": "sender",
        }
    ]


def test_ios_fixture_attachments(shared_fixtures: Path, parse: Parse) -> None:
    path = shared_fixtures / "whatsapp/langchain-community/chat_loaders/whatsapp_chat.txt"
    out = parse(path)
    rows = by_locator(out)
    assert out.rows["attachments"][0] == {
        "message_id": rows["line/3"]["message_id"],
        "file_name": None,
        "mime": None,
        "sha256": None,
        "size_bytes": None,
        "locator": "line/3",
    }
    assert len(out.rows["attachments"]) == 3
    assert rows["line/1"]["kind"] == "system" and rows["line/1"]["sender"] is None


# --- formats written here -----------------------------------------------------------------------------

IOS = (
    "\u200e[13/01/2024, 21:05:33] Stalking chat: \u200eMessages and calls are end-to-end encrypted. No one "
    "outside of this chat, not even WhatsApp, can read or listen to them.\n"
    "[13/01/2024, 21:06:01] Alex: where are you\n"
    "\u200e[13/01/2024, 21:06:10] Alex: \u200eimage omitted\n"
    "\u200e[13/01/2024, 21:07:00] ~\u202fSam Doe: \u200e<attached: 00000012-PHOTO-2024-01-13-21-07-00.jpg>\n"
    "[13/01/2024, 21:08:00] \u202a+44 7700 900123\u202c: who is this\n"
    "\u200e[13/01/2024, 21:09:00] Alex: \u200eMissed voice call\n"
)


def test_ios_variant(tmp_path: Path, parse: Parse) -> None:
    path = write(tmp_path, "_chat.txt", IOS)
    assert sniffs(path)
    out = parse(path)
    rows = by_locator(out)
    assert [r["kind"] for r in messages(out)] == ["system", "message", "media", "media", "message", "call"]
    assert rows["line/1"]["sender"] is None
    assert rows["line/2"]["sent_at_utc"] == utc(2024, 1, 13, 21, 6, 1)
    assert rows["line/2"]["sent_at_local"] == "13/01/2024, 21:06:01"
    assert rows["line/2"]["time_precision"] == "second"
    assert rows["line/3"]["body"] == "image omitted"
    assert rows["line/4"]["sender"] == "Sam Doe"
    assert rows["line/4"]["flags"] == ["non_contact_name", "media_not_in_export"]
    assert rows["line/5"]["sender"] == "+44 7700 900123"
    assert rows["line/5"]["sender_identifier"] == "+447700900123"
    assert rows["line/6"]["body"] == "Missed voice call"
    assert {a["file_name"] for a in out.rows["attachments"]} == {
        None,
        "00000012-PHOTO-2024-01-13-21-07-00.jpg",
    }
    assert warnings(out) == []


ANDROID_US = (
    "12/31/23, 9:05 PM - Alex: happy new year\n"
    "1/1/24, 12:01 AM - Alex: <Media omitted>\n"
    "1/1/24, 12:30 PM - Sam: IMG-20240101-WA0001.jpg (file attached)\n"
    "look at this\n"
    "1/13/24, 9:05\u202fa.\u00a0m. - Sam: morning\n"
    '1/13/24, 9:06 p. m. - Alex changed the subject from "x" to "Plans: Friday"\n'
    "1/13/24, 9:07 PM - Sam left\n"
)


def test_android_us_12h(tmp_path: Path, parse: Parse) -> None:
    path = write(tmp_path, "WhatsApp Chat with Sam.txt", ANDROID_US)
    assert sniffs(path)
    out = parse(path)
    rows = by_locator(out)
    assert list(rows) == ["line/1", "line/2", "line/3", "line/5", "line/6", "line/7"]
    assert {r["conversation"] for r in rows.values()} == {"Sam"}
    assert rows["line/1"]["sent_at_utc"] == utc(2023, 12, 31, 21, 5)
    assert rows["line/2"]["sent_at_utc"] == utc(2024, 1, 1, 0, 1)
    assert rows["line/2"]["kind"] == "media"
    assert rows["line/3"]["sent_at_utc"] == utc(2024, 1, 1, 12, 30)
    assert rows["line/3"]["kind"] == "media"
    assert rows["line/3"]["body"] == "IMG-20240101-WA0001.jpg (file attached)\nlook at this"
    assert rows["line/5"]["sent_at_utc"] == utc(2024, 1, 13, 9, 5)
    assert rows["line/5"]["sent_at_local"] == "1/13/24, 9:05\u202fa.\u00a0m."
    assert rows["line/6"]["kind"] == "system"  # a colon inside the quoted subject is not an author
    assert rows["line/6"]["sent_at_utc"] == utc(2024, 1, 13, 21, 6)
    assert rows["line/7"]["kind"] == "system"
    assert all(r["flags"] in ([], ["media_not_in_export"]) for r in rows.values())
    assert warnings(out) == []
    names = [a["file_name"] for a in out.rows["attachments"]]
    assert names == [None, "IMG-20240101-WA0001.jpg"]


def test_dotted_24h_and_klo(tmp_path: Path, parse: Parse) -> None:
    danish = write(
        tmp_path, "danish.txt", "31.12.2023 21.05 - Alex: hej\n01.01.2024 00.15 - Sam: godt nytår\n"
    )
    finnish = write(
        tmp_path,
        "finnish.txt",
        "13.1.2024 klo 21.05 - Matti: Hei\n14.1.2024 klo 9.05 - Liisa: Moi\n[14.1.2024 klo 9.06.07] Matti: Hei taas\n",
    )
    german = write(
        tmp_path, "german.txt", "[31.12.23, 21:05:33] Alex: Hallo\n31.12.23, 21:06 - Sam: Hallo zurück\n"
    )
    for path in (danish, finnish, german):
        assert sniffs(path), path.name
    rows = messages(parse(danish))
    assert [r["sent_at_utc"] for r in rows] == [utc(2023, 12, 31, 21, 5), utc(2024, 1, 1, 0, 15)]
    out = parse(finnish)
    rows = messages(out)
    assert [r["sent_at_utc"] for r in rows] == [
        utc(2024, 1, 13, 21, 5),
        utc(2024, 1, 14, 9, 5),
        utc(2024, 1, 14, 9, 6, 7),
    ]
    assert rows[0]["sent_at_local"] == "13.1.2024 klo 21.05"
    assert rows[2]["time_precision"] == "second"
    assert warnings(out) == []
    rows = messages(parse(german))
    assert [r["sent_at_utc"] for r in rows] == [utc(2023, 12, 31, 21, 5, 33), utc(2023, 12, 31, 21, 6)]


def test_dst_gap_and_repeated_hour_in_london(tmp_path: Path, parse: Parse) -> None:
    path = write(
        tmp_path,
        "dst.txt",
        "31/03/2024, 01:30 - Alex: are you awake\n"  # clocks jump 01:00 -> 02:00: 01:30 never happened
        "31/03/2024, 03:10 - Alex: answer me\n"
        "27/10/2024, 01:30 - Alex: I am outside\n"  # clocks go back 02:00 -> 01:00: 01:30 happened twice
        "27/10/2024, 12:00 - Alex: hello\n",
    )
    rows = messages(parse(path, tz="Europe/London"))
    assert rows[0]["flags"] == ["dst_gap"]
    assert rows[0]["sent_at_utc"] == utc(2024, 3, 31, 1, 30)
    assert rows[1]["flags"] == [] and rows[1]["sent_at_utc"] == utc(2024, 3, 31, 2, 10)
    assert rows[2]["flags"] == ["dst_ambiguous"]
    assert rows[2]["sent_at_utc"] == utc(2024, 10, 27, 0, 30)  # the earlier of the two
    assert rows[3]["flags"] == [] and rows[3]["sent_at_utc"] == utc(2024, 10, 27, 12, 0)
    assert all(r["tz_source"] == "run_parameter" for r in rows)


def test_other_run_time_zone(tmp_path: Path, parse: Parse) -> None:
    path = write(tmp_path, "ny.txt", "12/31/23, 9:05 PM - Alex: hi\n7/13/24, 9:05 PM - Alex: hi\n")
    rows = messages(parse(path, tz="America/New_York"))
    assert [r["sent_at_utc"] for r in rows] == [utc(2024, 1, 1, 2, 5), utc(2024, 7, 14, 1, 5)]


AMBIGUOUS = "03/04/2024, 10:00 - Alex: one\n05/04/2024, 11:00 - Sam: two\n05/04/2024, 11:01 - Sam: three\n"


def test_ambiguous_day_month_gb(tmp_path: Path, parse: Parse) -> None:
    out = parse(write(tmp_path, "amb.txt", AMBIGUOUS), region="GB")
    rows = messages(out)
    assert [r["sent_at_utc"] for r in rows] == [
        utc(2024, 4, 3, 9, 0),
        utc(2024, 4, 5, 10, 0),
        utc(2024, 4, 5, 10, 1),
    ]
    assert all(r["flags"] == ["ambiguous_day_month"] for r in rows)
    (warning,) = warnings(out)
    assert "could not be decided" in warning["error"] and "day-first" in warning["error"]


def test_ambiguous_day_month_us(tmp_path: Path, parse: Parse) -> None:
    out = parse(write(tmp_path, "amb.txt", AMBIGUOUS), region="US")
    rows = messages(out)
    assert rows[0]["sent_at_utc"] == utc(2024, 3, 4, 10, 0)
    assert all(r["flags"] == ["ambiguous_day_month"] for r in rows)
    (warning,) = warnings(out)
    assert "month-first" in warning["error"]


def test_conflicting_day_month_evidence(tmp_path: Path, parse: Parse) -> None:
    path = write(
        tmp_path,
        "conflict.txt",
        "13/01/2024, 10:00 - A: x\n14/01/2024, 10:00 - A: y\n01/15/2024, 11:00 - A: z\n02/03/2024, 11:00 - A: w\n",
    )
    out = parse(path)
    rows = messages(out)
    assert [r["sent_at_utc"].date().isoformat() for r in rows] == [
        "2024-01-13",
        "2024-01-14",
        "2024-01-15",
        "2024-03-02",
    ]
    assert [r["flags"] for r in rows] == [[], [], ["day_month_conflict"], ["ambiguous_day_month"]]
    (warning,) = warnings(out)
    assert "disagree" in warning["error"]


def test_multi_line_body(tmp_path: Path, parse: Parse) -> None:
    path = write(
        tmp_path,
        "multi.txt",
        "13/01/2024, 10:00 - Alex: first line\n"
        "second line\n"
        "\n"
        "fourth line: with a colon\n"
        "13/01/2024, 10:05 - Sam: next\n"
        "14/01/2024, 10:05 - Sam: last line\n"
        "no final newline",
    )
    rows = by_locator(parse(path))
    assert list(rows) == ["line/1", "line/5", "line/6"]
    assert rows["line/1"]["body"] == "first line\nsecond line\n\nfourth line: with a colon"
    assert rows["line/5"]["body"] == "next"
    assert rows["line/6"]["body"] == "last line\nno final newline"


def test_owner_direction(tmp_path: Path, parse: Parse) -> None:
    path = write(tmp_path, "o.txt", ANDROID_US)
    rows = by_locator(parse(path, owners=("Alex",)))
    assert rows["line/1"]["direction"] == "outgoing"
    assert rows["line/3"]["direction"] == "incoming"
    assert rows["line/6"]["direction"] is None  # system lines have no direction
    rows = by_locator(parse(path))
    assert {r["direction"] for r in rows.values()} == {None}


def test_media_linked_to_sibling_file(tmp_path: Path) -> None:
    store = OriginalsStore(tmp_path / "originals")
    store.ensure()
    export = write(
        tmp_path,
        "WhatsApp Chat with Sam.txt",
        "13/01/2024, 10:00 - Sam: IMG-20240113-WA0001.jpg (file attached)\n"
        "13/01/2024, 10:01 - Sam: IMG-20240113-WA0002.jpg (file attached)\n"
        "13/01/2024, 10:02 - Sam: <Media omitted>\n",
    )
    photo = store.put_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    blob = store.put_file(export)
    item = FoundFile(
        blob.sha256,
        blob.md5,
        blob.size_bytes,
        str(export),
        export.name,
        siblings={"IMG-20240113-WA0001.jpg": photo.sha256},
    )
    out = extract_items([item], store=store, run_id="t", options=ParseOptions(), per_message=False)
    assert run_file(out)["status"] == "parsed"
    rows = by_locator(out)
    attachments = {a["locator"]: a for a in out.rows["attachments"]}
    assert attachments["line/1"]["sha256"] == photo.sha256
    assert attachments["line/1"]["file_name"] == "IMG-20240113-WA0001.jpg"
    assert attachments["line/1"]["mime"] == "image/jpeg"  # guessed from the name by add_attachment
    assert attachments["line/1"]["message_id"] == rows["line/1"]["message_id"]
    assert rows["line/1"]["flags"] == []
    assert attachments["line/2"]["sha256"] is None
    assert rows["line/2"]["flags"] == ["media_not_in_export"]
    assert attachments["line/3"]["file_name"] is None and attachments["line/3"]["sha256"] is None
    assert rows["line/3"]["flags"] == ["media_not_in_export"]
    assert {r["kind"] for r in rows.values()} == {"media"}


# --- files that only look like WhatsApp ---------------------------------------------------------------


def test_look_alikes_are_not_claimed(tmp_path: Path, parse: Parse) -> None:
    signal = write(
        tmp_path,
        "signal.txt",
        "[2019-12-24, 12:23] Jane Doe: Hello John!\n[2020-01-17, 21:49] John Doe: Hi\n",
    )
    log = write(
        tmp_path,
        "app.log.txt",
        "2024-01-05 10:00:01 - worker: started job 17\n2024-01-05 10:00:02 - worker: done\n",
    )
    notes = write(
        tmp_path,
        "notes.txt",
        "Notes for the police, written 12/01/2024\n12/01/2024, 10:00 - he was outside again: white car\n",
    )
    for path in (signal, log, notes):
        assert not sniffs(path), path.name
    out = parse(notes)
    assert run_file(out)["status"] == "unsupported"
    assert messages(out) == []


def test_claimed_but_garbage_fails_with_reason(tmp_path: Path, parse: Parse) -> None:
    path = write(tmp_path, "broken.txt", "31/04/2023, 10:00 - Bob: hi\n30/02/2023, 11:00 - Bob: there\n")
    assert sniffs(path)  # the shape is right; the dates do not exist
    out = parse(path)  # never raises
    status = run_file(out)
    assert status["status"] == "failed"
    assert "no WhatsApp message with a readable date" in status["status_reason"]
    assert messages(out) == []
    assert len(warnings(out)) == 2


def test_unparseable_leading_lines_are_warned(tmp_path: Path) -> None:
    store = OriginalsStore(tmp_path / "originals")
    store.ensure()
    path = write(tmp_path, "x.txt", "garbage line\nmore garbage\n\n13/01/2024, 10:00 - Bob: hi\n")
    blob = store.put_file(path)
    item = FoundFile(
        blob.sha256, blob.md5, blob.size_bytes, str(path), path.name, mime="text/plain", format=PARSER
    )
    out = extract_items([item], store=store, run_id="t", options=ParseOptions(), per_message=False)
    assert run_file(out)["status"] == "parsed"
    assert [w["locator"] for w in warnings(out)] == ["line/1", "line/2"]
    assert [r["source_locator"] for r in messages(out)] == ["line/4"]


def test_invalid_utf8_is_flagged(tmp_path: Path, parse: Parse) -> None:
    path = write(tmp_path, "bad.txt", b"13/01/2024, 10:00 - Bob: caf\xe9\n13/01/2024, 10:01 - Bob: fine\n")
    out = parse(path)
    rows = messages(out)
    assert rows[0]["flags"] == ["decode_errors"] and rows[0]["body"] == "caf\ufffd"
    assert rows[1]["flags"] == []
    assert len(warnings(out)) == 1


def test_empty_file_is_not_claimed(tmp_path: Path) -> None:
    assert not sniffs(write(tmp_path, "empty.txt", ""))


def test_conversation_from_file_name() -> None:
    assert conversation_from_name("WhatsApp Chat with Bob Smith.txt") == "Bob Smith"
    assert conversation_from_name("WhatsApp Chat - Bob.txt") == "Bob"
    assert conversation_from_name("WhatsApp Chat with Bob (1).txt") == "Bob"
    assert conversation_from_name("_chat.txt", "/case/WhatsApp Chat - Bob.zip!/_chat.txt") == "Bob"
    assert conversation_from_name("export.txt", "/case/export.txt") == "export.txt"


# --- the benchmark generator ----------------------------------------------------------------------


@pytest.mark.parametrize("style", ["android", "ios"])
def test_generated_export(tmp_path: Path, parse: Parse, style: str) -> None:
    path = tmp_path / f"WhatsApp Chat with Bob {style}.txt"
    stats = generate_export(path, 1_000, seed=3, style=style)
    assert sniffs(path)
    out = parse(path, tz="Europe/London")
    rows = messages(out)
    assert len(rows) == 1_000 + stats.system
    kinds = Counter(r["kind"] for r in rows)
    assert kinds["system"] == stats.system and kinds["media"] == stats.media
    assert sum("\n" in r["body"] for r in rows) == stats.multiline
    assert warnings(out) == []
    allowed = {"non_contact_name", "media_not_in_export", "dst_ambiguous"}
    assert all(set(r["flags"]) <= allowed for r in rows)
    times = [r["sent_at_utc"] for r in rows if "dst_ambiguous" not in r["flags"]]
    assert times == sorted(times)  # written in time order
    assert len({r["sent_at_utc"].month for r in rows}) >= 3
    lines = path.read_text(encoding="utf-8").split("\n")
    for r in rows[:50]:
        number = int(r["source_locator"].split("/")[1])
        assert r["sent_at_local"] in lines[number - 1]


@pytest.mark.parametrize("chunk", [7, 64, 1000])
def test_block_boundaries_do_not_change_rows(
    tmp_path: Path, parse: Parse, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """The file is read in blocks of whole lines; messages spanning blocks must come out the same."""
    import evidence.parsers.whatsapp.dates as whatsapp_dates

    path = tmp_path / "WhatsApp Chat with Bob.txt"
    generate_export(path, 300, seed=5, style="ios")
    with path.open("a", encoding="utf-8") as handle:
        handle.write("[22/09/2023, 14:46:53] Bob: last\ncontinued without final newline")
    expected = messages(parse(path))
    monkeypatch.setattr(whatsapp_dates, "CHUNK_BYTES", chunk)
    assert messages(parse(path)) == expected
    assert expected[-1]["body"] == "last\ncontinued without final newline"


@pytest.mark.parametrize("chunk", [1, 8, 1 << 22])
def test_blocks_read_as_text_mode_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Blocks are decoded from bytes: the text must equal utf-8-sig, errors="replace", universal newlines."""
    import random

    import evidence.parsers.whatsapp.dates as whatsapp_dates

    monkeypatch.setattr(whatsapp_dates, "CHUNK_BYTES", chunk)
    pieces = [b"a", b"\n", b"\r", b"\r\n", "é".encode(), "€".encode(), b"\xe2\x82", b"\xff", b"\xef\xbb\xbf"]
    rnd = random.Random(chunk)
    for trial in range(200):
        data = (b"\xef\xbb\xbf" if trial % 3 == 0 else b"") + b"".join(
            rnd.choice(pieces) for _ in range(rnd.randint(0, 120))
        )
        path = tmp_path / f"{trial}.txt"
        path.write_bytes(data)
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            assert "".join(whatsapp_dates._chunks(path)) == handle.read(), data


@pytest.mark.parametrize("at", [1_000, 60_000])  # inside the part detection reads, and far beyond it
def test_zeroed_bytes_in_a_damaged_copy_cost_only_what_they_cover(
    tmp_path: Path, parse: Parse, at: int
) -> None:
    """A run of zero bytes (a damaged sector) inside an export: near the start it hid the whole chat (the file
    was "unsupported"); anywhere it joined the text after it to the message before it without a word. Now
    the chat is read, and the one message holding the zeros is flagged and named."""
    lines = [
        f"12/03/2024, {m // 60 % 24:02d}:{m % 60:02d} - {'Alex Marsh' if m % 3 else 'Sam Taylor'}: "
        f"message number {m} with some words\n"
        for m in range(1_500)
    ]
    data = "".join(lines).encode()
    path = tmp_path / "WhatsApp Chat with Alex Marsh.txt"
    path.write_bytes(data[:at] + bytes(512) + data[at + 512 :])
    out = parse_path(path, store_root=tmp_path / "originals")  # flagged by extraction's per-message work
    row = file_row(out, path.name)
    assert row["status"] == "parsed" and 1_480 < row["messages"] < 1_500
    zeroed = [m for m in out.rows["messages"] if "zeroed_bytes" in m["flags"]]
    assert len(zeroed) == 1 and "\x00" in zeroed[0]["body"]
    assert all("\x00" not in (m["body"] or "") for m in out.rows["messages"] if m not in zeroed)
    assert any("runs of zero bytes" in e["error"] for e in out.rows["ingest_errors"])
