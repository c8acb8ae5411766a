"""Reading the rows of an SQLite table past damaged pages, for parsers of SQLite databases.

A damaged page (a phone's database copied while it was written, a bad sector) makes SQLite raise
"database disk image is malformed" for any statement that reads it, so one statement over the whole
table loses every row. An index holding the columns asked for is a second copy of them and is tried
first. Otherwise, since a table's rows are stored by ROWID, they are read again as ROWID ranges, from
both ends of each range, halving what lies between damage until the ROWIDs that cannot be read are
known one by one (docs/decisions.md). Nothing is guessed: a row is either read by SQLite or reported lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# SQLite's primary result codes that mean damaged bytes (SQLITE_IOERR covers a short read of a cut
# file, SQLITE_CORRUPT a page that does not parse, SQLITE_NOTADB a damaged header): other errors, such as
# a missing column, are not damage and are raised as they are.
DAMAGE_CODES = frozenset({10, 11, 26})
# Statements one damaged table may cost before what is left unread is given up as lost: about 3 s, or a
# damaged first page of a table of a million rows, ROWID by ROWID.
MAX_STATEMENTS = 1_000_000
BY_EQUALITY = 32  # ROWIDs left between damage that are read one by one rather than halved again


class UnreadableTable(ValueError):
    """Not one row of a table could be read: its first page (or the way to every row) is damaged."""


@dataclass
class LostRows:
    """ROWIDs that could not be read, as ranges (first, last), and why."""

    ranges: list[tuple[int, int]] = field(default_factory=list)
    error: str = ""
    rest_from: int | None = None  # reading stopped here: everything from this ROWID on is unknown
    from_index: bool = False  # every row was read from an index holding the same columns

    def add_range(self, first: int, last: int) -> None:
        self.ranges.append((first, last))

    def merged(self) -> list[tuple[int, int]]:
        """The ranges in order, touching ones joined."""
        joined: list[tuple[int, int]] = []
        for first, last in sorted(self.ranges):
            if joined and first <= joined[-1][1] + 1:
                joined[-1] = (joined[-1][0], max(last, joined[-1][1]))
            else:
                joined.append((first, last))
        return joined

    def __bool__(self) -> bool:
        return bool(self.ranges) or self.rest_from is not None or self.from_index

    def describe(self) -> str:
        if self.from_index:
            return f"a page could not be read ({self.error}); every row was read from an index holding its values"
        ranges = self.merged()
        shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges[:20])
        more = f" and {len(ranges) - 20} more ranges" if len(ranges) > 20 else ""
        parts = [f"ROWID {shown}{more}"] if ranges else []
        if self.rest_from is not None:
            parts.append(f"ROWID {self.rest_from} on")
        return f"rows in {' and '.join(parts)} could not be read ({self.error}); every other row was read"


def is_damage(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in DAMAGE_CODES


def _uses_index(con: sqlite3.Connection, select: str) -> bool:
    """Whether SQLite reads this statement from an index rather than the table itself."""
    plan = con.execute(f"EXPLAIN QUERY PLAN {select}").fetchall()
    return any("COVERING INDEX" in str(step[-1]) for step in plan)


def _highest_rowid(con: sqlite3.Connection, table: str) -> int | None:
    """The table's highest ROWID: from the table itself, else from sqlite_sequence (AUTOINCREMENT)."""
    for query, args in (
        (f'SELECT max(ROWID) FROM "{table}"', ()),
        ("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)),
    ):
        try:
            row = con.execute(query, args).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row and isinstance(row[0], int):
            return int(row[0])
    return None


def table_rows(
    con: sqlite3.Connection, table: str, columns: str, on_lost: Callable[[LostRows], None]
) -> Iterator[tuple[Any, ...]]:
    """(ROWID, *columns) of every readable row of `table`, in ROWID order.

    Undamaged tables are read by one statement, as before; on the first error the reading goes on by
    ROWID ranges after the last row read. `on_lost` is called once, at the end, when rows were lost;
    UnreadableTable is raised instead when no row at all could be read.
    """
    try:
        con.execute(f'SELECT ROWID FROM "{table}" LIMIT 0')
    except sqlite3.OperationalError:  # a WITHOUT ROWID table: read whole, as there are no ranges to read
        yield from con.execute(f'SELECT NULL, {columns} FROM "{table}"')
        return
    select = f'SELECT ROWID, {columns} FROM "{table}"'
    last: int | None = None
    lost = LostRows()
    try:
        for row in con.execute(f"{select} ORDER BY ROWID"):
            last = row[0]
            yield row
        return
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        lost.error = str(exc)
    # An index that holds every column asked for is a second copy of them, and SQLite reads it instead of
    # the table when the order is left to it (chat.db indexes a handle's id, for one). Only then is the
    # table read again this way: through the table itself it would stop at the same damage.
    if _uses_index(con, select):
        try:
            copy = sorted(con.execute(select), key=lambda row: row[0])
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
        else:
            lost.from_index = True
            yield from (row for row in copy if last is None or row[0] > last)
            on_lost(lost)
            return
    highest = _highest_rowid(con, table)
    start = (last + 1) if last is not None else -(2**63)
    if highest is None:
        if last is None:
            raise UnreadableTable(f"no row of table {table} could be read ({lost.error})")
        lost.rest_from = start
        lost.error += "; the table's highest ROWID could not be read either"
        on_lost(lost)
        return
    if last is None:
        try:
            row = con.execute(f'SELECT min(ROWID) FROM "{table}"').fetchone()
            start = int(row[0]) if row and isinstance(row[0], int) else start
        except sqlite3.DatabaseError:
            start = min(1, highest)  # SQLite numbers rows 1, 2, 3... unless a program chose otherwise
    salvage = _Salvage(con, select, lost)
    found = salvage.read(start, highest)
    if lost and not found and last is None:
        raise UnreadableTable(f"no row of table {table} could be read: {lost.describe()}")
    yield from found
    if lost:
        on_lost(lost)


class _Salvage:
    """The readable rows of a ROWID interval whose reading met damage.

    Each interval is read forwards from its start and backwards from its end, each as far as SQLite
    gets; what lies between touches damage at both ends and is split in two, down to single ROWIDs,
    which are read by equality (a range that ends on the last row of a page steps on into the next
    page, so the row just before a damaged page is readable only that way). A good page between two
    damaged ones is thus found too. The rows are returned sorted: salvage holds them in memory, only
    for a damaged table.
    """

    def __init__(self, con: sqlite3.Connection, select: str, lost: LostRows) -> None:
        self.con, self.select, self.lost = con, select, lost
        self.budget = MAX_STATEMENTS

    def _scan(self, query: str, args: tuple[int, ...], into: list[tuple[Any, ...]]) -> bool:
        """Rows of one statement appended to `into`; False when it stopped at damage."""
        self.budget -= 1
        try:
            for row in self.con.execute(query, args):
                into.append(row)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            self.lost.error = self.lost.error or str(exc)
            return False
        return True

    def read(self, first: int, last: int) -> list[tuple[Any, ...]]:
        found: list[tuple[Any, ...]] = []
        pending = [(first, last)]
        while pending:
            low, high = pending.pop()
            if low > high:
                continue
            if self.budget <= 0:
                self.lost.add_range(low, high)
                continue
            if high - low < BY_EQUALITY:
                for rowid in range(low, high + 1):
                    if not self._scan(f"{self.select} WHERE ROWID = ?", (rowid,), found):
                        self.lost.add_range(rowid, rowid)
                continue
            forward: list[tuple[Any, ...]] = []
            done = self._scan(
                f"{self.select} WHERE ROWID BETWEEN ? AND ? ORDER BY ROWID", (low, high), forward
            )
            found += forward
            if done:
                continue
            low = forward[-1][0] + 1 if forward else low
            backward: list[tuple[Any, ...]] = []
            done = self._scan(
                f"{self.select} WHERE ROWID BETWEEN ? AND ? ORDER BY ROWID DESC", (low, high), backward
            )
            found += backward
            high = backward[-1][0] - 1 if backward else high
            if done or low > high:
                continue
            middle = (low + high) // 2
            pending += [(middle + 1, high), (low, middle)]  # the lower half first (a stack)
        found.sort(key=lambda row: row[0])
        return found
