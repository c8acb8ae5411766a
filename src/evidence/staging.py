"""Parquet staging: extraction writes here, the single loader reads from here into DuckDB.

Layout: CASE_DIR/staging/<run_id>/<batch>/<table>.parquet, one file per table a batch produced, with the
column types of schemas/*.sql. Passing folders rather than rows keeps Airflow XComs small.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from evidence.case import read_json, run_dir, write_json  # noqa: F401 - staging's JSON files
from evidence.db import arrow_schema, table_names
from evidence.extraction import Extraction


def write_extraction(extraction: Extraction, batch_dir: Path) -> Path:
    """Write every table of an extraction as Parquet; an unknown table name is a programming error."""
    tmp = batch_dir.with_name(batch_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True, mode=0o700)
    known = table_names()
    for table, rows in extraction.rows.items():
        if not rows:
            continue
        if table not in known:
            raise ValueError(f"staging table {table!r} is not defined in schemas/*.sql")
        schema = arrow_schema(table)
        data = pa.Table.from_pylist([_fit(row, schema) for row in rows], schema=schema)
        pq.write_table(data, tmp / f"{table}.parquet")
    if batch_dir.exists():
        shutil.rmtree(batch_dir)
    tmp.rename(batch_dir)
    return batch_dir


def _fit(row: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    """Fill columns a parser did not set with NULL, and reject columns the schema does not have."""
    extra = set(row) - set(schema.names)
    if extra:
        raise ValueError(f"columns not in the schema: {sorted(extra)}")
    return {name: row.get(name) for name in schema.names}


def staged_files(batch_dirs: list[Path], table: str) -> list[str]:
    return [str(p) for d in batch_dirs if (p := Path(d) / f"{table}.parquet").exists()]
