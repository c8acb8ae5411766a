"""A read-only copy of the case database for viewers, published by every writer after it commits.

DuckDB lets no other process open a database while one has it open read-write, not even read-only. The
timeline viewer (the Airflow plugin) must never wait for, or block, a load: it reads
CASE_DIR/snapshot/evidence.duckdb, which writers replace after each change. The writer still holds the
case lock and its connection: a CHECKPOINT puts every committed change in the database file, which is
then copied beside the snapshot and renamed over it, so a reader sees the old copy or the new one, never
half of one. A copy costs about what reading the file costs (a few hundred MB/s); no SQL runs.

That copy grows with the case, so it is made only for cases a viewer reads (`read_by_viewers`): the ones
the viewer lists (direct subfolders of EVIDENCE_CASES_ROOT) and any case that already has a snapshot, which
must never go stale. A case built with the CLI alone pays nothing for viewers it does not have.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence.acquire.custody import CustodyLog
from evidence.case import DB_NAME

SNAPSHOT_DIR = "snapshot"
CASES_ROOT_ENV = "EVIDENCE_CASES_ROOT"  # the folder whose direct subfolders the viewer lists as cases

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    path: Path
    size_bytes: int
    seconds: float

    def as_details(self) -> dict[str, Any]:
        """What the custody log records of a publication."""
        return {"path": str(self.path), "size_bytes": self.size_bytes, "seconds": round(self.seconds, 3)}


def snapshot_path(case_dir: Path) -> Path:
    """Where viewers read the case: CASE_DIR/snapshot/evidence.duckdb."""
    return Path(case_dir) / SNAPSHOT_DIR / DB_NAME


def cases_root() -> Path | None:
    """The viewers' cases root, or None when this machine serves no viewer."""
    root = os.environ.get(CASES_ROOT_ENV)
    return Path(root) if root else None


def read_by_viewers(case_dir: Path) -> bool:
    """Whether a change to this case must publish its snapshot: it already has one, or the viewer lists it."""
    case_dir = Path(case_dir)
    if snapshot_path(case_dir).is_file():
        return True
    root = cases_root()
    try:
        return root is not None and case_dir.resolve().parent == root.resolve()
    except OSError:
        return False


def publish_snapshot(con: Any, case_dir: Path) -> Snapshot:
    """Copy the case database to its snapshot; the caller holds the writer lock and `con`, with nothing
    left uncommitted. Raises OSError when the copy cannot be written (the live database is untouched)."""
    started = time.perf_counter()
    case_dir = Path(case_dir)
    con.execute("CHECKPOINT")  # every committed change into the database file, the WAL emptied
    target = snapshot_path(case_dir)
    target.parent.mkdir(mode=0o700, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))  # readable by its owner only
    try:
        # shutil copies by sendfile where the system has it (the bytes stay in the kernel) and falls back
        # to reading and writing; writing into the existing file keeps its mode.
        shutil.copyfile(case_dir / DB_NAME, tmp)
        with open(tmp, "rb") as copy:
            os.fsync(copy.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Snapshot(target, target.stat().st_size, time.perf_counter() - started)


def publish_for_viewers(con: Any, case_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """Publish the snapshot after a change if viewers read the case; returns the custody entries to record
    (none when no viewer reads it). A failed copy never undoes the change: it is recorded
    (`snapshot_failed`) and viewers keep the previous copy."""
    if not read_by_viewers(case_dir):
        return []
    return [_publish_or_record(con, case_dir)]


def _publish_or_record(con: Any, case_dir: Path) -> tuple[str, dict[str, Any]]:
    try:
        return "snapshot_published", publish_snapshot(con, case_dir).as_details()
    except OSError as exc:
        log.warning("the viewers' snapshot of %s was not published: %s", case_dir, exc)
        return "snapshot_failed", {"path": str(snapshot_path(case_dir)), "error": str(exc)}


def snapshot_publisher(case_dir: Path, examiner: str | None = None) -> Callable[[Any], None]:
    """An `after_commit` for db.writing_case: publish the snapshot and record it in the custody log."""

    def publish(con: Any) -> None:
        entries = publish_for_viewers(con, Path(case_dir))
        if entries:
            CustodyLog(Path(case_dir) / "custody.log", examiner).append_many(entries)

    return publish
