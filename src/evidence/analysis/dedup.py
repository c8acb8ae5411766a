"""Link step: the same message exported more than once gets one canonical row; the copies point to it.

Nothing is deleted and nothing is hidden: every copy stays in `messages` with `duplicate_of` set to the
canonical row's id, and `timeline.occurrences` counts the copies (DESIGN principle 3).

Two rules decide that rows are copies of one message:

1. Same source id. Emails with the same Message-ID (an .eml and the same mail inside an mbox, two
   mailboxes); chat rows with the same platform, conversation, message id, sender and body (Discord
   duplicate records in one file, two overlapping Telegram exports). Copies may sit in the same file.
2. Same content in different files: platform, kind, conversation, sender, normalised body (NFC,
   whitespace collapsed, direction marks removed) and time compared at the coarser precision of the two
   copies (a minute-precision WhatsApp line matches a second-precision copy within that minute). Within
   one file identical lines are distinct messages (someone sending "hi" three times in a minute), so
   copies are paired one to one between files: two overlapping exports give their union.
   Rows with different source ids never match.

The canonical copy is the first in a fixed order: earliest run in which its file was first stored, then
the file's first-seen path, then the natural order of locators. A later run never changes an earlier
choice, and running the step twice changes nothing.

The keys are computed at extraction (messages.dedup_key for rule 2, messages.source_key for rule 1; see
parsers/enrich.py). A run compares only the rows that share a key with a row it loaded: those keys are
looked up in the case (a scan of one BIGINT column), closed over both rules, and decided as a whole.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from evidence.analysis.scope import LinkScope
from evidence.db import arrow_view

# Precision levels: a copy is compared with another at the coarser level of the two.
LEVELS = {"second": 1, "minute": 2, "hour": 3, "day": 4}
EXACT = 0
TOP = max(LEVELS.values())

_TOKENS = re.compile(r"(\d+)")


def natural_key(locator: str) -> tuple[tuple[int, int, str], ...]:
    """line/9 before line/10; /messages/2 before /messages/10."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in _TOKENS.split(locator or "") if t)


def truncate(moment: datetime | None, level: int) -> Any:
    """The instant cut to a precision level (UTC), the comparison key of two copies at that level."""
    if moment is None:
        return None
    t = moment.astimezone(UTC)
    if level >= 4:
        return t.date()
    if level == 3:
        return t.replace(minute=0, second=0, microsecond=0)
    if level == 2:
        return t.replace(second=0, microsecond=0)
    if level == 1:
        return t.replace(microsecond=0)
    return t


@dataclass
class _Copy:
    message_id: str
    sha256: str
    order: tuple[Any, ...]
    moment: datetime | None
    level: int
    xid: str | None
    ekey: str | None
    gkey: str
    gkey_shared: bool


@dataclass
class _Event:
    """One distinct message: its canonical copy and the files its copies came from."""

    index: int
    canonical: _Copy
    files: set[str] = field(default_factory=set)
    xids: set[str] = field(default_factory=set)
    members: list[_Copy] = field(default_factory=list)


def _copy(row: tuple[Any, ...]) -> _Copy:
    message_id, sha, locator, moment, precision, _dup, xid, ekey, gkey, shared, started, path = row
    order = (
        started is None,
        started or datetime.min.replace(tzinfo=UTC),
        path or "",
        sha,
        natural_key(locator),
        message_id,
    )
    return _Copy(message_id, sha, order, moment, LEVELS.get(precision or "", EXACT), xid, ekey, gkey, shared)


class _Matcher:
    """Pairs copies of one content key across files, comparing times at the coarser precision."""

    def __init__(self) -> None:
        self.events: list[_Event] = []
        self.by_level: dict[tuple[int, Any], list[_Event]] = defaultdict(list)
        self.exact: dict[tuple[int, Any], list[_Event]] = defaultdict(list)

    def _candidates(self, unit: _Event) -> list[_Event]:
        c = unit.canonical
        if c.moment is None:
            return self.by_level[(-1, None)]
        found = list(self.by_level[(c.level, truncate(c.moment, c.level))])
        for level in range(c.level + 1, TOP + 1):
            found += self.exact[(level, truncate(c.moment, level))]
        return found

    def add(self, unit: _Event) -> _Event:
        """Join the earliest compatible event from other files, or start a new one."""
        eligible = [
            e
            for e in self._candidates(unit)
            if not (e.files & unit.files) and (not e.xids or not unit.xids or e.xids == unit.xids)
        ]
        if eligible:
            event = min(eligible, key=lambda e: e.index)
            event.files |= unit.files
            event.xids |= unit.xids
            event.members += unit.members
            return event
        unit.index = len(self.events)
        self.events.append(unit)
        c = unit.canonical
        if c.moment is None:
            self.by_level[(-1, None)].append(unit)
        else:
            for level in range(c.level, TOP + 1):
                self.by_level[(level, truncate(c.moment, level))].append(unit)
            self.exact[(c.level, truncate(c.moment, c.level))].append(unit)
        return unit


def plan_duplicates(rows: list[tuple[Any, ...]]) -> dict[str, str | None]:
    """message_id -> canonical message_id (None for canonical rows) for every candidate row."""
    copies = sorted((_copy(r) for r in rows), key=lambda c: c.order)
    units: list[_Event] = []
    by_ekey: dict[str, _Event] = {}
    for c in copies:
        if c.ekey is not None and c.ekey in by_ekey:
            unit = by_ekey[c.ekey]
            unit.files.add(c.sha256)
            unit.members.append(c)
            continue
        unit = _Event(0, c, {c.sha256}, {c.xid} if c.xid else set(), [c])
        units.append(unit)
        if c.ekey is not None:
            by_ekey[c.ekey] = unit
    matchers: dict[str, _Matcher] = defaultdict(_Matcher)
    events: list[_Event] = []
    for unit in units:  # already in canonical order
        if not unit.canonical.gkey_shared:
            events.append(unit)
            continue
        event = matchers[unit.canonical.gkey].add(unit)
        if event is unit:
            events.append(unit)
    plan: dict[str, str | None] = {}
    for event in events:
        canonical = event.canonical.message_id
        for member in event.members:
            plan[member.message_id] = None if member.message_id == canonical else canonical
    return plan


# Rows sharing a key with the rows being decided, closed over both keys: a copy joined by its source id
# can bring in another content key, whose other copies must then be decided too.
_GROW = """
INSERT INTO _dedup_keys
SELECT DISTINCT 'g', m.dedup_key FROM messages m
WHERE m.source_key IN (SELECT key FROM _dedup_keys WHERE rule = 's') AND m.dedup_key IS NOT NULL
  AND m.dedup_key NOT IN (SELECT key FROM _dedup_keys WHERE rule = 'g')
UNION
SELECT DISTINCT 's', m.source_key FROM messages m
WHERE m.dedup_key IN (SELECT key FROM _dedup_keys WHERE rule = 'g') AND m.source_key IS NOT NULL
  AND m.source_key NOT IN (SELECT key FROM _dedup_keys WHERE rule = 's')
"""

# The rows sharing a closed key, as far as they can be decided: only keys held by two rows or more (a
# content key in two files or more) can make copies, so the windows below see those rows and the rows
# whose duplicate_of may have to be cleared, not every row of the run (most keys are held once). The
# closure keeps every row of such a key, so the windows count exactly as over all rows of the keys.
CANDIDATES_SQL = """
WITH shared_g AS (
    SELECT dedup_key AS key FROM messages WHERE dedup_key IN (SELECT key FROM _dedup_keys WHERE rule = 'g')
    GROUP BY dedup_key HAVING count(DISTINCT source_sha256) > 1
),
shared_s AS (
    SELECT source_key AS key FROM messages WHERE source_key IN (SELECT key FROM _dedup_keys WHERE rule = 's')
    GROUP BY source_key HAVING count(*) > 1
),
rows AS (
    SELECT m.message_id, m.source_sha256, m.source_locator, m.sent_at_utc, m.time_precision, m.duplicate_of,
           nullif(trim(m.external_id), '') AS xid, m.source_key, m.dedup_key
    FROM messages m
    WHERE m.dedup_key IN (SELECT key FROM shared_g)
       OR m.source_key IN (SELECT key FROM shared_s)
       OR ((m.duplicate_of IS NOT NULL OR m.dedup_key IS NULL)
           AND (m.dedup_key IN (SELECT key FROM _dedup_keys WHERE rule = 'g')
                OR m.source_key IN (SELECT key FROM _dedup_keys WHERE rule = 's')))
),
counted AS (
    SELECT *,
           CASE WHEN source_key IS NULL THEN 0 ELSE count(*) OVER (PARTITION BY source_key) END AS copies,
           count(DISTINCT source_sha256) OVER (PARTITION BY dedup_key) AS files
    FROM rows
)
SELECT c.message_id, c.source_sha256, c.source_locator, c.sent_at_utc, c.time_precision, c.duplicate_of,
       c.xid, CASE WHEN c.copies > 1 THEN c.source_key END, c.dedup_key, c.files > 1,
       r.started_at, f.first_seen_path
FROM counted c
LEFT JOIN files f ON f.sha256 = c.source_sha256
LEFT JOIN ingest_runs r ON r.run_id = f.first_run_id
WHERE c.copies > 1 OR c.files > 1 OR c.duplicate_of IS NOT NULL
"""


def deduplicate(con: Any, scope: LinkScope) -> dict[str, Any]:
    """Set duplicate_of for copies of the run's messages across (and, by source id, within) files."""
    con.execute("CREATE OR REPLACE TEMP TABLE _dedup_keys (rule VARCHAR, key BIGINT)")
    try:
        con.execute(
            """
            INSERT INTO _dedup_keys
            SELECT DISTINCT 'g', dedup_key FROM messages WHERE loaded_in_run = $run AND dedup_key IS NOT NULL
            UNION
            SELECT DISTINCT 's', source_key FROM messages WHERE loaded_in_run = $run AND source_key IS NOT NULL
            """,
            {"run": scope.run_id},
        )
        for _ in range(20):  # each round adds keys one rule away; real cases close in one or two
            if not con.execute(_GROW).fetchall()[0][0]:
                break
        rows = con.execute(CANDIDATES_SQL).fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS _dedup_keys")
    plan = plan_duplicates(rows)
    current = {r[0]: r[5] for r in rows}
    changes = [{"message_id": m, "duplicate_of": d} for m, d in plan.items() if current.get(m) != d]
    if changes:
        table = pa.Table.from_pylist(
            changes, schema=pa.schema([("message_id", pa.string()), ("duplicate_of", pa.string())])
        )
        with arrow_view(con, "_dedup_changes", table):
            con.execute(
                "UPDATE messages SET duplicate_of = c.duplicate_of FROM _dedup_changes c "
                "WHERE messages.message_id = c.message_id"
            )
    duplicates = sum(1 for d in plan.values() if d is not None)
    return {"compared": len(rows), "duplicates": duplicates, "changed": len(changes)}
