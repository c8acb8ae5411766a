"""A case interrupted before its first load, and what verify finds in a damaged case."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from evidence.cli.commands import app

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[1] / "sample" / "mailbox-export"


def evidence(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_an_empty_database_left_by_an_interrupted_ingest_is_not_a_bricked_case(tmp_path: Path) -> None:
    """Killed before its first load, an ingest can leave evidence.duckdb with no tables: verify says so,
    and the next ingest creates the schema and loads as on a new case."""
    case = tmp_path / "case"
    case.mkdir(mode=0o700)
    duckdb.connect(str(case / "evidence.duckdb")).close()  # the file exists, no table in it
    result = evidence("verify", "--case", case)
    assert result.exit_code == 1 and "no tables yet" in result.output
    result = evidence("ingest", SAMPLE, "--case", case)
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM messages").fetchall()[0][0] > 0
    assert evidence("verify", "--case", case).exit_code == 0


def test_verify_names_a_deleted_original_and_rows_whose_source_is_not_stored(tmp_path: Path) -> None:
    case = tmp_path / "case"
    assert evidence("ingest", SAMPLE, "--case", case).exit_code == 0
    with duckdb.connect(str(case / "evidence.duckdb")) as con:
        (sha,) = con.execute("SELECT source_sha256 FROM messages LIMIT 1").fetchone()
        con.execute(
            "UPDATE messages SET source_sha256 = repeat('f', 64) WHERE message_id = "
            "(SELECT min(message_id) FROM messages)"
        )
    blob = case / "originals" / sha[:2] / sha
    os.chmod(blob.parent, 0o700)
    blob.unlink()
    result = evidence("verify", "--case", case)
    assert result.exit_code == 1
    assert f"original {sha} is listed in the database but missing" in result.output
    assert "messages name ffff" in result.output


def test_verify_names_an_edited_custody_line(tmp_path: Path) -> None:
    case = tmp_path / "case"
    assert evidence("ingest", SAMPLE, "--case", case).exit_code == 0
    log = case / "custody.log"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace('"run_id"', '"run_id" ', 1)
    log.write_text("".join(lines), encoding="utf-8")
    result = evidence("verify", "--case", case)
    assert result.exit_code == 1 and "custody.log line 4" in result.output


def test_verify_names_a_custody_log_cut_short(tmp_path: Path) -> None:
    """Lines cut from the end leave a valid chain: the runs the database has as done show the cut."""
    case = tmp_path / "case"
    assert evidence("ingest", SAMPLE, "--case", case).exit_code == 0
    log = case / "custody.log"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    finished = max(i for i, line in enumerate(lines) if '"ingest_finished"' in line)
    log.write_text("".join(lines[:finished]), encoding="utf-8")
    result = evidence("verify", "--case", case)
    assert result.exit_code == 1 and "has no ingest_finished entry" in result.output
