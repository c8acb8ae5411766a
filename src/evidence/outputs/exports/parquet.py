"""Parquet: the case's tables and views, one file each, for analysts (DuckDB, pandas, Spark, R).

Every table and view of the case database is written, so a new relation is exported without a change
here; each file is the relation's rows as DuckDB holds them (COPY ... (FORMAT parquet)). The folder must be
new or empty: two exports mixed in one folder could not be told apart. --redact is refused: this is the
analyst's full copy, and a pattern-based mask over every column (identifier tables, ids derived from
values, raw headers, file paths) would look safe without being so; the incident log, Timesketch and CASE
exports are the ones redacted for handing over.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

from evidence.outputs.exports.common import ExportError, ExportResult
from evidence.outputs.redact import Redactor

RELATIONS_SQL = """
SELECT table_name, 'table' AS kind FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary
UNION ALL
SELECT view_name, 'view' FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal AND NOT temporary
ORDER BY 1
"""


def relations(con: Any) -> list[tuple[str, str]]:
    """(name, table|view) of every relation an analyst can query, by name."""
    return [(name, kind) for name, kind in con.execute(RELATIONS_SQL).fetchall()]


def export(con: Any, path: Path, redactor: Redactor, case_name: str = "case") -> ExportResult:
    if redactor.enabled:
        raise ExportError(
            "--redact is not available for parquet: it is the analyst's full copy of the case. Redacted "
            "outputs are incident-log, timesketch and case-uco."
        )
    folder = Path(path)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ExportError(
            f"{folder} exists and is not an empty folder: give a new folder for the Parquet files"
        )
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    counts: dict[str, int] = {}
    try:
        for name, _kind in relations(con):
            target = staging / f"{name}.parquet"
            literal = str(target).replace("'", "''")
            # COPY answers with the number of rows it wrote
            counts[name] = con.execute(
                f"COPY (SELECT * FROM \"{name}\") TO '{literal}' (FORMAT parquet)"
            ).fetchall()[0][0]
        for child in staging.iterdir():
            with open(child, "rb") as handle:
                os.fsync(handle.fileno())
        if folder.exists():
            folder.rmdir()  # empty (checked above)
        os.replace(staging, folder)
        with contextlib.suppress(OSError):  # make the rename itself durable
            fd = os.open(folder.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    paths = [folder / f"{name}.parquet" for name in sorted(counts)]
    return ExportResult(paths=paths, rows=sum(counts.values()), details={"rows_per_relation": counts})
