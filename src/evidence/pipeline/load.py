"""Load (the single writer): a run's Parquet staging into the case database, then the link steps, custody and summary."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evidence.acquire.custody import CustodyLog, run_finished
from evidence.case import read_json, run_dir
from evidence.pipeline.early_load import EarlyLoad
from evidence.pipeline.snapshot import publish_for_viewers

LOADED_TABLES_ORDER = ("messages", "attachments", "identifiers", "message_identifiers", "images")


def load_run(
    case_dir: str, run_id: str, batch_dirs: Iterable[str], early: EarlyLoad | None = None
) -> dict[str, Any]:
    """Load a run's staging into DuckDB (idempotently), log outcomes in custody, return the summary.

    With `early`, the transaction an EarlyLoader began (some messages already inserted) is finished.
    """
    from evidence.analysis.steps import run_links
    from evidence.db import open_case, to_json

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
        # The rows just committed that fill no whole row group stay in DuckDB's memory until a checkpoint
        # (about 45 MB per 30,000 mails), where the link steps need it: written out now rather than when
        # the viewers' snapshot is published.
        con.execute("CHECKPOINT")
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
        # key dates detected by this run's link steps (stop requests in the owner's messages)
        detected = con.execute(
            "SELECT e.event_id, e.kind, strftime(e.at_utc, '%Y-%m-%dT%H:%M:%SZ'), e.message_id, e.note "
            "FROM case_events e WHERE e.source = 'detected' AND e.recorded_at >= ("
            "SELECT started_at FROM ingest_runs WHERE run_id = ?) ORDER BY e.at_utc, e.event_id",
            [run_id],
        ).fetchall()
        published = publish_for_viewers(con, case)
    custody = CustodyLog(case / "custody.log", plan["parameters"].get("examiner"))
    if run_finished(custody.path, run_id):
        # The same run loaded again (a retried or re-run task): its rows were kept unique by their keys,
        # and its per-file entries are logged already; only the repeat itself is worth an entry.
        custody.append_many(
            [
                ("ingest_load_repeated", {"run_id": run_id, "summary": summary}),
                *[(action, {"run_id": run_id, **details}) for action, details in published],
            ]
        )
        return summary
    # One write and one fsync for the run's closing entries, in this order.
    custody.append_many(
        [
            *[
                (
                    "key_date_detected",
                    {"run_id": run_id, "event_id": e, "kind": k, "at_utc": at, "message_id": m, "note": note},
                )
                for e, k, at, m, note in detected
            ],
            *[
                ("key_date_retired", {"run_id": run_id, **retired})
                for retired in links.get("key_dates", {}).get("retired", [])
            ],
            *[
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
            ],
            *[(action, {"run_id": run_id, **details}) for action, details in published],
            ("ingest_finished", {"run_id": run_id, "summary": summary}),
        ]
    )
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

    `preloaded` parts were already inserted in this transaction by an EarlyLoader, which also counted the
    messages there were `before` it began.
    """
    from evidence.db import to_json
    from evidence.pipeline.staging import (
        insert_json_parts,
        load_parts,
        staged_files,
        staged_tables,
    )

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
    # the case's time zone (night contact, key dates without an offset) and phone region (numbers typed or
    # redacted later): the latest run's
    for key, value in (
        ("tz", plan["parameters"].get("tz") or "UTC"),
        ("region", plan["parameters"].get("region")),
    ):
        con.execute(
            "INSERT INTO case_settings VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, (value or "GB").upper() if key == "region" else value],
        )
    if before is None:
        before = con.execute("SELECT count(*) FROM messages").fetchall()[0][0]
    run_files = staged_files(dirs, "run_files")
    if run_files:  # staged by an earlier version as Parquet
        con.execute(
            "INSERT INTO run_files BY NAME SELECT * FROM read_parquet(?, union_by_name = true)", [run_files]
        )
    json_run_files = staged_files(dirs, "run_files", "jsonl")
    if json_run_files:
        insert_json_parts(con, "run_files", json_run_files)
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
        files = [f for f in staged_files(dirs, table) if f not in preloaded]
        if files:
            load_parts(con, table, files, run_id)
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
        "SELECT source_path, error FROM ingest_errors WHERE run_id = ? AND stage = 'acquire' AND severity = 'error' "
        "ORDER BY source_path",
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
