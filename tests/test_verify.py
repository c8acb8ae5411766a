"""`evidence verify` and `verify --reproduce` on a generated multi-format case, run in-process.

The case has two runs with different parameters: the sample case (a WhatsApp zip with media, emails with an
attachment, SMS, Instagram and screenshots) read in Europe/London, then a generated WhatsApp chat and mbox
read in America/New_York with an owner. Reproduction must extract each file with its own run's parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import duckdb
import pytest
from mbox_generator import generate_mbox
from sample_case import write as write_sample_case
from typer.testing import CliRunner
from whatsapp_generator import generate_export

from evidence.cli.commands import app
from evidence.parsers.registry import REGISTRY

runner = CliRunner()


def evidence(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def rows(case: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def execute(case: Path, sql: str) -> None:
    """An analyst (or anyone) changing the database behind the tool's back."""
    with duckdb.connect(str(case / "evidence.duckdb")) as con:
        con.execute(sql)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def case_files(case: Path) -> dict[Path, str]:
    """Every file of the case folder but the custody log, with its digest."""
    return {p: digest(p) for p in case.rglob("*") if p.is_file() and p.name != "custody.log"}


def custody_entries(case: Path) -> list[dict]:
    return [json.loads(line) for line in (case / "custody.log").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verify")
    first, second = root / "sample", root / "more"
    write_sample_case(first)
    second.mkdir()
    generate_export(second / "WhatsApp Chat with Sam.txt", 60, seed=3, identifiers=0.3)
    generate_mbox(second / "inbox.mbox", 12, seed=5)
    case = root / "case"
    done = evidence("ingest", first, "--case", case, "--examiner", "DC Test")
    assert done.exit_code == 0, done.output
    done = evidence("ingest", second, "--case", case, "--tz", "America/New_York", "--owner", "+447700900123")
    assert done.exit_code == 0, done.output
    return case


@pytest.fixture
def case(built_once: Path, tmp_path: Path) -> Path:
    """A private copy of the case (modes kept), which a test may damage."""
    return Path(shutil.copytree(built_once, tmp_path / "case"))


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where temporary folders go during the test, so a test can see the scratch case is removed."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def parsed_files(case: Path) -> int:
    return rows(
        case,
        "SELECT count(DISTINCT sha256) FROM run_files WHERE status = 'parsed' AND parser <> 'zip_archive'",
    )[0][0]


def test_reproduce_passes_and_changes_nothing_but_one_custody_entry(case: Path, scratch: Path) -> None:
    formats = {f for (f,) in rows(case, "SELECT DISTINCT format FROM files WHERE status = 'parsed'")}
    assert {"whatsapp_txt", "email_eml", "mbox", "image"} <= formats
    assert rows(case, "SELECT count(*) FROM images WHERE ocr_text <> ''")[0][0] > 0  # screenshots read
    files = case_files(case)
    assert case / "evidence.duckdb" in files and len([p for p in files if "originals" in p.parts]) > 20
    before = custody_entries(case)
    result = evidence("verify", "--case", case, "--reproduce")
    assert result.exit_code == 0, result.output
    count = parsed_files(case)
    assert f"Reproduction: {count} files re-extracted, {count} equal, 0 different, 0 not reproducible." in (
        result.output
    )
    assert case_files(case) == files  # database, originals, staging: nothing added, changed or removed
    after = custody_entries(case)
    assert after[: len(before)] == before and len(after) == len(before) + 1
    entry = after[-1]
    assert entry["action"] == "verify" and entry["details"]["ok"] is True
    assert entry["details"]["reproduce"]["files_re_extracted"] == count
    assert entry["details"]["reproduce"]["different"] == 0
    assert list(scratch.iterdir()) == []  # the scratch case is gone


def test_reproduce_names_the_file_and_table_of_an_edited_body(case: Path, scratch: Path) -> None:
    (message_id, source_path, locator) = rows(
        case,
        "SELECT m.message_id, f.first_seen_path, m.source_locator FROM messages m "
        "JOIN files f ON f.sha256 = m.source_sha256 WHERE m.platform = 'email' ORDER BY m.message_id LIMIT 1",
    )[0]
    execute(case, f"UPDATE messages SET body = 'I never wrote this' WHERE message_id = '{message_id}'")
    assert evidence("verify", "--case", case).exit_code == 0  # hashes and chain cannot see it
    result = evidence("verify", "--case", case, "--reproduce")
    assert result.exit_code == 1
    assert f"DIFFERS: {source_path} (" in result.output and "[messages]" in result.output
    assert f"messages: 1 row(s) differ ({locator})" in result.output
    assert "1 different" in result.output
    entry = custody_entries(case)[-1]
    assert entry["details"]["ok"] is False
    assert [d["source_path"] for d in entry["details"]["reproduce"]["different_files"]] == [source_path]


def test_reproduce_names_other_tables_too(case: Path, scratch: Path) -> None:
    """A mention link removed, an attachment renamed and an image's OCR text changed: each file named."""
    execute(
        case,
        "DELETE FROM message_identifiers WHERE (message_id, identifier_id) = "
        "(SELECT (message_id, identifier_id) FROM message_identifiers ORDER BY ALL LIMIT 1)",
    )
    execute(
        case,
        "UPDATE attachments SET file_name = 'other.jpg' WHERE locator = (SELECT min(locator) FROM attachments)",
    )
    execute(
        case,
        "UPDATE images SET ocr_text = 'nothing' WHERE sha256 = (SELECT min(sha256) FROM images WHERE ocr_text <> '')",
    )
    result = evidence("verify", "--case", case, "--reproduce")
    assert result.exit_code == 1
    for table in ("message_identifiers", "attachments", "images"):
        assert f"  {table}: " in result.output, table


def test_a_replaced_original_fails_plain_verify_and_is_not_compared(case: Path, scratch: Path) -> None:
    sha, source_path = rows(case, "SELECT sha256, first_seen_path FROM files WHERE format = 'mbox'")[0]
    blob = case / "originals" / sha[:2] / sha
    os.chmod(blob.parent, 0o700)
    os.chmod(blob, 0o600)
    blob.write_bytes(blob.read_bytes().replace(b"From:", b"Frm:", 1))
    result = evidence("verify", "--case", case)
    assert result.exit_code == 1
    assert f"FAIL: original originals/{sha[:2]}/{sha} has changed: its SHA-256 is now" in result.output
    result = evidence("verify", "--case", case, "--reproduce")
    assert result.exit_code == 1
    assert f"NOT REPRODUCIBLE: {source_path} ({sha})" in result.output
    assert "the original is missing or has changed" in result.output


def test_another_parser_version_is_not_compared_blindly(
    case: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(REGISTRY.get("mbox"), "version", "999")
    result = evidence("verify", "--case", case, "--reproduce")
    assert result.exit_code == 0, result.output  # nothing differs: the mbox is listed, not failed
    assert "1 not reproducible" in result.output
    assert "NOT REPRODUCIBLE: " in result.output and "inbox.mbox" in result.output
    assert "read by parser mbox version 1; this tool has version 999" in result.output


def test_edited_run_parameters_are_named(case: Path, scratch: Path) -> None:
    """Parameters in ingest_runs that no longer give the files' parse keys: said, not compared."""
    execute(
        case,
        'UPDATE ingest_runs SET parameters = json_merge_patch(parameters, \'{"tz": "UTC"}\') '
        "WHERE parameters->>'tz' = 'America/New_York'",
    )
    result = evidence("verify", "--case", case, "--reproduce")
    assert "do not give its recorded parse key" in result.output
    assert "WhatsApp Chat with Sam.txt" in result.output and "0 different" in result.output


def test_plan_gone_is_named(case: Path, scratch: Path) -> None:
    (run_id,) = rows(case, "SELECT run_id FROM ingest_runs ORDER BY started_at DESC LIMIT 1")[0]
    shutil.rmtree(case / "staging" / run_id)
    result = evidence("verify", "--case", case, "--reproduce")
    assert result.exit_code == 0
    assert f"staging/{run_id}/ no longer holds the run's plan" in result.output


def test_a_file_read_again_with_other_parameters_keeps_its_first_rows(tmp_path: Path, scratch: Path) -> None:
    """A second run with another time zone parses the chat again, but the case keeps the first run's rows
    (same message ids): reproduction loads the runs in their order, so it agrees."""
    source = tmp_path / "in"
    source.mkdir()
    generate_export(source / "WhatsApp Chat with Sam.txt", 40, seed=8)
    case = tmp_path / "case"
    assert evidence("ingest", source, "--case", case, "--tz", "Europe/London").exit_code == 0
    assert evidence("ingest", source, "--case", case, "--tz", "Asia/Tokyo").exit_code == 0
    assert rows(case, "SELECT count(*) FROM run_files WHERE status = 'parsed'")[0][0] == 2
    result = evidence("verify", "--case", case, "--reproduce")
    assert result.exit_code == 0, result.output
    assert "1 files re-extracted, 1 equal, 0 different" in result.output
    execute(case, "UPDATE messages SET sent_at_utc = sent_at_utc - INTERVAL 9 HOUR")  # as Tokyo had read it
    result = evidence("verify", "--case", case, "--reproduce")
    assert result.exit_code == 1 and "[messages]" in result.output


# --- plain verify -------------------------------------------------------------------------------------


def test_rows_of_any_table_naming_an_unknown_original_are_named(case: Path) -> None:
    execute(
        case, "UPDATE images SET sha256 = repeat('e', 64) WHERE sha256 = (SELECT min(sha256) FROM images)"
    )
    execute(
        case,
        "UPDATE attachments SET sha256 = repeat('d', 64) WHERE locator = (SELECT min(locator) FROM attachments WHERE sha256 IS NOT NULL)",
    )
    result = evidence("verify", "--case", case)
    assert result.exit_code == 1
    assert (
        f"images rows name {'e' * 64} as their source, but no such original is stored or listed"
        in result.output
    )
    assert f"attachments name {'d' * 64} as their stored file" in result.output


def test_an_edited_last_custody_line_is_found_against_the_database(case: Path) -> None:
    """The last line has no successor to break: its ingest_finished summary is checked against the run's."""
    log = case / "custody.log"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    assert json.loads(lines[-1])["action"] == "ingest_finished"
    entry = json.loads(lines[-1])
    entry["details"]["summary"]["messages_loaded"] += 5
    lines[-1] = json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"
    log.write_text("".join(lines), encoding="utf-8")
    result = evidence("verify", "--case", case)
    assert result.exit_code == 1
    assert f"custody.log line {len(lines)}: the ingest_finished entry of run" in result.output


def test_a_custody_log_cut_mid_line_is_named(case: Path) -> None:
    log = case / "custody.log"
    data = log.read_bytes()
    log.write_bytes(data[: len(data) - 40])
    lines = data.count(b"\n")
    result = evidence("verify", "--case", case)
    assert result.exit_code == 1 and f"custody.log line {lines}: line is not valid JSON" in result.output


def test_an_original_deleted_with_the_database_is_named_from_the_custody_log(case: Path) -> None:
    (sha,) = rows(case, "SELECT sha256 FROM files WHERE format = 'mbox'")[0]
    blob = case / "originals" / sha[:2] / sha
    os.chmod(blob.parent, 0o700)
    blob.unlink()
    (case / "evidence.duckdb").unlink()
    result = evidence("verify", "--case", case)
    assert result.exit_code == 1
    assert f"records original {sha} as stored, but it is missing from originals/" in result.output
