"""Runs that must stop part way: the disk holding the case is full, or another process holds the case.

Neither is a problem with one file, so neither is listed against a file: the run stops, the custody log
gets an `ingest_stopped` entry naming the run, the stage and the reason, and the command line prints the
reason with exit code 1. What the run stored before it stopped stays stored; nothing was loaded, so the
case is as before plus those originals, and the same ingest can simply be run again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from evidence.acquire.custody import CustodyLog
from evidence.case import CUSTODY_NAME
from evidence.errors import CaseLockedError, DiskFullError, EvidenceError, is_disk_full

log = logging.getLogger(__name__)


def as_stop(exc: BaseException) -> EvidenceError | None:
    """The error a stopped run reports, or None when exc is not a reason to stop the whole run."""
    if isinstance(exc, CaseLockedError | DiskFullError):
        return exc
    if is_disk_full(exc):
        return DiskFullError(f"the disk holding the case is full ({exc})")
    return None


@contextlib.contextmanager
def stops_recorded(case_dir: Path | str, run_id: str, examiner: str | None, stage: str) -> Iterator[None]:
    """Record in the custody log why a run stopped inside this block, then raise the stop error."""
    try:
        yield
    except Exception as exc:
        stop = as_stop(exc)
        if stop is None or getattr(exc, "stop_recorded", False):
            raise
        try:
            CustodyLog(Path(case_dir) / CUSTODY_NAME, examiner).append(
                "ingest_stopped", run_id=run_id, stage=stage, reason=str(stop)
            )
        except OSError as failed:  # a full disk may refuse even this short line
            log.error("the custody log could not record that run %s stopped: %s", run_id, failed)
            stop = type(stop)(
                f"{stop}; the custody log could not record the stop ({failed.strerror or failed})"
            )
        stop.stop_recorded = True  # type: ignore[attr-defined]  # an outer block does not record it again
        if stop is exc:
            raise
        raise stop from exc
