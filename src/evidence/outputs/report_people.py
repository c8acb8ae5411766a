"""The report's people: the owner and the actors with their identifiers, the open suggestions, and the
other people in the messages. Read from a CaseReader after its load_events (the rep_events table)."""

from __future__ import annotations

from typing import Any

from evidence.outputs.report_queries import CaseReader
from evidence.outputs.report_rows import CONTACT
from evidence.outputs.report_wording import shown_time


def people(reader: CaseReader) -> dict[str, Any]:
    """Actors (owner, confirmed, suggested) with their identifiers, and the open suggestions."""
    rows = reader.q(
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
                "label": reader.t(label),
                "status": status,
                "confirmed": [],
                "suggested": [],
            },
        )
        entry = {
            "kind": kind,
            "value": reader.r.identifier(value),
            "confidence": f"{confidence:.2f}",
            "reason": reader.t(reason),
            "sent": sent,
        }
        actor["confirmed" if confirmed else "suggested"].append(entry)
    stats = {
        key: (n, first, last)
        for key, n, first, last in reader.q(
            f"SELECT person_key, count(*), min(lt), max(lt) FROM rep_events WHERE {CONTACT} GROUP BY 1"
        )
    }
    for actor in actors.values():
        n, first, last = stats.get("actor:" + actor["id"], (0, None, None))
        actor["contacts"], actor["first"], actor["last"] = (
            n,
            shown_time(first, "minute"),
            shown_time(last, "minute"),
        )
    suggestions = [
        {
            "id": sid,
            "confidence": f"{confidence:.2f}",
            "one": reader.r.identifier(one),
            "other": reader.r.identifier(other) if other else None,
            "name": reader.t(name),
            "reason": reader.t(reason),
        }
        for sid, confidence, one, other, name, reason in reader.q(
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


def actor_identifier_values(reader: CaseReader) -> tuple[set[str], set[str]]:
    """Identifier values of the owner, and of every actor (confirmed or suggested)."""
    owner, actors = set(), set()
    for value, status in reader.q(
        "SELECT i.value, a.status FROM actor_identifiers ai JOIN actors a USING (actor_id) "
        "JOIN identifiers i USING (identifier_id) WHERE a.status <> 'rejected'"
    ):
        (owner if status == "owner" else actors).add(value)
    return owner, actors


def third_parties(reader: CaseReader) -> list[dict[str, Any]]:
    """People in the messages who are neither the account owner nor an actor (confirmed or suggested):
    who wrote, and who an actor wrote to."""
    owner, actors = actor_identifier_values(reader)
    known = owner | actors
    wrote: dict[str, list] = {}
    for ident, name, n, first, last in reader.q(
        """
        SELECT coalesce(sender_identifier, ''), any_value(coalesce(sender, person)), count(*), min(lt),
               max(lt)
        FROM rep_events WHERE counts AND actor IS NULL
          AND person_key NOT LIKE 'actor:%'
        GROUP BY 1, CASE WHEN sender_identifier IS NULL THEN coalesce(sender, person) END
        """
    ):
        if ident and ident in known:
            continue
        key = ident or "name:" + (name or "")
        wrote[key] = [ident or None, name, n, 0, first, last]
    actor_list = list(actors)
    for ident, _kind, n, first, last in reader.q(
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
            "identifier": reader.r.identifier(ident) if ident else "",
            "name": reader.t(name) or "",
            "wrote": n_wrote,
            "written_to": n_to,
            "first": shown_time(first, "minute"),
            "last": shown_time(last, "minute"),
        }
        for ident, name, n_wrote, n_to, first, last in wrote.values()
    ]
    out.sort(key=lambda p: (-p["written_to"], -p["wrote"], p["name"], p["identifier"]))
    return out
