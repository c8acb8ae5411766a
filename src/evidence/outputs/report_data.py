"""What the report shows, read from the case: events, people, key dates, flags, threads, charts' data.

Reads a read-only connection (the case database or the viewers' snapshot) into one plain dictionary that
outputs/report.py renders; evidence text is redacted here (Redactor) and never becomes markup. The report
states facts and where they come from: never a score, never a conclusion.
"""

from __future__ import annotations

import base64
import io
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from evidence.acquire.store import OriginalsStore
from evidence.outputs import charts, report_people
from evidence.outputs.redact import Redactor
from evidence.outputs.report_queries import CaseReader
from evidence.outputs.report_rows import (
    CONTACT,
    J_SHOT,
    OWNER_KEY,
    R_FLAGS,
    R_ID,
    R_PERSON,
    R_PERSON_KEY,
    ROW_SQL,
    THREAD_CONTEXT,
    compact_rows,
    thread_views,
)
from evidence.outputs.report_wording import (
    ANALYSIS_FLAGS,
    FLAG_TEXT,
    duration,
    shown_time,
)

THUMBNAIL_BOX = (160, 300)  # pixels: small enough that a thumbnail is some 5-10 KB as JPEG
THUMBNAIL_BUDGET = 3_000_000  # bytes of thumbnails at most; screenshots beyond it are listed without one
THREAD_INCIDENTS = 30  # incidents shown as whole threads in the report (the rest are in the timeline)


def gather(con: Any, case: Path, redactor: Redactor) -> dict[str, Any]:
    """Everything the report shows, from a read-only connection to the case database."""
    g = CaseReader(con, case, redactor)
    g.load_events()
    t = g.t if redactor.enabled else (lambda value: value)
    ident_of = redactor.identifier if redactor.enabled else (lambda value: value)
    summary = g.summary()
    key_dates = g.key_dates()
    people = report_people.people(g)
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
    compact = compact_rows(rows, person_label, person_index, t, ident_of)
    out_rows, shots = compact.rows, compact.shots
    flag_counter, flagged_examples = compact.flag_counts, compact.flagged_examples

    def static(i: int, member: bool = False, detail: str | None = None) -> dict[str, Any]:
        return compact.static(rows[i], i, person_label, member, detail)

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
    threads = thread_views(chosen, members_of, annotations, rows, compact, person_label)

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
    in_export = Counter(  # its bubbles that show an exported message: the screenshot corroborates the export
        r[J_SHOT]
        for r, full in zip(out_rows, rows, strict=True)
        if len(r) > J_SHOT and r[J_SHOT] is not None and "shown_in_export" in (full[R_FLAGS] or ())
    )
    thumbs = thumbnails(g.case, shot_list)
    screenshots = [
        {
            "n": n,
            "sha256": sha,
            "path": file_info.get(sha, {}).get("path", ""),
            "thumb": thumbs.get(sha),
            "messages": per_shot[n],
            "in_export": in_export[n],
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
            "median": duration(statistics.median(values)),
            "shortest": duration(min(values)),
            "longest": duration(max(values)),
            "recent": ", ".join(duration(v) for v in values[-5:]),
        }
        for key, values in sorted(gaps.items(), key=lambda kv: -len(kv[1]))
    ]
    new_idents = g.new_identifiers(key_dates)
    data = {
        "tz": g.tz,
        "people": people_json,
        "platforms": compact.platforms.values,
        "kinds": compact.kinds.values,
        "convs": compact.convs.values,
        "flagsets": [list(f) for f in compact.flagsets.values],
        "suggested": compact.suggested.values,
        "sources": [[sha, file_info.get(sha, {}).get("path", "")] for sha in compact.sources.values],
        "days": compact.days,
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
        "third_parties": report_people.third_parties(g),
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


def _prompts(
    g: CaseReader,
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
            WHERE {CONTACT} AND utc > ? GROUP BY 1 ORDER BY 2 DESC, 1
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
                    "first": shown_time(a, "minute"),
                    "last": shown_time(b, "minute"),
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


def thumbnails(case: Path, shas: list[str]) -> dict[str, str | None]:
    """One small JPEG per screenshot as a data: URI, within THUMBNAIL_BUDGET bytes."""
    from PIL import Image

    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover - pillow-heif is a dependency
        pass
    store = OriginalsStore(case / "originals")
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
