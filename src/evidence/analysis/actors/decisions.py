"""Analyst decisions about actors: the append-only record (actor_decisions) and how it is read back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evidence.analysis.actors.keys import ACTIONS, label_key, pair_of
from evidence.errors import ActorError
from evidence.identifiers import Identifier, guess_identifier


@dataclass(frozen=True)
class Decision:
    seq: int
    examiner: str
    action: str
    actor_label: str | None
    identifier_id: str
    other_identifier_id: str | None
    suggestion_id: str | None
    reason: str | None


def load_decisions(con: Any) -> list[Decision]:
    rows = con.execute(
        "SELECT decision_seq, examiner, action, actor_label, identifier_id, other_identifier_id, suggestion_id, "
        "reason FROM actor_decisions ORDER BY decision_seq"
    ).fetchall()
    return [Decision(*row) for row in rows]


def latest_decisions(
    decisions: list[Decision],
) -> tuple[dict[tuple[str, str], Decision], dict[tuple[str, str], Decision]]:
    """Latest decision per identifier pair (confirm/reject) and per (actor label, identifier) (link/unlink)."""
    pairs: dict[tuple[str, str], Decision] = {}
    links: dict[tuple[str, str], Decision] = {}
    for d in decisions:
        if d.action in ("confirm", "reject"):
            pairs[pair_of(d.identifier_id, d.other_identifier_id or d.identifier_id)] = d
        elif d.action in ("link", "unlink") and d.actor_label:
            links[(label_key(d.actor_label), d.identifier_id)] = d
    return pairs, links


def _shown(con: Any, ident_id: str) -> str:
    row = con.execute(
        "SELECT kind || ':' || value FROM identifiers WHERE identifier_id = ?", [ident_id]
    ).fetchone()
    return row[0] if row else ident_id


def resolve_identifier(con: Any, raw: str, region: str = "GB", must_exist: bool = False) -> Identifier:
    """An identifier typed by an analyst: an identifier_id, kind:value, or a value read by its shape."""
    text = raw.strip()
    row = con.execute(
        "SELECT identifier_id, kind, value, raw, is_valid, flags FROM identifiers WHERE identifier_id = ?",
        [text],
    ).fetchone()
    if row:
        return Identifier(row[1], row[2], row[3] or row[2], row[4], tuple(row[5] or ()))
    ident = guess_identifier(text, region)
    if ident is None:
        raise ActorError(f"{raw!r} is not an identifier (email, phone, handle, URL, IP or device)")
    if (
        must_exist
        and not con.execute(
            "SELECT 1 FROM identifiers WHERE identifier_id = ?", [ident.identifier_id]
        ).fetchone()
    ):
        raise ActorError(f"{ident.kind}:{ident.value} does not appear in this case")
    return ident


def _next_seq(con: Any) -> int:
    return int(con.execute("SELECT coalesce(max(decision_seq), 0) FROM actor_decisions").fetchone()[0]) + 1


def record_decision(
    con: Any,
    *,
    examiner: str,
    action: str,
    identifier_id: str,
    actor_label: str | None = None,
    other_identifier_id: str | None = None,
    suggestion_id: str | None = None,
    reason: str | None = None,
    source: str = "cli",
) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ActorError(f"unknown decision {action!r}")
    seq = _next_seq(con)
    identifier = _shown(con, identifier_id)
    other = _shown(con, other_identifier_id) if other_identifier_id else None
    con.execute(
        "INSERT INTO actor_decisions VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            seq,
            examiner,
            action,
            actor_label,
            identifier_id,
            identifier,
            other_identifier_id,
            other,
            suggestion_id,
            reason,
            source,
        ],
    )
    return {
        "decision_seq": seq,
        "action": action,
        "actor": actor_label,
        "identifier": identifier,
        "other_identifier": other,
        "suggestion_id": suggestion_id,
        "reason": reason,
        "source": source,
        "examiner": examiner,
    }
