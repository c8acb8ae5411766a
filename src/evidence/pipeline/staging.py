"""Parquet staging: extraction writes here, the single loader reads from here into DuckDB.

Layout: CASE_DIR/staging/<run_id>/<batch>/<table>-NNNNN.parquet, the parts of each table a batch produced,
with the column types of schemas/*.sql. Passing folders rather than rows keeps Airflow XComs small.
`run_files` (one row per file) is written as JSON lines instead: a run whose files were all parsed before
stages nothing else, and then never needs pyarrow (a tenth of a second of a re-ingest's start-up).
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from evidence.case import read_json, run_dir, write_json  # noqa: F401 - staging's JSON files
from evidence.db import KEY_DERIVED_FROM, arrow_schema, unique_key
from evidence.parsers.rows import ParsedRows, write_rows
from evidence.text import repair_value

JSON_TABLES = frozenset({"run_files"})


def write_extraction(extraction: ParsedRows, batch_dir: Path, moved: dict[Path, Path] | None = None) -> Path:
    """Write an extraction's rows and spilled parts as <table>-NNNNN.parquet files in batch_dir.

    `moved`, when given, receives where each spilled part ended up (spilled path -> final path).
    """
    tmp = batch_dir.with_name(batch_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True, mode=0o700)
    for table in sorted(set(extraction.rows) | set(extraction.spilled)):
        parts = list(extraction.spilled.get(table, ()))
        for number, part in enumerate(parts):
            name = f"{table}-{number:05d}.parquet"
            part.rename(tmp / name)
            if moved is not None:
                moved[part] = batch_dir / name
        rows = extraction.rows.get(table)
        if rows and table in JSON_TABLES:
            write_json_rows(rows, tmp / f"{table}-{len(parts):05d}.jsonl")
        elif rows:
            write_rows(table, rows, tmp / f"{table}-{len(parts):05d}.parquet")
    if extraction.spill_dir is not None and extraction.spill_dir.exists():
        shutil.rmtree(extraction.spill_dir)
    if batch_dir.exists():
        shutil.rmtree(batch_dir)
    tmp.rename(batch_dir)
    return batch_dir


def write_json_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """Rows as JSON lines; text UTF-8 cannot hold (lone surrogates) becomes U+FFFD, as in Parquet parts."""
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            fixed = {key: repair_value(value)[0] for key, value in row.items()}
            out.write(json.dumps(fixed, ensure_ascii=False, default=_json_value) + "\n")


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be staged as JSON")


# rows per INSERT: binding one statement of 500 rows x 20 cast parameters took about 140 MB for a moment
JSON_INSERT_ROWS = 50


def insert_json_parts(con: Any, table: str, files: list[str]) -> None:
    """Insert JSON-lines parts into a table, each value cast to its column's type.

    Not DuckDB's read_json: it sets 32 MiB aside per thread, more than an early-loaded run's memory limit
    leaves, for what is one row per file."""
    # pragma_table_info reads one table's entry; duckdb_columns() builds every column of the catalog
    # (about 15 ms as the first query of a connection, the time of a whole re-ingest's load)
    columns = con.execute("SELECT name, type FROM pragma_table_info(?) ORDER BY cid", [table]).fetchall()
    names = [name for name, _ in columns]
    rows = []
    for path in files:
        with open(path, encoding="utf-8") as lines:
            rows += [[record.get(n) for n in names] for record in map(json.loads, lines)]
    listed = ", ".join(f'"{n}"' for n in names)
    if len(rows) >= ARROW_INSERT_ROWS and _insert_through_arrow(con, table, columns, listed, rows):
        return
    values = "(" + ", ".join(f"CAST(? AS {data_type})" for _, data_type in columns) + ")"
    for first in range(0, len(rows), JSON_INSERT_ROWS):
        chunk = rows[first : first + JSON_INSERT_ROWS]
        con.execute(
            f'INSERT INTO "{table}" ({listed}) VALUES ' + ", ".join([values] * len(chunk)),
            [value for row in chunk for value in row],
        )


# From this many rows on (a run of many small files), the rows go through one Arrow table: binding every
# value as a parameter cost about 0.9 ms per row (4,000 files: 3.7 s of the single writer's time). Below
# it, pyarrow is not worth importing (a re-ingest of one export loads a single row).
ARROW_INSERT_ROWS = 256


def _insert_through_arrow(
    con: Any, table: str, columns: list[tuple[str, str]], listed: str, rows: list[list[Any]]
) -> bool:
    """The rows as one Arrow table of their JSON values, each cast to its column's type in one INSERT;
    False (nothing inserted) when a column mixes kinds of JSON value or holds an integer beyond 64 bits,
    which the parameter path casts one by one."""
    import pyarrow as pa

    try:
        staged = pa.table({name: pa.array([row[i] for row in rows]) for i, (name, _) in enumerate(columns)})
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return False
    casts = ", ".join(f'CAST("{name}" AS {data_type})' for name, data_type in columns)
    con.register("staged_json_rows", staged)
    try:
        con.execute(f'INSERT INTO "{table}" ({listed}) SELECT {casts} FROM staged_json_rows')
    finally:
        con.unregister("staged_json_rows")
    return True


def staged_files(batch_dirs: list[Path], table: str, suffix: str = "parquet") -> list[str]:
    """Every part of one table in the given batch folders: Parquet, or JSON lines (suffix "jsonl")."""
    return [str(p) for d in batch_dirs for p in sorted(Path(d).glob(f"{table}-*.{suffix}"))]


def staged_tables(batch_dirs: list[Path]) -> set[str]:
    return {p.name.rsplit("-", 1)[0] for d in batch_dirs for p in Path(d).glob("*-*.parquet")}


def load_parts(con: Any, table: str, files: list[str], run_id: str | None = None) -> None:
    """Insert Parquet parts into a table, leaving out rows whose key (db.unique_key) is already there.

    Same rows as INSERT OR IGNORE with DISTINCT ON the key, at half the cost or less: rows whose key is
    already in the table are left out by an anti-join (only when the table has rows),
    and DISTINCT ON (which keeps one row where an identifier recurs in many messages; DISTINCT over whole
    rows would hash every message body) only when the staged keys repeat. A NULL key fails the NOT NULL
    constraint of the key columns, as it did with INSERT OR IGNORE.

    Tables with a `loaded_in_run` column get the loading run's id there, so link steps can find the rows
    this run added.
    """
    source = "read_parquet(?, union_by_name = true)"
    if run_id is not None and "loaded_in_run" in arrow_schema(table).names:
        literal = run_id.replace("'", "''")
        source = f"(SELECT * REPLACE ('{literal}'::VARCHAR AS loaded_in_run) FROM {source})"
    key = unique_key(table)
    if not key:
        con.execute(f'INSERT OR IGNORE INTO "{table}" BY NAME SELECT * FROM {source}', [files])
        return
    cols = ", ".join(f'"{c}"' for c in key)
    # As many distinct 64-bit hashes of the keys as rows proves the keys distinct, in a fraction of the
    # memory the keys themselves take (the 800,000 links of a mailbox: about 60 MB); otherwise DISTINCT ON
    # (which gives every row when the keys were distinct after all: a hash collision costs only time).
    staged_rows, staged_hashes = con.execute(
        f"SELECT count(*), count(DISTINCT hash({cols})) FROM {source}", [files]
    ).fetchall()[0]
    distinct = "" if staged_rows == staged_hashes else f"DISTINCT ON ({cols}) "
    where = ""
    parameters = [files]
    if con.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchall()[0][0]:
        match = " AND ".join(f't."{c}" = s."{c}"' for c in key)
        if derived_from := KEY_DERIVED_FROM.get(table):
            # as a list of the staged values, not only an equality in the join: DuckDB then skips the
            # case's other rows while scanning instead of hashing all of them
            match += f' AND t."{derived_from}" IN (SELECT "{derived_from}" FROM {source})'
            parameters.append(files)
        where = f' WHERE NOT EXISTS (SELECT 1 FROM "{table}" t WHERE {match})'
    con.execute(f'INSERT INTO "{table}" BY NAME SELECT {distinct}* FROM {source} s{where}', parameters)
