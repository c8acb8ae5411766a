"""Verification: re-hash every stored original and check the custody chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evidence.acquire.custody import CustodyLog, check_chain, finished_runs
from evidence.acquire.store import OriginalsStore, hash_file
from evidence.case import DB_NAME
from evidence.db import UNIQUE_BY_LOADER, open_case


@dataclass
class VerifyResult:
    originals_checked: int = 0
    problems: list[str] = field(default_factory=list)
    chain_head: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_case(case_dir: Path, examiner: str | None = None) -> VerifyResult:
    """Every original must hash to its name (and to the MD5 recorded for it); the chain must be unbroken."""
    case = Path(case_dir)
    if not case.is_dir():
        raise FileNotFoundError(f"no case folder at {case}")
    result = VerifyResult()
    store = OriginalsStore(case / "originals")
    recorded: dict[str, str] = {}
    sources: set[str] = set()
    finished_runs: set[str] = set()
    if (case / DB_NAME).exists():
        with open_case(case) as con:
            if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'files'").fetchall()[
                0
            ][0]:
                result.problems.append(
                    "the case database has no tables yet: an ingest was stopped before its first load "
                    "(run the ingest again; the originals below are still checked)"
                )
            else:
                recorded = dict(con.execute("SELECT sha256, md5 FROM files").fetchall())
                finished_runs = {
                    r
                    for (r,) in con.execute("SELECT run_id FROM ingest_runs WHERE status = 'done'").fetchall()
                }
                sources = {
                    s for (s,) in con.execute("SELECT DISTINCT source_sha256 FROM messages").fetchall()
                }
                result.problems.extend(_repeated_keys(con))
    seen: set[str] = set()
    for blob in store.iter_blobs():
        result.originals_checked += 1
        seen.add(blob.name)
        sha256, md5, _ = hash_file(blob)
        if sha256 != blob.name:
            result.problems.append(
                f"original {blob.relative_to(case)} has changed: its SHA-256 is now {sha256}"
            )
        elif blob.name in recorded and recorded[blob.name] != md5:
            result.problems.append(
                f"original {blob.relative_to(case)}: MD5 {md5} differs from the recorded one"
            )
    for missing in sorted(set(recorded) - seen):
        result.problems.append(f"original {missing} is listed in the database but missing from originals/")
    for orphan in sorted(sources - seen - set(recorded)):
        result.problems.append(
            f"messages name {orphan} as their source, but no such original is stored or listed"
        )
    for problem in check_chain(case / "custody.log"):
        result.problems.append(f"custody.log line {problem.line_number}: {problem.problem}")
    # the chain cannot show lines cut from its end: every run the database has as done must be in the log
    for run_id in sorted(finished_runs - _logged_runs(case / "custody.log")):
        result.problems.append(
            f"run {run_id} is recorded as done in the database, but custody.log has no ingest_finished entry for it "
            "(the log was cut short or replaced)"
        )
    custody = CustodyLog(case / "custody.log", examiner)
    if (case / "custody.log").exists():
        custody.append(
            "verify",
            originals_checked=result.originals_checked,
            ok=result.ok,
            problems=result.problems[:100],
        )
    result.chain_head = custody.head()
    return result


def _logged_runs(path: Path) -> set[str]:
    """Runs the custody log records as finished."""
    return finished_runs(path)


def _repeated_keys(con: Any) -> list[str]:
    """Keys the loader keeps unique without an index (db.UNIQUE_BY_LOADER) that occur more than once."""
    problems = []
    for table, key in UNIQUE_BY_LOADER.items():
        cols = ", ".join(f'"{c}"' for c in key)
        rows = con.execute(
            f'SELECT {cols}, count(*) FROM "{table}" GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL LIMIT 20'
        ).fetchall()
        for *values, count in rows:
            shown = ", ".join(str(v) for v in values)
            problems.append(f"{table}: {'/'.join(key)} {shown} occurs {count} times (it must be unique)")
    return problems
