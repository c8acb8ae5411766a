"""Rows a parser produced for the staging tables of one file or batch, spilled to Parquet parts as they grow.

Only the loader writes the database; parsers write rows here, keyed by the column names of schemas/*.sql.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    def add(self, table: str, row: dict[str, Any]) -> None:
        rows = self.rows[table]
        rows.append(row)
        if self.spill_dir is not None and len(rows) >= SPILL_ROWS and table not in NEVER_SPILLED:
            self.spill(table)

    def spill(self, table: str) -> None:
        from evidence.parsers.rows import write_rows

        self.spill_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.spill_dir / f"{table}-{len(self.spilled[table]):05d}.parquet"
        write_rows(table, self.rows[table], path)
        self.rows[table] = []
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
        """Take over another extraction's rows and spilled parts (a file's rows joining its batch)."""
        for table, rows in other.rows.items():
            self.rows[table].extend(rows)
        for table, paths in other.spilled.items():
            self.spilled[table].extend(paths)

    def count(self, table: str) -> int:
        return len(self.rows.get(table, ()))


def write_rows(table: str, rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow.parquet as pq

    from evidence.db import rows_to_table

    pq.write_table(rows_to_table(table, rows), path)
