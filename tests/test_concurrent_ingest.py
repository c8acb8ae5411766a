"""Two ingests into one case at once, as two processes: the second waits for the case (or, told not to
wait, stops with a clear message and a custody entry), nothing is corrupted, the case verifies, and the
content equals that of the same ingests run one after the other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner
from whatsapp_generator import generate_export

from evidence.acquire.custody import check_chain
from evidence.cli.commands import app
from evidence.db import LOCK_WAIT_ENV, case_lock

EVIDENCE = Path(sys.executable).parent / "evidence"
TIMEOUT = 300


def run(*args: object, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [str(EVIDENCE), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=TIMEOUT)
    return process.returncode, " ".join(output.split())


def content(case: Path) -> dict[str, list[tuple]]:
    """What a reader of the case sees, without run ids, times and the folder the inputs were in."""
    queries = {
        "files": "SELECT sha256, status, format FROM files ORDER BY 1",
        "occurrences": "SELECT sha256, regexp_replace(source_path, '.*/inputs/', '') FROM file_occurrences ORDER BY ALL",
        "messages": "SELECT message_id, duplicate_of, dedup_key FROM messages ORDER BY 1",
        "links": "SELECT message_id, identifier_id, role FROM message_identifiers ORDER BY ALL",
        "identifiers": "SELECT identifier_id, kind, value FROM identifiers ORDER BY 1",
        "suggestions": "SELECT suggestion_id, confidence, status FROM actor_suggestions ORDER BY 1",
        "runs": "SELECT count(*), count(finished_at) FROM ingest_runs",
    }
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return {name: con.execute(sql).fetchall() for name, sql in queries.items()}


def verifies(case: Path) -> None:
    result = CliRunner().invoke(app, ["verify", "--case", str(case)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert check_chain(case / "custody.log") == []


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two sources sharing one chat (so both runs store and parse the same file)."""
    root = tmp_path_factory.mktemp("concurrent") / "inputs"
    first, second = root / "first", root / "second"
    for folder, seed in ((first, 1), (second, 2)):
        folder.mkdir(parents=True)
        generate_export(folder / f"WhatsApp Chat with P{seed}.txt", 4_000, seed=seed, identifiers=0.3)
        generate_export(folder / "WhatsApp Chat with Shared.txt", 1_000, seed=9, identifiers=0.3)
    return first, second


@pytest.fixture(scope="module")
def sequential(inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    case = tmp_path_factory.mktemp("sequential") / "case"
    for source in inputs:
        code, output = finish(run("ingest", source, "--case", case))
        assert code == 0, output
    return content(case)


def test_two_ingests_at_once_give_the_sequential_result(
    inputs: tuple[Path, Path], sequential: dict[str, list[tuple]], tmp_path: Path
) -> None:
    case = tmp_path / "case"
    first = run("ingest", inputs[0], "--case", case)
    second = run("ingest", inputs[1], "--case", case)
    results = [finish(first), finish(second)]
    assert [code for code, _ in results] == [0, 0], results  # the later one waited for the case
    verifies(case)
    assert content(case) == sequential
    entries = [json.loads(line) for line in (case / "custody.log").read_bytes().splitlines()]
    assert [e["action"] for e in entries].count("ingest_finished") == 2


def test_an_ingest_told_not_to_wait_stops_clearly_and_can_be_run_again(
    inputs: tuple[Path, Path], sequential: dict[str, list[tuple]], tmp_path: Path
) -> None:
    case = tmp_path / "case"
    code, output = finish(run("ingest", inputs[0], "--case", case))
    assert code == 0, output
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # another writer of the case (the lock is per open file: a thread is enough)
        with case_lock(case, exclusive=True):
            held.set()
            release.wait(TIMEOUT)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        code, output = finish(run("ingest", inputs[1], "--case", case, env={LOCK_WAIT_ENV: "0.5"}))
    finally:
        release.set()
        holder.join()
    assert code == 1, output
    assert f"the case database is in use by pid {os.getpid()}" in output
    assert "wait for it to finish and try again" in output
    entries = [json.loads(line) for line in (case / "custody.log").read_bytes().splitlines()]
    (stopped,) = [e for e in entries if e["action"] == "ingest_stopped"]
    assert "in use by" in stopped["details"]["reason"]
    verifies(case)
    code, output = finish(run("ingest", inputs[1], "--case", case))
    assert code == 0, output
    verifies(case)
    assert content(case) == sequential
