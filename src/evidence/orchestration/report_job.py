"""Rebuild a case's report and exports in CASE_DIR/reports/ after each load (the `evidence_report` DAG).

The files keep stable names, so an advocate always opens the same `reports/report.html` and a rerun
replaces each file atomically: a reader sees the old or the new file, never half of one. Everything is
read under one shared case lock, so the report and the exports show the same state of the case, and
every file written is recorded with its SHA-256 in the custody log (the same functions `evidence report`
and `evidence export` call).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evidence.acquire.custody import default_examiner
from evidence.case import DB_NAME, holding_lock_file
from evidence.db import case_lock, open_case, waiting_for_case
from evidence.errors import CaseNotFoundError
from evidence.orchestration.tasks import load_wait_seconds
from evidence.outputs.delivery import record_output
from evidence.outputs.exports import FORMATS, export_case
from evidence.outputs.redact import redactor_for
from evidence.outputs.report import write_report

log = logging.getLogger(__name__)

REPORTS_DIR = "reports"
REPORT_FILE = "report.html"
# Export format -> its stable name in CASE_DIR/reports/ (parquet is a folder of files).
EXPORT_NAMES = {"incident-log": "incident-log.csv", "timesketch": "timesketch.jsonl", "parquet": "parquet"}
REPORTS_LOCK = ".reports.lock"


def cases_to_report(
    event_extras: Iterable[Mapping[str, Any] | None], manual_case: str | None
) -> list[dict[str, Any]]:
    """The cases to rebuild, each once: `{"case_dir", "ingest_run_ids"}`. A case named by hand wins;
    otherwise every case named by an asset event, with the ingest runs whose loads it follows.

    An event without `case_dir` cannot be acted on: it is logged, not skipped silently.
    """
    if manual_case and manual_case.strip():
        return [{"case_dir": manual_case.strip(), "ingest_run_ids": []}]
    cases: dict[str, list[str]] = {}
    for extra in event_extras:
        extra = extra or {}
        case = extra.get("case_dir")
        if not case:
            log.warning(
                "a case-database event names no case_dir (extra=%r): nothing to rebuild for it", extra
            )
            continue
        runs = cases.setdefault(str(case), [])
        run_id = extra.get("ingest_run_id")
        if run_id and run_id not in runs:
            runs.append(str(run_id))
    return [{"case_dir": case, "ingest_run_ids": runs} for case, runs in cases.items()]


@dataclass
class RebuiltOutputs:
    """What one rebuild wrote: every path (stable names) and the custody chain's head afterwards."""

    case_dir: str
    report: str
    exports: dict[str, list[str]] = field(default_factory=dict)
    events: int = 0
    chain_head: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_dir": self.case_dir,
            "report": self.report,
            "exports": self.exports,
            "events": self.events,
            "chain_head": self.chain_head,
        }


def rebuild_outputs(
    case_dir: str | Path,
    examiner: str | None = None,
    wait_seconds: float | None = None,
    **details: Any,
) -> RebuiltOutputs:
    """Write the HTML report and the incident-log, Timesketch and Parquet exports into CASE_DIR/reports/.

    `details` (e.g. the ingest run that triggered it) go into each custody entry. Waits up to wait_seconds
    (default: load_wait_seconds(), EVIDENCE_LOAD_WAIT_MINUTES) for a writer of the case to finish.
    """
    case = Path(case_dir)
    if not (case / DB_NAME).exists():
        raise CaseNotFoundError(f"no case database at {case / DB_NAME}: ingest the case first")
    who = examiner or default_examiner()
    wait = load_wait_seconds() if wait_seconds is None else wait_seconds
    out = case / REPORTS_DIR
    out.mkdir(mode=0o700, exist_ok=True)
    # one rebuild of a case's reports at a time (two would write the same temporary files)
    with holding_lock_file(out / REPORTS_LOCK), waiting_for_case(wait), case_lock(case, exclusive=False):
        report = write_report(case, out / REPORT_FILE, examiner=who, **details)
        done = RebuiltOutputs(case_dir=str(case), report=str(report.path), events=report.events)
        for fmt, name in EXPORT_NAMES.items():
            paths, head = _export(case, fmt, out / name, who, details)
            done.exports[fmt] = [str(p) for p in paths]
            done.chain_head = head
    log.info("rebuilt the report and %d exports of %s (%d events)", len(done.exports), case, done.events)
    return done


def _export(
    case: Path, fmt: str, target: Path, examiner: str, details: dict[str, Any]
) -> tuple[list[Path], str]:
    """One export under its stable name, recorded in custody; a folder export is built beside the old one
    and swapped in (the export itself refuses a folder that holds files)."""
    chosen = FORMATS[fmt]
    written_to = target.with_name(f".{target.name}.next") if chosen.folder else target
    if chosen.folder:
        shutil.rmtree(written_to, ignore_errors=True)  # left by a rebuild that stopped half-way
    with open_case(case) as con:
        result = export_case(con, fmt, written_to, redactor_for(con, False), case_name=case.resolve().name)
    paths = result.paths
    if chosen.folder:
        _swap_folder(written_to, target)
        paths = [target / p.name for p in result.paths]
    head = record_output(
        case,
        "export_written",
        paths,
        examiner,
        format=fmt,
        redacted=False,
        rows=result.rows,
        **result.details,
        **details,
    )
    for note in result.notes:
        log.info("%s export: %s", fmt, note)
    return paths, head


def _swap_folder(new: Path, target: Path) -> None:
    """Put the folder `new` in place of `target`: the old folder is moved aside first and removed after, so
    readers see the old set or the new set of files (for a moment, none)."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
