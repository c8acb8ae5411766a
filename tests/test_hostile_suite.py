"""The hostile-input suite: one ingest of a folder holding every hostile item of tests/hostile_files.py.

The run is the real `evidence ingest` in a child process (so a FIFO that blocked it would be caught by a
timeout, and its peak memory can be read back with wait4). Each item is then its own test: its file is
stored and hashed and listed with a status, or listed as not read with a reason. Around it: exit 0,
nothing written outside the case folder, the input and the folder outside it unchanged, no byte of a
file outside the source read, the case verifies, and memory stayed bounded.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hostile_files import BIG_LINE_BYTES, BOMB_MEMBER_BYTES, SECRET, Item, items
from typer.testing import CliRunner

from evidence.acquire.custody import check_chain
from evidence.cli.commands import app

ITEMS = {item.name: item for item in items()}
TIMEOUT = 300
# The input holds a 50 MiB line, a 64 MiB zip bomb member and a PNG declaring 3.6 gigapixels. A run that
# read any of them whole into memory as text, pixels or expanded bytes would pass this several times over.
MAX_RSS_BYTES = 900 * 1024 * 1024


def snapshot(root: Path) -> dict[bytes, tuple[int, str]]:
    """Mode and content hash of every entry below root; pipes, devices and sockets are never opened."""
    found: dict[bytes, tuple[int, str]] = {}
    stack = [os.fsencode(root)]
    while stack:
        folder = stack.pop()
        for entry in os.scandir(folder):
            info = entry.stat(follow_symlinks=False)
            digest = ""
            if stat.S_ISLNK(info.st_mode):
                digest = os.fsdecode(os.readlink(entry.path))
            elif stat.S_ISDIR(info.st_mode):
                stack.append(entry.path)
            elif stat.S_ISREG(info.st_mode):
                with open(entry.path, "rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256").hexdigest()
            found[os.path.relpath(entry.path, os.fsencode(root))] = (info.st_mode, digest)
    return found


def run_child(args: list[str], cwd: Path) -> tuple[int, int, str]:
    """Run a command; (exit code, peak resident bytes, output). Killed and failed after TIMEOUT seconds."""
    log = cwd.parent / "child-output.txt"
    with open(log, "wb") as output:
        child = subprocess.Popen(args, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + TIMEOUT
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            os.kill(child.pid, signal.SIGKILL)
            os.wait4(child.pid, 0)
            pytest.fail(f"the ingest did not finish in {TIMEOUT} s (a pipe or a bomb blocked it?)")
        time.sleep(0.2)
    child.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    log.unlink()
    return child.returncode, usage.ru_maxrss * 1024, text


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    top = tmp_path_factory.mktemp("hostile")
    source, outside, case, cwd = top / "input", top / "outside", top / "case", top / "cwd"
    for folder in (source, outside, cwd):
        folder.mkdir()
    (outside / "secret.txt").write_text(f"{CHAT_SECRET}\n", encoding="utf-8")
    for item in ITEMS.values():
        item.make(source, outside)
    named_pipe = top / "named-pipe"  # a FIFO named on the command line, not found by the walk
    os.mkfifo(named_pipe)
    before = snapshot(source), snapshot(outside)
    code, rss, output = run_child(
        [sys.executable, "-m", "evidence", "ingest", str(source), str(named_pipe), "--case", str(case)], cwd
    )
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        files = {
            path: (status, reason, sha)
            for path, status, reason, sha in con.execute(
                "SELECT source_path, status, status_reason, sha256 FROM run_files"
            ).fetchall()
        }
        errors: dict[str, list[str]] = {}
        for path, error in con.execute("SELECT source_path, error FROM ingest_errors").fetchall():
            errors.setdefault(path, []).append(error)
        text = con.execute(
            "SELECT string_agg(coalesce(body, '') || coalesce(sender, '') || coalesce(conversation, ''), ' ') "
            "FROM messages"
        ).fetchone()[0]
        not_read = {
            p
            for (p,) in con.execute(
                "SELECT source_path FROM ingest_errors WHERE stage = 'acquire' AND severity = 'error'"
            ).fetchall()
        }
        hashes = dict(con.execute("SELECT sha256, md5 FROM files").fetchall())
    return {
        "top": top,
        "source": source,
        "case": case,
        "named_pipe": named_pipe,
        "code": code,
        "rss": rss,
        "output": output,
        "before": before,
        "after": (snapshot(source), snapshot(outside)),
        "files": files,
        "errors": errors,
        "text": text or "",
        "hashes": hashes,
        "not_read": not_read,
    }


CHAT_SECRET = f"13/01/2024, 09:00 - Sam: {SECRET}"


def test_the_run_finishes_with_exit_0_in_bounded_memory(run: dict[str, Any]) -> None:
    assert run["code"] == 0, run["output"][-3000:]
    assert run["rss"] < MAX_RSS_BYTES, f"peak memory {run['rss'] / 2**20:.0f} MiB"
    print(f"hostile ingest: peak memory {run['rss'] / 2**20:.0f} MiB")


def test_nothing_is_written_outside_the_case_folder(run: dict[str, Any]) -> None:
    top: Path = run["top"]
    assert sorted(p.name for p in top.iterdir()) == ["case", "cwd", "input", "named-pipe", "outside"]
    assert list((top / "cwd").iterdir()) == []  # the child's working folder: `../evil.txt` lands beside it
    for escaped in ("/etc/x", "/x", "/evil.txt", "/tmp/evil.txt", "/tmp/x"):
        assert not Path(escaped).exists(), escaped


def test_the_input_and_the_folder_outside_it_are_unchanged(run: dict[str, Any]) -> None:
    assert run["after"] == run["before"]


def test_no_byte_of_a_file_outside_the_source_is_read(run: dict[str, Any]) -> None:
    assert SECRET not in run["text"]
    store = run["case"] / "originals"
    for blob in store.rglob("*"):
        if blob.is_file():
            assert SECRET.encode() not in blob.read_bytes(), blob


def test_every_regular_file_of_the_input_is_stored_and_hashed(run: dict[str, Any]) -> None:
    source: Path = run["source"]
    for relative, (mode, digest) in run["before"][0].items():
        if not stat.S_ISREG(mode):
            continue
        shown = shown_path(source, relative)
        assert shown in run["files"], shown
        assert run["files"][shown][2] == digest
        assert digest in run["hashes"] and len(run["hashes"][digest]) == 32


def test_a_pipe_named_on_the_command_line_is_listed_not_read(run: dict[str, Any]) -> None:
    assert any("not a regular file" in e for e in run["errors"][str(run["named_pipe"])])


def test_the_case_verifies_and_the_custody_chain_is_intact(run: dict[str, Any]) -> None:
    assert check_chain(run["case"] / "custody.log") == []
    result = CliRunner().invoke(app, ["verify", "--case", str(run["case"])], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    entries = [json.loads(line) for line in (run["case"] / "custody.log").read_bytes().splitlines()]
    (finished,) = [e for e in entries if e["action"] == "ingest_finished"]
    assert {f["source_path"] for f in finished["details"]["summary"]["not_read"]} == run["not_read"]


def shown_path(source: Path, relative: bytes | str) -> str:
    """The path as the run records it: escaped text (newlines, overrides and bad bytes as escapes)."""
    from evidence.text import escape_path

    return escape_path(os.fsdecode(os.path.join(os.fsencode(source), os.fsencode(relative))))


@pytest.mark.parametrize("name", list(ITEMS))
def test_hostile_item_is_accounted_for(run: dict[str, Any], name: str) -> None:
    item: Item = ITEMS[name]
    assert item.expect
    for expect in item.expect:
        shown = f"{run['source']}/{expect.path}"
        reasons = run["errors"].get(shown, [])
        if expect.not_read is not None:
            assert shown not in run["files"], f"{shown} was stored"
            assert any(expect.not_read in r for r in reasons), (shown, reasons)
            continue
        assert shown in run["files"], (shown, reasons)
        status, reason, sha = run["files"][shown]
        assert status in expect.stored, (shown, status, reason)
        assert sha in run["hashes"]
        if status != "parsed":
            assert reason, shown
        if expect.reason:
            assert any(expect.reason in r for r in [reason or "", *reasons]), (shown, reason, reasons)


def test_sizes_of_the_bombs_are_what_the_suite_claims() -> None:
    """The suite's bounds mean something only if the inputs are as large as it says."""
    assert BIG_LINE_BYTES >= 50 * 2**20 and BOMB_MEMBER_BYTES >= 64 * 2**20


def test_a_50_mib_line_becomes_one_cut_and_flagged_message(run: dict[str, Any]) -> None:
    from evidence.parsers.rows import MAX_BODY_CHARS

    with duckdb.connect(str(run["case"] / "evidence.duckdb"), read_only=True) as con:
        cut = con.execute(
            "SELECT length(body), flags FROM messages WHERE list_contains(flags, 'body_truncated')"
        ).fetchall()
    assert cut == [(MAX_BODY_CHARS, ["body_truncated"])]
    warned = run["errors"][f"{run['source']}/WhatsApp Chat with Big.txt"]
    assert any("cut to that length" in w for w in warned)


def test_path_like_attachment_names_stay_names(run: dict[str, Any]) -> None:
    with duckdb.connect(str(run["case"] / "evidence.duckdb"), read_only=True) as con:
        names = {n for (n,) in con.execute("SELECT file_name FROM attachments").fetchall()}
    assert {"../../x", "/etc/passwd"} <= names
    assert not Path("/x").exists() and Path("/etc/passwd").read_bytes() != b"root"


def test_utf16_exports_are_read_and_bad_code_units_flagged(run: dict[str, Any]) -> None:
    with duckdb.connect(str(run["case"] / "evidence.duckdb"), read_only=True) as con:
        found = con.execute(
            "SELECT conversation, body, flags FROM messages WHERE conversation IN ('Le', 'Be') ORDER BY ALL"
        ).fetchall()
    assert found == [
        ("Be", "are you there", []),
        ("Be", "h\u00e9llo \u2603", []),
        ("Le", "are \ufffd you there", ["decode_errors"]),
        ("Le", "h\u00e9llo \u2603", []),
    ]
    assert any(
        "1 invalid code unit" in w for w in run["errors"][f"{run['source']}/WhatsApp Chat with Le.txt"]
    )
