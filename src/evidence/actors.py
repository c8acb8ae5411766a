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

import bisect
import csv
import hashlib
import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evidence.db import insert_rows
from evidence.errors import ActorError
from evidence.identifiers import Identifier, guess_identifier, parse_address_list
from evidence.link import link_step

OWNER_ACTOR_ID = "owner"
OWNER_LABEL = "account owner"
PERSON_KINDS = ("email", "phone", "handle")
ACTIONS = ("confirm", "reject", "link", "unlink")

# Messages in which someone announces another identifier of theirs (RE2 syntax, run inside DuckDB).
NEW_IDENTIFIER_PATTERN = (
    r"(?i)\b(new|other|second|backup|spare|different|burner)\s+(number|no\b|phone|mobile|cell|sim|account|"
    r"acc\b|profile|page|handle|email|e-mail|address|insta|instagram|snap|snapchat|whatsapp|telegram|"
    r"tiktok|facebook|fb\b|twitter)|\b(this is|it'?s|its)\s+(me|still me)\b|"
    r"\b(text|message|msg|call|ring|add|contact|reach|find|follow)\s+me\s+(on|at)\b|"
    r"\bmy\s+(new\s+)?(number|phone|mobile|email|insta|instagram|snap|snapchat|telegram|whatsapp|account|"
    r"handle)\s+(is|now)\b|\bchanged\s+(my\s+|their\s+|his\s+|her\s+)?(phone\s+)?(number|phone)\b|"
    r"\bchanged to\s+\+?\d"
)
# How many of a sender's first messages may announce a new identifier without naming it.
FIRST_MESSAGES = 3
_GENERIC_NAMES = {"me", "you", "unknown", "null", "user", "deleted user", "owner"}


def short_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def suggestion_id_for(a: str, b: str) -> str:
    """Stable id of the pair, whatever order the identifiers come in."""
    low, high = sorted((a, b))
    return f"s-{short_hash(low + '|' + high)}"


def _pair(a: str, b: str) -> tuple[str, str]:
    low, high = sorted((a, b))
    return low, high


def _label_key(label: str) -> str:
    return " ".join(label.split()).casefold()


def display_name(sender: str | None, value: str | None) -> str | None:
    """The human name a sender used (display name of 'Name <addr>', or a chat name); None if it is only
    the identifier itself, a phone number or a generic word."""
    if not sender:
        return None
    name = sender
    if "<" in sender and "@" in sender:
        pairs = parse_address_list(sender)
        name = pairs[0][0] if pairs else ""
    name = " ".join(name.strip().strip("\"'").split())
    folded = name.casefold()
    if len(name) < 3 or folded in _GENERIC_NAMES or "@" in name:
        return None
    if value and folded in (value.casefold(), value.casefold().split(":", 1)[-1]):
        return None
    if sum(ch.isdigit() for ch in name) >= 7:
        return None
    return name


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


# --- suggestions ---------------------------------------------------------------------------------------


@dataclass
class _Suggestion:
    a: str
    b: str
    confidence: float = 0.0
    reasons: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    label_hint: str | None = None

    def add(self, confidence: float, reason: str, rule: str, messages: list[str], label: str | None) -> None:
        self.confidence = max(self.confidence, confidence)
        if reason not in self.reasons:
            self.reasons.append(reason)
        if rule not in self.rules:
            self.rules.append(rule)
        for m in messages:
            if m not in self.message_ids and len(self.message_ids) < 20:
                self.message_ids.append(m)
        if self.label_hint is None and label:
            self.label_hint = label


class _Suggestions:
    def __init__(self) -> None:
        self.pairs: dict[tuple[str, str], _Suggestion] = {}

    def add(
        self,
        a: str,
        b: str,
        confidence: float,
        reason: str,
        rule: str,
        messages: list[str],
        label: str | None = None,
    ) -> None:
        key = _pair(a, b)
        self.pairs.setdefault(key, _Suggestion(*key)).add(confidence, reason, rule, messages, label)


def _day(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d") if moment else "an undated message"


def _snippet(text: str | None, limit: int = 100) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _sender_rows(con: Any) -> list[tuple[Any, ...]]:
    return con.execute(
        """
        SELECT mi.identifier_id, i.kind || ':' || i.value, m.platform, m.sender, count(*) AS n,
               min(m.sent_at_utc) AS first_at, min(m.message_id) AS example
        FROM messages m
        JOIN message_identifiers mi ON mi.message_id = m.message_id AND mi.role = 'sender'
        JOIN identifiers i ON i.identifier_id = mi.identifier_id
        WHERE m.duplicate_of IS NULL AND i.kind IN ('email', 'phone', 'handle')
        GROUP BY ALL
        ORDER BY first_at NULLS LAST, 1, 3, 4
        """
    ).fetchall()


def _same_display_name(con: Any, owners: set[str], out: _Suggestions, names: dict[str, Counter]) -> None:
    """Two identifiers that sent messages under the same display name."""
    by_name: dict[str, list[tuple[str, str, str, int, datetime | None, str, str]]] = defaultdict(list)
    for ident_id, shown, platform, sender, n, first_at, example in _sender_rows(con):
        name = display_name(sender, shown.split(":", 1)[1])
        if name is None:
            continue
        names[ident_id][name] += n
        if ident_id in owners:
            continue
        by_name[name.casefold()].append((ident_id, shown, platform, n, first_at, example, name))
    for entries in by_name.values():
        first: dict[str, tuple[str, str, str, int, datetime | None, str, str]] = {}
        for entry in entries:
            first.setdefault(entry[0], entry)
        if len(first) < 2:
            continue
        anchor, *others = list(first.values())
        for other in others:
            same_platform = anchor[2] == other[2]
            out.add(
                anchor[0],
                other[0],
                0.6 if same_platform else 0.4,
                f"both sent messages as '{anchor[6]}': {anchor[1]} ({anchor[3]} on {anchor[2]}, first "
                f"{_day(anchor[4])}) and {other[1]} ({other[3]} on {other[2]}, first {_day(other[4])})",
                "same_display_name",
                [anchor[5], other[5]],
                anchor[6],
            )


def _same_number_across_platforms(
    con: Any, owners: set[str], out: _Suggestions, names: dict[str, Counter]
) -> None:
    """One phone number used on two platforms (a WhatsApp sender number equal to an SMS address)."""
    rows = con.execute(
        """
        SELECT mi.identifier_id, i.value, m.platform, count(*) AS n, min(m.message_id),
               mode(CASE WHEN mi.role = 'sender' THEN m.sender ELSE m.conversation END)
        FROM messages m
        JOIN message_identifiers mi ON mi.message_id = m.message_id AND mi.role IN ('sender', 'recipient')
        JOIN identifiers i ON i.identifier_id = mi.identifier_id
        WHERE m.duplicate_of IS NULL AND i.kind = 'phone'
        GROUP BY ALL
        ORDER BY 1, 3
        """
    ).fetchall()
    by_ident: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        if row[0] not in owners:
            by_ident[row[0]].append(row)
        name = display_name(row[5], row[1])
        if name:
            names[row[0]][name] += row[3]
    for ident_id, platforms in by_ident.items():
        if len(platforms) < 2:
            continue
        value = platforms[0][1]
        seen = ", ".join(f"{p[2]} ({p[3]} message{'s' if p[3] != 1 else ''})" for p in platforms)
        label = names[ident_id].most_common(1)[0][0] if names[ident_id] else None
        out.add(
            ident_id,
            ident_id,
            0.9,
            f"the same number {value} appears on {seen}" + (f"; it is shown as '{label}'" if label else ""),
            "same_number_across_platforms",
            [p[4] for p in platforms],
            label,
        )


def _new_identifier_messages(con: Any, owners: set[str], out: _Suggestions) -> None:
    """Messages announcing another identifier: the sender and what the message names belong together."""
    rows = con.execute(
        """
        SELECT m.message_id, m.platform, m.conversation, m.sender, m.sent_at_utc, m.body,
               (SELECT mi.identifier_id FROM message_identifiers mi JOIN identifiers i USING (identifier_id)
                WHERE mi.message_id = m.message_id AND mi.role = 'sender' AND i.kind IN ('email', 'phone', 'handle')
                ORDER BY 1 LIMIT 1) AS sender_id,
               list(DISTINCT i.identifier_id ORDER BY i.identifier_id)
                   FILTER (WHERE mi.role = 'mentioned' AND i.kind IN ('email', 'phone', 'handle')) AS mentioned
        FROM messages m
        LEFT JOIN message_identifiers mi ON mi.message_id = m.message_id
        LEFT JOIN identifiers i ON i.identifier_id = mi.identifier_id
        WHERE m.duplicate_of IS NULL AND m.body IS NOT NULL AND regexp_matches(m.body, ?)
        GROUP BY ALL
        ORDER BY m.sent_at_utc NULLS LAST, m.message_id
        """,
        [NEW_IDENTIFIER_PATTERN],
    ).fetchall()
    if not rows:
        return
    values = dict(con.execute("SELECT identifier_id, kind || ':' || value FROM identifiers").fetchall())
    send_times = _send_times(con, sorted({r[6] for r in rows if r[6]}), FIRST_MESSAGES)
    for message_id, platform, conversation, sender, sent_at, body, sender_id, mentioned in rows:
        if sender_id in owners:
            continue
        named = [i for i in (mentioned or []) if i not in owners and i != sender_id]
        said = f'{sender or "a message"} wrote on {_day(sent_at)} ({platform}): "{_snippet(body)}"'
        label = display_name(sender, values.get(sender_id or "", "").split(":", 1)[-1])
        if sender_id and named:
            for other in named:
                out.add(sender_id, other, 0.7, said, "new_identifier_message", [message_id], label)
        elif named and len(named) >= 2 and re.search(r"(?i)changed", body or ""):
            out.add(named[0], named[1], 0.8, said, "new_identifier_message", [message_id], None)
        elif named:
            for other in named:
                out.add(other, other, 0.6, said, "new_identifier_message", [message_id], label)
        elif sender_id:
            earlier = (
                bisect.bisect_left(send_times.get(sender_id, []), sent_at) if sent_at else FIRST_MESSAGES
            )
            if earlier < FIRST_MESSAGES:
                _previous_sender(
                    con, owners, out, message_id, sender_id, sent_at, platform, conversation, said, label
                )


def _send_times(con: Any, sender_ids: list[str], first: int) -> dict[str, list[datetime]]:
    """The `first` earliest send times of each identifier's canonical messages, sorted (one query for all
    candidates). Enough to tell whether fewer than `first` were sent before a moment, without turning
    every send time of a large case into a Python datetime."""
    times: dict[str, list[datetime]] = defaultdict(list)
    if not sender_ids:
        return times
    for identifier, sent_at in con.execute(
        """
        SELECT mi.identifier_id, m.sent_at_utc FROM message_identifiers mi JOIN messages m USING (message_id)
        WHERE mi.role = 'sender' AND m.duplicate_of IS NULL AND m.sent_at_utc IS NOT NULL
          AND mi.identifier_id IN (SELECT unnest(?::VARCHAR[]))
        QUALIFY row_number() OVER (PARTITION BY mi.identifier_id ORDER BY m.sent_at_utc) <= ?
        ORDER BY 1, 2
        """,
        [sender_ids, first],
    ).fetchall():
        times[identifier].append(sent_at)
    return times


def _previous_sender(
    con: Any,
    owners: set[str],
    out: _Suggestions,
    message_id: str,
    sender_id: str,
    sent_at: datetime | None,
    platform: str,
    conversation: str | None,
    said: str,
    label: str | None,
) -> None:
    """'New address' without naming the old one: link to the last other sender who wrote to the same person
    (or in the same chat) before, if this is one of the new identifier's first messages."""
    if sent_at is None:
        return
    owner_list = sorted(owners) or [""]
    row = con.execute(
        f"""
        SELECT s.identifier_id, si.kind || ':' || si.value, p.sent_at_utc, p.message_id,
               (SELECT string_agg(DISTINCT ri.value, ', ') FROM message_identifiers r
                JOIN identifiers ri ON ri.identifier_id = r.identifier_id
                WHERE r.message_id = ? AND r.role = 'recipient') AS recipients
        FROM messages p
        JOIN message_identifiers s ON s.message_id = p.message_id AND s.role = 'sender'
        JOIN identifiers si ON si.identifier_id = s.identifier_id
        WHERE p.duplicate_of IS NULL AND p.sent_at_utc < ? AND s.identifier_id <> ?
          AND si.kind = (SELECT kind FROM identifiers WHERE identifier_id = ?)
          AND s.identifier_id NOT IN ({", ".join("?" for _ in owner_list)})
          AND ((p.platform = ? AND p.conversation IS NOT DISTINCT FROM ?)
               OR EXISTS (SELECT 1 FROM message_identifiers a JOIN message_identifiers b
                          ON a.identifier_id = b.identifier_id
                          WHERE a.message_id = p.message_id AND a.role = 'recipient'
                            AND b.message_id = ? AND b.role = 'recipient'))
        ORDER BY p.sent_at_utc DESC, p.message_id
        LIMIT 1
        """,
        [message_id, sent_at, sender_id, sender_id, *owner_list, platform, conversation, message_id],
    ).fetchone()
    if row is None:
        return
    other, shown, when, other_message, recipients = row
    to = f" to {recipients}" if recipients else ""
    out.add(
        sender_id,
        other,
        0.4,
        f"{said}; the last different sender{to} before it was {shown} ({_day(when)})",
        "new_identifier_message",
        [message_id, other_message],
        label,
    )


def build_suggestions(con: Any, owners: set[str]) -> tuple[_Suggestions, dict[str, Counter]]:
    out = _Suggestions()
    names: dict[str, Counter] = defaultdict(Counter)
    _same_display_name(con, owners, out, names)
    _same_number_across_platforms(con, owners, out, names)
    _new_identifier_messages(con, owners, out)
    return out, names


# --- decisions -----------------------------------------------------------------------------------------


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


def _latest(
    decisions: list[Decision],
) -> tuple[dict[tuple[str, str], Decision], dict[tuple[str, str], Decision]]:
    """Latest decision per identifier pair (confirm/reject) and per (actor label, identifier) (link/unlink)."""
    pairs: dict[tuple[str, str], Decision] = {}
    links: dict[tuple[str, str], Decision] = {}
    for d in decisions:
        if d.action in ("confirm", "reject"):
            pairs[_pair(d.identifier_id, d.other_identifier_id or d.identifier_id)] = d
        elif d.action in ("link", "unlink") and d.actor_label:
            links[(_label_key(d.actor_label), d.identifier_id)] = d
    return pairs, links


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
    suggestions, names = build_suggestions(con, owners)
    decisions = load_decisions(con)
    pair_decisions, link_decisions = _latest(decisions)
    values = dict(con.execute("SELECT identifier_id, kind || ':' || value FROM identifiers").fetchall())
    for ident, _ in owners_found.values():
        values.setdefault(ident.identifier_id, f"{ident.kind}:{ident.value}")

    # confirmed components: confirmed pairs, analyst links, the owner
    uf = _UnionFind()
    member_reasons: dict[str, list[str]] = defaultdict(list)
    label_first: dict[str, tuple[int, str]] = {}
    for (label_key, ident_id), d in link_decisions.items():
        if d.action != "link":
            continue
        uf.union(("l", label_key), ("i", ident_id))
        label_first.setdefault(label_key, (d.seq, d.actor_label or label_key))
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
                actor_id, label = f"a-{short_hash(_label_key(labels[0][1]))}", labels[0][1]
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
    open_edges: list[_Suggestion] = []
    rows: list[dict[str, Any]] = []
    for (a, b), s in sorted(suggestions.pairs.items()):
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
    for idents in open_uf.groups().values():
        idents = sorted(idents)
        actor_id = f"s-{short_hash(idents[0])}"
        hints = [s.label_hint for s in open_edges if s.label_hint and (s.a in idents or s.b in idents)]
        if hints and not any(names.get(i) for i in idents):
            label = Counter(hints).most_common(1)[0][0]
        else:
            label = _best_name(idents, names, values)
        actors[actor_id] = {"actor_id": actor_id, "label": label, "status": "suggested"}
        for s in open_edges:
            if s.a in idents or s.b in idents:
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
        d = links.get((_label_key(actors[actor_id]["label"]), outside))
        if d is not None and d.action == "unlink":
            return True
    return False


def _suggest_member(
    members: dict[tuple[str, str], _Member], actor_id: str, ident_id: str, s: _Suggestion
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
    _ensure_identifiers(con, missing)
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


def _ensure_identifiers(con: Any, idents: list[Identifier]) -> None:
    """Identifiers named by an analyst or --owner that no message has yet still get an identifiers row."""
    insert_rows(con, "identifiers", [ident.row() for ident in idents], or_ignore=True)


@link_step("actors")
def actor_step(con: Any, run_id: str) -> dict[str, Any]:
    """After every load: new evidence may add suggestions; every analyst decision is applied again."""
    return rebuild_actors(con)


# --- analyst decisions (used by the CLI) ---------------------------------------------------------------


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


def _record(
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
) -> list[dict[str, Any]]:
    """Confirm or reject suggestions (by suggestion id, or all open ones of a suggested actor)."""
    if action not in ("confirm", "reject"):
        raise ActorError(f"unknown decision {action!r}")
    records = []
    for key in keys:
        actor_label = _actor_label_of(con, key)
        for sid, a, b, hint, _status in _suggestions_for(con, key):
            records.append(
                _record(
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
                )
            )
    rebuild_actors(con)
    return records


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
        _link_one(con, label, raw, examiner=examiner, reason=reason, region=region, source=source)
        for raw in identifiers
    ]
    rebuild_actors(con)
    return records


def _link_one(
    con: Any, label: str, raw: str, *, examiner: str, reason: str | None, region: str, source: str
) -> dict[str, Any]:
    """One analyst link of an identifier to the actor with this label, as a recorded decision."""
    ident = resolve_identifier(con, raw, region)
    _ensure_identifiers(con, [ident])
    return _record(
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
            _record(
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
                    _record(
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


# --- alias files ---------------------------------------------------------------------------------------


def read_alias_file(path: Path) -> list[tuple[str, str, str | None]]:
    """(actor label, identifier, reason) rows from an analyst's alias file.

    CSV: a header with actor (or label/name/person) and identifier (or value/alias), optional kind and
    reason. YAML: a list of {actor, identifiers: [...], reason}, or a mapping actor -> [identifiers].
    """
    text = Path(path).read_text(encoding="utf-8-sig")
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        return _alias_yaml(text)
    return _alias_csv(text)


def _pick(row: dict[str, str], *names: str) -> str | None:
    for name in names:
        value = row.get(name)
        if value and value.strip():
            return value.strip()
    return None


def _alias_csv(text: str) -> list[tuple[str, str, str | None]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise ActorError("the alias file is empty")
    reader.fieldnames = [f.strip().lower() for f in reader.fieldnames]
    if not {"actor", "label", "name", "person"} & set(reader.fieldnames) or not {
        "identifier",
        "value",
        "alias",
    } & set(reader.fieldnames):
        raise ActorError(
            "an alias CSV needs a header with columns actor and identifier (optional: kind, reason)"
        )
    rows = []
    for number, row in enumerate(reader, start=2):
        actor = _pick(row, "actor", "label", "name", "person")
        value = _pick(row, "identifier", "value", "alias")
        if not actor and not value:
            continue
        if not actor or not value:
            raise ActorError(f"alias file line {number}: both actor and identifier are needed")
        kind = _pick(row, "kind")
        rows.append((actor, f"{kind}:{value}" if kind else value, _pick(row, "reason", "note", "source")))
    return rows


def _alias_yaml(text: str) -> list[tuple[str, str, str | None]]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ActorError(f"the alias file is not valid YAML: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("actors"), list):
        data = data["actors"]
    rows: list[tuple[str, str, str | None]] = []
    if isinstance(data, dict):
        for actor, idents in data.items():
            for value in idents if isinstance(idents, list) else [idents]:
                rows.append((str(actor), str(value), None))
        return rows
    if not isinstance(data, list):
        raise ActorError(
            "an alias YAML file is a list of {actor, identifiers, reason} or a mapping actor -> list"
        )
    for entry in data:
        if not isinstance(entry, dict) or not (entry.get("actor") or entry.get("label") or entry.get("name")):
            raise ActorError(f"alias entry {entry!r} has no actor")
        actor = str(entry.get("actor") or entry.get("label") or entry.get("name"))
        idents = entry.get("identifiers", entry.get("identifier", []))
        for value in idents if isinstance(idents, list) else [idents]:
            if isinstance(value, dict):
                kind, raw = value.get("kind"), value.get("value")
                value = f"{kind}:{raw}" if kind else raw
            rows.append((actor, str(value), entry.get("reason")))
    return rows


def import_aliases(con: Any, path: Path, *, examiner: str, region: str = "GB") -> list[dict[str, Any]]:
    """Link every (actor, identifier) of an alias file; each row is a decision naming the file and its hash."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    rows = read_alias_file(path)
    if not rows:
        raise ActorError(f"no aliases found in {path}")
    source = f"alias file {path} (sha256 {digest})"
    records = [
        _link_one(
            con,
            actor,
            value,
            examiner=examiner,
            reason=reason or f"alias file {Path(path).name}",
            region=region,
            source=source,
        )
        for actor, value, reason in rows
    ]
    rebuild_actors(con)
    return records
