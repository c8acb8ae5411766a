"""The timeline as rows, CSV and JSON lines: what analysts and advocates read first."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from evidence.db import query_rows

TIMELINE_COLUMNS = (
    "occurred_at_utc",
    "occurred_at_local",
    "platform",
    "kind",
    "actor",
    "suggested_actor",
    "sender",
    "text",
    "occurrences",
    "flags",
    "source_sha256",
    "source_locator",
    "event_id",
)
TIMELINE_SQL = f"""
SELECT {", ".join(TIMELINE_COLUMNS)} FROM timeline
ORDER BY occurred_at_utc NULLS LAST, source_sha256, source_locator
"""

# Spreadsheet programs run cells starting with these as formulas.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")


def csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in exported text; raw values stay untouched in DuckDB."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


def timeline_rows(con: Any) -> tuple[list[str], list[tuple]]:
    return query_rows(con, TIMELINE_SQL)


def write_csv(columns: list[str], rows: list[tuple], out: IO[str]) -> None:
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_safe(_plain(v)) for v in row])


def write_jsonl(columns: list[str], rows: list[tuple], out: IO[str]) -> None:
    for row in rows:
        record = {
            c: (v.isoformat() if isinstance(v, datetime) else v) for c, v in zip(columns, row, strict=True)
        }
        out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")


def iter_display(columns: list[str], rows: list[tuple], width: int = 80) -> Iterator[list[str]]:
    """Rows as short strings for a terminal table."""
    for row in rows:
        cells = []
        for value in row:
            text = "" if value is None else str(_plain(value))
            text = " ".join(text.split())
            cells.append(text if len(text) <= width else text[: width - 1] + "…")
        yield cells
