"""What the viewer reads: the cases under EVIDENCE_CASES_ROOT and, from each case's snapshot, the timeline
(filtered and paged in SQL), an event with its sources and copies, the actors and the annotations."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from evidence.pipeline.snapshot import cases_root, snapshot_path

PAGE_SIZE = 100


class UnknownCase(LookupError):
    """No case of that name with a published snapshot under the cases root."""


def list_cases() -> list[dict[str, Any]]:
    """Every subfolder of the root that has a snapshot, with when it was published."""
    root = cases_root()
    if root is None or not root.is_dir():
        return []
    found = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        snap = snapshot_path(entry)
        if entry.is_dir() and not entry.name.startswith(".") and snap.is_file():
            found.append(
                {"name": entry.name, "published": snap.stat().st_mtime, "size_bytes": snap.stat().st_size}
            )
    return found


def case_dir(name: str) -> Path:
    """The case folder named `name`: a direct subfolder of the root with a snapshot, nothing else."""
    root = cases_root()
    if root is None or not name or name.startswith(".") or "/" in name or "\\" in name:
        raise UnknownCase(name)
    folder = root / name
    if folder.resolve().parent != root.resolve() or not snapshot_path(folder).is_file():
        raise UnknownCase(name)
    return folder


@contextlib.contextmanager
def open_snapshot(folder: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the case's snapshot, for one request."""
    con = duckdb.connect(str(snapshot_path(folder)), read_only=True)
    try:
        yield con
    finally:
        con.close()


def snapshot_stamp(folder: Path) -> tuple[str, int, int, int]:
    """Identifies one published snapshot: a new one is a new file (renamed over the old one)."""
    path = snapshot_path(folder)
    info = path.stat()
    return str(path), info.st_ino, info.st_mtime_ns, info.st_size


# Counts and filter choices of a snapshot, which paging through it asks for again and again: each costs
# a pass over the timeline view (about a second for 500,000 events). Keyed by the snapshot's stamp.
_MEMO: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_MEMO_SIZE = 256


def _memoised(key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key]
    value = compute()
    _MEMO[key] = value
    while len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)
    return value


@dataclass
class TimelineFilter:
    """The viewer's filters; empty fields filter nothing."""

    platform: str = ""
    who: str = ""  # "actor:LABEL" (confirmed) or "suggested:LABEL"
    flag: str = ""
    date_from: date | None = None
    date_to: date | None = None
    text: str = ""
    page: int = 1

    def where(self, tz: str) -> tuple[str, list[Any]]:
        """SQL conditions on the timeline view and their parameters (values are always parameters)."""
        parts: list[str] = []
        params: list[Any] = []
        if self.platform:
            parts.append("platform = ?")
            params.append(self.platform)
        kind, _, label = self.who.partition(":")
        if kind == "actor" and label:
            parts.append("actor = ?")
            params.append(label)
        elif kind == "suggested" and label:
            parts.append("starts_with(suggested_actor, ? || ' (suggested')")
            params.append(label)
        if self.flag:
            parts.append("list_contains(flags, ?)")
            params.append(self.flag)
        if self.date_from:
            parts.append("CAST(timezone(?, occurred_at_utc) AS DATE) >= ?")
            params += [tz, self.date_from]
        if self.date_to:
            parts.append("CAST(timezone(?, occurred_at_utc) AS DATE) <= ?")
            params += [tz, self.date_to]
        if self.text:
            parts.append("contains(lower(coalesce(text, '')), lower(?))")
            params.append(self.text)
        return (" WHERE " + " AND ".join(parts)) if parts else "", params


ORDER = " ORDER BY occurred_at_utc NULLS LAST, source_sha256, source_locator, event_id"
ROW_COLUMNS = (
    "event_id, strftime(timezone(?, occurred_at_utc), '%Y-%m-%d %H:%M:%S') AS shown_at, occurred_at_local, "
    "platform, kind, actor, suggested_actor, sender, text, flags, source_sha256, source_locator, occurrences"
)


def case_tz(con: Any) -> str:
    row = con.execute("SELECT value FROM case_settings WHERE key = 'tz'").fetchone()
    return row[0] if row and row[0] else "UTC"


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def timeline_page(con: Any, chosen: TimelineFilter, stamp: tuple[Any, ...] | None = None) -> dict[str, Any]:
    """One page of the filtered timeline, the number of matching events, and the filters' choices.

    With the snapshot's `stamp`, the count and the choices are remembered for the next page."""
    tz = case_tz(con)
    where, params = chosen.where(tz)

    def count() -> int:
        return con.execute(f"SELECT count(*) FROM timeline{where}", params).fetchone()[0]

    total = _memoised(("count", stamp, where, *params), count) if stamp else count()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, chosen.page), pages)
    rows = _dicts(
        con.execute(
            f"SELECT {ROW_COLUMNS} FROM timeline{where}{ORDER} LIMIT ? OFFSET ?",
            [tz, *params, PAGE_SIZE, (page - 1) * PAGE_SIZE],
        )
    )
    choices = _memoised(("choices", stamp), lambda: filter_choices(con)) if stamp else filter_choices(con)
    return {
        "tz": tz,
        "rows": rows,
        "total": total,
        "page": page,
        "pages": pages,
        "first": (page - 1) * PAGE_SIZE + 1 if rows else 0,
        "last": (page - 1) * PAGE_SIZE + len(rows),
        **choices,
    }


def filter_choices(con: Any) -> dict[str, list[str]]:
    """Channels, people and flags to filter by, read from the tables under the timeline view (a pass over
    the view itself costs about a second per 500,000 events). A person listed may have no event left."""

    def values(sql: str) -> list[str]:
        return [v for (v,) in con.execute(sql).fetchall() if v]

    return {
        "platforms": values("SELECT DISTINCT platform FROM messages WHERE duplicate_of IS NULL ORDER BY 1"),
        "actors": values(
            "SELECT DISTINCT a.label FROM actors a JOIN actor_identifiers ai USING (actor_id) "
            "WHERE ai.confirmed AND a.status IN ('confirmed', 'owner') ORDER BY 1"
        ),
        "suggested": values(
            "SELECT DISTINCT a.label FROM actors a JOIN actor_identifiers ai USING (actor_id) "
            "WHERE NOT ai.confirmed AND a.status <> 'rejected' ORDER BY 1"
        ),
        "flags": values(
            "SELECT flag FROM (SELECT unnest(flags) AS flag FROM messages WHERE duplicate_of IS NULL "
            "UNION SELECT flag FROM analysis_flags "
            "UNION SELECT unnest(list_filter(flags, lambda f: starts_with(f, 'time_conflict'))) FROM images "
            "UNION SELECT 'shown_in_export' FROM (SELECT 1 FROM corroborations LIMIT 1)) "
            "ORDER BY 1"
        ),
    }


def event_detail(con: Any, event_id: str) -> dict[str, Any] | None:
    """An event with its source file, every copy of it (duplicates and the places each file was seen) and
    its annotations; None when the snapshot has no such event."""
    tz = case_tz(con)
    rows = _dicts(
        con.execute(
            f"SELECT {ROW_COLUMNS}, conversation, subject, direction, sender_identifier, tz_source, time_precision "
            "FROM timeline WHERE event_id = ?",
            [tz, event_id],
        )
    )
    if not rows:
        return None
    event = rows[0]
    copies = _dicts(
        con.execute(
            "SELECT m.message_id, m.source_sha256, m.source_locator, o.source_path, o.run_id, f.md5, f.format "
            "FROM messages m LEFT JOIN file_occurrences o ON o.sha256 = m.source_sha256 "
            "LEFT JOIN files f ON f.sha256 = m.source_sha256 "
            "WHERE m.message_id = ? OR m.duplicate_of = ? "
            "ORDER BY m.message_id <> ?, m.source_sha256, m.source_locator, o.source_path",
            [event_id, event_id, event_id],
        )
    )
    return {"tz": tz, "event": event, "copies": copies, "annotations": annotations_of(con, event_id)}


def annotations_of(con: Any, target_id: str) -> list[dict[str, Any]]:
    return _dicts(
        con.execute(
            "SELECT annotation_id, impact, police_ref, witness, location, note, examiner, "
            "strftime(annotated_at, '%Y-%m-%d %H:%M UTC') AS annotated FROM annotations "
            "WHERE target_id = ? ORDER BY annotated_at, annotation_id",
            [target_id],
        )
    )


def actors(con: Any) -> dict[str, Any]:
    """Confirmed actors (and the owner) with their confirmed identifiers, and open suggestions apart."""
    confirmed = _dicts(
        con.execute(
            "SELECT a.actor_id, a.label, a.status, list(i.kind || ':' || i.value ORDER BY i.kind, i.value) "
            "AS identifiers FROM actors a JOIN actor_identifiers ai USING (actor_id) "
            "JOIN identifiers i USING (identifier_id) "
            "WHERE a.status IN ('confirmed', 'owner') AND ai.confirmed "
            "GROUP BY a.actor_id, a.label, a.status ORDER BY a.status = 'confirmed', a.label, a.actor_id"
        )
    )
    suggestions = _dicts(
        con.execute(
            "SELECT s.suggestion_id, s.confidence, a.kind || ':' || a.value AS identifier, "
            "CASE WHEN s.other_identifier_id = s.identifier_id THEN NULL ELSE b.kind || ':' || b.value END AS other, "
            "s.label_hint, s.reason FROM actor_suggestions s "
            "JOIN identifiers a ON a.identifier_id = s.identifier_id "
            "JOIN identifiers b ON b.identifier_id = s.other_identifier_id "
            "WHERE s.status = 'suggested' ORDER BY s.confidence DESC, s.suggestion_id"
        )
    )
    return {"confirmed": confirmed, "suggestions": suggestions}
