"""Staging: rows spill to Parquet parts while a big file is read, and a failed file leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from whatsapp_generator import generate_export

import evidence.parsers.context
import evidence.parsers.rows
from evidence.db import ensure_schema, insert_rows, rows_to_table
from evidence.parsers.context import message_id_for
from evidence.parsers.registry import REGISTRY
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest
from evidence.pipeline.staging import load_parts


def _messages(case: Path) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        # loaded_in_run names the run, which differs between the two cases
        return con.execute("SELECT * EXCLUDE (loaded_in_run) FROM messages ORDER BY message_id").fetchall()


def test_insert_or_ignore_keeps_a_key_without_an_index_unique(tmp_path: Path) -> None:
    """message_identifiers has no primary key (db.UNIQUE_BY_LOADER): or_ignore still adds each key once."""
    with duckdb.connect(str(tmp_path / "case.duckdb")) as con:
        ensure_schema(con)
        link = {"message_id": "m1", "identifier_id": "i1", "role": "sender"}
        insert_rows(con, "message_identifiers", [link, link, {**link, "role": "recipient"}], or_ignore=True)
        insert_rows(con, "message_identifiers", [link], or_ignore=True)
        assert con.execute(
            "SELECT message_id, identifier_id, role FROM message_identifiers ORDER BY ALL"
        ).fetchall() == [
            ("m1", "i1", "recipient"),
            ("m1", "i1", "sender"),
        ]


def _message(source: str, locator: str, body: str) -> dict[str, str]:
    return {
        "message_id": message_id_for(source, locator),
        "platform": "sms",
        "tz_source": "none",
        "time_precision": "unknown",
        "kind": "sms",
        "body": body,
        "source_sha256": source,
        "source_locator": locator,
    }


def test_a_messages_part_adds_only_ids_the_case_lacks(tmp_path: Path) -> None:
    """The loader looks for a part's ids among the rows of the part's own sources only (db.KEY_DERIVED_FROM):
    a source parsed again adds only its new rows, and other sources' rows neither block nor change."""
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    with duckdb.connect(str(tmp_path / "case.duckdb")) as con:
        ensure_schema(con)
        insert_rows(con, "messages", [_message(a, "sms/0", "first read"), _message(b, "sms/0", "other file")])
        part = tmp_path / "messages-00000.parquet"
        staged = [
            _message(a, "sms/0", "read again"),
            _message(a, "sms/1", "new in a"),
            _message(c, "sms/0", "new file"),
        ]
        pq.write_table(rows_to_table("messages", staged), part)
        load_parts(con, "messages", [str(part)], "run-2")
        rows = con.execute(
            "SELECT source_sha256, source_locator, body, loaded_in_run FROM messages ORDER BY ALL"
        ).fetchall()
    assert rows == [
        (a, "sms/0", "first read", None),
        (a, "sms/1", "new in a", "run-2"),
        (b, "sms/0", "other file", None),
        (c, "sms/0", "new file", "run-2"),
    ]


def test_spilled_parts_load_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = tmp_path / "in" / "WhatsApp Chat with Alex.txt"
    export.parent.mkdir()
    stats = generate_export(export, 1_000, seed=5)
    ingest(IngestParameters(sources=[str(export.parent)], case_dir=str(tmp_path / "whole")))
    monkeypatch.setattr(evidence.parsers.rows, "SPILL_ROWS", 97)
    summary = ingest(IngestParameters(sources=[str(export.parent)], case_dir=str(tmp_path / "spilled")))
    assert summary["messages_loaded"] == stats.messages + stats.system
    batch = next((tmp_path / "spilled" / "staging").glob("*/batch-0000"))
    assert len(list(batch.glob("messages-*.parquet"))) == -(-summary["messages_read"] // 97)
    assert not list((tmp_path / "spilled" / "staging").glob("*/*.spill"))  # spill folders cleaned up
    assert _messages(tmp_path / "spilled") == _messages(tmp_path / "whole")


def test_a_file_that_fails_after_spilling_loads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "in" / "WhatsApp Chat with Alex.txt"
    export.parent.mkdir()
    generate_export(export, 500, seed=6)
    monkeypatch.setattr(evidence.parsers.rows, "SPILL_ROWS", 50)
    parser = REGISTRY.get("whatsapp_txt")
    original = type(parser).parse

    def fail_at_the_end(self, ctx):
        original(self, ctx)
        raise RuntimeError("simulated failure after every row was read")

    monkeypatch.setattr(type(parser), "parse", fail_at_the_end)
    summary = ingest(IngestParameters(sources=[str(export.parent)], case_dir=str(tmp_path / "case")))
    assert summary["failed"] == 1 and summary["messages_loaded"] == 0
    assert _messages(tmp_path / "case") == []


def test_rows_to_table_rejects_unknown_columns() -> None:
    with pytest.raises(ValueError, match="not in the schema"):
        rows_to_table("attachments", [{"message_id": "m", "locator": "x", "colour": "red"}])
    with pytest.raises(ValueError, match="not defined"):
        rows_to_table("no_such_table", [{}])
    table = rows_to_table("attachments", [{"message_id": "m", "locator": "x"}])
    assert table.num_rows == 1 and table.column("sha256").null_count == 1


def test_bulk_message_ids_equal_one_at_a_time() -> None:
    sha = "5f" * 32
    numbers = [1, 2, 10, 99_999, 1_000_000]
    assert evidence.parsers.context.message_ids_for(sha, "line/", numbers) == [
        evidence.parsers.context.message_id_for(sha, f"line/{k}") for k in numbers
    ]
    assert evidence.parsers.context.message_ids_for(sha, "line/", []) == []


def test_extraction_processes_share_the_cores_for_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    from evidence.images.ocr import default_workers
    from evidence.pipeline.extract import share_cores

    monkeypatch.delenv("EVIDENCE_OCR_WORKERS", raising=False)
    monkeypatch.delenv("EVIDENCE_OCR_SHARED_BY", raising=False)
    cores = default_workers()
    share_cores(2)
    assert default_workers() == max(1, cores // 2)
    monkeypatch.setenv("EVIDENCE_OCR_WORKERS", "3")  # a setting of the user's wins
    share_cores(2)
    assert default_workers() == 3
