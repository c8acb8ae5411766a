"""The viewers' snapshot: published by the load and by every CLI change of a case a viewer reads, readable
while another process writes the case, and a copy that cannot be written is recorded, never a failed change.
A case no viewer reads gets no copy."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from whatsapp_generator import generate_export

from evidence.acquire.custody import check_chain
from evidence.cli.commands import app
from evidence.pipeline import snapshot
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest

runner = CliRunner()


def _entries(case: Path) -> list[dict]:
    return [json.loads(line) for line in (case / "custody.log").read_text(encoding="utf-8").splitlines()]


def _count(path: Path, sql: str) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def _build(tmp_path: Path, case: Path) -> Path:
    export = tmp_path / "WhatsApp Chat with Alex.txt"
    generate_export(export, 300, seed=5, identifiers=0.3)
    ingest(IngestParameters(sources=[str(export)], case_dir=str(case), tz="Europe/London"))
    return case


@pytest.fixture
def case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A case the viewer lists: a direct subfolder of EVIDENCE_CASES_ROOT."""
    monkeypatch.setenv(snapshot.CASES_ROOT_ENV, str(tmp_path / "cases"))
    return _build(tmp_path, tmp_path / "cases" / "case")


def test_a_case_no_viewer_reads_gets_no_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(snapshot.CASES_ROOT_ENV, str(tmp_path / "cases"))
    deeper = _build(tmp_path, tmp_path / "cases" / "unit" / "case")  # the viewer lists direct subfolders only
    monkeypatch.delenv(snapshot.CASES_ROOT_ENV)
    elsewhere = tmp_path / "laptop-case"
    generate_export(tmp_path / "chat.txt", 50, seed=6)
    ingest(
        IngestParameters(sources=[str(tmp_path / "chat.txt")], case_dir=str(elsewhere), tz="Europe/London")
    )
    for built in (deeper, elsewhere):
        added = runner.invoke(
            app, ["events", "add", "--case", str(built), "--kind", "order", "--at", "2024-03-01"]
        )
        assert added.exit_code == 0, added.output
        assert not snapshot.snapshot_path(built).parent.exists()
        actions = [e["action"] for e in _entries(built)]
        assert "ingest_finished" in actions and "key_date_added" in actions
        assert not [a for a in actions if a.startswith("snapshot_")]
        assert check_chain(built / "custody.log") == []


def test_a_case_with_a_snapshot_keeps_it_fresh_outside_the_root(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(snapshot.CASES_ROOT_ENV)  # e.g. the case was moved, or the CLI runs elsewhere
    added = runner.invoke(
        app, ["events", "add", "--case", str(case), "--kind", "order", "--at", "2024-03-01"]
    )
    assert added.exit_code == 0, added.output
    assert _count(snapshot.snapshot_path(case), "SELECT count(*) FROM case_events WHERE kind = 'order'") == 1
    assert "snapshot_published" in [e["action"] for e in _entries(case)[-2:]]


def test_the_load_publishes_a_copy_equal_to_the_case(case: Path) -> None:
    snap = snapshot.snapshot_path(case)
    for sql in (
        "SELECT count(*) FROM timeline",
        "SELECT count(*) FROM files",
        "SELECT count(*) FROM ingest_runs",
    ):
        assert _count(snap, sql) == _count(case / "evidence.duckdb", sql), sql
    assert _count(snap, "SELECT count(*) FROM ingest_runs WHERE status = 'done'") == 1
    actions = [e["action"] for e in _entries(case)]
    assert actions[-2:] == ["snapshot_published", "ingest_finished"]


def test_the_snapshot_is_read_while_another_process_writes_the_case(case: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom evidence.db import open_case\n"
            "with open_case(sys.argv[1], write=True):\n    print('open', flush=True); time.sleep(60)",
            str(case),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(duckdb.IOException):  # what the viewer would meet on the live database
            duckdb.connect(str(case / "evidence.duckdb"), read_only=True)
        assert _count(snapshot.snapshot_path(case), "SELECT count(*) FROM timeline") > 0
    finally:
        holder.kill()
        holder.wait()


def test_cli_changes_publish_and_a_failed_copy_is_recorded(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = snapshot.snapshot_path(case)
    before = snap.stat().st_mtime_ns
    time.sleep(0.01)
    added = runner.invoke(
        app, ["events", "add", "--case", str(case), "--kind", "order", "--at", "2024-03-01"]
    )
    assert added.exit_code == 0, added.output
    assert snap.stat().st_mtime_ns > before
    assert _count(snap, "SELECT count(*) FROM case_events WHERE kind = 'order'") == 1

    def refuse(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(snapshot.os, "replace", refuse)
    again = runner.invoke(
        app, ["events", "add", "--case", str(case), "--kind", "police_report", "--at", "2024-03-02"]
    )
    assert again.exit_code == 0, again.output  # the key date is kept
    assert (
        _count(case / "evidence.duckdb", "SELECT count(*) FROM case_events WHERE kind = 'police_report'") == 1
    )
    assert (
        _count(snap, "SELECT count(*) FROM case_events WHERE kind = 'police_report'") == 0
    )  # the last copy stays
    assert not list(snap.parent.glob("*.tmp"))
    failed = [e for e in _entries(case) if e["action"] == "snapshot_failed"]
    assert len(failed) == 1 and "No space left" in failed[0]["details"]["error"]
    assert check_chain(case / "custody.log") == []


@pytest.mark.parametrize("sendfile", ["works", "refused", "missing"])
def test_the_copy_is_whole_with_or_without_sendfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sendfile: str
) -> None:
    """The kernel copy is an optimisation: where sendfile refuses the pair of files (EINVAL) or the
    system has none, the same bytes are copied through Python; any other error is raised. The copy is
    its owner's alone either way."""
    import errno
    import os
    import shutil

    case = tmp_path / "case"
    case.mkdir()
    con = duckdb.connect(str(case / "evidence.duckdb"))
    con.execute("CREATE TABLE t AS SELECT range AS n, md5(range::VARCHAR) AS s FROM range(200000)")
    if sendfile == "refused":

        def refuse(*_args: object) -> int:
            raise OSError(errno.EINVAL, "Invalid argument")

        monkeypatch.setattr(os, "sendfile", refuse)
    elif sendfile == "missing":
        monkeypatch.setattr(shutil, "_USE_CP_SENDFILE", False)
    published = snapshot.publish_snapshot(con, case)
    assert published.path.read_bytes() == (case / "evidence.duckdb").read_bytes()
    assert published.size_bytes > 3 * 1024 * 1024
    assert published.path.stat().st_mode & 0o777 == 0o600

    def full_disk(*_args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "_USE_CP_SENDFILE", True)
    monkeypatch.setattr(os, "sendfile", full_disk, raising=False)
    with pytest.raises(OSError):
        snapshot.publish_snapshot(con, case)
    assert not list(published.path.parent.glob("*.tmp"))  # the cut copy is removed, the last one kept
    assert published.path.exists()
    con.close()
