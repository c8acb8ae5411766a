"""Incident log: one CSV row per incident, in the shape of a UK stalking diary (date, time, what happened,
how, who, where, witnesses, police reference, how it made the victim feel), for an advocate to hand to the
police or attach to a Stalking Protection Order application.

An incident is a burst of contact from one actor (the `incidents` view). Who is the confirmed actor, else
the sender's identifier or name; a suggestion is only ever shown in its own column, marked as such. The
annotation fields come from `evidence annotate` on the incident or on any of its messages. Every cell a
spreadsheet would run as a formula gets a leading `'` (outputs.timeline.csv_safe).
"""

from __future__ import annotations

from collections import defaultdict
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from evidence.identifiers import guess_identifier
from evidence.outputs.exports.common import (
    ExportResult,
    case_zone_name,
    clip,
    human_duration,
    in_zone,
    open_atomically,
)
from evidence.outputs.redact import Redactor
from evidence.outputs.timeline import write_csv

MAX_TEXTS = 25  # texts quoted in a row; the rest are counted ("… and 40 more"), all are in the timeline
MAX_TEXT_CHARS = 500  # per quoted text
MAX_LOCATORS = 50  # source locators listed in a row
UNDATED = "undated"  # the date cell of a message with no date (listed after the incidents)

COLUMNS = [
    "date",
    "time",
    "until",
    "time zone",
    "what happened",
    "texts",
    "how",
    "who",
    "suggested (not confirmed)",
    "where",
    "witnesses",
    "police reference",
    "impact",
    "notes",
    "flags",
    "gap since previous incident",
    "messages",
    "incident_id",
    "source_sha256",
    "source_locators",
]

INCIDENTS_SQL = f"""
WITH inc AS (SELECT * FROM incidents),
members AS (
    SELECT incident_id, unnest(message_ids) AS message_id, generate_subscripts(message_ids, 1) AS pos FROM inc
),
msg AS (
    SELECT m.incident_id, m.pos, t.*
    FROM members m JOIN timeline t ON t.event_id = m.message_id
)
SELECT inc.incident_id, inc.actor_key, inc.actor, inc.first_at_utc, inc.last_at_utc, inc.messages,
       inc.platforms, inc.gap_before_seconds,
       arg_min(msg.time_precision, msg.pos) AS first_precision,
       count(*) FILTER (WHERE msg.kind = 'call') AS calls,
       list(msg.text ORDER BY msg.pos) FILTER (WHERE msg.pos <= {MAX_TEXTS}) AS texts,
       list(DISTINCT msg.sender_identifier ORDER BY msg.sender_identifier)
           FILTER (WHERE msg.sender_identifier IS NOT NULL) AS identifiers,
       list(DISTINCT msg.sender ORDER BY msg.sender) FILTER (WHERE msg.sender IS NOT NULL) AS senders,
       list(DISTINCT msg.suggested_actor ORDER BY msg.suggested_actor)
           FILTER (WHERE msg.suggested_actor IS NOT NULL) AS suggested,
       list_sort(list_distinct(flatten(list(coalesce(msg.flags, []))))) AS flags,
       list(DISTINCT msg.source_sha256 ORDER BY msg.source_sha256) AS hashes,
       list(msg.source_sha256 || ' ' || msg.source_locator ORDER BY msg.pos)
           FILTER (WHERE msg.pos <= {MAX_LOCATORS}) AS locators
FROM inc JOIN msg USING (incident_id)
GROUP BY ALL
ORDER BY inc.first_at_utc, inc.incident_id
"""

# Contact with no date belongs to no incident (incidents are bursts in time); each such message is a row of
# its own after the incidents, so that the log leaves out nothing someone else sent. Same columns as above.
UNDATED_SQL = """
SELECT t.event_id AS incident_id, ma.actor_key, ma.actor, NULL AS first_at_utc, NULL AS last_at_utc,
       1 AS messages, [t.platform] AS platforms, NULL AS gap_before_seconds, t.time_precision AS first_precision,
       CASE WHEN t.kind = 'call' THEN 1 ELSE 0 END AS calls, [t.text] AS texts,
       list_filter([t.sender_identifier], lambda v: v IS NOT NULL) AS identifiers,
       list_filter([t.sender], lambda v: v IS NOT NULL) AS senders,
       list_filter([t.suggested_actor], lambda v: v IS NOT NULL) AS suggested,
       list_sort(coalesce(t.flags, [])) AS flags, [t.source_sha256] AS hashes,
       [t.source_sha256 || ' ' || t.source_locator] AS locators
FROM timeline t JOIN message_actor ma ON ma.message_id = t.event_id
WHERE t.occurred_at_utc IS NULL AND ma.counts
ORDER BY t.source_sha256, t.source_locator
"""

# Annotations that apply to an incident: on the incident itself or on one of its messages (an undated
# message's row goes by the message's id).
ANNOTATIONS_SQL = """
WITH targets AS (
    SELECT incident_id, incident_id AS target_id FROM incidents
    UNION ALL
    SELECT incident_id, unnest(message_ids) FROM incidents
)
SELECT incident_id, impact, police_ref, witness, location, note FROM (
    SELECT t.incident_id, a.* FROM annotations a JOIN targets t USING (target_id)
    UNION ALL BY NAME
    SELECT a.target_id AS incident_id, a.* FROM annotations a
    WHERE a.target_id IN (SELECT message_id FROM messages WHERE sent_at_utc IS NULL)
)
ORDER BY incident_id, annotated_at, annotation_id
"""

UNMATCHED_ANNOTATIONS_SQL = f"""
SELECT count(*) FROM annotations a
WHERE a.target_id NOT IN (SELECT incident_id FROM incidents)
  AND a.target_id NOT IN (SELECT unnest(message_ids) FROM incidents)
  AND a.target_id NOT IN (SELECT incident_id FROM ({UNDATED_SQL}))
"""

_ANNOTATION_FIELDS = ("impact", "police_ref", "witness", "location", "note")


def export(con: Any, path: Path, redactor: Redactor, case_name: str = "case") -> ExportResult:
    tz_name = case_zone_name(con)
    annotations = _annotations(con)
    incident_rows, undated_rows = (
        [
            _row(record, tz_name, annotations.get(record["incident_id"], {}), redactor)
            for record in _records(con, sql)
        ]
        for sql in (INCIDENTS_SQL, UNDATED_SQL)
    )
    with open_atomically(path) as out:
        write_csv(COLUMNS, incident_rows + undated_rows, out)
    notes = []
    unmatched = con.execute(UNMATCHED_ANNOTATIONS_SQL).fetchall()[0][0]
    if unmatched:
        notes.append(
            f"{unmatched} annotation(s) are on events that belong to no incident (the owner's own messages) "
            "or on incidents grouped differently since: they are in the case, not in this log"
        )
    if undated_rows:
        notes.append(
            f"{len(undated_rows)} message(s) with no date are listed after the incidents, one row each"
        )
    return ExportResult(
        paths=[Path(path)],
        rows=len(incident_rows),  # what the command reports: "N incidents"
        notes=notes,
        details={"incidents": len(incident_rows), "undated_messages": len(undated_rows)},
    )


def _records(con: Any, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _annotations(con: Any) -> dict[str, dict[str, list[str]]]:
    """incident_id -> field -> distinct values, oldest annotation first."""
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for incident_id, *values in con.execute(ANNOTATIONS_SQL).fetchall():
        for name, value in zip(_ANNOTATION_FIELDS, values, strict=True):
            if value and value not in found[incident_id][name]:
                found[incident_id][name].append(value)
    return found


def _row(r: dict[str, Any], tz_name: str, notes: dict[str, list[str]], redactor: Redactor) -> list[Any]:
    if r["first_at_utc"] is None:
        return _undated_row(r, tz_name, notes, redactor)
    first = in_zone(r["first_at_utc"], tz_name)
    last = in_zone(r["last_at_utc"], tz_name)
    assert first is not None and last is not None  # incidents hold dated messages only
    timed = r["first_precision"] in ("second", "minute")
    same_day = first.date() == last.date()
    until = ("" if same_day else last.strftime("%Y-%m-%d ")) + (last.strftime("%H:%M") if timed else "")

    def when(moment: Any) -> str:
        if not timed:
            return moment.strftime("%Y-%m-%d")
        return moment.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M")

    total, calls = r["messages"], r["calls"]
    counted = [_count(n, noun) for n, noun in ((total - calls, "message"), (calls, "call")) if n]
    count = " and ".join(counted)
    platforms = ", ".join(r["platforms"] or [])
    span = f"at {when(first)}" if total == 1 else f"first {when(first)}, last {when(last)}"
    what = f"{count} on {platforms}: {span}"
    gap = human_duration(r["gap_before_seconds"]) if r["gap_before_seconds"] is not None else "first incident"
    when_cells = [first.strftime("%Y-%m-%d"), first.strftime("%H:%M") if timed else "", until]
    return _cells(r, when_cells, tz_name, what, gap, notes, redactor)


def _undated_row(
    r: dict[str, Any], tz_name: str, notes: dict[str, list[str]], redactor: Redactor
) -> list[Any]:
    """One message someone else sent with no usable date: after the incidents, in no incident."""
    noun = "call" if r["calls"] else "message"
    what = f"1 {noun} on {', '.join(r['platforms'] or [])}: no date in the source (in no incident)"
    return _cells(r, [UNDATED, "", ""], tz_name, what, "", notes, redactor)


def _cells(
    r: dict[str, Any],
    when_cells: list[str],
    tz_name: str,
    what: str,
    gap: str,
    notes: dict[str, list[str]],
    redactor: Redactor,
) -> list[Any]:
    total = r["messages"]
    platforms = ", ".join(r["platforms"] or [])
    texts = [clip(redactor.text(t), MAX_TEXT_CHARS) for t in (r["texts"] or []) if t]
    if total > MAX_TEXTS:
        texts.append(f"… and {total - MAX_TEXTS} more (see the timeline)")

    identifiers = [redactor.identifier(i) for i in r["identifiers"] or []]
    how = platforms
    if identifiers:
        how += "; from " + ", ".join(dict.fromkeys(i for i in identifiers if i))
    names = (_display_name(s, set(r["identifiers"] or []), redactor.region) for s in r["senders"] or [])
    senders = [redactor.text(n) for n in names if n]
    if senders:
        how += "; shown as " + ", ".join(f'"{s}"' for s in dict.fromkeys(senders))

    locators = list(r["locators"] or [])  # structural (line/12, /messages/3): never an identifier
    if total > MAX_LOCATORS:
        locators.append(f"… and {total - MAX_LOCATORS} more (see the timeline)")

    return [
        *when_cells,
        tz_name,
        what,
        "\n".join(texts),
        how,
        _who(r, redactor),
        "; ".join(r["suggested"] or []),
        _joined(notes, "location", redactor),
        _joined(notes, "witness", redactor),
        "; ".join(notes.get("police_ref", [])),  # a police reference is not a person's identifier
        _joined(notes, "impact", redactor),
        _joined(notes, "note", redactor),
        ", ".join(r["flags"] or []),
        gap,
        total,
        r["incident_id"] if r["first_at_utc"] is not None else "",
        "; ".join(r["hashes"] or []),
        "\n".join(locators),
    ]


def _who(r: dict[str, Any], redactor: Redactor) -> str:
    """The confirmed actor's label, else the sender's identifier, else the name shown (never a suggestion)."""
    kind = r["actor_key"].split(":", 1)[0]
    actor = r["actor"] or ""
    if kind == "actor":
        return actor
    if kind == "identifier":
        return redactor.identifier(actor) or ""
    return redactor.text(actor)


def _display_name(sender: str, identifiers: set[str], region: str) -> str | None:
    """The name a sender was shown under: "Alex Marsh" of "Alex Marsh <alex@...>"; None when the sender is
    only the number or address already listed."""
    name, address = parseaddr(sender)
    if name and "@" in address:
        return name
    found = guess_identifier(sender, region)
    return None if found is not None and found.value in identifiers else sender


def _joined(notes: dict[str, list[str]], name: str, redactor: Redactor) -> str:
    return "; ".join(redactor.text(v) for v in notes.get(name, []))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
