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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from evidence import __version__
from evidence.acquire.custody import CustodyLog
from evidence.acquire.found_file import ARCHIVE_FORMAT, FoundFile
from evidence.acquire.store import OriginalsStore
from evidence.acquire.walk import Acquirer
from evidence.case import DB_NAME, read_json, run_dir, write_json
from evidence.errors import IngestError
from evidence.parsers.context import parse_key
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.stops import stops_recorded

if TYPE_CHECKING:
    pass

# The parsers and the database layer (duckdb, pyarrow, parser libraries) are imported where they are
# used, or by WarmUp on a second thread while acquisition hashes: start-up then overlaps with I/O.

log = logging.getLogger(__name__)

MAX_BATCHES = 1024  # Airflow's [core] max_map_length
BATCH_FILES = 200
BATCH_BYTES = 256 * 1024 * 1024


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


@dataclass(frozen=True)
class KnownFile:
    """A content this case parsed before, as its files row has it."""

    parse_key: str
    mime: str | None
    format: str | None


class WarmUp:
    """Imports and reads on a second thread while acquisition hashes the sources.

    Hashing releases the GIL, so on two cores this costs little wall time. First the database layer and
    what the case parsed before (`known`); then the parsers, libmagic and pyarrow, but only once a file
    turns out new to the case (`on_file`) or acquisition ends with something to parse: a re-ingest of
    unchanged files never imports them. The caller calls `finish` before using any of these itself.
    """

    def __init__(self, case: Path) -> None:
        self.case = case
        self.known: dict[str, KnownFile] = {}
        self._known_read = threading.Event()
        self._known_error: Exception | None = None
        self._decided = threading.Event()
        self._parsers_wanted = False
        self._thread = threading.Thread(target=self._work, name="evidence-warm-up", daemon=True)
        self._thread.start()

    def on_file(self, item: FoundFile) -> None:
        """Acquisition's callback: a content new to the case will be parsed, so start on the parsers."""
        if item.is_new and not self._decided.is_set():
            self.want_parsers()

    def want_parsers(self) -> None:
        self._parsers_wanted = True
        self._decided.set()

    def known_files(self) -> dict[str, KnownFile]:
        """What the case parsed before (waits for the first phase only); raises what reading it raised."""
        self._known_read.wait()
        if self._known_error is not None:
            raise self._known_error
        return self.known

    def finish(self) -> None:
        """Acquisition is over and any wish for the parsers was said: wait for the thread."""
        self._decided.set()
        self._thread.join()

    def _work(self) -> None:
        if not (self.case / DB_NAME).exists():
            self.want_parsers()  # a new case: everything will be parsed, start on the parsers at once
        try:
            self.known = known_files(self.case)
        except Exception as exc:  # e.g. another writer kept the case: raised again in the caller's thread
            self._known_error = exc
        finally:
            self._known_read.set()
        self._decided.wait()
        if not self._parsers_wanted:
            return
        try:
            import evidence.pipeline.extract
            import evidence.pipeline.staging  # noqa: F401
            from evidence.db import schema_catalog
            from evidence.parsers import REGISTRY
            from evidence.parsers.detect import mime_of

            schema_catalog()
            mime_of(b"warm-up")  # loads libmagic's database
            REGISTRY.names()  # imports every parser module (the registry loads them on first use)
        except Exception:
            log.debug("warm-up import failed", exc_info=True)


def known_files(case: Path) -> dict[str, KnownFile]:
    """sha256 -> how each file already parsed in this case was parsed (so a re-ingest can skip parsing)."""
    if not (case / DB_NAME).exists():
        return {}
    import duckdb

    from evidence.db import open_case

    with open_case(case, write=False) as con:
        try:
            rows = con.execute(
                "SELECT sha256, parse_key, mime, format FROM files "
                "WHERE status = 'parsed' AND parse_key IS NOT NULL"
            ).fetchall()
        except duckdb.CatalogException:
            return {}  # an ingest stopped before its first load left the database empty: start afresh
    return {sha256: KnownFile(key, mime, fmt) for sha256, key, mime, fmt in rows}


PLANNED_NAME = "planned.json"  # written last: the plan of this run is complete


def planned_run(case: Path, run_id: str) -> RunPlan | None:
    """The plan of a run whose acquisition finished (its batches written), or None."""
    path = run_dir(case, run_id) / PLANNED_NAME
    if not path.exists():
        return None
    done = read_json(path)
    return RunPlan(str(case), run_id, done["batch_files"], done["files_seen"], done["acquire_errors"])


def plan_run(
    params: IngestParameters, on_file: Callable[[FoundFile], None] | None = None, run_id: str | None = None
) -> RunPlan:
    """Acquire every source into the store, identify each file, and write the batches to extract.

    With a run_id whose acquisition already finished (a retried Airflow task), that plan is returned as it
    is: nothing is stored or logged twice.
    """
    params.validate()
    case = create_case(Path(params.case_dir))
    if run_id is not None and (done := planned_run(case, run_id)) is not None:
        log.info("run %s was acquired already: its plan is used again", run_id)
        return done
    run_id = run_id or new_run_id()
    started = datetime.now(UTC)
    custody = CustodyLog(case / "custody.log", params.examiner)
    custody.append("ingest_started", run_id=run_id, parameters=params.for_record())
    with stops_recorded(case, run_id, params.examiner, "plan"):
        store = OriginalsStore(case / "originals")
        options = params.options()
        warming = WarmUp(case)

        def found(item: FoundFile) -> None:
            warming.on_file(item)
            if on_file is not None:
                on_file(item)

        acquirer = Acquirer(store, on_file=found, tz=params.tz, case_dir=case)
        try:
            result = acquirer.acquire([Path(s) for s in params.sources])
            already = _already_parsed(result.items, warming.known_files(), options.key())
            if any(item.format != ARCHIVE_FORMAT and item.sha256 not in already for item in result.items):
                warming.want_parsers()
        finally:
            warming.finish()  # also when acquisition stops: its reading of the case is over before we go on
        from evidence.pipeline.extract import identify  # after the warm-up: it may have imported it

        first_seen: dict[str, str] = {}
        for index, item in enumerate(result.items):
            parsed_before = item.format != ARCHIVE_FORMAT and item.sha256 in already
            if parsed_before:
                # parsed before with this parser version and these parameters: its format is known
                known = already[item.sha256]
                item.mime, item.format = known.mime, known.format
            elif item.format != ARCHIVE_FORMAT:
                try:
                    result.items[index] = item = identify(item, store)
                except Exception as exc:
                    log.warning("could not identify %s: %s", item.source_path, exc)
            if item.sha256 in first_seen:
                item.skip_reason = f"same content as {first_seen[item.sha256]} earlier in this run"
            elif parsed_before:
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
                        **({"source_path_hex": item.source_path_hex} if item.source_path_hex else {}),
                    },
                )
                for item in result.items
            ]
        )
        custody.append_many(
            [
                (
                    "acquire_error" if error["severity"] == "error" else "acquire_warning",
                    {"run_id": run_id, **error},
                )
                for error in result.errors
            ]
        )
        staging = run_dir(case, run_id)
        staging.mkdir(parents=True, mode=0o700, exist_ok=True)  # exists when an earlier try stopped half-way
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
        # The files of each folder by name, and the folder tree: what a chat export can see (acquire.siblings).
        write_json(staging / "siblings.json", result.siblings.to_json())
        batch_files = []
        for number, batch in enumerate(make_batches(result.items)):
            path = staging / f"batch-{number:04d}.json"
            write_json(path, [item.to_json(with_siblings=False) for item in batch])
            batch_files.append(str(path))
        plan = RunPlan(str(case), run_id, batch_files, len(result.items), result.not_read)
        write_json(
            staging / PLANNED_NAME,
            {
                "batch_files": batch_files,
                "files_seen": plan.files_seen,
                "acquire_errors": plan.acquire_errors,
            },
        )
        return plan


def _already_parsed(
    items: list[FoundFile], known: dict[str, KnownFile], options_key: str
) -> dict[str, KnownFile]:
    """The items' contents this case parsed before with the current version of the same parser and the
    same parameters: nothing to parse again. Imports only the parsers these contents had."""
    from evidence.parsers.registry import REGISTRY

    already = {}
    for item in items:
        previous = known.get(item.sha256)
        if previous is None or previous.format is None or item.sha256 in already:
            continue
        try:
            parser = REGISTRY.get(previous.format)
        except KeyError:
            continue  # a parser this version no longer has: detect and parse afresh
        if previous.parse_key == parse_key(parser.name, parser.version, options_key):
            already[item.sha256] = previous
    return already


def make_batches(items: list[FoundFile]) -> list[list[FoundFile]]:
    """Group files into batches by count and bytes, never more than Airflow can map over."""
    per_batch = max(BATCH_FILES, -(-len(items) // MAX_BATCHES))
    batches: list[list[FoundFile]] = []
    current: list[FoundFile] = []
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
