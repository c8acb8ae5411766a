"""Suggestion rules: evidence that names two identifiers of one person, each with a confidence and a reason."""

from __future__ import annotations

import bisect
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from evidence.analysis.actors.keys import pair_of
from evidence.identifiers import parse_address_list

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


@dataclass
class Suggestion:
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


class Suggestions:
    def __init__(self) -> None:
        self.pairs: dict[tuple[str, str], Suggestion] = {}

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
        key = pair_of(a, b)
        self.pairs.setdefault(key, Suggestion(*key)).add(confidence, reason, rule, messages, label)


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


def _same_display_name(con: Any, owners: set[str], out: Suggestions, names: dict[str, Counter]) -> None:
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
    con: Any, owners: set[str], out: Suggestions, names: dict[str, Counter]
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


def _new_identifier_messages(con: Any, owners: set[str], out: Suggestions) -> None:
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
    out: Suggestions,
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


def build_suggestions(con: Any, owners: set[str]) -> tuple[Suggestions, dict[str, Counter]]:
    out = Suggestions()
    names: dict[str, Counter] = defaultdict(Counter)
    _same_display_name(con, owners, out, names)
    _same_number_across_platforms(con, owners, out, names)
    _new_identifier_messages(con, owners, out)
    return out, names
