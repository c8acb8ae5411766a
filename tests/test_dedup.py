"""Cross-source deduplication through the real pipeline: every copy kept, one canonical row, occurrences
counted, idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from evidence.analysis.dedup import deduplicate, natural_key
from evidence.analysis.scope import scope_of
from evidence.db import open_case
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest

HEADER = "12/03/2024, {} - {}: {}"


def chat(lines: list[tuple[str, str, str]]) -> str:
    return "\n".join(HEADER.format(t, who, text) for t, who, text in lines) + "\n"


def run(case: Path, *sources: Path) -> dict:
    return ingest(IngestParameters(sources=[str(s) for s in sources], case_dir=str(case), tz="Europe/London"))


def rows(case: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


MARCH = [
    ("21:01", "Alex Marsh", "where are you"),
    ("21:02", "Sam", "leave me alone"),
    ("21:05", "Alex Marsh", "hi"),
    ("21:05", "Alex Marsh", "hi"),  # sent twice in one minute: two messages, not a duplicate
    ("21:07", "Alex Marsh", "I saw you at the station"),
]
LATER = [
    ("21:05", "Alex Marsh", "hi"),
    ("21:05", "Alex Marsh", "hi"),
    ("21:07", "Alex Marsh", "I saw you at the station"),
    ("21:09", "Alex Marsh", "answer me"),
    ("21:10", "Sam", "stop"),
]


def test_two_overlapping_whatsapp_exports_give_the_union(tmp_path: Path) -> None:
    first = write(tmp_path / "1-march" / "WhatsApp Chat with Alex Marsh.txt", chat(MARCH))
    second = write(tmp_path / "2-april" / "WhatsApp Chat with Alex Marsh.txt", chat(LATER))
    case = tmp_path / "case"
    summary = run(case, first.parent, second.parent)
    assert summary["links"]["dedup"] == {"compared": 6, "duplicates": 3, "changed": 3}
    # every copy is kept, the distinct messages are the union
    assert rows(case, "SELECT count(*) FROM messages") == [(10,)]
    assert rows(case, "SELECT count(*) FROM messages WHERE duplicate_of IS NULL") == [(7,)]
    timeline = rows(
        case, "SELECT occurred_at_local, text, occurrences FROM timeline ORDER BY occurred_at_utc, event_id"
    )
    assert [(t[-5:], text, n) for t, text, n in timeline] == [
        ("21:01", "where are you", 1),
        ("21:02", "leave me alone", 1),
        ("21:05", "hi", 2),
        ("21:05", "hi", 2),
        ("21:07", "I saw you at the station", 2),
        ("21:09", "answer me", 1),
        ("21:10", "stop", 1),
    ]
    # canonical copies come from the file stored first (by path within one run)
    first_sha = rows(case, "SELECT sha256 FROM files WHERE first_seen_path LIKE '%1-march%'")[0][0]
    canon = rows(
        case,
        "SELECT DISTINCT c.source_sha256 FROM messages d JOIN messages c ON c.message_id = d.duplicate_of",
    )
    assert canon == [(first_sha,)]
    # duplicates point at canonical rows only, never at other duplicates
    assert rows(
        case,
        "SELECT count(*) FROM messages d JOIN messages c ON c.message_id = d.duplicate_of WHERE c.duplicate_of IS NOT NULL",
    ) == [(0,)]


def test_dedup_is_idempotent_and_survives_reingest(tmp_path: Path) -> None:
    first = write(tmp_path / "a" / "WhatsApp Chat with Alex Marsh.txt", chat(MARCH))
    second = write(tmp_path / "b" / "WhatsApp Chat with Alex Marsh.txt", chat(LATER))
    case = tmp_path / "case"
    run(case, first.parent, second.parent)
    before = rows(case, "SELECT message_id, duplicate_of FROM messages ORDER BY message_id")
    with open_case(case, write=True) as con:
        (first_run,) = con.execute("SELECT run_id FROM ingest_runs").fetchone()
        assert deduplicate(con, scope_of(con, first_run)) == {"compared": 6, "duplicates": 3, "changed": 0}
    summary = run(case, second.parent, first.parent)  # again, other order: nothing new, nothing runs
    assert "dedup" not in summary["links"]
    assert rows(case, "SELECT message_id, duplicate_of FROM messages ORDER BY message_id") == before


def test_minute_copy_matches_second_copy_at_the_coarser_precision(tmp_path: Path) -> None:
    android = write(tmp_path / "android" / "WhatsApp Chat with Alex Marsh.txt", chat(MARCH[:3]))
    ios = write(
        tmp_path / "ios" / "WhatsApp Chat with Alex Marsh.txt",
        "[12/03/2024, 21:02:41] Sam: leave me alone\n"
        "[12/03/2024, 21:05:07] Alex Marsh: hi\n"
        "[12/03/2024, 21:05:59] Alex Marsh: hi\n"  # a second "hi" only the iOS copy has
        "[12/03/2024, 21:06:00] Alex Marsh: where are you\n",  # other minute than 21:01: not a copy
    )
    case = tmp_path / "case"
    run(case, android.parent, ios.parent)
    got = rows(
        case,
        "SELECT m.time_precision, m.body, c.time_precision FROM messages m JOIN messages c "
        "ON c.message_id = m.duplicate_of ORDER BY m.body",
    )
    assert got == [("second", "hi", "minute"), ("second", "leave me alone", "minute")]
    assert rows(case, "SELECT count(*) FROM timeline") == [(5,)]
    assert rows(case, "SELECT sum(occurrences) FROM timeline") == [(7,)]


def test_same_email_in_an_mbox_and_as_eml_is_one_message(tmp_path: Path) -> None:
    mail = (
        "From: Alex Marsh <alex.marsh@example.net>\n"
        "To: Sam Taylor <sam.taylor@example.org>\n"
        "Subject: saw you tonight\n"
        "Date: Fri, 01 Mar 2024 21:14:02 +0000\n"
        "Message-ID: <20240301211402.7731@example.net>\n"
        "\n"
        "I saw you at the station tonight.\n"
    )
    other = (
        mail.replace("20240301211402.7731", "other.1")
        .replace("saw you tonight", "again")
        .replace("21:14:02", "22:00:00")
    )
    eml = write(tmp_path / "exported" / "saw-you.eml", mail)
    write(
        tmp_path / "mailbox" / "Inbox.mbox",
        "From alex.marsh@example.net Fri Mar  1 21:14:09 2024\n"
        + "Received: by mx.example.org; Fri, 01 Mar 2024 21:14:09 +0000\n"
        + mail
        + "\nFrom alex.marsh@example.net Fri Mar  1 22:00:00 2024\n"
        + other,
    )
    case = tmp_path / "case"
    run(case, eml.parent, tmp_path / "mailbox")
    assert rows(case, "SELECT parser, count(*) FROM messages GROUP BY parser ORDER BY parser") == [
        ("email_eml", 1),
        ("mbox", 2),
    ]
    assert rows(case, "SELECT text, occurrences FROM timeline ORDER BY occurred_at_utc") == [
        ("I saw you at the station tonight.", 2),
        ("I saw you at the station tonight.", 1),
    ]
    dup = rows(
        case, "SELECT m.parser, c.parser FROM messages m JOIN messages c ON c.message_id = m.duplicate_of"
    )
    assert dup == [("mbox", "email_eml")]  # the .eml folder was walked (stored) first


def test_discord_duplicate_records_within_one_file(tmp_path: Path) -> None:
    author = {"id": "222222222222222222", "name": "alexm", "discriminator": "0000", "nickname": "Alex"}

    def message(msg_id: str, ts: str, text: str) -> dict:
        return {
            "id": msg_id,
            "type": "Default",
            "timestamp": ts,
            "content": text,
            "author": author,
            "attachments": [],
            "embeds": [],
            "stickers": [],
            "reactions": [],
            "mentions": [],
        }

    export = {
        "guild": {"id": "0", "name": "Direct Messages"},
        "channel": {"id": "1", "type": "DirectTextChat", "name": "alexm"},
        "messages": [
            message("1100000000000000001", "2024-03-12T21:05:00+00:00", "answer me"),
            message("1100000000000000002", "2024-03-12T21:05:00+00:00", "answer me"),  # same text, new id
            message("1100000000000000001", "2024-03-12T21:05:00+00:00", "answer me"),  # the record again
        ],
    }
    path = write(tmp_path / "discord" / "dm.json", json.dumps(export))
    case = tmp_path / "case"
    run(case, path)
    got = rows(case, "SELECT source_locator, duplicate_of IS NOT NULL FROM messages ORDER BY source_locator")
    assert got == [("/messages/0", False), ("/messages/1", False), ("/messages/2", True)]
    assert rows(case, "SELECT occurrences FROM timeline ORDER BY event_id") in ([(1,), (2,)], [(2,), (1,)])


def test_same_file_twice_is_one_blob_with_two_occurrences(tmp_path: Path) -> None:
    one = write(tmp_path / "a" / "WhatsApp Chat with Alex Marsh.txt", chat(MARCH[:2]))
    write(tmp_path / "b" / "WhatsApp Chat with Alex Marsh.txt", chat(MARCH[:2]))
    case = tmp_path / "case"
    run(case, one.parent, tmp_path / "b")
    assert rows(case, "SELECT count(*) FROM messages WHERE duplicate_of IS NOT NULL") == [(0,)]
    assert rows(case, "SELECT occurrences FROM timeline") == [(2,), (2,)]


def test_locators_sort_naturally() -> None:
    assert sorted(["line/10", "line/9", "line/100"], key=natural_key) == ["line/9", "line/10", "line/100"]


def test_a_run_compares_only_rows_sharing_a_key_with_what_it_loaded(tmp_path: Path) -> None:
    """Cost follows the new work: a run adding an unrelated chat compares nothing from earlier runs."""
    first = write(tmp_path / "1" / "WhatsApp Chat with Alex Marsh.txt", chat(MARCH))
    second = write(tmp_path / "2" / "WhatsApp Chat with Alex Marsh.txt", chat(LATER))
    case = tmp_path / "case"
    summary = run(case, first.parent, second.parent)
    assert summary["links"]["dedup"] == {"compared": 6, "duplicates": 3, "changed": 3}
    other = write(
        tmp_path / "3" / "WhatsApp Chat with Jo.txt", chat([("21:05", "Jo", "hi"), ("21:06", "Jo", "ok")])
    )
    summary = run(case, other.parent)
    assert summary["links"]["dedup"] == {"compared": 0, "duplicates": 0, "changed": 0}
    # a third copy of the overlapping export: its rows and the rows they copy are compared, nothing else
    third = write(tmp_path / "4" / "WhatsApp Chat with Alex Marsh.txt", chat(MARCH[:2]))
    summary = run(case, third.parent)
    # its 2 rows and the 2 rows of the first export they copy
    assert summary["links"]["dedup"]["compared"] == 4
    assert rows(case, "SELECT count(*) FROM messages WHERE duplicate_of IS NOT NULL") == [(5,)]


def test_a_separator_inside_a_field_does_not_join_two_rows_into_one_key() -> None:
    import pyarrow as pa

    from evidence.db import arrow_schema
    from evidence.parsers.enrich import enrich_messages

    base = {name: None for name in arrow_schema("messages").names}
    rows = [
        {
            **base,
            "message_id": "a",
            "platform": "sms",
            "kind": "sms",
            "conversation": "x\x1fy",
            "sender": "z",
            "body": "hi",
        },
        {
            **base,
            "message_id": "b",
            "platform": "sms",
            "kind": "sms",
            "conversation": "x",
            "sender": "y\x1fz",
            "body": "hi",
        },
    ]
    table = pa.Table.from_pylist(rows, schema=arrow_schema("messages"))
    keys = enrich_messages(table, "GB").messages["dedup_key"].to_pylist()
    assert keys[0] != keys[1]


def test_the_report_counts_every_further_place_an_event_was_seen(tmp_path: Path) -> None:
    """The report's "Copies" line adds up what the timeline's `occurrences` shows: copies in other exports
    and the same file found again. Counting duplicate rows alone gave 3 here, beside events seen 3 times."""
    from typer.testing import CliRunner

    from evidence.cli.commands import app

    first = write(tmp_path / "1-march" / "WhatsApp Chat with Alex Marsh.txt", chat(MARCH))
    second = write(tmp_path / "2-april" / "WhatsApp Chat with Alex Marsh.txt", chat(LATER))
    again = write(tmp_path / "3-forwarded" / "WhatsApp Chat with Alex Marsh.txt", chat(MARCH))
    case = tmp_path / "case"
    run(case, first.parent, second.parent, again.parent)
    seen = [n for (n,) in rows(case, "SELECT occurrences FROM timeline ORDER BY occurred_at_utc, event_id")]
    assert seen == [2, 2, 3, 3, 3, 1, 1]  # March's five in two files, three of them in April's too
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--case", str(case), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "<dt>Copies</dt><dd>8 further copies of the same messages were found" in out.read_text()
