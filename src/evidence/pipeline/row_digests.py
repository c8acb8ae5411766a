"""Digests of the rows extraction derived from each original, comparable between two case databases.

`evidence verify --reproduce` extracts the originals again into a scratch case and compares these digests
with the case's. Only what extraction wrote is compared: run ids (`loaded_in_run`) and what link steps set
afterwards (`duplicate_of`, actors, corroborations) are left out, and so are an identifier's `raw` form
and `flags`, which keep whichever file named the identifier first (an identifier is shared by the case).
Rows are digested one by one and each file's digest is taken over the sorted row digests: a stable order
whatever order the rows were loaded in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evidence.db import schema_catalog


@dataclass(frozen=True)
class DerivedTable:
    """A table extraction writes: how its rows find their source original, and a readable row label."""

    name: str
    rows: str  # FROM clause with the table as `t` and the source original's SHA-256 as column `src`
    label: str  # SQL naming one row for a reader (a locator where there is one)
    left_out: tuple[str, ...] = ("loaded_in_run",)


_BY_MESSAGE = "(SELECT t.*, m.source_sha256 AS src FROM {table} t JOIN messages m USING (message_id))"

DERIVED_TABLES: tuple[DerivedTable, ...] = (
    DerivedTable(
        "messages",
        "(SELECT t.*, t.source_sha256 AS src FROM messages t)",
        "t.source_locator",
        ("loaded_in_run", "duplicate_of"),
    ),
    DerivedTable("attachments", _BY_MESSAGE.format(table="attachments"), "t.locator"),
    DerivedTable(
        "message_identifiers",
        _BY_MESSAGE.format(table="message_identifiers"),
        "t.role || ' ' || t.identifier_id",
    ),
    DerivedTable(
        "identifiers",
        "(SELECT DISTINCT t.*, m.source_sha256 AS src FROM identifiers t "
        "JOIN message_identifiers mi USING (identifier_id) JOIN messages m USING (message_id))",
        "t.kind || ' ' || t.value",
        ("raw", "flags"),
    ),
    DerivedTable("images", "(SELECT t.*, t.sha256 AS src FROM images t)", "'image'"),
    DerivedTable("image_times", "(SELECT t.*, t.sha256 AS src FROM image_times t)", "t.source"),
    DerivedTable("ocr_lines", "(SELECT t.*, t.sha256 AS src FROM ocr_lines t)", "'OCR line ' || t.line_no"),
    DerivedTable(
        "ocr_regions", "(SELECT t.*, t.sha256 AS src FROM ocr_regions t)", "'OCR region ' || t.message_id"
    ),
)

# (table, source SHA-256) -> (rows, digest)
Digests = dict[tuple[str, str], tuple[int, str]]


def _compared_columns(con: Any, table: DerivedTable) -> list[tuple[str, str]]:
    """Columns of the schema the database has (an older case may lack newer ones), minus those left out."""
    have = {
        c
        for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ?",
            [table.name],
        ).fetchall()
    }
    return [
        (column, sql_type)
        for name, column, sql_type in schema_catalog().columns
        if name == table.name and column in have and column not in table.left_out
    ]


def _row_digest(columns: list[tuple[str, str]]) -> str:
    """SQL for one row's digest; times as microseconds since the epoch (no session time zone involved)."""
    parts = []
    for column, sql_type in columns:
        value = f't."{column}"'
        if sql_type.startswith("TIMESTAMP"):
            value = f"epoch_us({value})"
        parts.append(f'"{column}" := {value}')
    return f"md5(to_json(struct_pack({', '.join(parts)})))"


def compared_columns(con: Any, other: Any, table: DerivedTable) -> list[tuple[str, str]]:
    """Columns both databases have."""
    theirs = set(_compared_columns(other, table))
    return [c for c in _compared_columns(con, table) if c in theirs]


def file_digests(con: Any, sources: list[str], columns: dict[str, list[tuple[str, str]]]) -> Digests:
    """Rows and digest per derived table and source original, for the given originals."""
    digests: Digests = {}
    for table in DERIVED_TABLES:
        if not columns.get(table.name):
            continue
        rows = con.execute(
            f"SELECT src, count(*), sha256(string_agg(d, ',' ORDER BY d)) FROM ("
            f"SELECT t.src, {_row_digest(columns[table.name])} AS d FROM {table.rows} t "
            "WHERE t.src IN (SELECT unnest(?::VARCHAR[]))) GROUP BY src",
            [sources],
        ).fetchall()
        for src, count, digest in rows:
            digests[(table.name, src)] = (count, digest)
    return digests


def row_labels(con: Any, table_name: str, source: str, columns: list[tuple[str, str]]) -> dict[str, set[str]]:
    """Row digest -> labels of the rows with it, for one file's rows of one table (to name what differs)."""
    table = next(t for t in DERIVED_TABLES if t.name == table_name)
    found: dict[str, set[str]] = {}
    for digest, label in con.execute(
        f"SELECT {_row_digest(columns)}, coalesce(CAST({table.label} AS VARCHAR), '?') FROM {table.rows} t "
        "WHERE t.src = ?",
        [source],
    ).fetchall():
        found.setdefault(digest, set()).add(label)
    return found


def describe_difference(case_rows: dict[str, set[str]], scratch_rows: dict[str, set[str]]) -> str:
    """How one table's rows of one file differ, naming a few rows (by locator where there is one)."""
    only_case = {label for d, labels in case_rows.items() if d not in scratch_rows for label in labels}
    only_scratch = {label for d, labels in scratch_rows.items() if d not in case_rows for label in labels}
    changed = sorted(only_case & only_scratch)
    parts = []
    if changed:
        parts.append(f"{len(changed)} row(s) differ ({_some(changed)})")
    if only_case - only_scratch:
        extra = sorted(only_case - only_scratch)
        parts.append(f"{len(extra)} row(s) in the case that extraction does not give ({_some(extra)})")
    if only_scratch - only_case:
        missing = sorted(only_scratch - only_case)
        parts.append(f"{len(missing)} row(s) extraction gives that the case lacks ({_some(missing)})")
    return "; ".join(parts) or "the same rows, in different numbers"


def _some(labels: list[str], limit: int = 3) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")
