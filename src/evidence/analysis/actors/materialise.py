"""Actors: the people behind identifiers, built only from evidence and analyst decisions (DESIGN principle 4).

Three layers, so that nothing is merged silently and nothing an analyst decided is ever lost:

- `actor_suggestions` (derived, rebuilt after every load): pairs of identifiers that evidence links, each
  with a confidence and a reason that cites the messages. Rules:
    same_display_name             two addresses/accounts that sent messages under the same name
    same_number_across_platforms  one phone number seen on two platforms (WhatsApp sender = SMS address)
    new_identifier_message        "this is my new number", "add me on instagram.com/x", "X changed to Y"
- `actor_decisions` (append-only, kept for good): confirm / reject a suggestion, link / unlink an
  identifier to a named actor (CLI or alias file). Every decision is also a custody log entry.
- `actors` / `actor_identifiers` (derived): confirmed actors are the connected components of confirmed
  pairs and analyst links (confirmed = TRUE, confidence 1); the account owner's identifiers (--owner of
  every run) form the `owner` actor; open suggestions appear as `suggested` actors or as unconfirmed
  members (confirmed = FALSE) of a confirmed actor. The timeline shows those as "label (suggested)".

Everything derived is rebuilt from the data plus the decisions, so re-ingesting re-applies every decision.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from evidence.analysis.actors.decisions import Decision, latest_decisions, load_decisions
from evidence.analysis.actors.keys import (
    OWNER_ACTOR_ID,
    OWNER_LABEL,
    label_key,
    short_hash,
    suggestion_id_for,
)
from evidence.analysis.actors.rules import collect_evidence
from evidence.analysis.scope import LinkScope
from evidence.db import insert_rows
from evidence.identifiers import Identifier, guess_identifier

# --- owner ---------------------------------------------------------------------------------------------


def owner_identifiers(con: Any) -> dict[str, tuple[Identifier, str]]:
    """identifier_id -> (identifier, run_id) for every --owner given in any run, read with that run's region."""
    found: dict[str, tuple[Identifier, str]] = {}
    rows = con.execute(
        "SELECT run_id, json_extract(parameters, '$.owners')::VARCHAR[], "
        "json_extract_string(parameters, '$.region') FROM ingest_runs ORDER BY started_at, run_id"
    ).fetchall()
    for run_id, owners, region in rows:
        for raw in owners or []:
            ident = guess_identifier(raw, region or "GB")
            if ident is not None:
                found.setdefault(ident.identifier_id, (ident, run_id))
    return found


# --- suggestions: the evidence per pair -----------------------------------------------------------------


@dataclass
class Suggestion:
    a: str
    b: str
    confidence: float = 0.0
    reasons: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    label_hint: str | None = None


def load_suggestions(con: Any, owners: set[str]) -> dict[tuple[str, str], Suggestion]:
    """Every pair the stored evidence names (owner identifiers left out), strongest evidence first."""
    pairs: dict[tuple[str, str], Suggestion] = {}
    rows = con.execute(
        "SELECT identifier_id, other_identifier_id, rule, confidence, reason, message_ids, label_hint "
        "FROM actor_evidence ORDER BY confidence DESC, evidence_id"
    ).fetchall()
    for a, b, rule, confidence, reason, messages, label in rows:
        if a in owners or b in owners:
            continue
        s = pairs.setdefault((a, b), Suggestion(a, b))
        s.confidence = max(s.confidence, confidence)
        if reason not in s.reasons:
            s.reasons.append(reason)
        if rule not in s.rules:
            s.rules.append(rule)
        for m in messages:
            if m not in s.message_ids and len(s.message_ids) < 20:
                s.message_ids.append(m)
        s.label_hint = s.label_hint or label
    return pairs


def load_names(con: Any) -> dict[str, Counter]:
    """Display names each identifier used in exported messages (never OCR), with their counts."""
    names: dict[str, Counter] = defaultdict(Counter)
    for ident, name, count in con.execute(
        "SELECT identifier_id, name, messages FROM identifier_names"
    ).fetchall():
        names[ident][name] += count
    return names


# --- decisions -----------------------------------------------------------------------------------------


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> dict[Any, list[Any]]:
        out: dict[Any, list[Any]] = defaultdict(list)
        for x in list(self.parent):
            out[self.find(x)].append(x)
        return out


# --- materialising actors ------------------------------------------------------------------------------


@dataclass
class _Member:
    confidence: float
    confirmed: bool
    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)


def _reason_text(reasons: list[str], limit: int = 3) -> str:
    text = "; ".join(reasons[:limit])
    return text + (f"; and {len(reasons) - limit} more" if len(reasons) > limit else "")


def rebuild_actors(con: Any) -> dict[str, Any]:
    """Recompute suggestions, then actors and actor_identifiers, from the data and every decision."""
    owners_found = owner_identifiers(con)
    owners = set(owners_found)
    suggestions = load_suggestions(con, owners)
    names = load_names(con)
    decisions = load_decisions(con)
    pair_decisions, link_decisions = latest_decisions(decisions)
    wanted = {i for pair in suggestions for i in pair} | {d.identifier_id for d in decisions}
    wanted |= {d.other_identifier_id for d in decisions if d.other_identifier_id}
    values = dict(
        con.execute(
            "SELECT identifier_id, kind || ':' || value FROM identifiers "
            "WHERE identifier_id IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(wanted)],
        ).fetchall()
    )
    for ident, _ in owners_found.values():
        values.setdefault(ident.identifier_id, f"{ident.kind}:{ident.value}")

    # confirmed components: confirmed pairs, analyst links, the owner
    uf = _UnionFind()
    member_reasons: dict[str, list[str]] = defaultdict(list)
    label_first: dict[str, tuple[int, str]] = {}
    for (folded, ident_id), d in link_decisions.items():
        if d.action != "link":
            continue
        uf.union(("l", folded), ("i", ident_id))
        label_first.setdefault(folded, (d.seq, d.actor_label or folded))
        member_reasons[ident_id].append(
            f"linked to '{d.actor_label}' by {d.examiner}: {d.reason or 'no reason given'}"
        )
    confirm_labels: dict[Any, tuple[int, str]] = {}
    for (a, b), d in pair_decisions.items():
        if d.action != "confirm":
            continue
        uf.union(("i", a), ("i", b))
        if d.actor_label:
            confirm_labels[("i", a)] = min(
                confirm_labels.get(("i", a), (d.seq, d.actor_label)), (d.seq, d.actor_label)
            )
        why = f"confirmed {d.suggestion_id or suggestion_id_for(a, b)} by {d.examiner}"
        why += f": {d.reason}" if d.reason else ""
        for ident_id in {a, b}:
            member_reasons[ident_id].append(why)
    for ident_id, (_ident, run_id) in owners_found.items():
        uf.union(("o", OWNER_ACTOR_ID), ("i", ident_id))
        member_reasons[ident_id].append(f"named as the account owner (--owner) in run {run_id}")

    actors: dict[str, dict[str, Any]] = {}
    members: dict[tuple[str, str], _Member] = {}
    confirmed_actor_of: dict[str, str] = {}
    for nodes in uf.groups().values():
        idents = sorted(n[1] for n in nodes if n[0] == "i")
        if not idents:
            continue
        labels = sorted(label_first[n[1]] for n in nodes if n[0] == "l")
        hints = sorted(confirm_labels[n] for n in nodes if n in confirm_labels)
        if any(n[0] == "o" for n in nodes):
            actor_id, status = OWNER_ACTOR_ID, "owner"
            label = labels[0][1] if labels else OWNER_LABEL
        else:
            status = "confirmed"
            if labels:
                actor_id, label = f"a-{short_hash(label_key(labels[0][1]))}", labels[0][1]
            else:
                actor_id = f"a-{short_hash(idents[0])}"
                label = hints[0][1] if hints else _best_name(idents, names, values)
        actors[actor_id] = {"actor_id": actor_id, "label": label, "status": status}
        for ident_id in idents:
            member = members[(actor_id, ident_id)] = _Member(1.0, True)
            for reason in member_reasons[ident_id]:
                member.add(reason)
            confirmed_actor_of[ident_id] = actor_id

    # open suggestions
    open_uf = _UnionFind()
    open_edges: list[Suggestion] = []
    rows: list[dict[str, Any]] = []
    for (a, b), s in sorted(suggestions.items()):
        decided = pair_decisions.get((a, b))
        status = {"confirm": "confirmed", "reject": "rejected"}[decided.action] if decided else "suggested"
        if (
            decided is None
            and a in confirmed_actor_of
            and confirmed_actor_of.get(a) == confirmed_actor_of.get(b)
        ):
            status = "confirmed"
        if decided is None and _unlinked(link_decisions, a, b, actors, confirmed_actor_of):
            status = "rejected"
        rows.append(
            {
                "suggestion_id": suggestion_id_for(a, b),
                "identifier_id": a,
                "other_identifier_id": b,
                "confidence": round(s.confidence, 3),
                "reason": _reason_text(s.reasons),
                "rules": s.rules,
                "message_ids": s.message_ids,
                "label_hint": s.label_hint,
                "status": status,
            }
        )
        if status != "suggested":
            continue
        open_edges.append(s)
        in_a, in_b = confirmed_actor_of.get(a), confirmed_actor_of.get(b)
        if in_a is None and in_b is None:
            open_uf.union(a, b)
        for inside, outside in ((in_a, b), (in_b, a)):
            if inside is not None and confirmed_actor_of.get(outside) != inside:
                _suggest_member(members, inside, outside, s)
    # Each group's edges through an index by identifier, in open_edges order: scanning every edge for every
    # group took time growing with the square of the suggestions (20,000 of them: four minutes).
    edges_of: dict[str, list[int]] = defaultdict(list)
    for position, s in enumerate(open_edges):
        edges_of[s.a].append(position)
        edges_of[s.b].append(position)
    for idents in open_uf.groups().values():
        idents = sorted(idents)
        edges = [open_edges[k] for k in sorted({k for i in idents for k in edges_of[i]})]
        actor_id = f"s-{short_hash(idents[0])}"
        hints = [s.label_hint for s in edges if s.label_hint]
        if hints and not any(names.get(i) for i in idents):
            label = Counter(hints).most_common(1)[0][0]
        else:
            label = _best_name(idents, names, values)
        actors[actor_id] = {"actor_id": actor_id, "label": label, "status": "suggested"}
        for s in edges:
            for ident_id in {s.a, s.b}:
                if confirmed_actor_of.get(ident_id) is None:
                    _suggest_member(members, actor_id, ident_id, s)

    _write(con, actors, members, rows, owners_found, values)
    return {
        "actors": sum(1 for a in actors.values() if a["status"] != "suggested"),
        "suggested_actors": sum(1 for a in actors.values() if a["status"] == "suggested"),
        "suggestions": sum(1 for r in rows if r["status"] == "suggested"),
        "decisions": len(decisions),
    }


def _unlinked(
    links: dict[tuple[str, str], Decision],
    a: str,
    b: str,
    actors: dict[str, dict[str, Any]],
    actor_of: dict[str, str],
) -> bool:
    """A suggestion that would put an identifier back into an actor it was unlinked from."""
    for inside, outside in ((a, b), (b, a)):
        actor_id = actor_of.get(inside)
        if actor_id is None:
            continue
        d = links.get((label_key(actors[actor_id]["label"]), outside))
        if d is not None and d.action == "unlink":
            return True
    return False


def _suggest_member(
    members: dict[tuple[str, str], _Member], actor_id: str, ident_id: str, s: Suggestion
) -> None:
    member = members.get((actor_id, ident_id))
    if member is None:
        member = members[(actor_id, ident_id)] = _Member(s.confidence, False)
    if member.confirmed:
        return
    member.confidence = max(member.confidence, s.confidence)
    member.add(f"suggested ({suggestion_id_for(s.a, s.b)}, confidence {s.confidence:.2f}): {s.reasons[0]}")


def _best_name(idents: list[str], names: dict[str, Counter], values: dict[str, str]) -> str:
    total: Counter = Counter()
    for ident_id in idents:
        total.update(names.get(ident_id, Counter()))
    if total:
        return total.most_common(1)[0][0]
    return values.get(idents[0], idents[0]).split(":", 1)[-1]


def _write(
    con: Any,
    actors: dict[str, dict[str, Any]],
    members: dict[tuple[str, str], _Member],
    suggestions: list[dict[str, Any]],
    owners_found: dict[str, tuple[Identifier, str]],
    values: dict[str, str],
) -> None:
    """Replace the derived tables (never actor_decisions) in one go, through Arrow."""
    missing = [ident for ident, _ in owners_found.values()]
    ensure_identifiers(con, missing)
    member_rows = [
        {
            "actor_id": actor_id,
            "identifier_id": ident_id,
            "confidence": round(m.confidence, 3),
            "reason": _reason_text(m.reasons),
            "confirmed": m.confirmed,
        }
        for (actor_id, ident_id), m in sorted(members.items())
    ]
    for table, rows in (
        ("actors", list(actors.values())),
        ("actor_identifiers", member_rows),
        ("actor_suggestions", suggestions),
    ):
        con.execute(f"DELETE FROM {table}")
        insert_rows(con, table, rows)


def ensure_identifiers(con: Any, idents: list[Identifier]) -> None:
    """Identifiers named by an analyst or --owner that no message has yet still get an identifiers row."""
    insert_rows(con, "identifiers", [ident.row() for ident in idents], or_ignore=True)


def actor_step(con: Any, scope: LinkScope) -> dict[str, Any]:
    """After every load: the run's evidence is added, then actors are rebuilt from the evidence and every
    analyst decision (work follows the evidence and decisions, not the messages of the case)."""
    evidence = collect_evidence(con, scope, set(owner_identifiers(con)))
    return {"evidence": evidence, **rebuild_actors(con)}


# --- analyst decisions (used by the CLI) ---------------------------------------------------------------


# --- alias files ---------------------------------------------------------------------------------------
