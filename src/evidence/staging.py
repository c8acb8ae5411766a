"""Parquet staging: extraction writes here, the single loader reads from here into DuckDB.

Layout: CASE_DIR/staging/<run_id>/<batch>/<table>.parquet, one file per table a batch produced, with the
column types of schemas/*.sql. Passing folders rather than rows keeps Airflow XComs small.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from evidence.case import read_json, run_dir, write_json  # noqa: F401 - staging's JSON files
from evidence.db import rows_to_table
from evidence.extraction import Extraction


def write_extraction(extraction: Extraction, batch_dir: Path) -> Path:
    """Write an extraction's rows and spilled parts as <table>-NNNNN.parquet files in batch_dir."""
    tmp = batch_dir.with_name(batch_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True, mode=0o700)
    for table in sorted(set(extraction.rows) | set(extraction.spilled)):
        parts = list(extraction.spilled.get(table, ()))
        for number, part in enumerate(parts):
            part.rename(tmp / f"{table}-{number:05d}.parquet")
        rows = extraction.rows.get(table)
        if rows:
            write_rows(table, rows, tmp / f"{table}-{len(parts):05d}.parquet")
    if extraction.spill_dir is not None and extraction.spill_dir.exists():
        shutil.rmtree(extraction.spill_dir)
    if batch_dir.exists():
        shutil.rmtree(batch_dir)
    tmp.rename(batch_dir)
    return batch_dir


def write_rows(table: str, rows: list[dict[str, Any]], path: Path) -> None:
    pq.write_table(rows_to_table(table, rows), path)


def staged_files(batch_dirs: list[Path], table: str) -> list[str]:
    """Every Parquet part of one table in the given batch folders."""
    return [str(p) for d in batch_dirs for p in sorted(Path(d).glob(f"{table}-*.parquet"))]


def staged_tables(batch_dirs: list[Path]) -> set[str]:
    return {p.name.rsplit("-", 1)[0] for d in batch_dirs for p in Path(d).glob("*-*.parquet")}
