"""What the report shows, read from the case: events, people, key dates, flags, threads, charts' data.

Reads a read-only connection (the case database or the viewers' snapshot) into one plain dictionary that
outputs/report.py renders; evidence text is redacted here (Redactor) and never becomes markup. The report
states facts and where they come from: never a score, never a conclusion.
"""

from __future__ import annotations

import base64
import bisect
import io
import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from evidence.acquire.store import OriginalsStore
from evidence.outputs import charts
from evidence.outputs.redact import Redactor

# What each flag means, and what it does not: shown wherever the flag appears. {tz} is the case's zone.
FLAG_TEXT: dict[str, tuple[str, str]] = {
    "night": (
        "sent between 00:00 and 05:59 in {tz}.",
        "It says nothing about why; a time is only as good as its source (see the time's precision).",
    ),
    "after_stop_request": (
        "sent after the first stop request that is kept in the key dates.",
        "It does not show that the sender saw the request; the key date's note says where it comes from.",
    ),
    "after_order": (
        "sent after the date and time of an order (for example a Stalking Protection Order) in the key dates.",
        "It does not show that the order had been served or what it forbids: check the order's terms.",
    ),
    "threat_for_review": (
        "the text matches a phrase of the threat list and needs a person to read it.",
        "A phrase match is not a finding that the message is a threat; it can also miss threats.",
    ),
    "first_from_identifier": (
        "the first message in this case from this number, address or account.",
        "It does not show who uses the identifier, or that it was new when the message was sent.",
    ),
    "ocr": (
        "read from a screenshot by text recognition (OCR), not taken from an exported message.",
        "OCR can misread letters and numbers: compare with the screenshot before quoting it.",
    ),
    "no_date": (
        "the source gives no date for this event; it is listed at the end.",
        "It does not mean the event did not happen.",
    ),
    "dst_gap": (
        "the time as written falls in the hour skipped when clocks go forward; it was read as the next valid time.",
        "The real moment may differ by up to an hour.",
    ),
    "ambiguous_day_month": (
        "the date could be read day-first or month-first and the file did not settle it.",
        "The date shown may have day and month swapped.",
    ),
    "decode_errors": (
        "part of the text could not be decoded and was replaced by the character \ufffd.",
        "The rest of the text is as in the source.",
    ),
    "body_truncated": (
        "the text was longer than a million characters and was cut to that length.",
        "The whole text is in the stored original file.",
    ),
}
ANALYSIS_FLAGS = ("threat_for_review", "after_order", "after_stop_request", "night", "first_from_identifier")
KEY_DATE_NAMES = {
    "stop_request": "Stop request",
    "order": "Order",
    "police_report": "Police report",
    "other": "Key date",
}
THUMBNAIL_BOX = (160, 300)  # pixels: small enough that a thumbnail is some 5-10 KB as JPEG
THUMBNAIL_BUDGET = 3_000_000  # bytes of thumbnails at most; screenshots beyond it are listed without one
THREAD_INCIDENTS = 30  # incidents shown as whole threads in the report (the rest are in the timeline)
THREAD_CONTEXT = 3  # messages of the conversation shown before and after an incident
THREAD_ROWS = 60  # rows at most per thread
FLAGGED_EXAMPLES = {"threat_for_review": 200}  # events listed per flag in "Flagged events"; others 25
PERSON_SERIES = 5  # people drawn in their own colour in the weekly chart; the rest as "everyone else"
OWNER_KEY = "owner"
CONTACT = "NOT from_owner AND kind <> 'system' AND utc IS NOT NULL"
TIMED_CONTACT = CONTACT + " AND time_precision IN ('second', 'minute')"

# Formats in which exports write times; when occurred_at_local equals one of them rendered from the
# case-time, the row does not repeat it ("as written" is then the time shown).
_WRITTEN_FORMATS = (
    "%d/%m/%Y, %H:%M",
    "%d/%m/%Y, %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%d.%m.%Y, %H:%M",
)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Interner:
    """Strings to small integers, so repeated values (platforms, people, sources) travel once."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._index: dict[Any, int] = {}

    def __call__(self, value: Any) -> int:
        found = self._index.get(value)
        if found is None:
            found = self._index[value] = len(self.values)
            self.values.append(value)
        return found


def _local_day(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%d") if moment else None


def _shown_time(moment: datetime | None, precision: str | None) -> str:
    if moment is None:
        return "undated"
    if precision == "day":
        return moment.strftime("%Y-%m-%d")
    if precision == "second":
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "first"
    seconds = float(seconds)
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"


class _Gatherer:
    """Reads the case (read-only connection) into what the template shows."""

    def __init__(self, con: Any, case: Path, redactor: Redactor) -> None:
        self.con = con
        self.case = Path(case)
        self.r = redactor
        rows = con.execute("SELECT value FROM case_settings WHERE key = 'tz'").fetchall()
        self.tz = rows[0][0] if rows and rows[0][0] else "UTC"

    def q(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def t(self, value: Any) -> Any:
        return self.r.text(value)

    # -- the events, once, into a temporary table (the timeline view computes its flags when read) -----

    def load_events(self) -> None:
        written_same = " OR ".join(
            f"t.occurred_at_local = strftime(timezone({_q(self.tz)}, t.occurred_at_utc), {_q(f)})"
            for f in _WRITTEN_FORMATS
        )
        self.con.execute(
            f"""
            CREATE TEMP TABLE rep_events AS
            SELECT (row_number() OVER (ORDER BY t.occurred_at_utc NULLS LAST, t.source_sha256,
                                        t.source_locator, t.event_id) - 1)::INTEGER AS idx,
                   t.event_id, t.occurred_at_utc AS utc, timezone({_q(self.tz)}, t.occurred_at_utc) AS lt,
                   CASE WHEN t.occurred_at_local IS NULL OR ({written_same}) THEN NULL
                        ELSE t.occurred_at_local END AS written,
                   t.platform, t.kind, t.actor, t.suggested_actor, t.sender, t.sender_identifier, t.text,
                   t.subject, t.source_sha256, t.source_locator, t.occurrences, t.flags, t.conversation,
                   t.direction, t.time_precision,
                   strftime(timezone({_q(self.tz)}, t.occurred_at_utc), '%Y-%m-%d') AS day,
                   CASE WHEN t.occurred_at_utc IS NULL OR t.time_precision = 'day' THEN ''
                        WHEN t.time_precision = 'second'
                        THEN strftime(timezone({_q(self.tz)}, t.occurred_at_utc), '%H:%M:%S')
                        ELSE strftime(timezone({_q(self.tz)}, t.occurred_at_utc), '%H:%M') END AS clock,
                   CASE WHEN coalesce(ma.from_owner, t.direction = 'outgoing', FALSE) THEN '{OWNER_KEY}'
                        ELSE coalesce(ma.actor_key, 'sender:' || coalesce(t.sender, '?')) END AS person_key,
                   coalesce(ma.actor, t.sender, t.sender_identifier,
                            CASE WHEN t.kind = 'system' THEN 'system message' ELSE '(no sender given)' END)
                       AS person,
                   coalesce(ma.from_owner, t.direction = 'outgoing', FALSE) AS from_owner
            FROM timeline t LEFT JOIN message_actor ma ON ma.message_id = t.event_id
            """
        )

    # -- people ----------------------------------------------------------------------------------------

    def people(self) -> dict[str, Any]:
        """Actors (owner, confirmed, suggested) with their identifiers, and the open suggestions."""
        rows = self.q(
            """
            SELECT a.actor_id, a.label, a.status, i.kind, i.value, ai.confirmed, ai.confidence, ai.reason,
                   (SELECT count(*) FROM messages m WHERE m.sender_identifier = i.value
                      AND m.duplicate_of IS NULL) AS sent
            FROM actors a JOIN actor_identifiers ai USING (actor_id) JOIN identifiers i USING (identifier_id)
            WHERE a.status <> 'rejected'
            ORDER BY CASE a.status WHEN 'owner' THEN 0 WHEN 'confirmed' THEN 1 ELSE 2 END, a.label,
                     a.actor_id, ai.confirmed DESC, ai.confidence DESC, i.value
            """
        )
        actors: dict[str, dict[str, Any]] = {}
        for actor_id, label, status, kind, value, confirmed, confidence, reason, sent in rows:
            actor = actors.setdefault(
                actor_id,
                {
                    "id": actor_id,
                    "label": self.t(label),
                    "status": status,
                    "confirmed": [],
                    "suggested": [],
                },
            )
            entry = {
                "kind": kind,
                "value": self.r.identifier(value),
                "confidence": f"{confidence:.2f}",
                "reason": self.t(reason),
                "sent": sent,
            }
            actor["confirmed" if confirmed else "suggested"].append(entry)
        stats = {
            key: (n, first, last)
            for key, n, first, last in self.q(
                f"SELECT person_key, count(*), min(lt), max(lt) FROM rep_events WHERE {CONTACT} GROUP BY 1"
            )
        }
        for actor in actors.values():
            n, first, last = stats.get("actor:" + actor["id"], (0, None, None))
            actor["contacts"], actor["first"], actor["last"] = (
                n,
                _shown_time(first, "minute"),
                _shown_time(last, "minute"),
            )
        suggestions = [
            {
                "id": sid,
                "confidence": f"{confidence:.2f}",
                "one": self.r.identifier(one),
                "other": self.r.identifier(other) if other else None,
                "name": self.t(name),
                "reason": self.t(reason),
            }
            for sid, confidence, one, other, name, reason in self.q(
                """
                SELECT s.suggestion_id, s.confidence, a.kind || ':' || a.value,
                       CASE WHEN s.other_identifier_id = s.identifier_id THEN NULL ELSE b.kind || ':' || b.value END,
                       s.label_hint, s.reason
                FROM actor_suggestions s
                JOIN identifiers a ON a.identifier_id = s.identifier_id
                JOIN identifiers b ON b.identifier_id = s.other_identifier_id
                WHERE s.status = 'suggested' ORDER BY s.confidence DESC, s.suggestion_id
                """
            )
        ]
        return {
            "owner": [a for a in actors.values() if a["status"] == "owner"],
            "confirmed": [a for a in actors.values() if a["status"] == "confirmed"],
            "suggested": [a for a in actors.values() if a["status"] not in ("owner", "confirmed")],
            "suggestions": suggestions,
        }

    def actor_identifier_values(self) -> tuple[set[str], set[str]]:
        """Identifier values of the owner, and of every actor (confirmed or suggested)."""
        owner, actors = set(), set()
        for value, status in self.q(
            "SELECT i.value, a.status FROM actor_identifiers ai JOIN actors a USING (actor_id) "
            "JOIN identifiers i USING (identifier_id) WHERE a.status <> 'rejected'"
        ):
            (owner if status == "owner" else actors).add(value)
        return owner, actors

    def third_parties(self) -> list[dict[str, Any]]:
        """People in the messages who are neither the account owner nor an actor (confirmed or suggested):
        who wrote, and who an actor wrote to."""
        owner, actors = self.actor_identifier_values()
        known = owner | actors
        wrote: dict[str, list] = {}
        for ident, name, n, first, last in self.q(
            """
            SELECT coalesce(sender_identifier, ''), any_value(sender), count(*), min(lt), max(lt)
            FROM rep_events WHERE NOT from_owner AND kind <> 'system' AND actor IS NULL
              AND person_key NOT LIKE 'actor:%'
            GROUP BY 1, CASE WHEN sender_identifier IS NULL THEN sender END
            """
        ):
            if ident and ident in known:
                continue
            key = ident or "name:" + (name or "")
            wrote[key] = [ident or None, name, n, 0, first, last]
        actor_list = list(actors)
        for ident, _kind, n, first, last in self.q(
            """
            SELECT i.value, any_value(i.kind), count(DISTINCT m.message_id), min(e.lt), max(e.lt)
            FROM message_identifiers mi
            JOIN messages m ON m.message_id = mi.message_id AND m.duplicate_of IS NULL
            JOIN identifiers i ON i.identifier_id = mi.identifier_id
            JOIN rep_events e ON e.event_id = m.message_id
            WHERE mi.role = 'recipient' AND list_contains(?, m.sender_identifier)
            GROUP BY 1
            """,
            [actor_list],
        ):
            if ident in known:
                continue
            entry = wrote.setdefault(ident, [ident, None, 0, 0, first, last])
            entry[3] += n
            entry[4] = min(entry[4], first) if entry[4] and first else entry[4] or first
            entry[5] = max(entry[5], last) if entry[5] and last else entry[5] or last
        out = [
            {
                "identifier": self.r.identifier(ident) if ident else "",
                "name": self.t(name) or "",
                "wrote": n_wrote,
                "written_to": n_to,
                "first": _shown_time(first, "minute"),
                "last": _shown_time(last, "minute"),
            }
            for ident, name, n_wrote, n_to, first, last in wrote.values()
        ]
        out.sort(key=lambda p: (-p["written_to"], -p["wrote"], p["name"], p["identifier"]))
        return out

    # -- summary, sources, what was not included --------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        (total, dated, first, last, ocr, people_n, contacts) = self.q(
            f"""
            SELECT count(*), count(utc), min(lt), max(lt), count(*) FILTER (WHERE kind = 'ocr'),
                   count(DISTINCT person_key) FILTER (WHERE NOT from_owner), count(*) FILTER (WHERE {CONTACT})
            FROM rep_events
            """
        )[0]
        by_platform = self.q(
            "SELECT platform, count(*), count(*) FILTER (WHERE NOT from_owner) FROM rep_events "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        duplicates = self.q("SELECT count(*) FROM messages WHERE duplicate_of IS NOT NULL")[0][0]
        runs = self.q(
            "SELECT run_id, started_at, examiner, tool_version FROM ingest_runs ORDER BY started_at"
        )
        return {
            "events": total,
            "dated": dated,
            "undated": total - dated,
            "first": _shown_time(first, "minute"),
            "last": _shown_time(last, "minute"),
            "ocr": ocr,
            "people": people_n,
            "contacts": contacts,
            "duplicates": duplicates,
            "platforms": [{"name": p, "events": n, "received": r} for p, n, r in by_platform],
            "runs": [
                {
                    "id": run_id,
                    "started": started.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if started else "",
                    "examiner": self.t(examiner) or "",
                    "version": version,
                }
                for run_id, started, examiner, version in runs
            ],
        }

    def sources(self) -> dict[str, Any]:
        files = self.q(
            """
            SELECT f.sha256, f.first_seen_path, f.format, f.status, f.size_bytes, f.status_reason,
                   f.derived_from_sha256, coalesce(c.n, 0), f.md5
            FROM files f
            LEFT JOIN (SELECT source_sha256, count(*) AS n FROM messages GROUP BY 1) c
                   ON c.source_sha256 = f.sha256
            ORDER BY f.status <> 'parsed', f.first_seen_path, f.sha256
            """
        )
        listed = [
            {
                "sha256": sha,
                "md5": md5,
                "path": self.t(path),
                "format": fmt or "",
                "status": status,
                "size": size,
                "reason": self.t(reason) or "",
                "derived": bool(derived),
                "messages": n,
            }
            for sha, path, fmt, status, size, reason, derived, n, md5 in files
        ]
        errors = [
            {"path": self.t(path) or "", "sha256": sha or "", "stage": stage, "error": self.t(error)}
            for path, sha, stage, error in self.q(
                "SELECT source_path, sha256, stage, error FROM ingest_errors WHERE severity <> 'warning' "
                "ORDER BY source_path, stage"
            )
        ]
        warnings = self.q("SELECT count(*) FROM ingest_errors WHERE severity = 'warning'")[0][0]
        return {
            "files": listed,
            "parsed": [f for f in listed if f["status"] == "parsed"],
            "not_included": [f for f in listed if f["status"] in ("unsupported", "failed")],
            "errors": errors,
            "warnings": warnings,
        }

    def key_dates(self) -> list[dict[str, Any]]:
        rows = self.q(
            f"""
            SELECT event_id, kind, at_utc, timezone({_q(self.tz)}, at_utc), precision, at_local, note, source
            FROM case_events WHERE status = 'kept' ORDER BY at_utc, event_id
            """
        )
        return [
            {
                "id": event_id,
                "kind": kind,
                "name": KEY_DATE_NAMES.get(kind, kind),
                "utc": at_utc,
                "local": local,
                "shown": _shown_time(local, precision),
                "as_given": self.t(as_given),
                "note": self.t(note) or "",
                "source": "added by the advocate"
                if source == "analyst"
                else "detected in the owner's message",
            }
            for event_id, kind, at_utc, local, precision, as_given, note, source in rows
        ]

    # -- course of conduct -----------------------------------------------------------------------------

    def weekly(self, labels: dict[str, str], key_dates: list[dict[str, Any]]) -> dict[str, Any]:
        rows = self.q(
            f"""
            SELECT person_key, date_trunc('week', lt)::DATE AS week, count(*)
            FROM rep_events WHERE {CONTACT} GROUP BY 1, 2
            """
        )
        per: dict[str, dict[date, int]] = defaultdict(dict)
        totals: Counter = Counter()
        for key, week, n in rows:
            per[key][week] = n
            totals[key] += n
        all_weeks = sorted({w for v in per.values() for w in v})
        weeks = []
        if all_weeks:
            w = all_weeks[0]
            while w <= all_weeks[-1]:
                weeks.append(w)
                w += timedelta(days=7)
        top = [k for k, _ in totals.most_common(PERSON_SERIES)]
        series = [
            charts.Series(labels.get(k, k), charts.PALETTE[n % len(charts.PALETTE)], per[k])
            for n, k in enumerate(top)
        ]
        rest: Counter = Counter()
        for k, values in per.items():
            if k not in top:
                rest.update(values)
        if rest:
            series.append(charts.Series("everyone else", charts.OTHERS_COLOUR, dict(rest)))
        marks = [charts.KeyDate(k["local"].date(), k["kind"], f"{k['name']} {k['shown']}") for k in key_dates]
        frequent = []
        for k, _ in totals.most_common():
            busy = sorted((w, n) for w, n in per[k].items() if n > 3)
            if busy:
                frequent.append(
                    {
                        "person": labels.get(k, k),
                        "weeks": len(busy),
                        "of": len({w for w in per[k]}),
                        "list": [f"{w.isoformat()} ({n})" for w, n in busy[:40]],
                        "more": max(0, len(busy) - 40),
                    }
                )
        return {
            "svg": charts.weekly_chart(weeks, series, marks, "Contacts per week"),
            "weeks": len(weeks),
            "frequent": frequent,
            "top": top,
        }

    def heatmap(self) -> Markup:
        counts = {
            (d, h): n
            for d, h, n in self.q(
                f"SELECT isodow(lt), hour(lt), count(*) FROM rep_events WHERE {TIMED_CONTACT} GROUP BY 1, 2"
            )
        }
        return charts.heatmap(counts, self.tz, f"Contacts by weekday and hour ({self.tz})")

    def new_identifiers(self, key_dates: list[dict[str, Any]]) -> dict[str, Any]:
        rows = self.q(
            f"""
            SELECT sender_identifier, min(lt), arg_min(platform, idx), count(*),
                   any_value(coalesce(actor, suggested_actor))
            FROM rep_events WHERE {CONTACT} AND sender_identifier IS NOT NULL
            GROUP BY 1 ORDER BY 2, 1
            """
        )
        listed = [
            {
                "identifier": self.r.identifier(ident),
                "first": _shown_time(first, "minute"),
                "platform": platform,
                "messages": n,
                "who": self.t(who) or "",
            }
            for ident, first, platform, n, who in rows
        ]
        marks = [(k["local"], k["kind"], k["name"]) for k in key_dates]
        svg = charts.cumulative_chart([r[1] for r in rows], marks, "Distinct identifiers that had written")
        return {"list": listed, "svg": svg}

    def incidents(self) -> list[tuple]:
        """(incident id, actor key, start as local epoch seconds, messages, gap before, first row, last row,
        has a threat for review, has contact after a key date, has a note), in time order."""
        self.con.execute(
            """
            CREATE TEMP TABLE rep_incident_rows AS
            SELECT i.incident_id, e.idx
            FROM incidents i CROSS JOIN unnest(i.message_ids) AS u(mid) JOIN rep_events e ON e.event_id = u.mid
            """
        )
        return self.q(
            """
            SELECT i.incident_id, i.actor_key, epoch(min(e.lt)), i.messages, i.gap_before_seconds,
                   min(e.idx), max(e.idx),
                   bool_or(list_contains(e.flags, 'threat_for_review')),
                   bool_or(list_has_any(e.flags, ['after_order', 'after_stop_request'])),
                   bool_or(n.target_id IS NOT NULL)
            FROM incidents i JOIN rep_incident_rows r USING (incident_id) JOIN rep_events e USING (idx)
            LEFT JOIN (SELECT DISTINCT target_id FROM annotations) n
                   ON n.target_id = e.event_id OR n.target_id = i.incident_id
            GROUP BY i.incident_id, i.actor_key, i.messages, i.gap_before_seconds ORDER BY min(e.idx)
            """
        )

    def incident_members(self, incident_ids: list[str]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for inc_id, idx in self.q(
            "SELECT incident_id, idx FROM rep_incident_rows WHERE list_contains(?, incident_id) ORDER BY idx",
            [incident_ids],
        ):
            out[inc_id].append(idx)
        return out

    def annotations(self) -> list[dict[str, Any]]:
        return [
            {
                "target": target,
                "kind": kind,
                "impact": self.t(impact) or "",
                "police_ref": self.t(police_ref) or "",
                "witness": self.t(witness) or "",
                "location": self.t(location) or "",
                "note": self.t(note) or "",
                "examiner": self.t(examiner) or "",
                "at": at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "",
            }
            for target, kind, impact, police_ref, witness, location, note, examiner, at in self.q(
                "SELECT target_id, target_kind, impact, police_ref, witness, location, note, examiner, "
                "annotated_at FROM annotations ORDER BY annotated_at, annotation_id"
            )
        ]

    def flag_details(self, message_ids: list[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = defaultdict(dict)
        if not message_ids:
            return out
        for message_id, flag, detail in self.q(
            "SELECT message_id, flag, detail FROM analysis_flags WHERE message_id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [message_ids],
        ):
            out[message_id][flag] = self.t(detail)
        return out

    def thumbnails(self, shas: list[str]) -> dict[str, str | None]:
        """One small JPEG per screenshot as a data: URI, within THUMBNAIL_BUDGET bytes."""
        from PIL import Image

        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:  # pragma: no cover - pillow-heif is a dependency
            pass
        store = OriginalsStore(self.case / "originals")
        out: dict[str, str | None] = {}
        used = 0
        for sha in shas:
            out[sha] = None
            if used >= THUMBNAIL_BUDGET:
                continue
            try:
                with Image.open(store.path_for(sha)) as image:
                    image.draft("RGB", THUMBNAIL_BOX)
                    image.thumbnail(THUMBNAIL_BOX)
                    buffer = io.BytesIO()
                    image.convert("RGB").save(buffer, "JPEG", quality=70, optimize=True)
            except Exception:  # an image Pillow cannot open: listed without a thumbnail
                continue
            uri = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
            used += len(uri)
            out[sha] = uri
        return out


ROW_SQL = """
SELECT idx, event_id, day, clock, written, platform, kind, suggested_actor, sender, sender_identifier, text,
       subject, source_sha256, source_locator, occurrences, flags, conversation, person_key, person, from_owner
FROM rep_events ORDER BY idx
"""
(
    R_IDX,
    R_ID,
    R_DAY,
    R_CLOCK,
    R_WRITTEN,
    R_PLATFORM,
    R_KIND,
    R_SUGGESTED,
    R_SENDER,
    R_SENDER_ID,
    R_TEXT,
    R_SUBJECT,
    R_SHA,
    R_LOCATOR,
    R_OCC,
    R_FLAGS,
    R_CONV,
    R_PERSON_KEY,
    R_PERSON,
    R_FROM_OWNER,
) = range(20)
# positions in a row of the JSON data (the page's script reads the same positions)
J_CLOCK, J_TEXT, J_PERSON, J_PLATFORM, J_KIND, J_SOURCE, J_LOCATOR, J_FLAGS, J_CONV = range(9)
J_OCC, J_SENDER, J_SUGGESTED, J_WRITTEN, J_SHOT, J_SUBJECT = range(9, 15)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


@lru_cache(maxsize=8192)
def _sender_text(sender: str, ident: str | None) -> str:
    """The sender as written, with the identifier when the name does not already show it."""
    if not ident or ident in sender:
        return sender
    digits = _digits(ident)
    if len(digits) >= 7 and _digits(sender)[-9:] == digits[-9:]:
        return sender  # the same number written another way (+44 7700 900123)
    return f"{sender} ({ident})" if sender else ident


def gather(con: Any, case: Path, redactor: Redactor) -> dict[str, Any]:
    """Everything the report shows, from a read-only connection to the case database."""
    g = _Gatherer(con, case, redactor)
    g.load_events()
    t = g.t if redactor.enabled else (lambda value: value)
    ident_of = redactor.identifier if redactor.enabled else (lambda value: value)
    summary = g.summary()
    key_dates = g.key_dates()
    people = g.people()
    sources_info = g.sources()
    file_info = {f["sha256"]: f for f in sources_info["files"]}

    rows = g.q(ROW_SQL)
    # people in the filter: the owner, confirmed actors, then by number of events
    person_counts = Counter(r[R_PERSON_KEY] for r in rows)
    person_label: dict[str, str] = {}
    for r in rows:
        key = r[R_PERSON_KEY]
        if key not in person_label:
            person_label[key] = "Account owner" if key == OWNER_KEY else (t(r[R_PERSON]) or "?")
    order = sorted(
        person_counts, key=lambda k: (k != OWNER_KEY, not k.startswith("actor:"), -person_counts[k], k)
    )
    person_index = {k: i for i, k in enumerate(order)}
    people_json = [
        [
            person_label[k],
            "owner" if k == OWNER_KEY else "confirmed" if k.startswith("actor:") else "unconfirmed",
            person_counts[k],
        ]
        for k in order
    ]
    platforms, kinds, convs, flagsets, suggested, sources = (_Interner() for _ in range(6))
    flagsets(())
    days: list[list] = []  # runs of [local day, first row]: rows are in time order
    shots: dict[str, int] = {}
    conv_rows: dict[Any, list[int]] = defaultdict(list)
    out_rows: list[list] = []
    flag_counter: Counter = Counter()
    flagged_examples: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        idx = r[R_IDX]
        conv_rows[(r[R_PLATFORM], r[R_CONV])].append(idx)
        day = r[R_DAY]
        if not days or days[-1][0] != day:
            days.append([day, idx])
        label = person_label[r[R_PERSON_KEY]]
        sender = t(r[R_SENDER]) or ""
        ident = r[R_SENDER_ID]
        shown_sender = _sender_text(sender, ident_of(ident) if ident else None) or None
        flags = tuple(r[R_FLAGS] or ())
        for f in flags:
            flag_counter[f] += 1
            if len(flagged_examples[f]) < FLAGGED_EXAMPLES.get(f, 25):
                flagged_examples[f].append(idx)
        row: list[Any] = [
            r[R_CLOCK],
            t(r[R_TEXT]) or "",
            person_index[r[R_PERSON_KEY]],
            platforms(r[R_PLATFORM]),
            kinds(r[R_KIND]),
            sources(r[R_SHA]),
            r[R_LOCATOR],
            flagsets(flags),
            convs(t(r[R_CONV])),
            r[R_OCC] if r[R_OCC] != 1 else None,
            shown_sender if shown_sender != label else None,
            suggested(t(r[R_SUGGESTED])) if r[R_SUGGESTED] else None,
            t(r[R_WRITTEN]) if r[R_WRITTEN] else None,
            shots.setdefault(r[R_SHA], len(shots)) if r[R_KIND] == "ocr" else None,
            t(r[R_SUBJECT]) if r[R_SUBJECT] else None,
        ]
        while row[-1] is None:
            row.pop()
        out_rows.append(row)

    def static(i: int, member: bool = False, detail: str | None = None) -> dict[str, Any]:
        shown = _static_row(rows[i], out_rows[i], person_label, member, detail)
        index = shown.pop("suggested_index")
        shown["suggested"] = suggested.values[index] if index is not None else ""
        return shown

    # incidents: every one in the data (for the list and "show the conversation"); some as whole threads
    incident_rows = g.incidents()
    compact_incidents = [
        [inc_id, person_index.get(key, 0), lo, hi, n, None if gap is None else int(gap)]
        for inc_id, key, _start, n, gap, lo, hi, *_ in incident_rows
    ]
    chosen = sorted(incident_rows, key=lambda r: (not r[9], not r[7], not r[8], -(r[2] or 0)))
    chosen = sorted(chosen[:THREAD_INCIDENTS], key=lambda r: r[5])
    members_of = g.incident_members([r[0] for r in chosen])
    annotations = g.annotations()
    threads = []
    for inc_id, key, _start, n, gap, lo, hi, threat, after, _noted in chosen:
        members = members_of.get(inc_id, [lo, hi])
        member_set = set(members)
        shown: set[int] = set()
        for m in members:
            ordered = conv_rows[(rows[m][R_PLATFORM], rows[m][R_CONV])]
            pos = bisect.bisect_left(ordered, m)
            shown.update(ordered[max(0, pos - THREAD_CONTEXT) : pos + THREAD_CONTEXT + 1])
        picked = sorted(shown)
        if len(picked) > THREAD_ROWS:
            picked = sorted(sorted(shown, key=lambda i: (i not in member_set, abs(i - lo)))[:THREAD_ROWS])
        targets = {inc_id} | {rows[i][R_ID] for i in members}
        threads.append(
            {
                "id": inc_id,
                "person": person_label.get(key, key),
                "first": f"{rows[lo][R_DAY]} {rows[lo][R_CLOCK]}",
                "last": f"{rows[hi][R_DAY]} {rows[hi][R_CLOCK]}",
                "messages": n,
                "gap": _duration(gap),
                "threat": threat,
                "after": after,
                "notes": [a for a in annotations if a["target"] in targets],
                "rows": [static(i, i in member_set) for i in picked],
                "more": len(shown) - len(picked),
            }
        )

    # flagged events: each flag with its explanation, a count and the first events
    details = g.flag_details([rows[i][R_ID] for f in ANALYSIS_FLAGS for i in flagged_examples.get(f, ())])
    flagged = []
    for f in (*ANALYSIS_FLAGS, *(k for k in FLAG_TEXT if k not in ANALYSIS_FLAGS)):
        if not flag_counter[f]:
            continue
        means, not_means = FLAG_TEXT[f]
        flagged.append(
            {
                "flag": f,
                "means": means.format(tz=g.tz),
                "not_means": not_means,
                "count": flag_counter[f],
                "rows": [
                    static(i, False, details.get(rows[i][R_ID], {}).get(f)) for i in flagged_examples[f]
                ],
            }
        )

    # screenshots: one thumbnail each
    shot_list = sorted(shots, key=shots.__getitem__)
    per_shot = Counter(r[J_SHOT] for r in out_rows if len(r) > J_SHOT and r[J_SHOT] is not None)
    thumbs = g.thumbnails(shot_list)
    screenshots = [
        {
            "n": n,
            "sha256": sha,
            "path": file_info.get(sha, {}).get("path", ""),
            "thumb": thumbs.get(sha),
            "messages": per_shot[n],
        }
        for n, sha in enumerate(shot_list)
    ]

    weekly = g.weekly(person_label, key_dates)
    gap_points, gaps = [], defaultdict(list)
    for _inc, key, start, _n, gap, *_ in incident_rows:
        if gap is None or start is None:
            continue
        gaps[key].append(float(gap))
        series = weekly["top"].index(key) if key in weekly["top"] else -1
        gap_points.append((charts.local_time(start), float(gap), series))
    incidents_per = Counter(r[1] for r in incident_rows)
    gap_table = [
        {
            "person": person_label.get(key, key),
            "incidents": incidents_per[key],
            "median": _duration(statistics.median(values)),
            "shortest": _duration(min(values)),
            "longest": _duration(max(values)),
            "recent": ", ".join(_duration(v) for v in values[-5:]),
        }
        for key, values in sorted(gaps.items(), key=lambda kv: -len(kv[1]))
    ]
    new_idents = g.new_identifiers(key_dates)
    data = {
        "tz": g.tz,
        "people": people_json,
        "platforms": platforms.values,
        "kinds": kinds.values,
        "convs": convs.values,
        "flagsets": [list(f) for f in flagsets.values],
        "suggested": suggested.values,
        "sources": [[sha, file_info.get(sha, {}).get("path", "")] for sha in sources.values],
        "days": days,
        "rows": out_rows,
        "incidents": compact_incidents,
        "flagText": {f: [m.format(tz=g.tz), n] for f, (m, n) in FLAG_TEXT.items()},
    }
    return {
        "tz": g.tz,
        "summary": summary,
        "sources": sources_info,
        "key_dates": key_dates,
        "people": people,
        "third_parties": g.third_parties(),
        "weekly": weekly,
        "heatmap": g.heatmap(),
        "gaps": {
            "svg": charts.gaps_chart(
                gap_points,
                [person_label.get(k, k) for k in weekly["top"]],
                "Time since the same person's previous incident",
            ),
            "table": gap_table,
        },
        "new_identifiers": new_idents,
        "incidents_total": len(incident_rows),
        "threads": threads,
        "thread_context": THREAD_CONTEXT,
        "flagged": flagged,
        "prompts": _prompts(g, key_dates, flag_counter, weekly, new_idents, person_label),
        "annotations": annotations,
        "screenshots": screenshots,
        "flag_text": {f: (m.format(tz=g.tz), n) for f, (m, n) in FLAG_TEXT.items()},
        "data": data,
    }


def _static_row(
    row: tuple, compact: list, labels: dict[str, str], member: bool, detail: str | None
) -> dict[str, Any]:
    """One event as the report prints it outside the timeline (threads, flagged events); `compact` is the
    row of the JSON data, already redacted."""

    def at(position: int) -> Any:
        return compact[position] if len(compact) > position else None

    return {
        "event_id": row[R_ID],
        "when": f"{row[R_DAY]} {row[R_CLOCK]}".strip() if row[R_DAY] else "undated",
        "written": at(J_WRITTEN) or "",
        "platform": row[R_PLATFORM],
        "kind": row[R_KIND],
        "who": labels.get(row[R_PERSON_KEY], ""),
        "sender": at(J_SENDER) or "",
        "suggested_index": at(J_SUGGESTED),
        "text": compact[J_TEXT],
        "subject": at(J_SUBJECT) or "",
        "sha256": row[R_SHA],
        "locator": row[R_LOCATOR],
        "flags": list(row[R_FLAGS] or ()),
        "member": member,
        "owner": bool(row[R_FROM_OWNER]),
        "detail": detail or "",
        "shot": at(J_SHOT),
    }


def _prompts(
    g: _Gatherer,
    key_dates: list[dict[str, Any]],
    flags: Counter,
    weekly: dict[str, Any],
    new_idents: dict[str, Any],
    labels: dict[str, str],
) -> dict[str, Any]:
    """Facts an advocate may want to raise, each with where it comes from. Never a score or a conclusion."""

    def after(kind: str) -> dict[str, Any] | None:
        first = next((k for k in key_dates if k["kind"] == kind), None)
        if first is None:
            return None
        rows = g.q(
            f"""
            SELECT person_key, count(*), min(lt), max(lt) FROM rep_events
            WHERE {CONTACT} AND utc > ? GROUP BY 1 ORDER BY 2 DESC
            """,
            [first["utc"]],
        )
        return {
            "key_date": first,
            "messages": sum(r[1] for r in rows),
            "people": [
                {
                    "person": labels.get(k, k),
                    "messages": n,
                    "first": _shown_time(a, "minute"),
                    "last": _shown_time(b, "minute"),
                }
                for k, n, a, b in rows[:10]
            ],
            "more_people": max(0, len(rows) - 10),
        }

    night = g.q(
        "SELECT count(*), count(DISTINCT CAST(lt AS DATE)) FROM rep_events "
        "WHERE list_contains(flags, 'night')"
    )[0]
    recent = g.q(
        f"""
        WITH bounds AS (SELECT max(utc) AS last FROM rep_events WHERE {CONTACT})
        SELECT count(*) FILTER (WHERE utc > last - INTERVAL 28 DAY),
               count(*) FILTER (WHERE utc <= last - INTERVAL 28 DAY AND utc > last - INTERVAL 56 DAY)
        FROM rep_events, bounds WHERE {CONTACT}
        """
    )[0]
    stop = after("stop_request")
    order = after("order")
    police = after("police_report")
    idents_after_stop = 0
    if stop:
        idents_after_stop = g.q(
            f"""
            SELECT count(*) FROM (SELECT sender_identifier, min(utc) AS first FROM rep_events
                                  WHERE {CONTACT} AND sender_identifier IS NOT NULL GROUP BY 1)
            WHERE first > ?
            """,
            [stop["key_date"]["utc"]],
        )[0][0]
    return {
        "after_stop": stop,
        "after_order": order,
        "after_police": police,
        "night": {"messages": night[0], "nights": night[1]},
        "threats": flags["threat_for_review"],
        "frequent": weekly["frequent"],
        "recent": {"last_4_weeks": recent[0], "4_weeks_before": recent[1]},
        "new_identifiers": len(new_idents["list"]),
        "idents_after_stop": idents_after_stop,
    }
