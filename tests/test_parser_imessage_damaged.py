"""A damaged chat.db loses only the rows on its damaged pages; text that is not UTF-8 is kept, flagged."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rows import file_row

from evidence.parsers.sqlite_rows import table_rows
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest

FIXTURE = "imessage/langchain-community/imessage_chat.db"
PAGE = 4096


def _pages(path: Path, table: str) -> list[tuple[int, int]]:
    """(page number, rows) of the table's leaf pages, from SQLite's dbstat table."""
    with sqlite3.connect(path) as con:
        try:
            pages = con.execute(
                "SELECT pageno, ncell FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
                [table],
            ).fetchall()
        except sqlite3.OperationalError:
            pytest.skip("this SQLite has no dbstat table")
    con.close()
    return pages


def _damage_page(source: Path, target: Path, page: int, seed: int = 1) -> None:
    """A copy with one page overwritten by random bytes (pages are numbered from 1)."""
    data = bytearray(source.read_bytes())
    noise = random.Random(seed)
    data[(page - 1) * PAGE : page * PAGE] = bytes(noise.randrange(256) for _ in range(PAGE))
    target.write_bytes(data)


def _by_locator(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Messages by place in the file, without what names the file (its hash, and the ids made from it)."""
    return {m["source_locator"]: {**m, "message_id": None, "source_sha256": None} for m in rows}


# What a message row holds itself; its sender and chat come from other tables, which damage can take.
OWN_FIELDS = ("body", "sent_at_utc", "sent_at_local", "external_id", "direction", "kind")


def _own(message: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(message[f] for f in OWN_FIELDS)


def _build(path: Path, messages: int) -> None:
    with sqlite3.connect(path) as con:
        con.executescript(
            """
            CREATE TABLE handle (ROWID INTEGER PRIMARY KEY AUTOINCREMENT UNIQUE, id TEXT NOT NULL);
            CREATE TABLE message (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL,
                text TEXT, handle_id INTEGER DEFAULT 0, date INTEGER, is_from_me INTEGER DEFAULT 0);
            CREATE TABLE chat (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, chat_identifier TEXT, display_name TEXT);
            CREATE TABLE chat_message_join (chat_id INTEGER, message_id INTEGER, PRIMARY KEY (chat_id, message_id));
            INSERT INTO handle VALUES (1, '+447700900123');
            INSERT INTO chat VALUES (1, '+447700900123', '');
            """
        )
        con.executemany(
            "INSERT INTO message (ROWID, guid, text, handle_id, date, is_from_me) VALUES (?, ?, ?, 1, ?, ?)",
            [
                (n, f"G{n}", f"message {n}: I saw you at the station again", 700_000_000 + 60 * n, n % 3 == 0)
                for n in range(1, messages + 1)
            ],
        )
        con.executemany("INSERT INTO chat_message_join VALUES (1, ?)", [(n,) for n in range(1, messages + 1)])
    con.close()


def test_real_database_with_a_damaged_page_keeps_the_other_pages(
    parse, tmp_path: Path, shared_fixtures: Path
) -> None:
    original = shared_fixtures / FIXTURE
    whole = _by_locator(parse(original).rows["messages"])
    pages = _pages(original, "message")
    page, rows_on_page = pages[1]  # a leaf page between others
    damaged = tmp_path / "chat.db"
    _damage_page(original, damaged, page)

    out = parse(damaged)
    row = file_row(out, "chat.db")
    kept = _by_locator(out.rows["messages"])
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", len(whole) - rows_on_page, 1)
    assert all(kept[locator] == whole[locator] for locator in kept)  # nothing invented or altered
    (warning,) = out.rows["ingest_errors"]
    assert warning["severity"] == "warning" and warning["locator"] == "message"
    assert "damaged database: in table message, rows in ROWID" in warning["error"]
    assert "every other row was read" in warning["error"]


def test_a_damaged_table_is_read_from_an_index_holding_its_values(
    parse, tmp_path: Path, shared_fixtures: Path
) -> None:
    """chat.db indexes each handle's id: with the handle table's page damaged, the senders are still
    read (from the index), with a warning that the page was damaged."""
    original = shared_fixtures / FIXTURE
    whole = _by_locator(parse(original).rows["messages"])
    ((page, _),) = _pages(original, "handle")
    damaged = tmp_path / "chat.db"
    _damage_page(original, damaged, page)
    out = parse(damaged)
    assert _by_locator(out.rows["messages"]) == whole
    (warning,) = out.rows["ingest_errors"]
    assert warning["locator"] == "handle"
    assert "every row was read from an index holding its values" in warning["error"]


def test_a_damaged_page_in_a_large_database_loses_only_its_rows(parse, tmp_path: Path) -> None:
    built = tmp_path / "built" / "chat.db"
    built.parent.mkdir()
    _build(built, 3_000)
    whole = _by_locator(parse(built).rows["messages"])
    pages = _pages(built, "message")
    page, rows_on_page = pages[len(pages) // 2]
    damaged = tmp_path / "damaged" / "chat.db"
    damaged.parent.mkdir()
    _damage_page(built, damaged, page)

    out = parse(damaged)
    kept = _by_locator(out.rows["messages"])
    assert file_row(out, "chat.db")["status"] == "parsed"
    assert len(kept) == 3_000 - rows_on_page
    assert all(kept[locator] == whole[locator] for locator in kept)
    lost = sorted(int(locator.split("/")[1]) for locator in whole.keys() - kept.keys())
    assert lost == list(range(lost[0], lost[0] + rows_on_page))  # one page: consecutive ROWIDs
    (warning,) = [e for e in out.rows["ingest_errors"] if e["locator"] == "message"]
    assert f"ROWID {lost[0]}-{lost[-1]} could not be read" in warning["error"]
    # the chat names still reach every kept message: the join table's own pages were not damaged
    assert {m["conversation"] for m in kept.values()} == {"+447700900123"}


def test_every_single_damaged_page_of_the_real_database(parse, tmp_path: Path, shared_fixtures: Path) -> None:
    """Whatever page is damaged, no message read differs from the undamaged file's, and only two pages
    cost the whole file: the first (SQLite's header and the schema) and the message table's root page,
    the way to every message."""
    original = shared_fixtures / FIXTURE
    whole = _by_locator(parse(original).rows["messages"])
    with sqlite3.connect(original) as con:
        (root,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'message'").fetchone()
    con.close()
    lost_whole = set()
    for page in range(1, original.stat().st_size // PAGE + 1):
        damaged = tmp_path / f"page{page}" / "chat.db"
        damaged.parent.mkdir()
        _damage_page(original, damaged, page, seed=page)
        out = parse(damaged)
        row = file_row(out, "chat.db")
        if row["status"] != "parsed":
            assert row["status_reason"], page
            lost_whole.add(page)
            continue
        kept = _by_locator(out.rows["messages"])
        assert kept and all(_own(kept[locator]) == _own(whole[locator]) for locator in kept), page
        assert len(kept) == len(whole) or row["warnings"] >= 1, page  # a loss is never silent
    assert lost_whole == {1, root}


def test_reading_a_table_stops_only_at_what_is_not_damage(tmp_path: Path) -> None:
    """A mistake in the query (a missing column) is raised at once, not read around row by row."""
    path = tmp_path / "chat.db"
    _build(path, 10)
    with sqlite3.connect(path) as con, pytest.raises(sqlite3.OperationalError, match="no such column"):
        list(table_rows(con, "message", "no_such_column", lambda lost: None))
    con.close()


def test_text_that_is_not_utf8_is_kept_and_flagged(tmp_path: Path) -> None:
    source = tmp_path / "phone"
    source.mkdir()
    path = source / "chat.db"
    _build(path, 3)
    with sqlite3.connect(path) as con:
        con.execute("UPDATE message SET text = CAST(x'796f75206172652068657265ff21' AS TEXT) WHERE ROWID = 2")
    con.close()
    case = tmp_path / "case"
    summary = ingest(IngestParameters(sources=[str(source)], case_dir=str(case)))
    assert (summary["parsed"], summary["failed"], summary["messages_loaded"]) == (1, 0, 3)
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT source_locator, body, flags FROM messages ORDER BY source_locator"
        ).fetchall()
    assert rows[1] == ("message/2", "you are here\ufffd!", ["decode_errors"])
    assert [r[2] for r in (rows[0], rows[2])] == [[], []]
