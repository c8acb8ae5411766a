"""Names inside a case folder (the public layout of DESIGN.md), kept free of heavy imports."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DB_NAME = "evidence.duckdb"
LOCK_NAME = ".evidence.lock"
CUSTODY_NAME = "custody.log"
ORIGINALS_NAME = "originals"
STAGING_NAME = "staging"
INBOX_NAME = "inbox"  # where files dropped for the inbox watcher wait (the one folder this tool only reads)
WATCH_NAME = "watch"  # the inbox watcher's claims and notes


def is_case_folder(path: str) -> bool:
    """A folder this tool made for a case: its database, custody log and originals side by side (the log is
    looked for first: most folders stop there, at one failed stat)."""
    return (
        os.path.isfile(os.path.join(path, CUSTODY_NAME))
        and os.path.isfile(os.path.join(path, DB_NAME))
        and os.path.isdir(os.path.join(path, ORIGINALS_NAME))
    )


def run_dir(case_dir: Path, run_id: str) -> Path:
    """Where a run's plan, batches and Parquet staging live."""
    return Path(case_dir) / STAGING_NAME / run_id


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary name, then rename), so a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".partial")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    tmp.rename(path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@contextlib.contextmanager
def holding_lock_file(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (created owner-only), waiting as long as it takes: for short sections
    that two processes must not run at once, such as a watcher's or a report rebuild's state."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
