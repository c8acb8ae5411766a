"""The case read for the report: the events once into a temporary table, then one query method per section
(key dates, sources, incidents, charts' data, flags; people in report_people.py). outputs/report_data.py
assembles them."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

from markupsafe import Markup

from evidence.analysis.key_dates import DETECTED_NOTE
from evidence.outputs import charts
from evidence.outputs.redact import Redactor
from evidence.outputs.report_rows import CONTACT, OWNER_KEY, TIMED_CONTACT
from evidence.outputs.report_wording import (
    KEY_DATE_NAMES,
    shown_time,
)

# Files read with warnings are listed, each with its first few different warnings; the rest stay in
# ingest_errors (a damaged backup can hold thousands, one per item).
WARNED_FILES_SHOWN = 500
WARNINGS_SHOWN_PER_FILE = 3
PERSON_SERIES = 5  # people drawn in their own colour in the weekly chart; the rest as "everyone else"

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


class CaseReader:
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
                   coalesce(ma.from_owner, t.direction = 'outgoing', FALSE) AS from_owner,
                   list_contains(t.flags, 'shown_in_export') AS shown_in_export,
                   coalesce(ma.counts, FALSE) AS counts
            FROM timeline t LEFT JOIN message_actor ma ON ma.message_id = t.event_id
            """
        )

    # -- summary, sources, what was not included --------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        (total, dated, first, last, ocr, shown_in_export, people_n, contacts) = self.q(
            f"""
            SELECT count(*), count(utc), min(lt), max(lt), count(*) FILTER (WHERE kind = 'ocr'),
                   count(*) FILTER (WHERE shown_in_export),
                   count(DISTINCT person_key) FILTER (WHERE NOT from_owner), count(*) FILTER (WHERE {CONTACT})
            FROM rep_events
            """
        )[0]
        by_platform = self.q(
            "SELECT platform, count(*), count(*) FILTER (WHERE NOT from_owner) FROM rep_events "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        # Every place beyond an event's first where it was seen: copies in other exports (duplicate_of)
        # and the same file found again (a forwarded copy, the export twice), as the timeline's
        # `occurrences` counts them. Counting duplicate rows alone said 0 beside an event "seen twice".
        duplicates = self.q("SELECT coalesce(sum(occurrences - 1), 0) FROM rep_events")[0][0]
        runs = self.q(
            "SELECT run_id, started_at, examiner, tool_version FROM ingest_runs ORDER BY started_at"
        )
        return {
            "events": total,
            "dated": dated,
            "undated": total - dated,
            "first": shown_time(first, "minute"),
            "last": shown_time(last, "minute"),
            "ocr": ocr,
            "shown_in_export": shown_in_export,
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
        warned = self.q(
            f"""
            SELECT source_path, any_value(sha256), count(*), list(error ORDER BY locator NULLS FIRST, error)
            FROM ingest_errors WHERE severity = 'warning'
            GROUP BY source_path ORDER BY source_path LIMIT {WARNED_FILES_SHOWN}
            """
        )
        warnings, warned_files = self.q(
            "SELECT count(*), count(DISTINCT source_path) FROM ingest_errors WHERE severity = 'warning'"
        )[0]
        return {
            "files": listed,
            "parsed": [f for f in listed if f["status"] == "parsed"],
            "not_included": [f for f in listed if f["status"] in ("unsupported", "failed")],
            "errors": errors,
            "warnings": warnings,
            "warned": [
                {
                    "path": self.t(path) or "",
                    "sha256": sha or "",
                    "count": count,
                    "examples": [self.t(e) for e in dict.fromkeys(texts)][:WARNINGS_SHOWN_PER_FILE],
                }
                for path, sha, count, texts in warned
            ],
            "warned_not_shown": warned_files - len(warned),
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
                "shown": shown_time(local, precision),
                "as_given": self.t(as_given),
                # a detection's note names its source, which the report says apart: the owner's words alone
                "note": self.t(note.removeprefix(DETECTED_NOTE).strip('"') if source == "detected" else note)
                or "",
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
                "first": shown_time(first, "minute"),
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
