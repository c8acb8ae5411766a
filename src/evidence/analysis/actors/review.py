"""What an analyst does with actors: confirm or reject suggestions, link or unlink identifiers. Each decision is
recorded, then the actors are rebuilt from the evidence and every decision."""

from __future__ import annotations

from typing import Any

from evidence.analysis.actors.decisions import record_decision, resolve_identifier
from evidence.analysis.actors.keys import suggestion_id_for
from evidence.analysis.actors.materialise import ensure_identifiers, rebuild_actors
from evidence.errors import ActorError


def _suggestions_for(con: Any, key: str) -> list[tuple[str, str, str, str | None, str]]:
    """Suggestions named by a suggestion id, or every open suggestion of a suggested actor id."""
    rows = con.execute(
        "SELECT suggestion_id, identifier_id, other_identifier_id, label_hint, status FROM actor_suggestions "
        "WHERE suggestion_id = ?",
        [key],
    ).fetchall()
    if rows:
        return rows
    members = [
        r[0]
        for r in con.execute(
            "SELECT identifier_id FROM actor_identifiers WHERE actor_id = ? AND NOT confirmed", [key]
        ).fetchall()
    ]
    if not members:
        raise ActorError(f"no suggestion or suggested actor {key!r}: see `evidence actors suggestions`")
    return con.execute(
        "SELECT suggestion_id, identifier_id, other_identifier_id, label_hint, status FROM actor_suggestions "
        "WHERE status = 'suggested' AND (list_contains(?, identifier_id) OR list_contains(?, other_identifier_id))",
        [members, members],
    ).fetchall()


def _actor_label_of(con: Any, key: str) -> str | None:
    row = con.execute("SELECT label FROM actors WHERE actor_id = ?", [key]).fetchone()
    return row[0] if row else None


def decide(
    con: Any,
    action: str,
    keys: list[str],
    *,
    examiner: str,
    label: str | None = None,
    reason: str | None = None,
    source: str = "cli",
) -> list[dict[str, Any]]:
    """Confirm or reject suggestions (by suggestion id, or all open ones of a suggested actor)."""
    if action not in ("confirm", "reject"):
        raise ActorError(f"unknown decision {action!r}")
    records = []
    for key in keys:
        actor_label = _actor_label_of(con, key)
        for sid, a, b, hint, _status in _suggestions_for(con, key):
            records.append(
                record_decision(
                    con,
                    examiner=examiner,
                    action=action,
                    identifier_id=a,
                    other_identifier_id=b,
                    suggestion_id=sid,
                    actor_label=(label or actor_label or hint)
                    if action == "confirm"
                    else (label or actor_label),
                    reason=reason,
                    source=source,
                )
            )
    rebuild_actors(con)
    return records


def open_suggestions_from_run(con: Any, run_id: str) -> list[dict[str, Any]]:
    """Suggestions still open that a run's load found evidence for, strongest first: what to ask an analyst
    about after that load (a suggestion left open earlier comes back when a later run adds evidence)."""
    rows = con.execute(
        """
        SELECT s.suggestion_id, a.kind || ':' || a.value,
               CASE WHEN s.other_identifier_id = s.identifier_id THEN NULL ELSE b.kind || ':' || b.value END,
               s.confidence, s.reason, s.label_hint
        FROM actor_suggestions s
        JOIN identifiers a ON a.identifier_id = s.identifier_id
        JOIN identifiers b ON b.identifier_id = s.other_identifier_id
        WHERE s.status = 'suggested' AND EXISTS (
            SELECT 1 FROM actor_evidence e WHERE e.found_in_run = ?
              AND e.identifier_id = s.identifier_id AND e.other_identifier_id = s.other_identifier_id)
        ORDER BY s.confidence DESC, s.suggestion_id
        """,
        [run_id],
    ).fetchall()
    keys = ("suggestion_id", "identifier", "other_identifier", "confidence", "reason", "label_hint")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def link(
    con: Any,
    actor: str,
    identifiers: list[str],
    *,
    examiner: str,
    reason: str | None = None,
    region: str = "GB",
    source: str = "cli",
) -> list[dict[str, Any]]:
    """Put identifiers into the actor with this label (created if new); confirmed because an analyst said so."""
    label = _actor_label_of(con, actor) or actor.strip()
    if not label:
        raise ActorError("an actor needs a name: --actor 'Alex Marsh'")
    records = [
        link_one(con, label, raw, examiner=examiner, reason=reason, region=region, source=source)
        for raw in identifiers
    ]
    rebuild_actors(con)
    return records


def link_one(
    con: Any, label: str, raw: str, *, examiner: str, reason: str | None, region: str, source: str
) -> dict[str, Any]:
    """One analyst link of an identifier to the actor with this label, as a recorded decision."""
    ident = resolve_identifier(con, raw, region)
    ensure_identifiers(con, [ident])
    return record_decision(
        con,
        examiner=examiner,
        action="link",
        identifier_id=ident.identifier_id,
        actor_label=label,
        reason=reason,
        source=source,
    )


def unlink(
    con: Any,
    actor: str,
    identifiers: list[str],
    *,
    examiner: str,
    reason: str | None = None,
    region: str = "GB",
) -> list[dict[str, Any]]:
    """Take identifiers out of an actor: the link is undone and every pair joining them to it is rejected."""
    row = con.execute(
        "SELECT actor_id, label, status FROM actors WHERE actor_id = ? OR lower(label) = lower(?) "
        "ORDER BY actor_id = ? DESC LIMIT 1",
        [actor, actor, actor],
    ).fetchone()
    if row is None:
        raise ActorError(f"no actor {actor!r}: see `evidence actors list`")
    actor_id, label, status = row
    if status == "owner":
        raise ActorError("the account owner comes from --owner of the runs; it cannot be unlinked here")
    members = [
        r[0]
        for r in con.execute(
            "SELECT identifier_id FROM actor_identifiers WHERE actor_id = ?", [actor_id]
        ).fetchall()
    ]
    records = []
    for raw in identifiers:
        ident = resolve_identifier(con, raw, region)
        if ident.identifier_id not in members:
            raise ActorError(f"{ident.kind}:{ident.value} is not part of actor {label!r}")
        records.append(
            record_decision(
                con,
                examiner=examiner,
                action="unlink",
                identifier_id=ident.identifier_id,
                actor_label=label,
                reason=reason,
            )
        )
        for other in members:
            if other != ident.identifier_id:
                records.append(
                    record_decision(
                        con,
                        examiner=examiner,
                        action="reject",
                        identifier_id=ident.identifier_id,
                        other_identifier_id=other,
                        actor_label=label,
                        suggestion_id=suggestion_id_for(ident.identifier_id, other),
                        reason=reason or f"unlinked from {label}",
                    )
                )
    rebuild_actors(con)
    return records
