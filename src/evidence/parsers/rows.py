"""Rows a parser produced for the staging tables of one file or batch, spilled to Parquet parts as they grow.

Only the loader writes the database; parsers write rows here, keyed by the column names of schemas/*.sql.
A file's rows are turned into their staging form (Arrow, with the schema's types) while that file is
still the one being extracted, by spilling or by `seal`: a row that cannot be staged then fails its own
file, never the batch it would have been written with.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

SPILL_ROWS = 20_000


NEVER_SPILLED = ("run_files", "ingest_errors")  # small, and read back when a file fails


@dataclass
class ParsedRows:
    """Rows for the staging tables of one file or batch.

    With a spill folder, a table that reaches SPILL_ROWS rows is written out as a Parquet part at once,
    so a 200,000-message export never sits in memory as Python dicts. Without one (tests, tools) every
    row stays in `rows`.
    """

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    spill_dir: Path | None = None
    spilled: dict[str, list[Path]] = field(default_factory=lambda: defaultdict(list))
    # Told of each Parquet part as soon as it is written (an in-process run loads parts early); the part
    # may still be discarded if its file fails later.
    on_part: Callable[[str, Path], None] | None = None
    # With a spill folder: Arrow tables of finished (sealed) files, written out as parts by the batch.
    sealed: dict[str, list[pa.Table]] = field(default_factory=lambda: defaultdict(list))
    # Rows whose text had to be repaired on the way to staging (lone surrogates; see db.build_table).
    repaired: int = 0

    def add(self, table: str, row: dict[str, Any]) -> None:
        rows = self.rows[table]
        rows.append(row)
        if self.spill_dir is not None and len(rows) >= SPILL_ROWS and table not in NEVER_SPILLED:
            self.spill(table)

    def spill(self, table: str) -> None:
        import pyarrow.parquet as pq

        from evidence.db import build_table

        arrow_table, repaired = build_table(table, self.rows[table])
        self.repaired += repaired
        self.spill_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.spill_dir / f"{table}-{len(self.spilled[table]):05d}.parquet"
        pq.write_table(arrow_table, path)
        self.rows[table] = []
        self._written(table, path)

    def seal(self) -> None:
        """Turn a finished file's rows into staging form now; raises if one cannot be staged.

        Called by the extractor while the file is still the one to blame. With a spill folder the Arrow
        tables are kept (and the dicts dropped) for the batch to write; without one the rows stay as
        dicts for in-memory readers, checked and repaired the same way.
        """
        from evidence.db import build_table

        for table, rows in list(self.rows.items()):
            if not rows:
                continue
            arrow_table, repaired = build_table(table, rows)
            self.repaired += repaired
            if self.spill_dir is not None and table not in NEVER_SPILLED:
                self.sealed[table].append(arrow_table)
                self.rows[table] = []

    def flush(self) -> None:
        """Write every sealed table out as a part (the end of a batch)."""
        for table in list(self.sealed):
            self._write_sealed(table)

    def _write_sealed(self, table: str) -> None:
        tables = self.sealed.pop(table, [])
        if not tables:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.rows.get(table):
            self.spill(table)  # keep parts in the order the rows were added
        self.spill_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.spill_dir / f"{table}-{len(self.spilled[table]):05d}.parquet"
        pq.write_table(pa.concat_tables(tables), path)
        self._written(table, path)

    def add_table(self, table: str, arrow_table: Any) -> None:
        """Rows a parser built in bulk as an Arrow table (cast to the staging schema of `table`).

        With a spill folder the table is written out at once as one more Parquet part; without one its
        rows join `rows` as dicts, so in-memory users (tests, tools) see every row either way.
        """
        if arrow_table.num_rows == 0:
            return
        from evidence.db import arrow_schema

        schema = arrow_schema(table)
        arrow_table = arrow_table.select(schema.names).cast(schema)
        if self.spill_dir is None or table in NEVER_SPILLED:
            self.rows[table].extend(arrow_table.to_pylist())
            return
        import pyarrow.parquet as pq

        if self.rows.get(table):
            self.spill(table)  # keep parts in the order the rows were added
        self.spill_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.spill_dir / f"{table}-{len(self.spilled[table]):05d}.parquet"
        pq.write_table(arrow_table, path)
        self._written(table, path)

    def _written(self, table: str, path: Path) -> None:
        self.spilled[table].append(path)
        if self.on_part is not None:
            self.on_part(table, path)

    def absorb(self, other: ParsedRows) -> None:
        """Take over another extraction's rows and parts (a file's rows joining its batch)."""
        for table, rows in other.rows.items():
            self.rows[table].extend(rows)
        for table, paths in other.spilled.items():
            self.spilled[table].extend(paths)
        for table, tables in other.sealed.items():
            self.sealed[table].extend(tables)
            if self.spill_dir is not None and sum(t.num_rows for t in self.sealed[table]) >= SPILL_ROWS:
                self._write_sealed(table)
        self.repaired += other.repaired

    def count(self, table: str) -> int:
        return len(self.rows.get(table, ()))


def write_rows(table: str, rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow.parquet as pq

    from evidence.db import rows_to_table

    pq.write_table(rows_to_table(table, rows), path)
