"""An ingest killed at any point (SIGKILL) leaves a case that the next ingest completes: the same files,
messages, duplicates, identifiers, suggestions and flags as a run that was never interrupted, and a
custody log that is still one chain and says the killed run did not finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from whatsapp_generator import generate_export

from evidence.acquire.custody import check_chain

EVIDENCE = Path(sys.executable).parent / "evidence"
OWNER = "+44 7700 900001"


def ingest(sources: list[Path], case: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(EVIDENCE),
            "ingest",
            *map(str, sources),
            "--case",
            str(case),
            "--tz",
            "Europe/London",
            "--owner",
            OWNER,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def state(case: Path) -> dict[str, list[tuple]]:
    """What a reader of the case sees, leaving out what names runs or times of day of the runs."""
    queries = {
        "files": "SELECT sha256, status, format FROM files ORDER BY 1",
        "messages": "SELECT message_id, duplicate_of, dedup_key, phrase_hits FROM messages ORDER BY 1",
        "links": "SELECT message_id, identifier_id, role FROM message_identifiers ORDER BY ALL",
        "identifiers": "SELECT identifier_id, kind, value FROM identifiers ORDER BY 1",
        "suggestions": "SELECT suggestion_id, confidence, status FROM actor_suggestions ORDER BY 1",
        "flags": "SELECT event_id, flags FROM timeline ORDER BY 1",
        "key_dates": "SELECT event_id, kind, status FROM case_events ORDER BY 1",
    }
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return {name: con.execute(sql).fetchall() for name, sql in queries.items()}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("sources")
    chat = root / "a" / "WhatsApp Chat with Alex.txt"
    chat.parent.mkdir()
    generate_export(chat, 60_000, seed=3, identifiers=0.3)
    overlap = root / "b" / "WhatsApp Chat with Alex.txt"  # an overlapping second export: duplicates
    overlap.parent.mkdir()
    overlap.write_text(
        "".join(chat.read_text(encoding="utf-8").splitlines(keepends=True)[-500:]), encoding="utf-8"
    )
    mails = Path(__file__).resolve().parents[1] / "sample" / "mailbox-export"
    return [chat.parent, overlap.parent, mails]


@pytest.fixture(scope="module")
def clean(sources: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    case = tmp_path_factory.mktemp("clean") / "case"
    assert ingest(sources, case).wait(timeout=600) == 0
    return state(case)


@pytest.mark.parametrize("after", [0.3, 0.8, 1.6, 2.6, 4.0])
def test_a_killed_ingest_is_completed_by_the_next(
    sources: list[Path], clean: dict, tmp_path: Path, after: float
) -> None:
    case = tmp_path / "case"
    process = ingest(sources, case)
    time.sleep(after)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    # On a loaded machine the killed process may not have started its run yet: count what it wrote.
    log = case / "custody.log"
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    killed_runs = sum(json.loads(line)["action"] == "ingest_started" for line in lines if line.endswith("}"))
    assert ingest(sources, case).wait(timeout=600) == 0
    assert state(case) == clean
    assert check_chain(log) == []
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    started = [e["details"]["run_id"] for e in entries if e["action"] == "ingest_started"]
    finished = [e["details"]["run_id"] for e in entries if e["action"] == "ingest_finished"]
    assert finished[-1] == started[-1]  # the last run finished; a killed one has no ingest_finished entry
    assert len(started) - len(finished) == (killed_runs if process.returncode == -signal.SIGKILL else 0)
