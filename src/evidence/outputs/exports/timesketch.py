"""Timesketch JSON lines: one line per dated event, importable as a Timesketch timeline.

Timesketch needs `message`, `datetime` (ISO 8601 with an offset) and `timestamp_desc` on every line, and
reads `timestamp` (microseconds since the epoch) when present; every other field is kept as an attribute.
Undated events are left out (Timesketch has no place for them and a made-up date would sort them among
real ones): the CLI says how many. The case's kept key dates (stop requests, orders, police reports) are
added as their own lines (data_type evidence:key_date) so the pattern around them shows in Timesketch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evidence.outputs.exports.common import ExportResult, epoch_micros, iso_utc, open_atomically
from evidence.outputs.redact import Redactor

EVENTS_SQL = """
SELECT event_id, occurred_at_utc, occurred_at_local, platform, kind, actor, suggested_actor, sender,
       sender_identifier, conversation, direction, text, flags, occurrences, source_sha256, source_locator,
       tz_source, time_precision
FROM timeline
WHERE occurred_at_utc IS NOT NULL
ORDER BY occurred_at_utc, source_sha256, source_locator
"""
UNDATED_SQL = "SELECT count(*) FROM timeline WHERE occurred_at_utc IS NULL"
KEY_DATES_SQL = """
SELECT event_id, kind, at_utc, at_local, tz, precision, note, source
FROM case_events WHERE status = 'kept' ORDER BY at_utc, event_id
"""

# What the time of each kind of event is, in Timesketch's words.
TIMESTAMP_DESC = {
    "call": "Call time",
    "system": "System message time",
    "ocr": "Time shown in screenshot",
    "email": "Email sent",
}


def export(con: Any, path: Path, redactor: Redactor, case_name: str = "case") -> ExportResult:
    events = key_dates = 0
    with open_atomically(path) as out:
        cursor = con.execute(EVENTS_SQL)
        names = [d[0] for d in cursor.description]
        while batch := cursor.fetchmany(10_000):
            for values in batch:
                out.write(_line(_event(dict(zip(names, values, strict=True)), redactor)))
                events += 1
        for values in con.execute(KEY_DATES_SQL).fetchall():
            out.write(_line(_key_date(*values, redactor=redactor)))
            key_dates += 1
    undated = con.execute(UNDATED_SQL).fetchall()[0][0]
    notes = []
    if undated:
        notes.append(
            f"{undated} undated event(s) left out: Timesketch needs a time (they are in the timeline, "
            "flagged no_date)"
        )
    return ExportResult(
        paths=[Path(path)],
        rows=events + key_dates,
        notes=notes,
        details={"events": events, "key_dates": key_dates, "undated_left_out": undated},
    )


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def _event(e: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    who = e["actor"] or redactor.identifier(e["sender_identifier"]) or redactor.text(e["sender"]) or "unknown"
    text = redactor.text(e["text"]) or ""
    label = e["platform"] if e["platform"] == e["kind"] else f"{e['platform']} {e['kind']}"
    return {
        "message": f"[{label}] {who}: {text}",
        "datetime": iso_utc(e["occurred_at_utc"]),
        "timestamp": epoch_micros(e["occurred_at_utc"]),
        "timestamp_desc": TIMESTAMP_DESC.get(e["kind"], "Message sent"),
        "data_type": f"evidence:{'ocr_message' if e['kind'] == 'ocr' else 'message'}",
        "event_id": e["event_id"],
        "platform": e["platform"],
        "kind": e["kind"],
        "actor": e["actor"],
        "suggested_actor": e["suggested_actor"],
        "sender": redactor.text(e["sender"]),
        "sender_identifier": redactor.identifier(e["sender_identifier"]),
        "conversation": redactor.text(e["conversation"]),
        "direction": e["direction"],
        "text": text,
        "flags": ",".join(e["flags"] or []),
        "occurrences": e["occurrences"],
        "time_local_as_written": e["occurred_at_local"],
        "tz_source": e["tz_source"],
        "time_precision": e["time_precision"],
        "source_sha256": e["source_sha256"],
        "source_locator": e["source_locator"],
    }


def _key_date(
    event_id: str,
    kind: str,
    at_utc: Any,
    at_local: str,
    tz: str,
    precision: str,
    note: str | None,
    source: str,
    *,
    redactor: Redactor,
) -> dict[str, Any]:
    label = kind.replace("_", " ")
    note_text = redactor.text(note) or ""
    return {
        "message": f"[key date] {label}" + (f": {note_text}" if note_text else ""),
        "datetime": iso_utc(at_utc),
        "timestamp": epoch_micros(at_utc),
        "timestamp_desc": "Key date",
        "data_type": "evidence:key_date",
        "event_id": event_id,
        "kind": kind,
        "note": note_text,
        "key_date_source": source,
        "time_local_as_written": at_local,
        "tz_source": tz,
        "time_precision": precision,
    }
