"""Ingestion runs: plan (acquire), extract batches, load once. The CLI and the Airflow DAG call these.

plan_run      acquire + identify + write batch files          (one task)
extract_batch parse one batch into Parquet staging            (many tasks, in parallel)
load_run      staging -> DuckDB, custody entries, run summary (one task: the single writer)
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import phonenumbers

from evidence import __version__
from evidence.acquire import Acquirer
from evidence.case import DB_NAME, read_json, run_dir, write_json
from evidence.custody import CustodyLog
from evidence.errors import IngestError
from evidence.extraction import ParseOptions, default_ocr_lang
from evidence.store import OriginalsStore
from evidence.timeutil import DEFAULT_TZ, zone
from evidence.workitem import ARCHIVE_FORMAT, WorkItem, parse_key

if TYPE_CHECKING:
    from evidence.early_load import EarlyLoad

# The parsers and the database layer (duckdb, pyarrow, parser libraries) are imported where they are
# used, or by warm_up() on a second thread while acquisition hashes: start-up then overlaps with I/O.

log = logging.getLogger(__name__)

MAX_BATCHES = 1024  # Airflow's [core] max_map_length
BATCH_FILES = 200
BATCH_BYTES = 256 * 1024 * 1024
LOADED_TABLES_ORDER = ("messages", "attachments", "identifiers", "message_identifiers", "images")


@dataclass
class IngestParameters:
    """What an investigator chooses for a run; stored with the run and in the custody log."""

    sources: list[str]
    case_dir: str
    tz: str = DEFAULT_TZ
    region: str = "GB"
    owners: list[str] = field(default_factory=list)
    examiner: str | None = None
    jobs: int = 1
    ocr_lang: str = field(default_factory=default_ocr_lang)

    def validate(self) -> None:
        if not self.sources:
            raise IngestError("no sources given: name at least one folder, zip or file")
        try:
            zone(self.tz)
        except ValueError as exc:
            raise IngestError(str(exc)) from exc
        if self.region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise IngestError(
                f"unknown phone region {self.region!r}: use a two-letter country code such as GB"
            )
        if self.jobs < 1:
            raise IngestError("--jobs must be at least 1")
        self.validate_ocr_lang()

    def validate_ocr_lang(self) -> None:
        """Every language in --ocr-lang (eng+pol) must be installed for tesseract, or OCR would fail later."""
        wanted = [part for part in self.ocr_lang.split("+") if part]
        if not wanted:
            raise IngestError("--ocr-lang is empty: use a tesseract language code such as eng or eng+pol")
        if wanted == ["eng"]:
            return  # installed by setup; no need to start tesseract to check
        from evidence.ocr import installed_languages

        installed = installed_languages()
        missing = [lang for lang in wanted if installed is not None and lang not in installed]
        if missing:
            raise IngestError(
                f"tesseract has no language data for {', '.join(missing)}: install tesseract-ocr-<lang> "
                f"(Debian) or choose from {', '.join(sorted(installed or ()))}"
            )

    def options(self) -> ParseOptions:
        return ParseOptions(
            tz=self.tz, region=self.region.upper(), owners=tuple(self.owners), ocr_lang=self.ocr_lang
        )

    def for_record(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = [str(s) for s in self.sources]
        return data


@dataclass
class RunPlan:
    case_dir: str
    run_id: str
    batch_files: list[str]
    files_seen: int
    acquire_errors: int


def create_case(case_dir: Path) -> Path:
    """Create the case folder owner-only (0700); an existing folder is tightened to 0700."""
    case = Path(case_dir).expanduser().absolute()
    if case.exists() and not case.is_dir():
        raise IngestError(f"case path {case} exists and is not a folder")
    case.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(case, 0o700)
    OriginalsStore(case / "originals").ensure()
    return case


def new_run_id() -> str:
    return f"run-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def warm_up() -> threading.Thread:
    """Import the parsers and the database layer on a second thread.

    Hashing releases the GIL, so on two cores these imports cost little wall time while the first files
    are copied. The caller joins the thread before importing any of these modules itself.
    """

    def work() -> None:
        try:
            import evidence.extract
            import evidence.link
            import evidence.staging  # noqa: F401
            from evidence.db import _schema_database
            from evidence.detect import mime_of

            _schema_database()
            mime_of(b"warm-up")  # loads libmagic's database
        except Exception:
            log.debug("warm-up import failed", exc_info=True)

    thread = threading.Thread(target=work, name="evidence-warm-up", daemon=True)
    thread.start()
    return thread


def known_parse_keys(case: Path) -> dict[str, str]:
    """sha256 -> parse_key of files already parsed in this case (so a re-ingest can skip parsing)."""
    if not (case / DB_NAME).exists():
        return {}
    from evidence.db import open_case

    with open_case(case, write=False) as con:
        rows = con.execute(
            "SELECT sha256, parse_key FROM files WHERE status = 'parsed' AND parse_key IS NOT NULL"
        )
        return dict(rows.fetchall())


def plan_run(params: IngestParameters, on_file: Callable[[WorkItem], None] | None = None) -> RunPlan:
    """Acquire every source into the store, identify each file, and write the batches to extract."""
    params.validate()
    case = create_case(Path(params.case_dir))
    run_id = new_run_id()
    started = datetime.now(UTC)
    custody = CustodyLog(case / "custody.log", params.examiner)
    custody.append("ingest_started", run_id=run_id, parameters=params.for_record())
    store = OriginalsStore(case / "originals")
    options = params.options()
    warming = warm_up()
    result = Acquirer(store, on_file=on_file, tz=params.tz).acquire([Path(s) for s in params.sources])
    warming.join()
    from evidence.extract import identify
    from evidence.parsers import REGISTRY

    known = known_parse_keys(case)
    first_seen: dict[str, str] = {}
    for index, item in enumerate(result.items):
        if item.format != ARCHIVE_FORMAT:
            try:
                result.items[index] = item = identify(item, store)
            except Exception as exc:
                log.warning("could not identify %s: %s", item.source_path, exc)
        if item.sha256 in first_seen:
            item.skip_reason = f"same content as {first_seen[item.sha256]} earlier in this run"
        elif item.format and item.format != ARCHIVE_FORMAT:
            parser = REGISTRY.get(item.format)
            if known.get(item.sha256) == parse_key(parser.name, parser.version, options.key()):
                item.skip_reason = "already parsed in an earlier run with the same parser and parameters"
        first_seen.setdefault(item.sha256, item.source_path)
    custody.append_many(
        [
            (
                "file_stored" if item.is_new else "file_seen_again",
                {
                    "run_id": run_id,
                    "source_path": item.source_path,
                    "sha256": item.sha256,
                    "md5": item.md5,
                    "size_bytes": item.size_bytes,
                    "container_sha256": item.container_sha256,
                },
            )
            for item in result.items
        ]
    )
    for error in result.errors:
        custody.append("acquire_error", run_id=run_id, **error)
    staging = run_dir(case, run_id)
    staging.mkdir(parents=True, mode=0o700)
    write_json(
        staging / "plan.json",
        {
            "run_id": run_id,
            "started_at": started.isoformat(),
            "tool_version": __version__,
            "parameters": params.for_record(),
            "acquire_errors": result.errors,
        },
    )
    # Files of one folder or archive share one name -> sha256 map: write it once, not once per file.
    write_json(staging / "siblings.json", sibling_groups(result.items))
    batch_files = []
    for number, batch in enumerate(make_batches(result.items)):
        path = staging / f"batch-{number:04d}.json"
        write_json(path, [item.to_json(with_siblings=False) for item in batch])
        batch_files.append(str(path))
    return RunPlan(str(case), run_id, batch_files, len(result.items), len(result.errors))


def sibling_groups(items: list[WorkItem]) -> dict[str, dict[str, str]]:
    """One name -> sha256 map per folder or archive (items of a group share one map object)."""
    groups: dict[str, dict[str, str]] = {}
    merged: set[int] = set()
    for item in items:
        if item.group and id(item.siblings) not in merged:
            merged.add(id(item.siblings))
            target = groups.setdefault(item.group, {})
            for name, sha256 in item.siblings.items():
                target.setdefault(name, sha256)
    return groups


def make_batches(items: list[WorkItem]) -> list[list[WorkItem]]:
    """Group files into batches by count and bytes, never more than Airflow can map over."""
    per_batch = max(BATCH_FILES, -(-len(items) // MAX_BATCHES))
    batches: list[list[WorkItem]] = []
    current: list[WorkItem] = []
    size = 0
    for item in items:
        full = len(current) >= per_batch or size + item.size_bytes > BATCH_BYTES
        if current and full and len(batches) < MAX_BATCHES - 1:
            batches.append(current)
            current, size = [], 0
        current.append(item)
        size += item.size_bytes
    if current:
        batches.append(current)
    return batches


def extract_batch(
    case_dir: str,
    run_id: str,
    batch_file: str,
    *,
    on_part: Callable[[str, Path], None] | None = None,
    moved: dict[Path, Path] | None = None,
) -> str:
    """Parse one batch into Parquet staging; returns the staging folder (a small XCom value).

    on_part and moved serve an EarlyLoader in the same process: told of each part as it is written, and
    where the parts finally are.
    """
    from evidence.extract import extract_items
    from evidence.extraction import Extraction
    from evidence.staging import write_extraction

    case = Path(case_dir)
    plan = read_json(run_dir(case, run_id) / "plan.json")
    options = IngestParameters(**plan["parameters"]).options()
    siblings = read_json(run_dir(case, run_id) / "siblings.json")
    items = [WorkItem.from_json(d) for d in read_json(Path(batch_file))]
    for item in items:
        item.siblings = siblings.get(item.group or "", {})
    store = OriginalsStore(case / "originals")
    batch_dir = Path(batch_file).with_suffix("")
    spill = batch_dir.with_name(batch_dir.name + ".spill")
    extraction = extract_items(
        items,
        store=store,
        run_id=run_id,
        options=options,
        out=Extraction(spill_dir=spill, on_part=on_part),
    )
    write_extraction(extraction, batch_dir, moved)
    return str(batch_dir)


def load_run(
    case_dir: str, run_id: str, batch_dirs: Iterable[str], early: EarlyLoad | None = None
) -> dict[str, Any]:
    """Load a run's staging into DuckDB (idempotently), log outcomes in custody, return the summary.

    With `early`, the transaction an EarlyLoader began (some messages already inserted) is finished.
    """
    from evidence.db import open_case, to_json
    from evidence.link import run_links

    case = Path(case_dir)
    staging = run_dir(case, run_id)
    plan = read_json(staging / "plan.json")
    dirs = [Path(d) for d in batch_dirs]
    with early.connection() if early else open_case(case, write=True) as con:
        if early is None:
            con.execute("BEGIN TRANSACTION")
        preloaded, before = (early.parts, early.before) if early else (frozenset[str](), None)
        try:
            messages_loaded = _load(con, run_id, plan, dirs, preloaded, before)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        # Link steps run after the load is committed, each in its own transaction: a failing step is
        # recorded in ingest_errors and rolled back alone; the evidence just loaded is never lost.
        links = run_links(con, run_id)
        summary = run_summary(con, run_id, messages_loaded=messages_loaded)
        summary["links"] = links
        con.execute(
            "UPDATE ingest_runs SET finished_at = now(), status = 'done', summary = ? WHERE run_id = ?",
            [to_json(summary), run_id],
        )
        outcomes = con.execute(
            "SELECT source_path, sha256, status, status_reason, parser, parser_version, messages, warnings "
            "FROM run_files WHERE run_id = ? ORDER BY source_path",
            [run_id],
        ).fetchall()
    custody = CustodyLog(case / "custody.log", plan["parameters"].get("examiner"))
    custody.append_many(
        [
            (
                f"file_{status}",
                {
                    "run_id": run_id,
                    "source_path": source_path,
                    "sha256": sha256,
                    "reason": reason,
                    "parser": parser,
                    "parser_version": version,
                    "messages": messages,
                    "warnings": warnings,
                },
            )
            for source_path, sha256, status, reason, parser, version, messages, warnings in outcomes
        ]
    )
    custody.append("ingest_finished", run_id=run_id, summary=summary)
    return summary


def _load(
    con: Any,
    run_id: str,
    plan: dict[str, Any],
    dirs: list[Path],
    preloaded: frozenset[str] = frozenset(),
    before: int | None = None,
) -> int:
    """Insert a run's staged rows (one transaction, the caller's); returns the number of new messages.

    `preloaded` messages parts were already inserted in this transaction by an EarlyLoader, which also
    counted the messages there were `before` it began.
    """
    from evidence.db import to_json
    from evidence.staging import load_parts, staged_files, staged_tables

    for table in ("run_files", "file_occurrences", "ingest_errors"):
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
    con.execute(
        "INSERT INTO ingest_runs (run_id, started_at, tool_version, examiner, parameters, status) "
        "VALUES (?, ?, ?, ?, ?, 'loading') ON CONFLICT (run_id) DO UPDATE SET status = 'loading'",
        [
            run_id,
            plan["started_at"],
            plan["tool_version"],
            plan["parameters"].get("examiner"),
            to_json(plan["parameters"]),
        ],
    )
    if before is None:
        before = con.execute("SELECT count(*) FROM messages").fetchall()[0][0]
    run_files = staged_files(dirs, "run_files")
    if run_files:
        con.execute(
            "INSERT INTO run_files BY NAME SELECT * FROM read_parquet(?, union_by_name = true)", [run_files]
        )
    con.execute(
        """
        INSERT INTO files (sha256, md5, size_bytes, mime, format, status, first_seen_path, parser, parser_version,
                           parse_key, status_reason, derived_from_sha256, first_run_id)
        SELECT sha256, md5, size_bytes, mime, format, status, source_path, parser, parser_version, parse_key,
               status_reason, derived_from_sha256, run_id
        FROM run_files WHERE run_id = ? AND status <> 'skipped'
        QUALIFY row_number() OVER (PARTITION BY sha256 ORDER BY source_path) = 1
        ON CONFLICT (sha256) DO UPDATE SET
            mime = excluded.mime, format = excluded.format, status = excluded.status, parser = excluded.parser,
            parser_version = excluded.parser_version, parse_key = excluded.parse_key,
            status_reason = excluded.status_reason
        """,
        [run_id],
    )
    con.execute(
        "INSERT INTO file_occurrences SELECT sha256, source_path, run_id, coalesce(container_sha256, "
        "derived_from_sha256), modified_at FROM run_files WHERE run_id = ?",
        [run_id],
    )
    staged = staged_tables(dirs) - {"run_files", "ingest_errors"}
    ordered = [t for t in LOADED_TABLES_ORDER if t in staged] + sorted(staged - set(LOADED_TABLES_ORDER))
    for table in ordered:
        files = [f for f in staged_files(dirs, table) if table != "messages" or f not in preloaded]
        if files:
            load_parts(con, table, files)
    errors = staged_files(dirs, "ingest_errors")
    if errors:
        con.execute(
            "INSERT INTO ingest_errors BY NAME SELECT * FROM read_parquet(?, union_by_name = true)", [errors]
        )
    for error in plan.get("acquire_errors", []):
        con.execute(
            "INSERT INTO ingest_errors (run_id, source_path, sha256, stage, error, severity) VALUES (?, ?, ?, ?, ?, ?)",
            [
                run_id,
                error["source_path"],
                error.get("sha256"),
                error["stage"],
                error["error"],
                error.get("severity", "error"),
            ],
        )
    after = con.execute("SELECT count(*) FROM messages").fetchone()[0]
    return after - before


def run_summary(con: Any, run_id: str, messages_loaded: int) -> dict[str, Any]:
    """Counts an investigator reads at the end of a run; every file is in exactly one status."""
    counts = dict(
        con.execute(
            "SELECT status, count(*) FROM run_files WHERE run_id = ? GROUP BY status", [run_id]
        ).fetchall()
    )
    seen, new, messages_read = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE is_new), coalesce(sum(messages), 0) FROM run_files WHERE run_id = ?",
        [run_id],
    ).fetchone()
    failures = con.execute(
        "SELECT source_path, status_reason FROM run_files WHERE run_id = ? AND status = 'failed' ORDER BY source_path",
        [run_id],
    ).fetchall()
    link_errors = con.execute(
        "SELECT error FROM ingest_errors WHERE run_id = ? AND stage = 'link' ORDER BY error", [run_id]
    ).fetchall()
    not_read = con.execute(
        "SELECT source_path, error FROM ingest_errors WHERE run_id = ? AND stage = 'acquire' ORDER BY source_path",
        [run_id],
    ).fetchall()
    warnings = con.execute(
        "SELECT count(*) FROM ingest_errors WHERE run_id = ? AND severity = 'warning'", [run_id]
    ).fetchone()[0]
    return {
        "run_id": run_id,
        "files_seen": seen,
        "new": new,
        "duplicate": seen - new,
        "parsed": counts.get("parsed", 0),
        "skipped": counts.get("skipped", 0),
        "unsupported": counts.get("unsupported", 0),
        "failed": counts.get("failed", 0),
        "failures": [{"source_path": p, "reason": r} for p, r in failures],
        "not_read": [{"source_path": p, "reason": r} for p, r in not_read],
        "link_errors": [e for (e,) in link_errors],
        "warnings": warnings,
        "messages_read": int(messages_read),
        "messages_loaded": messages_loaded,
    }


def share_cores(processes: int) -> None:
    """Extraction-pool initializer: each process OCRs images with its share of the cores (its own OCR
    pool would otherwise start one tesseract per core in every process); see ocr.default_workers."""
    os.environ["EVIDENCE_OCR_SHARED_BY"] = str(processes)


def ingest(
    params: IngestParameters,
    on_file: Callable[[WorkItem], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """A whole run in this process (CLI and tests): plan, extract with --jobs processes, load."""
    plan = plan_run(params, on_file=on_file)
    batch_dirs: list[str] = []
    total = len(plan.batch_files)
    if params.jobs > 1 and total > 1:
        workers = min(params.jobs, total)
        with ProcessPoolExecutor(max_workers=workers, initializer=share_cores, initargs=(workers,)) as pool:
            futures = [pool.submit(extract_batch, plan.case_dir, plan.run_id, b) for b in plan.batch_files]
            for done, future in enumerate(as_completed(futures), start=1):
                batch_dirs.append(future.result())
                if on_batch:
                    on_batch(done, total)
        return load_run(plan.case_dir, plan.run_id, sorted(batch_dirs))
    # One process: messages are inserted on a second thread while the batches are still being parsed.
    from evidence.early_load import EarlyLoader

    loader = EarlyLoader(Path(plan.case_dir), run_dir(Path(plan.case_dir), plan.run_id))
    moved: dict[Path, Path] = {}
    try:
        for done, batch_file in enumerate(plan.batch_files, start=1):
            batch_dirs.append(
                extract_batch(plan.case_dir, plan.run_id, batch_file, on_part=loader.on_part, moved=moved)
            )
            if on_batch:
                on_batch(done, total)
    except BaseException:
        loader.abandon()
        raise
    return load_run(plan.case_dir, plan.run_id, sorted(batch_dirs), loader.finish(moved))
