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
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from evidence.db import arrow_view

# Precision levels: a copy is compared with another at the coarser level of the two.
LEVELS = {"second": 1, "minute": 2, "hour": 3, "day": 4}
EXACT = 0
TOP = max(LEVELS.values())

_BODY = (
    r"regexp_replace(regexp_replace(nfc_normalize(coalesce(m.body, '')), "
    r"'[\x{200e}\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}\x{feff}]', '', 'g'), '\s+', ' ', 'g')"
)
_SENDER = "coalesce(m.sender_identifier, m.sender, '')"
_XID = "nullif(trim(m.external_id), '')"

# Normalising every body is the costly part, so rows that cannot be copies are left out first, on keys
# without the body. Rule 2 needs two files with the same platform, kind, conversation and sender; rule 1
# two rows with the same email Message-ID, or the same platform, conversation, chat message id and
# sender. Every row sharing a body key with a row kept is kept too, so the counts below are the same as
# over all messages. That holds while those fields cannot shift into one another inside concat_ws:
# when any row has a unit separator (chr 31) in one of them, every row is kept.
_COARSE = f"""
coarse AS (
    SELECT m.message_id, m.duplicate_of, m.source_sha256, m.platform, m.kind,
           coalesce(m.conversation, '') AS conv, {_SENDER} AS snd,
           CASE WHEN {_XID} IS NULL THEN NULL
                WHEN m.kind = 'email' THEN 'mid' || chr(31) || lower(trim({_XID}, ' <>'))
                ELSE concat_ws(chr(31), 'xid', m.platform, coalesce(m.conversation, ''), {_XID}, {_SENDER})
           END AS cekey,
           contains(concat(m.platform, m.kind, m.conversation, {_SENDER}, m.external_id), chr(31)) AS unsafe
    FROM messages m
),
shared_content AS (
    SELECT platform, kind, conv, snd FROM coarse GROUP BY ALL HAVING count(DISTINCT source_sha256) > 1
),
shared_ids AS (SELECT cekey FROM coarse WHERE cekey IS NOT NULL GROUP BY cekey HAVING count(*) > 1),
kept AS (
    SELECT message_id FROM coarse c
    WHERE c.duplicate_of IS NOT NULL
       OR c.cekey IN (SELECT cekey FROM shared_ids)
       OR EXISTS (SELECT 1 FROM shared_content s WHERE s.platform = c.platform AND s.kind = c.kind
                                                   AND s.conv = c.conv AND s.snd = c.snd)
       OR (SELECT bool_or(unsafe) FROM coarse)
),"""

CANDIDATES_SQL = f"""
WITH {_COARSE}
keyed AS (
    SELECT m.message_id, m.source_sha256, m.source_locator, m.sent_at_utc, m.time_precision, m.duplicate_of,
           {_XID} AS xid,
           CASE WHEN {_XID} IS NULL THEN NULL
                WHEN m.kind = 'email' THEN 'mid' || chr(31) || lower(trim({_XID}, ' <>'))
                ELSE md5(concat_ws(chr(31), 'xid', m.platform, coalesce(m.conversation, ''), {_XID},
                                   {_SENDER}, trim({_BODY})))
           END AS ekey,
           md5(concat_ws(chr(31), m.platform, m.kind, coalesce(m.conversation, ''), {_SENDER},
                         trim({_BODY}))) AS gkey
    FROM messages m SEMI JOIN kept k ON k.message_id = m.message_id
),
counted AS (
    SELECT *,
           CASE WHEN ekey IS NULL THEN 0 ELSE count(*) OVER (PARTITION BY ekey) END AS ekey_copies,
           count(DISTINCT source_sha256) OVER (PARTITION BY gkey) AS gkey_files
    FROM keyed
)
SELECT c.message_id, c.source_sha256, c.source_locator, c.sent_at_utc, c.time_precision, c.duplicate_of,
       c.xid, CASE WHEN c.ekey_copies > 1 THEN c.ekey END AS ekey, c.gkey, c.gkey_files > 1 AS gkey_shared,
       r.started_at, f.first_seen_path
FROM counted c
LEFT JOIN files f ON f.sha256 = c.source_sha256
LEFT JOIN ingest_runs r ON r.run_id = f.first_run_id
WHERE c.ekey_copies > 1 OR c.gkey_files > 1 OR c.duplicate_of IS NOT NULL
"""

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


def deduplicate(con: Any, run_id: str) -> dict[str, Any]:
    """Set duplicate_of for copies of one message across (and, by source id, within) files; idempotent."""
    rows = con.execute(CANDIDATES_SQL).fetchall()
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
    return {"duplicates": duplicates, "changed": len(changes)}
