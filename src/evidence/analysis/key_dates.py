"""Key dates of a case (case_events) and the phrase matches behind two analysis flags.

An advocate adds, lists and removes key dates (evidence events); the account owner's own messages that ask
for no contact are detected after each load and listed for the advocate to keep or remove. A removed
event stays in the table, marked removed, so a later run never detects it again. The flags that depend
on key dates (after_stop_request, after_order) are computed when read (the analysis_flags view), so a
changed date takes effect at once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evidence.analysis.phrases import match_messages, read_lists
from evidence.analysis.scope import LinkScope
from evidence.db import insert_rows
from evidence.errors import EvidenceError
from evidence.timeutil import zone

KINDS = ("stop_request", "order", "police_report", "other")
DETECTED_NOTE = "detected in the owner's message: "  # then the message's first 120 characters, quoted


class KeyDateError(EvidenceError, ValueError):
    """A key date cannot be added or removed (bad kind or time, unknown event)."""


def case_tz(con: Any) -> str:
    rows = con.execute("SELECT value FROM case_settings WHERE key = 'tz'").fetchall()
    return rows[0][0] if rows and rows[0][0] else "UTC"


def set_setting(con: Any, key: str, value: str) -> None:
    con.execute(
        "INSERT INTO case_settings VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


@dataclass(frozen=True)
class When:
    utc: datetime
    local: str
    tz: str
    precision: str


def read_when(text: str, tz_name: str) -> When:
    """2024-04-01, 2024-04-01T14:05, 2024-04-01 14:05 or with an offset (2024-04-01T14:05+01:00); without
    an offset it is read in the case's time zone. A date alone is its start (00:00 local)."""
    raw = text.strip()
    match = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{1,2}:\d{2})(?::(\d{2}))?)?\s*(Z|[+-]\d{2}:?\d{2})?", raw
    )
    if not match:
        raise KeyDateError(f"--at {raw!r} is not a date: use 2024-04-01 or 2024-04-01T14:05")
    day, clock, seconds, offset = match.groups()
    try:
        if offset:
            moment = datetime.fromisoformat(raw.replace(" ", "T").replace("Z", "+00:00"))
            return When(moment.astimezone(UTC), raw, "offset", "second" if seconds else "minute")
        local = datetime.fromisoformat(f"{day}T{clock or '00:00'}:{seconds or '00'}")
    except ValueError as exc:
        raise KeyDateError(f"--at {raw!r}: {exc}") from exc
    aware = local.replace(tzinfo=zone(tz_name))
    precision = "day" if clock is None else ("second" if seconds else "minute")
    return When(aware.astimezone(UTC), raw, tz_name, precision)


def _event_id(*parts: str) -> str:
    return "k-" + hashlib.blake2b("|".join(parts).encode(), digest_size=5).hexdigest()


def add_event(con: Any, kind: str, at: str, note: str | None, examiner: str) -> dict[str, Any]:
    """An analyst's key date; returns the row as recorded (for the custody log)."""
    if kind not in KINDS:
        raise KeyDateError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    when = read_when(at, case_tz(con))
    now = datetime.now(UTC)
    event_id = _event_id("analyst", kind, when.utc.isoformat(), note or "", now.isoformat())
    row = {
        "event_id": event_id,
        "kind": kind,
        "at_utc": when.utc,
        "at_local": when.local,
        "tz": when.tz,
        "precision": when.precision,
        "note": note,
        "source": "analyst",
        "status": "kept",
        "message_id": None,
        "recorded_at": now,
        "examiner": examiner,
        "status_reason": None,
    }
    insert_rows(con, "case_events", [row])
    return {**row, "at_utc": when.utc.isoformat(), "recorded_at": now.isoformat()}


def remove_event(con: Any, event_id: str, reason: str | None, examiner: str) -> dict[str, Any]:
    """Mark a key date removed (it stays listed with --all, and a detection is not brought back)."""
    rows = con.execute(
        "SELECT kind, at_local, source, status FROM case_events WHERE event_id = ?", [event_id]
    ).fetchall()
    if not rows:
        raise KeyDateError(f"no key date {event_id!r}: see `evidence events list --all`")
    kind, at_local, source, status = rows[0]
    if status == "removed":
        raise KeyDateError(f"{event_id} is already removed")
    con.execute(
        "UPDATE case_events SET status = 'removed', status_reason = ?, examiner = ? WHERE event_id = ?",
        [reason, examiner, event_id],
    )
    return {"event_id": event_id, "kind": kind, "at_local": at_local, "source": source, "reason": reason}


EVENTS_SQL = """
SELECT event_id, kind, strftime(at_utc, '%Y-%m-%d %H:%M UTC') AS at_utc, at_local, source, status, note,
       message_id, examiner
FROM case_events WHERE status = 'kept' OR ?
ORDER BY at_utc, event_id
"""


# A bubble read from a screenshot that corroborates the owner's exported stop request is that message seen
# on screen: one key date, read from the export (its words and time are the export's, not OCR's), which
# the screenshot corroborates. Without this the stop request was listed twice, once with OCR's misreadings.
_SHOWS_EXPORTED_STOP_REQUEST = """
    EXISTS (SELECT 1 FROM corroborations c JOIN message_actor ea ON ea.message_id = c.message_id
            WHERE c.ocr_message_id = m.message_id AND ea.from_owner
              AND c.message_id IN (SELECT message_id FROM phrase_matches WHERE list = 'stop_requests'))
"""


def detect_stop_requests(con: Any, run_id: str, examiner: str, everything: bool) -> int:
    """The owner's own messages matching the stop-request list become detected key dates (new ones only;
    removed ones are never brought back). A screenshot's bubble of an exported stop request is not one."""
    scope = "" if everything else "AND m.loaded_in_run = $run"
    return con.execute(
        f"""
        INSERT INTO case_events BY NAME
        SELECT 'k-' || substr(md5('detected|' || m.message_id), 1, 10) AS event_id, 'stop_request' AS kind,
               m.sent_at_utc AS at_utc, coalesce(m.sent_at_local, strftime(m.sent_at_utc, '%Y-%m-%d %H:%M:%S UTC')) AS at_local,
               m.tz_source AS tz, m.time_precision AS precision,
               $note || '"' || left(regexp_replace(m.body, '\\s+', ' ', 'g'), 120) || '"' AS note,
               'detected' AS source, 'kept' AS status, m.message_id, now() AS recorded_at, $examiner AS examiner,
               NULL AS status_reason
        FROM messages m JOIN message_actor ma USING (message_id)
        WHERE ma.from_owner AND m.sent_at_utc IS NOT NULL {scope}
          AND m.message_id IN (SELECT message_id FROM phrase_matches WHERE list = 'stop_requests')
          AND NOT (m.kind = 'ocr' AND {_SHOWS_EXPORTED_STOP_REQUEST})
        ON CONFLICT (event_id) DO NOTHING
        """,
        {"examiner": examiner, "note": DETECTED_NOTE, **({} if everything else {"run": run_id})},
    ).fetchall()[0][0]


def case_dir_of(con: Any) -> Path | None:
    """The case folder of an open case database (its phrases/ may override the shipped lists)."""
    rows = con.execute(
        "SELECT path FROM duckdb_databases() WHERE NOT internal AND path IS NOT NULL"
    ).fetchall()
    return Path(rows[0][0]).parent if rows and rows[0][0] else None


def key_dates_step(con: Any, scope: LinkScope) -> dict[str, Any]:
    """After each load: phrase matches for the run's messages (every message when a list changed), and
    the stop requests they reveal."""
    lists, digest = read_lists(case_dir_of(con))
    known = con.execute("SELECT value FROM case_settings WHERE key = 'phrase_lists_sha256'").fetchall()
    everything = not known or known[0][0] != digest or scope.owners_changed
    if everything:
        con.execute("DELETE FROM phrase_matches")
        matched = match_messages(con, lists, "m.duplicate_of IS NULL", {})
        set_setting(con, "phrase_lists_sha256", digest)
    else:
        matched = match_messages(
            con, lists, "m.duplicate_of IS NULL AND m.loaded_in_run = $run", {"run": scope.run_id}
        )
    examiner_rows = con.execute(
        "SELECT examiner FROM ingest_runs WHERE run_id = ?", [scope.run_id]
    ).fetchall()
    examiner = (examiner_rows[0][0] if examiner_rows else None) or "evidence"
    detected = detect_stop_requests(con, scope.run_id, examiner, everything)
    retired = retire_screenshot_detections(con, examiner)
    return {
        "phrase_matches": matched,
        "stop_requests_detected": detected,
        "rematched_all": everything,
        "retired": retired,
    }


def retire_screenshot_detections(con: Any, examiner: str) -> list[dict[str, str]]:
    """Stop requests detected in a screenshot's bubble before the export holding the same message came:
    marked removed, with the export's key date as the reason (listed with --all; logged in custody by the
    load). Returns what was retired."""
    retired = con.execute(
        """
        SELECT e.event_id, min(x.event_id) AS listed_as
        FROM case_events e
        JOIN messages m ON m.message_id = e.message_id AND m.kind = 'ocr'
        JOIN corroborations c ON c.ocr_message_id = e.message_id
        JOIN case_events x ON x.message_id = c.message_id AND x.kind = 'stop_request'
             AND x.source = 'detected' AND x.status = 'kept'
        WHERE e.kind = 'stop_request' AND e.source = 'detected' AND e.status = 'kept'
        GROUP BY e.event_id ORDER BY e.event_id
        """
    ).fetchall()
    for event_id, listed_as in retired:
        con.execute(
            "UPDATE case_events SET status = 'removed', status_reason = ?, examiner = ? WHERE event_id = ?",
            [f"the screenshot shows the exported message of key date {listed_as}", examiner, event_id],
        )
    return [{"event_id": event_id, "listed_as": listed_as} for event_id, listed_as in retired]
