"""ParsedRows of one batch of stored files: detect, parse, and account for every file, never raising
for one file's problem. A full disk is not one file's problem: it raises DiskFullError and the run stops.

Each file gets exactly one run_files row (parsed, unsupported, failed or skipped). A parser exception, or
a row of the file that cannot be staged (ParsedRows.seal, or a spill while the parser runs), becomes a
`failed` status and an ingest_errors row for that file; the batch goes on. Bytes found inside a file
(attachments, MMS parts) are stored as originals and parsed in turn, to a bounded depth.
"""

from __future__ import annotations

import logging
import os
import shutil
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from evidence.acquire.found_file import ARCHIVE_FORMAT, FoundFile
from evidence.acquire.siblings import SiblingIndex
from evidence.acquire.store import OriginalsStore
from evidence.case import read_json, run_dir
from evidence.errors import DiskFullError, is_disk_full
from evidence.parsers.context import ParseContext, ParseOptions, parse_key
from evidence.parsers.registry import REGISTRY
from evidence.parsers.rows import FROM_DAMAGED_MEMBER, MAX_BODY_CHARS, ZEROED, ParsedRows
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.stops import stops_recorded

log = logging.getLogger(__name__)

MAX_DERIVED_DEPTH = 3


def identify(item: FoundFile, store: OriginalsStore) -> FoundFile:
    """Fill mime and format from the stored bytes."""
    from evidence.parsers.detect import detect, sample_file  # libmagic: only when a file needs it

    sample = sample_file(store.path_for(item.sha256), item.name, item.size_bytes)
    parser = detect(sample)
    return replace(item, mime=sample.mime, format=parser.name if parser else None)


def extract_items(
    items: list[FoundFile],
    *,
    store: OriginalsStore,
    run_id: str,
    options: ParseOptions,
    out: ParsedRows | None = None,
    per_message: bool = True,
) -> ParsedRows:
    """Extract a batch; returns the rows to stage. Never raises for a problem with one file.

    per_message=False leaves out the per-message work (parsers/enrich.py): parser tests see exactly what
    the parser reported."""
    out = out or ParsedRows()
    queue = list(items)
    # OCR the batch's images in a process pool first (one tesseract per core); the image parser takes
    # the results. Never raises: images it could not prefetch are read by the parser itself.
    try:
        if any(item.format == "image" for item in queue):
            from evidence.images.ocr import prefetch_items

            prefetch_items(queue, store, options.ocr_lang)
    except Exception as exc:
        log.warning("OCR prefetch failed, images will be read one by one: %s", exc)
    while queue:
        item = queue.pop(0)
        derived = extract_one(
            item, store=store, run_id=run_id, options=options, out=out, per_message=per_message
        )
        queue.extend(derived)
    out.flush()
    return out


def extract_one(
    item: FoundFile,
    *,
    store: OriginalsStore,
    run_id: str,
    options: ParseOptions,
    out: ParsedRows,
    per_message: bool = True,
) -> list[FoundFile]:
    """Extract one file into out; returns work items for bytes found inside it."""
    row: dict[str, Any] = {
        "run_id": run_id,
        "sha256": item.sha256,
        "md5": item.md5,
        "size_bytes": item.size_bytes,
        "source_path": item.source_path,
        "name": item.name,
        "mime": item.mime,
        "format": item.format,
        "status": "unsupported",
        "status_reason": None,
        "parser": None,
        "parser_version": None,
        "parse_key": None,
        "derived_from_sha256": item.derived_from_sha256,
        "container_sha256": item.container_sha256,
        "modified_at": datetime.fromisoformat(item.modified_at) if item.modified_at else None,
        "is_new": item.is_new,
        "messages": 0,
        "warnings": 0,
        "source_path_hex": item.source_path_hex,
    }
    if item.format == ARCHIVE_FORMAT:
        row.update(mime="application/zip", status="parsed", parser=ARCHIVE_FORMAT, parser_version="1")
        row["status_reason"] = item.skip_reason or "archive: members stored and listed separately"
        out.add("run_files", row)
        return []
    if item.mime is None:
        try:
            item = identify(item, store)
            row["mime"], row["format"] = item.mime, item.format
        except Exception as exc:
            _fail(out, row, item, "detect", f"could not identify the file: {exc}")
            return []
    if item.format is None:
        row["status_reason"] = f"no parser recognises this content ({item.mime})"
        out.add("run_files", row)
        return []
    parser = REGISTRY.get(item.format)
    row.update(
        parser=parser.name,
        parser_version=parser.version,
        parse_key=parse_key(parser.name, parser.version, options.key()),
    )
    if item.skip_reason:
        row["status"], row["status_reason"] = "skipped", item.skip_reason
        out.add("run_files", row)
        return []
    ctx = ParseContext(
        run_id=run_id,
        sha256=item.sha256,
        path=store.path_for(item.sha256),
        source_path=item.source_path,
        name=item.name,
        mime=item.mime or "application/octet-stream",
        options=options,
        store=store,
        out=ParsedRows(
            spill_dir=out.spill_dir / f"file-{item.sha256[:16]}" if out.spill_dir else None,
            on_part=out.on_part,
            enrich=_enricher(options.region) if per_message else None,
            file_flags=(FROM_DAMAGED_MEMBER,) if item.damaged_in_archive else (),
        ),
        parser_name=parser.name,
        siblings=item.siblings,
        modified_at=item.modified_at,
        container_sha256=item.container_sha256,
    )
    try:
        parser.parse(ctx)
    except Exception as exc:
        _stop_if_disk_full(exc, item)
        log.warning("parser %s failed on %s: %s", parser.name, item.source_path, exc)
        _parse_failed(out, ctx, row, item, f"{parser.name} could not read the file: {_detail(exc)}")
        return _derived_items(ctx, item, store)
    try:
        ctx.out.seal()
    except Exception as exc:
        _stop_if_disk_full(exc, item)
        log.warning("rows of %s could not be staged: %s", item.source_path, exc)
        _parse_failed(out, ctx, row, item, f"rows read by {parser.name} could not be staged: {_detail(exc)}")
        return _derived_items(ctx, item, store)
    if ctx.retyped:
        ctx.warn(
            f"{ctx.retyped} value(s) of another type where the format has text (a number, a list: a damaged "
            "or edited file, or an unfamiliar exporter version) were kept as their JSON text"
        )
    if ctx.out.repaired:
        ctx.warn(
            f"{ctx.out.repaired} row(s) held text with lone UTF-16 surrogates (e.g. half an emoji); each was "
            "replaced by U+FFFD (messages among them flagged decode_errors)"
        )
    if ctx.out.truncated:
        ctx.warn(
            f"{ctx.out.truncated} message(s) longer than {MAX_BODY_CHARS:,} characters were cut to that "
            "length (flagged body_truncated); the whole text stays in the stored original"
        )
    if ctx.out.zeroed:
        ctx.warn(
            f"{ctx.out.zeroed} message(s) hold runs of zero bytes, where the file is damaged: what was written "
            "there is lost, and the text after a run may be the end of another message, perhaps by another "
            f"person, joined to this one (flagged {ZEROED})"
        )
    out.absorb(ctx.out)
    row.update(status="parsed", messages=ctx.message_count, warnings=ctx.warning_count)
    out.add("run_files", row)
    return _derived_items(ctx, item, store)


def _stop_if_disk_full(exc: Exception, item: FoundFile) -> None:
    """A write that found the disk full is no fault of the file being read: stop the run, say why."""
    if is_disk_full(exc):
        raise DiskFullError(
            f"the disk holding the case is full: the rows read from {item.source_path} could not be staged"
        ) from exc


def _enricher(region: str) -> Callable[[Any], Any]:
    """The per-message work of extraction (parsers/enrich.py), bound to the run's phone region."""
    from evidence.parsers.enrich import enrich_messages

    return lambda messages, phrases=True: enrich_messages(messages, region, phrases)


def _detail(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _parse_failed(
    out: ParsedRows, ctx: ParseContext, row: dict[str, Any], item: FoundFile, message: str
) -> None:
    """A file whose parser raised or whose rows cannot be staged: failed, its rows dropped, warnings kept.

    Rows read before the failure are not loaded: a half-read file would look complete in a timeline.
    """
    warnings = ctx.out.rows.get("ingest_errors", [])
    try:
        from evidence.db import rows_to_table

        rows_to_table("ingest_errors", warnings)  # checked here, or they would fail the batch later
    except Exception:
        message += f" ({len(warnings)} warning(s) recorded before the failure could not be kept)"
        warnings = []
    for warning in warnings:
        out.add("ingest_errors", warning)
    if ctx.out.spill_dir is not None:
        shutil.rmtree(ctx.out.spill_dir, ignore_errors=True)
    row["warnings"] = ctx.warning_count
    _fail(out, row, item, "parse", message)


def _fail(out: ParsedRows, row: dict[str, Any], item: FoundFile, stage: str, message: str) -> None:
    row.update(status="failed", status_reason=message)
    out.add("run_files", row)
    out.add(
        "ingest_errors",
        {
            "run_id": row["run_id"],
            "source_path": item.source_path,
            "sha256": item.sha256,
            "stage": stage,
            "error": message,
            "severity": "error",
            "locator": None,
        },
    )


def _derived_items(ctx: ParseContext, parent: FoundFile, store: OriginalsStore) -> list[FoundFile]:
    items = []
    for derived in ctx.derived:
        item = FoundFile(
            sha256=derived.sha256,
            md5=derived.md5,
            size_bytes=derived.size_bytes,
            source_path=derived.source_path,
            name=derived.name,
            derived_from_sha256=derived.parent_sha256,
            container_sha256=parent.container_sha256,
            depth=parent.depth + 1,
            source_path_hex=(
                parent.source_path_hex
                + derived.source_path[len(parent.source_path) :].encode("utf-8", "surrogatepass").hex()
                if parent.source_path_hex and derived.source_path.startswith(parent.source_path)
                else None
            ),
        )
        if item.depth > MAX_DERIVED_DEPTH:
            item.format = None
            item.mime = derived.declared_mime or "application/octet-stream"
        items.append(item)
    return items


def parse_path(
    path: Path,
    *,
    options: ParseOptions | None = None,
    store_root: Path,
    run_id: str = "test",
    per_message: bool = True,
) -> ParsedRows:
    """Store one file and extract it: the shortest path from a file to rows (used by tests and tools)."""
    store = OriginalsStore(store_root)
    blob = store.put_file(path)
    item = FoundFile(blob.sha256, blob.md5, blob.size_bytes, str(path), path.name)
    return extract_items(
        [item], store=store, run_id=run_id, options=options or ParseOptions(), per_message=per_message
    )


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
    case = Path(case_dir)
    plan = read_json(run_dir(case, run_id) / "plan.json")
    with stops_recorded(case, run_id, plan["parameters"].get("examiner"), "extract"):
        return _extract_batch(case, run_id, plan, batch_file, on_part, moved)


def _extract_batch(
    case: Path,
    run_id: str,
    plan: dict[str, Any],
    batch_file: str,
    on_part: Callable[[str, Path], None] | None,
    moved: dict[Path, Path] | None,
) -> str:
    from evidence.pipeline.staging import write_extraction  # imports the database layer

    options = IngestParameters(**plan["parameters"]).options()
    siblings = SiblingIndex.from_json(read_json(run_dir(case, run_id) / "siblings.json"))
    items = [FoundFile.from_json(d) for d in read_json(Path(batch_file))]
    for item in items:
        item.siblings = siblings.view(item.group)
    store = OriginalsStore(case / "originals")
    batch_dir = Path(batch_file).with_suffix("")
    spill = batch_dir.with_name(batch_dir.name + ".spill")
    extraction = extract_items(
        items,
        store=store,
        run_id=run_id,
        options=options,
        out=ParsedRows(spill_dir=spill, on_part=on_part),
    )
    write_extraction(extraction, batch_dir, moved)
    return str(batch_dir)


def share_cores(processes: int) -> None:
    """ParsedRows-pool initializer: each process OCRs images with its share of the cores (its own OCR
    pool would otherwise start one tesseract per core in every process); see ocr.default_workers."""
    os.environ["EVIDENCE_OCR_SHARED_BY"] = str(processes)
