"""A disk that fills up during a run: the run stops with a clear message and exit code 1, the custody log
says which run stopped and why, the case still verifies, and the same ingest run again once there is
space completes it, with the same content as a case that never ran out of space.

Two ways: a real small file system (tmpfs, mounted where the system allows it; skipped otherwise), and,
always, an in-process simulation where the originals store or the Parquet staging writer raises ENOSPC.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

import evidence.acquire.store as store_module
from evidence.acquire.custody import check_chain
from evidence.cli.commands import app

runner = CliRunner()
CHAT = "".join(f"13/01/2024, 10:{m:02d} - Sam: message {m} of a chat\n" for m in range(40))


def evidence(*args: object) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def content(case: Path) -> dict[str, list[tuple]]:
    """What a reader of the case sees, without run ids and times."""
    queries = {
        "files": "SELECT sha256, status FROM files ORDER BY 1",
        "occurrences": "SELECT sha256, source_path FROM file_occurrences ORDER BY ALL",
        "messages": "SELECT message_id, body, duplicate_of FROM messages ORDER BY 1",
    }
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return {name: con.execute(sql).fetchall() for name, sql in queries.items()}


def sources(root: Path, big_files: int = 0) -> tuple[Path, Path]:
    """A first source that fits, and a second with two chats and `big_files` incompressible 4 MiB files."""
    first, second = root / "first", root / "second"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    (first / "WhatsApp Chat with Sam.txt").write_text(CHAT, encoding="utf-8")
    (second / "WhatsApp Chat with Alex.txt").write_text(CHAT.replace("Sam", "Alex"), encoding="utf-8")
    (second / "WhatsApp Chat with Jo.txt").write_text(CHAT.replace("Sam", "Jo"), encoding="utf-8")
    for n in range(big_files):
        (second / f"video-{n}.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    return first, second


def check_stopped(case: Path, result: Any) -> None:
    """Exit 1, a clear message, an ingest_stopped custody entry for a run not in the database; verifies."""
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "the disk holding the case is full" in text and "run the same ingest again" in text
    assert check_chain(case / "custody.log") == []
    entries = [json.loads(line) for line in (case / "custody.log").read_bytes().splitlines()]
    (stopped,) = [e for e in entries if e["action"] == "ingest_stopped"]
    assert "full" in stopped["details"]["reason"]
    started = [e["details"]["run_id"] for e in entries if e["action"] == "ingest_started"]
    assert stopped["details"]["run_id"] == started[-1]
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        runs = {r for (r,) in con.execute("SELECT run_id FROM ingest_runs").fetchall()}
    assert stopped["details"]["run_id"] not in runs
    verified = evidence("verify", "--case", case)
    assert verified.exit_code == 0, verified.output


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    """The content of a case that ingested both sources with space to spare."""
    root = tmp_path_factory.mktemp("clean")
    first, second = sources(root / "input")
    for source in (first, second):
        assert evidence("ingest", source, "--case", root / "case").exit_code == 0
    return content(root / "case")


def relative(state: dict[str, list[tuple]], root: Path) -> dict[str, list[tuple]]:
    """Paths made relative to the input folder, so two cases of the same inputs compare equal."""
    prefix = f"{root}/"
    return {
        name: [tuple(v.removeprefix(prefix) if isinstance(v, str) else v for v in row) for row in rows]
        for name, rows in state.items()
    }


def no_space() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("writer", ["originals store", "parquet staging"])
def test_a_full_disk_stops_the_run_and_a_rerun_completes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: dict[str, list[tuple]], writer: str
) -> None:
    first, second = sources(tmp_path / "input")
    case = tmp_path / "case"
    assert evidence("ingest", first, "--case", case).exit_code == 0
    with monkeypatch.context() as patch:
        if writer == "originals store":

            def write_to_a_full_disk(out: Any, data: Any) -> None:  # every write into the store
                raise no_space()

            patch.setattr(store_module, "write_all", write_to_a_full_disk)
        else:
            import pyarrow.parquet as pq

            def write_to_a_full_disk(*args: Any, **kwargs: Any) -> None:
                raise no_space()

            patch.setattr(pq, "write_table", write_to_a_full_disk)
        stopped = evidence("ingest", second, "--case", case)
    check_stopped(case, stopped)
    again = evidence("ingest", second, "--case", case)
    assert again.exit_code == 0, again.output
    root = input_root(clean)
    assert relative(content(case), tmp_path / "input") == relative(clean, root)


def input_root(state: dict[str, list[tuple]]) -> Path:
    """The input folder of the clean case, read back from its recorded paths."""
    path = Path(state["occurrences"][0][1])
    return path.parent.parent


@contextlib.contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of the given size mounted at `where` (root only); skips the test where mounting fails."""
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_real_full_file_system_stops_the_run_cleanly(tmp_path: Path, clean: dict[str, list[tuple]]) -> None:
    first, second = sources(tmp_path / "input", big_files=4)
    with small_disk(tmp_path / "disk", "12m") as disk:
        case = disk / "case"
        done = evidence("ingest", first, "--case", case)
        assert done.exit_code == 0, done.output
        check_stopped(case, evidence("ingest", second, "--case", case))
        # more space (as an investigator would free some), then the same command again
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        again = evidence("ingest", second, "--case", case)
        assert again.exit_code == 0, again.output
        assert evidence("verify", "--case", case).exit_code == 0
        state = content(case)
    videos = {s for s, p in state["occurrences"] if "video-" in p}
    assert len(videos) == 4
    without_videos = {
        "files": [r for r in state["files"] if r[0] not in videos],
        "occurrences": [r for r in state["occurrences"] if r[0] not in videos],
        "messages": state["messages"],
    }
    assert relative(without_videos, tmp_path / "input") == relative(clean, input_root(clean))
