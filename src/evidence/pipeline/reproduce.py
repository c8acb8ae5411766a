"""`evidence verify --reproduce`: extract every original again and compare the rows with the case's.

Each run that parsed a file recorded the parser, its version and the run's parameters (run_files,
ingest_runs.parameters) and kept its plan (staging/<run_id>/: where each file was found and which files lay
next to it). The originals are extracted again with those, by the pipeline's own functions
(pipeline/extract.py) into a scratch case in a temporary folder, and loaded run by run in the case's order
with the loader's own insert (so a row a later run could not add is left out there too). Then the digests
of each file's derived rows (pipeline/row_digests.py) are compared with the case's.

The case is only read: the scratch store writes bytes found inside originals (attachments) to the scratch
folder and reads the case's originals in place, and only those whose hash verify has just checked. A file
is not compared blindly when that cannot be right: a parser version other than the recorded one, recorded
parameters that do not give the recorded parse key, a changed original or a plan no longer kept are
reported as "not reproducible", with the reason.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from evidence.acquire.found_file import ARCHIVE_FORMAT, FoundFile
from evidence.acquire.siblings import SiblingIndex
from evidence.acquire.store import OriginalsStore
from evidence.case import read_json, run_dir
from evidence.parsers.context import ParseOptions, parse_key
from evidence.pipeline.parameters import IngestParameters

EQUAL, DIFFERENT, NOT_REPRODUCIBLE = "equal", "different", "not reproducible"

# on_progress(done, total, source_path)
Progress = Callable[[int, int, str], None]


@dataclass
class FileOutcome:
    """What reproduction found for one original."""

    sha256: str
    source_path: str
    status: str = EQUAL
    tables: list[str] = field(default_factory=list)  # tables whose rows differ
    reasons: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "source_path": self.source_path,
            "tables": self.tables,
            "why": self.reasons,
        }


@dataclass
class ReproduceResult:
    files: list[FileOutcome] = field(default_factory=list)

    def with_status(self, status: str) -> list[FileOutcome]:
        return [f for f in self.files if f.status == status]

    @property
    def re_extracted(self) -> int:
        return len(self.files) - len(self.with_status(NOT_REPRODUCIBLE))

    @property
    def ok(self) -> bool:
        return not self.with_status(DIFFERENT)

    def summary(self) -> dict[str, Any]:
        """The record kept in the custody log."""
        different, not_reproducible = self.with_status(DIFFERENT), self.with_status(NOT_REPRODUCIBLE)
        return {
            "files_re_extracted": self.re_extracted,
            "equal": len(self.with_status(EQUAL)),
            "different": len(different),
            "not_reproducible": len(not_reproducible),
            "different_files": [f.record() for f in different[:100]],
            "not_reproducible_files": [f.record() for f in not_reproducible[:100]],
        }


class ScratchStore(OriginalsStore):
    """The scratch case's store: bytes it is given are written under the scratch folder; the case's
    originals are read in place (never written), and only those whose hash has just been checked."""

    def __init__(self, root: Path, case_store: OriginalsStore, intact: set[str]) -> None:
        super().__init__(root)
        self.case_store = case_store
        self.intact = intact

    def path_for(self, sha256: str) -> Path:
        own = super().path_for(sha256)
        if sha256 in self.intact and not own.exists():
            return self.case_store.path_for(sha256)
        return own


@dataclass(frozen=True)
class Recorded:
    """A file a run parsed, as run_files recorded it."""

    run_id: str
    sha256: str
    source_path: str
    format: str | None
    parser: str | None
    parser_version: str | None
    parse_key: str | None
    derived: bool


def reproduce_case(
    case: Path, intact: set[str], scratch_parent: Path | None = None, on_progress: Progress | None = None
) -> ReproduceResult:
    """Extract every parsed original again into a scratch case and compare each file's derived rows.

    The case is held open for reading throughout (a writer waits), so the rows compared are those of the
    runs read at the start."""
    from evidence.db import open_case

    with open_case(case) as con:
        # the order the runs were loaded in: a run's finish follows its load (an interrupted run has none)
        runs = con.execute(
            "SELECT run_id, parameters FROM ingest_runs ORDER BY coalesce(finished_at, started_at), run_id"
        ).fetchall()
        recorded = [
            Recorded(*row)
            for row in con.execute(
                "SELECT run_id, sha256, source_path, format, parser, parser_version, parse_key, "
                "derived_from_sha256 IS NOT NULL FROM run_files WHERE status = 'parsed' "
                f"AND parser IS DISTINCT FROM '{ARCHIVE_FORMAT}' ORDER BY source_path"
            ).fetchall()
        ]
        scratch = Path(tempfile.mkdtemp(prefix="evidence-reproduce-", dir=scratch_parent))
        try:
            return _reproduce(con, case, scratch, runs, recorded, intact, on_progress)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


CHUNK_FILES = 16  # files extracted together: the images among them are OCRed in a pool, as in an ingest


def _reproduce(
    case_con: Any,
    case: Path,
    scratch: Path,
    runs: list[tuple[str, str | None]],
    recorded: list[Recorded],
    intact: set[str],
    on_progress: Progress | None,
) -> ReproduceResult:
    from evidence.db import open_case
    from evidence.pipeline.load import LOADED_TABLES_ORDER
    from evidence.pipeline.staging import load_parts, staged_files, staged_tables

    outcomes: dict[str, FileOutcome] = {}
    for item in recorded:
        outcomes.setdefault(item.sha256, FileOutcome(item.sha256, item.source_path))
    store = ScratchStore(scratch / "originals", OriginalsStore(case / "originals"), intact)
    store.ensure()
    top_level = [r for r in recorded if not r.derived]
    by_run = {(r.run_id, r.sha256): r for r in recorded}
    extracted: set[tuple[str, str]] = set()  # (run, sha256) read again as that run read it
    done = 0

    def advance(count: int, source_path: str) -> None:
        nonlocal done
        done += count
        if on_progress:
            on_progress(done, len(top_level), source_path)

    with open_case(scratch, write=True) as scratch_con:
        for run_id, parameters in runs:
            options = _options(parameters)
            plan = _plan(case, run_id)
            ready: list[FoundFile] = []
            for item in (r for r in top_level if r.run_id == run_id):
                reason = _cannot_reproduce(item, plan, intact, store, options)
                if reason is None:
                    ready.append(plan[(item.sha256, item.source_path)])
                else:
                    _not_reproducible(outcomes[item.sha256], f"run {run_id}: {reason}")
                    advance(1, item.source_path)
            batch_dirs: list[Path] = []
            for number in range(0, len(ready), CHUNK_FILES):
                chunk = ready[number : number + CHUNK_FILES]
                batch_dir = scratch / "staging" / run_id / f"batch-{number:06d}"
                for row in _extract(chunk, store, run_id, options, batch_dir):
                    _check_outcome(row, by_run.get((run_id, row["sha256"])), outcomes, extracted)
                batch_dirs.append(batch_dir)
                advance(len(chunk), chunk[-1].source_path)
            staged = staged_tables(batch_dirs) - {"run_files", "ingest_errors"}
            ordered = [t for t in LOADED_TABLES_ORDER if t in staged] + sorted(
                staged - set(LOADED_TABLES_ORDER)
            )
            scratch_con.execute("BEGIN TRANSACTION")
            for table in ordered:
                load_parts(scratch_con, table, staged_files(batch_dirs, table), run_id)
            scratch_con.execute("COMMIT")
        for item in recorded:
            outcome = outcomes[item.sha256]
            if (item.run_id, item.sha256) not in extracted and outcome.status != NOT_REPRODUCIBLE:
                _not_reproducible(
                    outcome, f"run {item.run_id}: the file it was found in could not be re-extracted"
                )
        _compare(case_con, scratch_con, [o for o in outcomes.values() if o.status == EQUAL])
    return ReproduceResult(sorted(outcomes.values(), key=lambda o: (o.source_path, o.sha256)))


def _options(parameters: str | None) -> ParseOptions:
    """The parse options of a run from its recorded parameters."""
    recorded = json.loads(parameters) if parameters else {}
    known = {f.name for f in fields(IngestParameters)}
    values = {k: v for k, v in recorded.items() if k in known}
    values.setdefault("sources", [])
    values.setdefault("case_dir", "")
    return IngestParameters(**values).options()


def _plan(case: Path, run_id: str) -> dict[tuple[str, str], FoundFile]:
    """The files of a run's plan by (sha256, source path), each with the view of the files next to it."""
    staging = run_dir(case, run_id)
    planned: dict[tuple[str, str], FoundFile] = {}
    if not (staging / "siblings.json").is_file():
        return planned
    siblings = SiblingIndex.from_json(read_json(staging / "siblings.json"))
    for batch in sorted(staging.glob("batch-*.json")):
        for data in read_json(batch):
            item = FoundFile.from_json(data)
            item.siblings = siblings.view(item.group)
            planned.setdefault((item.sha256, item.source_path), item)
    return planned


def _cannot_reproduce(
    item: Recorded,
    plan: dict[tuple[str, str], FoundFile],
    intact: set[str],
    store: OriginalsStore,
    options: ParseOptions,
) -> str | None:
    """Why this file cannot be extracted as it was (None when it can): said rather than compared blindly."""
    from evidence.parsers.registry import REGISTRY
    from evidence.pipeline.extract import identify

    if item.sha256 not in intact:
        return "the original is missing or has changed (see above)"
    planned = plan.get((item.sha256, item.source_path))
    if planned is None:
        return (
            f"staging/{item.run_id}/ no longer holds the run's plan, so where the file was found is unknown"
        )
    planned.mime = planned.format = planned.skip_reason = None
    try:
        found = identify(planned, store)
    except Exception as exc:
        return f"could not identify the file again: {exc}"
    planned.mime, planned.format = found.mime, found.format
    if found.format != item.format:
        return f"recorded as format {item.format}, identified now as {found.format or 'nothing known'}"
    parser = REGISTRY.get(found.format)
    if (parser.name, parser.version) != (item.parser, item.parser_version):
        return (
            f"read by parser {item.parser} version {item.parser_version}; this tool has version "
            f"{parser.version}, so the rows could differ for that reason alone"
        )
    if item.parse_key is None:
        return "its run recorded no parse key, so the parameters it was read with are unknown"
    if parse_key(parser.name, parser.version, options.key()) != item.parse_key:
        return f"the run's recorded parameters do not give its recorded parse key ({item.parse_key})"
    return None


def _extract(
    items: list[FoundFile], store: OriginalsStore, run_id: str, options: ParseOptions, batch_dir: Path
) -> list[dict[str, Any]]:
    """Planned files (and the files found inside them) through the pipeline's extraction into staging;
    returns the run_files rows they gave."""
    from evidence.parsers.rows import ParsedRows
    from evidence.pipeline.extract import extract_items
    from evidence.pipeline.staging import write_extraction

    batch_dir.parent.mkdir(parents=True, exist_ok=True)
    out = ParsedRows(spill_dir=batch_dir.with_name(batch_dir.name + ".spill"))
    extraction = extract_items(items, store=store, run_id=run_id, options=options, out=out)
    rows = list(extraction.rows.get("run_files", []))
    write_extraction(extraction, batch_dir)
    return rows


def _check_outcome(
    row: dict[str, Any],
    recorded: Recorded | None,
    outcomes: dict[str, FileOutcome],
    extracted: set[tuple[str, str]],
) -> None:
    """A re-extracted file's status, parser and version against what its run recorded."""
    if recorded is None:
        return  # read again now although the run did not parse it (e.g. skipped then): nothing to compare
    outcome = outcomes[recorded.sha256]
    extracted.add((recorded.run_id, recorded.sha256))
    if row["status"] != "parsed":
        outcome.status = DIFFERENT
        outcome.tables.append("run_files")
        outcome.reasons.append(
            f"run {recorded.run_id}: parsed then, {row['status']} now: {row['status_reason']}"
        )
    elif (row["parser"], row["parser_version"]) != (recorded.parser, recorded.parser_version):
        _not_reproducible(
            outcome,
            f"run {recorded.run_id}: read by parser {recorded.parser} version {recorded.parser_version}; "
            f"now by {row['parser']} version {row['parser_version']}",
        )


def _not_reproducible(outcome: FileOutcome, reason: str) -> None:
    if outcome.status != DIFFERENT:
        outcome.status = NOT_REPRODUCIBLE
    outcome.reasons.append(reason)


def _compare(case_con: Any, scratch_con: Any, outcomes: list[FileOutcome]) -> None:
    """Digests of each file's derived rows, case against scratch; a file whose digests differ names the
    tables and rows."""
    from evidence.pipeline.row_digests import (
        DERIVED_TABLES,
        compared_columns,
        describe_difference,
        file_digests,
        row_labels,
    )

    sources = [o.sha256 for o in outcomes]
    columns = {t.name: compared_columns(case_con, scratch_con, t) for t in DERIVED_TABLES}
    theirs = file_digests(case_con, sources, columns)
    ours = file_digests(scratch_con, sources, columns)
    for outcome in outcomes:
        for table in DERIVED_TABLES:
            key = (table.name, outcome.sha256)
            if theirs.get(key) == ours.get(key):
                continue
            outcome.status = DIFFERENT
            outcome.tables.append(table.name)
            case_rows = row_labels(case_con, table.name, outcome.sha256, columns[table.name])
            scratch_rows = row_labels(scratch_con, table.name, outcome.sha256, columns[table.name])
            outcome.reasons.append(f"{table.name}: {describe_difference(case_rows, scratch_rows)}")
