"""DuckDB access for a case: schema from schemas/*.sql, one writer at a time, idempotent loading.

DuckDB lets one process open a database read-write and then refuses every other process, even read-only
ones. So every opening goes through a lock file next to the database: writers take it exclusively,
readers shared, and a second writer gets a clear message instead of a DuckDB error.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import hashlib
import itertools
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from evidence.case import DB_NAME, LOCK_NAME
from evidence.errors import CaseLockedError, CaseNotFoundError
from evidence.text import repair_value

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow (with numpy, about a tenth of a second) is imported by the functions that build Arrow tables:
# opening a case, recording a run and querying never need it.

SCHEMA_VERSION = "1"

log = logging.getLogger(__name__)


def schema_dir() -> Path:
    """The package's schemas/: in the repository a link to the project's schemas/ (the one place the schema
    is defined), in an installed wheel a copy of it (package data)."""
    override = os.environ.get("EVIDENCE_SCHEMA_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent / "schemas"


@lru_cache(maxsize=1)
def schema_sql() -> str:
    files = sorted(schema_dir().glob("*.sql"))
    if not files:
        raise RuntimeError(f"no schema files found in {schema_dir()}")
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


@dataclass(frozen=True)
class SchemaCatalog:
    """What staging and loading need to know of schemas/*.sql: every table's Arrow schema, primary key and
    columns with their SQL types."""

    arrow: dict[str, pa.Schema]
    primary_keys: dict[str, tuple[str, ...]]
    columns: list[tuple[str, str, str]]  # (table, column, SQL type), in table and column order


_CATALOG_LOCK = threading.Lock()


# DuckDB column types and the Arrow types DuckDB itself exports them as (tests/test_layout.py checks the
# two agree for every column); a column of another type is exported by DuckDB, table by table.
@lru_cache(maxsize=1)
def arrow_types() -> dict[str, pa.DataType]:
    import pyarrow as pa

    return {
        "BIGINT": pa.int64(),
        "INTEGER": pa.int32(),
        "SMALLINT": pa.int16(),
        "UBIGINT": pa.uint64(),
        "DOUBLE": pa.float64(),
        "BOOLEAN": pa.bool_(),
        "VARCHAR": pa.string(),
        "JSON": pa.string(),
        "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="Etc/UTC"),
        "VARCHAR[]": pa.list_(pa.field("l", pa.string())),
    }


@lru_cache(maxsize=1)
def _catalog_cached() -> SchemaCatalog:
    """The schema run in a throw-away in-memory database, read once and closed: a DuckDB instance kept
    open for this would hold about 30 MB in every process. CREATE statements only (the COMMENT ON
    statements, four in five, are for case databases and would double the time). Arrow types come from
    one catalog query; only tables with other column types are exported by DuckDB (a query each)."""
    import pyarrow as pa

    known_types = arrow_types()
    con = duckdb.connect(":memory:")
    try:
        for statement in con.extract_statements(schema_sql()):
            if statement.type == duckdb.StatementType.CREATE:
                con.execute(statement)
        columns = con.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' "
            "AND table_name IN (SELECT table_name FROM duckdb_tables()) ORDER BY table_name, column_index"
        ).fetchall()
        by_table: dict[str, list[tuple[str, str]]] = {}
        for table, column, data_type in columns:
            by_table.setdefault(table, []).append((column, data_type))
        arrow = {}
        for table, cols in by_table.items():
            if all(dt in known_types for _, dt in cols):
                arrow[table] = pa.schema([pa.field(c, known_types[dt]) for c, dt in cols])
            else:
                arrow[table] = con.sql(f'SELECT * FROM "{table}" LIMIT 0').to_arrow_table().schema
        keys = {
            table: tuple(names)
            for table, names in con.execute(
                "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                "WHERE constraint_type = 'PRIMARY KEY'"
            ).fetchall()
        }
    finally:
        con.close()
    return SchemaCatalog(arrow, keys, columns)


def exported_arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema DuckDB itself exports for a table of schemas/*.sql (what arrow_types() mirrors)."""
    con = duckdb.connect(":memory:")
    try:
        for statement in con.extract_statements(schema_sql()):
            if statement.type == duckdb.StatementType.CREATE:
                con.execute(statement)
        return con.sql(f'SELECT * FROM "{table}" LIMIT 0').to_arrow_table().schema
    finally:
        con.close()


def schema_catalog() -> SchemaCatalog:
    with _CATALOG_LOCK:  # threads (the warm-up, an EarlyLoader) build it once between them
        return _catalog_cached()


def arrow_schema(table: str) -> pa.Schema:
    """Arrow schema of a table as defined in schemas/*.sql: staging files follow the database exactly."""
    return schema_catalog().arrow[table]


def primary_key(table: str) -> tuple[str, ...]:
    """Primary-key columns of a table as defined in schemas/*.sql (empty when it has none)."""
    return schema_catalog().primary_keys.get(table, ())


# Keys kept unique by the loader instead of by an index: an ART index makes DuckDB's bulk insert of a
# large export two to three times slower, and DuckDB keeps it whole in memory (the links of a
# 150,000-mail mailbox: about 80 MB, twice that while the load commits). staging.load_parts (and
# db.insert_rows with or_ignore) insert only rows whose key is new, and `evidence verify` checks these
# keys (see docs/decisions.md).
UNIQUE_BY_LOADER: dict[str, tuple[str, ...]] = {
    "messages": ("message_id",),
    "message_identifiers": ("message_id", "identifier_id", "role"),
}


# A column every row sharing a key also shares, because the key is derived from it: a message id is a
# hash of its source's sha256 and its place in the source (parsers.context.message_id_for). The loader's
# look for keys already in the case then reads only the rows of the staged sources (a 2,000-message
# export against a case of 1,000,000 messages: 0.01 s instead of 0.06 s per part).
KEY_DERIVED_FROM: dict[str, str] = {"messages": "source_sha256"}


def unique_key(table: str) -> tuple[str, ...]:
    """Columns whose values identify a row of the table: its primary key, or a key the loader keeps."""
    return primary_key(table) or UNIQUE_BY_LOADER.get(table, ())


def table_names() -> frozenset[str]:
    return frozenset(schema_catalog().arrow)


DEFAULT_LOCK_WAIT = 30.0  # seconds an opening waits for the case lock unless told otherwise
LOCK_WAIT_ENV = "EVIDENCE_LOCK_WAIT"  # overrides DEFAULT_LOCK_WAIT (seconds) for a whole process
LOCK_WAIT_LOG_EVERY = 60.0  # seconds between "still waiting" log lines

_lock_wait: contextvars.ContextVar[float | None] = contextvars.ContextVar("evidence_lock_wait", default=None)


@contextlib.contextmanager
def waiting_for_case(seconds: float) -> Iterator[None]:
    """Openings of a case inside this block that name no timeout wait up to `seconds` for the case lock.

    For callers that queue behind another writer of the same case on purpose (the Airflow load task)
    while the functions they call open the case with the default wait.
    """
    token = _lock_wait.set(seconds)
    try:
        yield
    finally:
        _lock_wait.reset(token)


@contextlib.contextmanager
def case_lock(case_dir: Path, exclusive: bool, timeout: float | None = None) -> Iterator[None]:
    """Hold the case lock; waits up to timeout seconds (logging that it waits), then raises
    CaseLockedError naming the holder. No timeout: the waiting_for_case setting, else 30 s."""
    if timeout is None:
        wait = _lock_wait.get()
        timeout = _default_lock_wait() if wait is None else wait
    path = Path(case_dir) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        started = time.monotonic()
        deadline = started + timeout
        next_log = started
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if now >= deadline:
                    raise CaseLockedError(
                        f"the case database is in use by {_holder(fd)}; wait for it to finish and try again"
                    ) from None
                if now >= next_log:
                    log.info(
                        "waiting for the case %s: its database is in use by %s (waited %.0f s of %.0f s)",
                        case_dir,
                        _holder(fd),
                        now - started,
                        timeout,
                    )
                    next_log = now + LOCK_WAIT_LOG_EVERY
                time.sleep(0.2)
        if exclusive:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _default_lock_wait() -> float:
    """DEFAULT_LOCK_WAIT, or the seconds in $EVIDENCE_LOCK_WAIT (a command line run by a script that
    would rather stop at once than queue behind another ingest of the same case)."""
    try:
        return float(os.environ[LOCK_WAIT_ENV])
    except (KeyError, ValueError):
        return DEFAULT_LOCK_WAIT


def _holder(fd: int) -> str:
    return os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"


@contextlib.contextmanager
def open_case(
    case_dir: Path, write: bool = False, timeout: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Connection to the case database under the case lock; a writer also brings the schema up to date."""
    case_dir = Path(case_dir)
    db_path = case_dir / DB_NAME
    if not write and not db_path.exists():
        raise CaseNotFoundError(f"no case database at {db_path}: run `evidence ingest` first")
    with case_lock(case_dir, exclusive=write, timeout=timeout):
        con = duckdb.connect(str(db_path), read_only=not write, config=connection_config())
        try:
            if write:
                ensure_schema(con)
            yield con
        finally:
            con.close()


@contextlib.contextmanager
def writing_case(
    case_dir: Path, after_commit: Callable[[duckdb.DuckDBPyConnection], None] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An existing case database under the writer lock, in one transaction; never creates a case.

    `after_commit(con)` runs once the change is committed, still under the lock (the viewers' snapshot is
    published there, so it never misses a change or shows one half made)."""
    if not (Path(case_dir) / DB_NAME).exists():
        raise CaseNotFoundError(
            f"no case database at {Path(case_dir) / DB_NAME}: run `evidence ingest` first"
        )
    with open_case(case_dir, write=True) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        if after_commit is not None:
            after_commit(con)


@lru_cache(maxsize=1)
def schema_hash() -> str:
    return hashlib.sha256(schema_sql().encode()).hexdigest()


MEMORY_ENV = "EVIDENCE_DUCKDB_MEMORY"  # DuckDB's memory limit for case databases (default 192MB)


def connection_config() -> dict[str, str]:
    """DuckDB settings for case databases: bounded memory (DuckDB spills to disk beyond it) so a load of
    hundreds of thousands of messages fits beside Airflow workers; insertion order is not needed."""
    return {
        "memory_limit": os.environ.get(MEMORY_ENV, "192MB"),
        "preserve_insertion_order": "false",
    }


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Bring the case database to the current schema; a no-op when it already is (checked by hash).

    Tables only ever gain columns, so an older case is migrated by adding the columns it lacks before the
    DDL (whose views may use them) runs.
    """
    try:
        current = con.execute("SELECT value FROM schema_info WHERE key = 'schema_hash'").fetchone()
    except duckdb.CatalogException:
        current = None
    if current and current[0] == schema_hash():
        return
    con.execute("BEGIN TRANSACTION")  # one commit for ~250 statements: 3-4x faster than one each
    try:
        if current is not None or _has_tables(con):
            _add_missing_columns(con)
        con.execute(schema_sql())
        con.execute(
            "INSERT INTO schema_info VALUES ('schema_version', ?), ('schema_hash', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [SCHEMA_VERSION, schema_hash()],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main'").fetchone()[0])


def _add_missing_columns(con: duckdb.DuckDBPyConnection) -> None:
    wanted = schema_catalog().columns
    have = {
        (t, c)
        for t, c in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main'"
        ).fetchall()
    }
    tables = {t for t, _ in have}
    for table, column, data_type in wanted:
        if table in tables and (table, column) not in have:
            con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {data_type}')


def query_rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None
) -> tuple[list[str], list[tuple]]:
    """Column names and rows of a query."""
    cursor = con.execute(sql, params or [])
    columns = [d[0] for d in cursor.description] if cursor.description else []
    return columns, cursor.fetchall()


@contextlib.contextmanager
def arrow_view(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """Expose an Arrow table to SQL as a temporary view for one bulk statement.

    The rows go through a temporary Parquet file: DuckDB's own Arrow hand-off (register, from_arrow,
    replacement scans) imports pandas, which costs half a second in every process that loads a case.
    """
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="evidence-bulk-") as tmp:
        path = Path(tmp) / f"{name}.parquet"
        pq.write_table(table, path)
        literal = str(path).replace("'", "''")
        con.execute(f"CREATE OR REPLACE TEMP VIEW \"{name}\" AS SELECT * FROM read_parquet('{literal}')")
        try:
            yield
        finally:
            con.execute(f'DROP VIEW IF EXISTS "{name}"')


def rows_to_table(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (dicts) to an Arrow table with the schema of schemas/*.sql, built column by column.

    Columns a parser did not set are NULL; a column the schema does not have is a programming error.
    Text UTF-8 cannot hold is repaired on the way (see build_table).
    """
    return build_table(table, rows)[0]


def build_table(table: str, rows: list[dict[str, Any]]) -> tuple[pa.Table, int]:
    """rows_to_table, and how many rows had text repaired.

    Every row a parser stages passes through here, so this is the one place where text with lone
    surrogates (a JSON export's "\\ud83d" without its pair: half an emoji) is repaired: each becomes
    U+FFFD, in the row dict too, and a table with a `flags` column gets `decode_errors` on that row.
    Arrow refuses such text, so the check costs nothing until a column fails to convert.
    """
    import pyarrow as pa

    if table not in table_names():
        raise ValueError(f"staging table {table!r} is not defined in schemas/*.sql")
    schema = arrow_schema(table)
    # every key of every row (iterating a dict gives its keys): set().union(*rows) took 1.2 s for
    # 200,000 rows of two or three keys, this 0.05 s
    extra = set(itertools.chain.from_iterable(rows)) - set(schema.names)
    if extra:
        raise ValueError(f"columns not in the schema of {table}: {sorted(extra)}")
    try:
        # Arrow reads the dicts in one pass (a key a row lacks is NULL), half the time of a Python list
        # per column; text Arrow refuses sends the rows the column way below, which repairs it
        return pa.Table.from_pylist(rows, schema=schema), 0
    except UnicodeEncodeError:
        pass
    arrays = []
    repaired: set[int] = set()
    for f in schema:
        values = [row.get(f.name) for row in rows]
        try:
            arrays.append(pa.array(values, type=f.type))
        except UnicodeEncodeError:
            for index, value in enumerate(values):
                fixed, changed = repair_value(value)
                if changed:
                    rows[index][f.name] = values[index] = fixed
                    repaired.add(index)
            arrays.append(pa.array(values, type=f.type))
    if repaired and "flags" in schema.names:
        for index in repaired:
            flags = list(rows[index].get("flags") or [])
            if "decode_errors" not in flags:
                rows[index]["flags"] = [*flags, "decode_errors"]
        position = schema.get_field_index("flags")
        arrays[position] = pa.array([row.get("flags") for row in rows], type=schema.field("flags").type)
    return pa.Table.from_arrays(arrays, schema=schema), len(repaired)


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: list[tuple] | list[dict[str, Any]],
    or_ignore: bool = False,
) -> None:
    """Bulk-insert rows (positional tuples of every column, or dicts by column name) through Parquet.

    executemany manages about 1,000 rows a second; this is the one way link steps write data. or_ignore
    leaves out rows whose key is already there, also for keys without an index (UNIQUE_BY_LOADER).
    """
    if not rows:
        return
    if not isinstance(rows[0], dict):
        names = arrow_schema(table).names
        rows = [dict(zip(names, row, strict=True)) for row in rows]
    key = UNIQUE_BY_LOADER.get(table, ()) if or_ignore else ()
    with arrow_view(con, "_insert_rows", rows_to_table(table, rows)):
        if key:  # no index to ignore conflicts against: rows whose key is there already are left out
            cols = ", ".join(f'"{c}"' for c in key)
            match = " AND ".join(f't."{c}" = s."{c}"' for c in key)
            con.execute(
                f'INSERT INTO "{table}" BY NAME SELECT DISTINCT ON ({cols}) * FROM _insert_rows s '
                f'WHERE NOT EXISTS (SELECT 1 FROM "{table}" t WHERE {match})'
            )
            return
        verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
        con.execute(f'{verb} INTO "{table}" BY NAME SELECT * FROM _insert_rows')


def to_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
