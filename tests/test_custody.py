"""The custody log: a hash chain that any edit, insertion or removal breaks, safe for parallel writers."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from evidence.acquire import custody
from evidence.acquire.custody import GENESIS, CustodyLog, check_chain, line_hash, run_finished


def test_entries_chain_and_carry_the_required_fields(tmp_path: Path) -> None:
    log = CustodyLog(tmp_path / "custody.log", examiner="DC Jones")
    log.append("ingest_started", run_id="r1")
    log.append("file_stored", sha256="ab" * 32)
    lines = (tmp_path / "custody.log").read_bytes().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["prev"] == GENESIS and first["seq"] == 1
    assert second["prev"] == line_hash(lines[0]) and second["seq"] == 2
    assert {"time_utc", "examiner", "action", "tool_version", "details"} <= set(second)
    assert second["examiner"] == "DC Jones" and second["details"] == {"sha256": "ab" * 32}
    assert log.head() == line_hash(lines[1])
    assert check_chain(tmp_path / "custody.log") == []


def test_an_edited_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "custody.log"
    log = CustodyLog(path)
    for n in range(5):
        log.append("step", n=n)
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace('"n": 2', '"n": 7')
    path.write_text("\n".join(lines) + "\n")
    problems = check_chain(path)
    assert [p.line_number for p in problems] == [4]  # line 4's prev no longer matches line 3


def test_a_removed_line_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "custody.log"
    log = CustodyLog(path)
    for n in range(4):
        log.append("step", n=n)
    lines = path.read_text().splitlines()
    del lines[1]
    path.write_text("\n".join(lines) + "\n")
    problems = check_chain(path)
    assert problems and problems[0].line_number == 2


def _append_many(path: str, worker: int) -> None:
    log = CustodyLog(Path(path), examiner=f"w{worker}")
    for n in range(40):
        log.append("parallel", worker=worker, n=n)


def test_parallel_writers_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "custody.log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["seq"] for e in entries] == list(range(1, 161))
    assert check_chain(path) == []


def test_a_line_cut_short_is_kept_and_the_chain_goes_on_after_it(tmp_path: Path) -> None:
    """A write cut short (a crash, a full disk) leaves half a line: the next entries start on a line of their
    own, record that they found it, link to its hash, and the cut line stays the one problem."""
    path = tmp_path / "custody.log"
    log = CustodyLog(path, "tester")
    for n in range(3):
        log.append("step", n=n)
    whole = path.read_bytes()
    cut = whole[: len(whole) - 30]  # the third entry loses its end and its newline
    path.write_bytes(cut)
    cut_line = cut.rsplit(b"\n", 1)[-1]

    written = log.append("step", n=3)

    assert path.read_bytes().startswith(cut + b"\n")  # nothing before it rewritten
    lines = path.read_bytes().splitlines()
    found, after = json.loads(lines[3]), json.loads(lines[4])
    assert found["action"] == "custody_log_cut_line_found"
    assert found["details"]["line_sha256"] == line_hash(cut_line) == found["prev"]
    assert (
        found["seq"] == 3 and after["seq"] == 4 and after == written
    )  # numbered on from the last whole entry
    assert [p.line_number for p in check_chain(path)] == [3]


def test_a_big_log_finds_its_last_entry_across_read_blocks(tmp_path: Path) -> None:
    path = tmp_path / "custody.log"
    log = CustodyLog(path, "tester")
    log.append_many([("step", {"padding": "x" * 5000, "n": n}) for n in range(40)])  # 200 KB: several blocks
    assert log.append("last")["seq"] == 41
    assert log.head() == line_hash(path.read_bytes().splitlines()[-1])
    assert check_chain(path) == []


def test_run_finished_reads_back_to_the_runs_start_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run is finished when its ingest_finished entry is logged; the log is read from the end and no
    further back than the run's ingest_started entry, across read blocks, whatever else mentions its id."""
    path = tmp_path / "custody.log"
    log = CustodyLog(path, "tester")
    log.append("ingest_started", run_id="old")
    log.append_many([("file_stored", {"run_id": "old", "padding": "x" * 3000, "n": n}) for n in range(30)])
    log.append("ingest_finished", run_id="old", summary={})
    log.append("ingest_started", run_id="stopped")
    log.append("file_stored", run_id="stopped", note='mentions "old" in its text')
    log.append("ingest_started", run_id="new")
    log.append_many(
        [("file_seen_again", {"run_id": "new", "padding": "y" * 3000, "n": n}) for n in range(30)]
    )
    assert [run_finished(path, r) for r in ("old", "stopped", "new", "never")] == [True, False, False, False]
    log.append("ingest_finished", run_id="new", summary={})
    assert run_finished(path, "new") and not run_finished(path, "stopped")
    assert not run_finished(tmp_path / "missing.log", "new")

    read: list[int] = []
    real_lines = custody._lines_from_end

    def counting(handle: object, block: int = 4096):  # small blocks: the old run's entries span many
        for line in real_lines(handle, block):
            read.append(len(line))
            yield line

    monkeypatch.setattr(custody, "_lines_from_end", counting)
    assert run_finished(path, "new")
    assert len(read) == 1  # its ingest_finished is the last line
    read.clear()
    assert not run_finished(path, "stopped")
    assert len(read) == 34  # the new run's 32 entries and the stopped run's 2: nothing of the old run
