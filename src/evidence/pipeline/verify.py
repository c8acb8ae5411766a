"""Verification: re-hash every stored original, check the custody chain and the database against both, and
(--reproduce) extract every original again to compare the rows (pipeline/reproduce.py)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evidence.acquire.custody import CustodyLog, check_chain, line_hash
from evidence.acquire.store import OriginalsStore, hash_file
from evidence.case import DB_NAME
from evidence.db import UNIQUE_BY_LOADER, open_case

if TYPE_CHECKING:
    from evidence.pipeline.reproduce import Progress, ReproduceResult

# Columns naming a stored original: every hash there must be in originals/ (or listed in `files`, whose
# missing originals are reported as such).
SOURCE_COLUMNS = (
    ("messages", "source_sha256", "messages name {} as their source"),
    ("attachments", "sha256", "attachments name {} as their stored file"),
    ("images", "sha256", "images rows name {} as their source"),
    ("image_times", "sha256", "image_times rows name {} as their source"),
    ("ocr_lines", "sha256", "ocr_lines rows name {} as their source"),
    ("ocr_regions", "sha256", "ocr_regions rows name {} as their source"),
    ("run_files", "sha256", "run_files rows name {} as a file of a run"),
    ("file_occurrences", "sha256", "file_occurrences rows name {} as a file seen"),
)


@dataclass
class VerifyResult:
    originals_checked: int = 0
    problems: list[str] = field(default_factory=list)
    chain_head: str = ""
    reproduction: ReproduceResult | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and (self.reproduction is None or self.reproduction.ok)


def verify_case(
    case_dir: Path,
    examiner: str | None = None,
    *,
    reproduce: bool = False,
    scratch_parent: Path | None = None,
    on_progress: Progress | None = None,
) -> VerifyResult:
    """Every original must hash to its name (and to the MD5 recorded for it); the chain must be unbroken
    and agree with the database; every hash the database names must be stored. With reproduce, every
    original is extracted again and its rows compared. The case is only read; one custody entry records
    the check and its result."""
    case = Path(case_dir)
    if not case.is_dir():
        raise FileNotFoundError(f"no case folder at {case}")
    result = VerifyResult()
    store = OriginalsStore(case / "originals")
    recorded: dict[str, str] = {}
    sources: dict[str, set[str]] = {}
    summaries: dict[str, Any] = {}
    has_tables = False
    if (case / DB_NAME).exists():
        with open_case(case) as con:
            has_tables = bool(
                con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'files'").fetchall()[0][
                    0
                ]
            )
            if not has_tables:
                result.problems.append(
                    "the case database has no tables yet: an ingest was stopped before its first load "
                    "(run the ingest again; the originals below are still checked)"
                )
            else:
                recorded = dict(con.execute("SELECT sha256, md5 FROM files").fetchall())
                summaries = dict(
                    con.execute("SELECT run_id, summary FROM ingest_runs WHERE status = 'done'").fetchall()
                )
                sources = _named_sources(con)
                result.problems.extend(_repeated_keys(con))
    seen: set[str] = set()
    intact: set[str] = set()
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
        else:
            intact.add(blob.name)
    for missing in sorted(set(recorded) - seen):
        result.problems.append(f"original {missing} is listed in the database but missing from originals/")
    for wording, hashes in sources.items():
        for orphan in sorted(hashes - seen - set(recorded)):
            result.problems.append(wording.format(orphan) + ", but no such original is stored or listed")
    custody_log = case / "custody.log"
    for problem in check_chain(custody_log):
        result.problems.append(f"custody.log line {problem.line_number}: {problem.problem}")
    logged = _read_custody(custody_log)
    # the chain cannot show lines cut from its end: every run the database has as done must be in the log
    for run_id in sorted(set(summaries) - set(logged.finished)):
        result.problems.append(
            f"run {run_id} is recorded as done in the database, but custody.log has no ingest_finished entry for it "
            "(the log was cut short or replaced)"
        )
    for run_id, (line, summary) in sorted(logged.finished.items()):
        if run_id in summaries and _loads(summaries[run_id]) != summary:
            result.problems.append(
                f"custody.log line {line}: the ingest_finished entry of run {run_id} does not match the run's "
                "summary in the database (one of them was edited)"
            )
    for sha256, line in sorted(logged.stored.items()):
        if sha256 not in seen and sha256 not in recorded:
            result.problems.append(
                f"custody.log line {line} records original {sha256} as stored, but it is missing from originals/"
            )
    if reproduce and has_tables:
        from evidence.pipeline.reproduce import reproduce_case

        result.reproduction = reproduce_case(case, intact, scratch_parent, on_progress)
    custody = CustodyLog(custody_log, examiner)
    if custody_log.exists():
        details: dict[str, Any] = {
            "originals_checked": result.originals_checked,
            "ok": result.ok,
            "problems": result.problems[:100],
        }
        if reproduce:
            details["reproduce"] = result.reproduction.summary() if result.reproduction else None
        try:
            custody.append("verify", **details)
        except ValueError:  # the last line is not a whole entry: nothing can be chained to it
            result.problems.append(
                "custody.log: this check could not be recorded, the log's last line is not a whole entry "
                "(the log was cut mid-line)"
            )
            result.chain_head = _last_line_hash(custody_log)
            return result
    result.chain_head = custody.head()
    return result


def _named_sources(con: Any) -> dict[str, set[str]]:
    """Hashes of originals the database names, per wording of SOURCE_COLUMNS (tables the case has)."""
    tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    return {
        wording: {
            s
            for (s,) in con.execute(
                f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
            ).fetchall()
        }
        for table, column, wording in SOURCE_COLUMNS
        if table in tables
    }


@dataclass
class _Logged:
    finished: dict[str, tuple[int, Any]] = field(default_factory=dict)  # run_id -> (line, summary)
    stored: dict[str, int] = field(default_factory=dict)  # sha256 -> line of its file_stored entry


_CUSTODY_ACTIONS_READ = (b'"ingest_finished"', b'"ingest_load_repeated"', b'"file_stored"')


def _read_custody(path: Path) -> _Logged:
    """What the custody log records about runs and stored originals (lines that are not JSON are skipped:
    check_chain names them)."""
    logged = _Logged()
    if not path.exists():
        return logged
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not any(action in line for action in _CUSTODY_ACTIONS_READ):
                continue
            with contextlib.suppress(ValueError, AttributeError):
                entry = json.loads(line)
                details = entry.get("details", {})
                run = details.get("run_id")
                if entry.get("action") == "ingest_finished" or (
                    # a finished run loaded again (a retried task) records the summary the database now holds
                    entry.get("action") == "ingest_load_repeated" and run in logged.finished
                ):
                    logged.finished[run] = (number, details.get("summary"))
                elif entry.get("action") == "file_stored" and details.get("sha256"):
                    logged.stored.setdefault(details["sha256"], number)
    return logged


def _last_line_hash(path: Path) -> str:
    """Hash of the log's last line as it is, even when it is not valid JSON."""
    lines = path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)
    return line_hash(lines[-1])


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


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
