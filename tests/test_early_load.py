"""In-process runs insert messages while extraction goes on; the case must be exactly what loading after
extraction (the Airflow DAG's way) gives, and anything doubtful falls back to that."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import duckdb
import pytest
from whatsapp_generator import generate_export

import evidence.parsers.context
import evidence.parsers.rows
import evidence.pipeline.run
from evidence.parsers.registry import REGISTRY
from evidence.pipeline.early_load import EarlyLoader
from evidence.pipeline.extract import extract_batch
from evidence.pipeline.load import load_run
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.plan import plan_run
from evidence.pipeline.run import ingest

TABLES = {
    "messages": "message_id",
    "identifiers": "identifier_id",
    "message_identifiers": "message_id, identifier_id, role",
    "attachments": "message_id, locator",
}


def _tables(case: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return {
            t: con.execute(
                f"SELECT * EXCLUDE (loaded_in_run) FROM {t} ORDER BY {key}"
                if t in ("messages", "message_identifiers")
                else f"SELECT * FROM {t} ORDER BY {key}"
            ).fetchall()
            for t, key in TABLES.items()
        }


def _exports(folder: Path) -> int:
    folder.mkdir(parents=True)
    first = generate_export(folder / "WhatsApp Chat with Alex.txt", 600, seed=21)
    second = generate_export(folder / "WhatsApp Chat with Sam.txt", 300, seed=22, style="ios")
    return first.messages + first.system + second.messages + second.system


@pytest.fixture
def finished(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What every EarlyLoader.finish returned in the test (an EarlyLoad, or None after a fallback)."""
    results: list[Any] = []
    original = EarlyLoader.finish

    def spy(self: EarlyLoader, moved: dict[Path, Path]) -> Any:
        result = original(self, moved)
        results.append(result)
        return result

    monkeypatch.setattr(EarlyLoader, "finish", spy)
    return results


def test_early_load_gives_the_case_a_later_load_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, finished: list[Any]
) -> None:
    total = _exports(tmp_path / "in")
    monkeypatch.setattr(evidence.parsers.rows, "SPILL_ROWS", 97)  # many parts per file
    summary = ingest(IngestParameters(sources=[str(tmp_path / "in")], case_dir=str(tmp_path / "early")))
    assert summary["messages_loaded"] == total and summary["failed"] == 0
    assert finished[0] is not None and len(finished[0].parts) >= 2  # parts really went in early

    params = IngestParameters(sources=[str(tmp_path / "in")], case_dir=str(tmp_path / "later"))
    plan = plan_run(params)
    dirs = [extract_batch(plan.case_dir, plan.run_id, b) for b in plan.batch_files]
    later = load_run(plan.case_dir, plan.run_id, dirs)
    assert later["messages_loaded"] == total
    assert _tables(tmp_path / "early") == _tables(tmp_path / "later")
    assert not list((tmp_path / "early" / "staging").glob("*/early-load"))  # hard links cleaned up


def test_a_file_failing_after_its_parts_were_loaded_rolls_the_early_load_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, finished: list[Any]
) -> None:
    _exports(tmp_path / "in")
    monkeypatch.setattr(evidence.parsers.rows, "SPILL_ROWS", 50)
    parser = REGISTRY.get("whatsapp_txt")
    original = type(parser).parse

    def fail_sam_at_the_end(self: Any, ctx: Any) -> None:
        original(self, ctx)
        if "Sam" in ctx.name:
            raise RuntimeError("simulated failure after every row was read")

    monkeypatch.setattr(type(parser), "parse", fail_sam_at_the_end)
    summary = ingest(IngestParameters(sources=[str(tmp_path / "in")], case_dir=str(tmp_path / "case")))
    assert finished == [None]  # fell back to loading from staging
    assert summary["failed"] == 1 and summary["parsed"] == 1
    with duckdb.connect(str(tmp_path / "case" / "evidence.duckdb"), read_only=True) as con:
        conversations = {c for (c,) in con.execute("SELECT DISTINCT conversation FROM messages").fetchall()}
    assert conversations == {"Alex"}


def test_a_file_system_without_hard_links_only_gives_up_the_early_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, finished: list[Any]
) -> None:
    total = _exports(tmp_path / "in")
    monkeypatch.setattr(evidence.parsers.rows, "SPILL_ROWS", 97)

    def no_hard_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted (exFAT has no hard links)")

    monkeypatch.setattr(os, "link", no_hard_links)
    summary = ingest(IngestParameters(sources=[str(tmp_path / "in")], case_dir=str(tmp_path / "case")))
    assert finished == [None]  # fell back to loading from staging
    assert summary["failed"] == 0 and summary["parsed"] == 2 and summary["messages_loaded"] == total
    assert not list((tmp_path / "case" / "staging").glob("*/early-load"))


def test_an_extraction_crash_releases_the_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _exports(tmp_path / "in")
    monkeypatch.setattr(evidence.parsers.rows, "SPILL_ROWS", 50)
    original = evidence.pipeline.run.extract_batch

    def crash(*args: Any, **kwargs: Any) -> str:
        original(*args, **kwargs)
        raise OSError("No space left on device")

    monkeypatch.setattr(evidence.pipeline.run, "extract_batch", crash)
    params = IngestParameters(sources=[str(tmp_path / "in")], case_dir=str(tmp_path / "case"))
    with pytest.raises(OSError, match="No space"):
        ingest(params)
    monkeypatch.setattr(evidence.pipeline.run, "extract_batch", original)
    # Nothing of the crashed run was committed, and the case is not left locked.
    with duckdb.connect(str(tmp_path / "case" / "evidence.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM messages").fetchall() == [(0,)]
    assert ingest(params)["messages_loaded"] > 0


def test_reparsing_with_other_parameters_adds_no_repeated_ids(tmp_path: Path) -> None:
    total = _exports(tmp_path / "in")
    case = str(tmp_path / "case")
    ingest(IngestParameters(sources=[str(tmp_path / "in")], case_dir=case))
    again = ingest(IngestParameters(sources=[str(tmp_path / "in")], case_dir=case, tz="Europe/Paris"))
    assert again["parsed"] == 2 and again["messages_loaded"] == 0  # same files and places: same ids
    with duckdb.connect(str(tmp_path / "case" / "evidence.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT message_id) FROM messages").fetchall() == [
            (total, total)
        ]
        links, distinct = con.execute(
            "SELECT count(*), count(DISTINCT (message_id, identifier_id, role)) FROM message_identifiers"
        ).fetchall()[0]
        assert links == distinct > 0  # no index: the loader's anti-join keeps them unique
