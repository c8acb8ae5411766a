"""Suggestion rules: evidence that names two identifiers of one person, each with a confidence and a reason.

Every rule needs evidence that names both identifiers (DESIGN principle 4):

    same_display_name             two identifiers that sent exported messages under the same display name
    same_number_across_platforms  one phone number on two platforms (a WhatsApp sender and an SMS address)
    own_new_identifier            a first-person announcement ("my new number is 07...", "add me on
                                  instagram.com/x", "it's me") naming another identifier; stronger when
                                  that identifier then writes too
    number_change_notice          a platform's own system line naming the old and the new number

Being the next different sender to the victim is never evidence: a police officer, a solicitor or a
friend writing between two of the stalker's messages must never be linked to the stalker. Someone quoting
another person's number ("his new number is ...") is not a first-person announcement either. Names read
by OCR (screenshot headers) never feed a rule or a label: OCR messages carry no identifiers.

The rules read only what a run loaded (LinkScope), plus lookups into the case through small tables kept
run by run (identifier_names, identifier_platforms), and write actor_evidence; materialise.py turns the
evidence and the analyst's decisions into suggestions and actors.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from evidence.analysis.actors.keys import pair_of, short_hash
from evidence.analysis.scope import LinkScope
from evidence.db import insert_rows
from evidence.identifiers import AT_HANDLE_PLATFORMS, identifiers_in_piece, parse_address_list, scan_matches
from evidence.parsers.enrich import PHRASES

PERSON_KINDS = ("email", "phone", "handle")
_GENERIC_NAMES = {"me", "you", "unknown", "null", "user", "deleted user", "owner", "sender", "no name"}
ANNOUNCED = 0.5  # a first-person announcement naming another identifier
ANNOUNCED_AND_USED = 0.7  # ... and that identifier wrote messages too
SAME_NAME_SAME_PLATFORM = 0.6
SAME_NAME = 0.4
SAME_NUMBER = 0.9
CHANGE_NOTICE = 0.9


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


def _day(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d") if moment else "an undated message"


def _snippet(text: str | None, limit: int = 100) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _evidence(
    rule: str,
    a: str,
    b: str,
    confidence: float,
    reason: str,
    messages: list[str],
    label: str | None,
    anchor: str,
) -> dict[str, Any]:
    low, high = pair_of(a, b)
    return {
        "evidence_id": f"e-{short_hash(f'{rule}|{low}|{high}|{anchor}')}",
        "identifier_id": low,
        "other_identifier_id": high,
        "rule": rule,
        "confidence": confidence,
        "reason": reason,
        "message_ids": messages[:20],
        "label_hint": label,
    }


# --- what the run loaded: names and platforms of its identifiers ---------------------------------------

# The run's exported messages per sender identifier and the name it was shown under (a chat has few).
_RUN_SENDERS = """
SELECT mi.identifier_id, any_value(i.kind || ':' || i.value) AS shown, m.sender, count(*) AS messages,
       min(m.sent_at_utc) AS first_at, arg_min(m.platform, m.sent_at_utc) AS platform,
       arg_min(m.message_id, m.sent_at_utc) AS example_message_id
FROM message_identifiers mi
JOIN messages m ON m.message_id = mi.message_id
JOIN identifiers i ON i.identifier_id = mi.identifier_id
WHERE mi.loaded_in_run = $run AND mi.role = 'sender' AND m.duplicate_of IS NULL AND m.kind <> 'ocr'
  AND i.kind IN ('email', 'phone', 'handle') AND m.sender IS NOT NULL
GROUP BY mi.identifier_id, m.sender
"""


def _record_names(con: Any, run_id: str, owners: set[str]) -> set[str]:
    """Add the run's display names to identifier_names; returns the folded names it touched."""
    counts: dict[tuple[str, str], list[Any]] = {}
    for ident, shown, sender, messages, first_at, platform, example in con.execute(
        _RUN_SENDERS, {"run": run_id}
    ).fetchall():
        name = display_name(sender, shown.split(":", 1)[1])
        if name is None:
            continue
        entry = counts.setdefault((ident, name), [0, first_at, platform, example])
        entry[0] += messages
        if first_at is not None and (entry[1] is None or first_at < entry[1]):
            entry[1:] = [first_at, platform, example]
    if not counts:
        return set()
    rows = [
        {"identifier_id": i, "name": n, "messages": c, "first_at": f, "platform": p, "example_message_id": e}
        for (i, n), (c, f, p, e) in counts.items()
    ]
    _upsert(
        con,
        "identifier_names",
        rows,
        "messages = identifier_names.messages + excluded.messages, "
        "platform = CASE WHEN excluded.first_at < identifier_names.first_at THEN excluded.platform "
        "ELSE identifier_names.platform END, "
        "example_message_id = CASE WHEN excluded.first_at < identifier_names.first_at "
        "THEN excluded.example_message_id ELSE identifier_names.example_message_id END, "
        "first_at = least(identifier_names.first_at, excluded.first_at)",
    )
    return {n.casefold() for (i, n) in counts if i not in owners}


def _record_activity(con: Any, run_id: str) -> list[str]:
    """Add what the run's identifiers sent and received per platform; returns the phone numbers touched."""
    rows = con.execute(
        """
        SELECT mi.identifier_id, m.platform,
               count(*) FILTER (WHERE mi.role = 'sender') AS sent,
               count(*) FILTER (WHERE mi.role = 'recipient') AS received,
               min(m.sent_at_utc) FILTER (WHERE mi.role = 'sender') AS first_sent_at,
               min(m.message_id) AS example_message_id, any_value(i.kind) AS kind
        FROM message_identifiers mi
        JOIN messages m ON m.message_id = mi.message_id
        JOIN identifiers i ON i.identifier_id = mi.identifier_id
        WHERE mi.loaded_in_run = $run AND mi.role IN ('sender', 'recipient') AND m.duplicate_of IS NULL
          AND m.kind <> 'ocr' AND i.kind IN ('email', 'phone', 'handle')
        GROUP BY mi.identifier_id, m.platform
        """,
        {"run": run_id},
    ).fetchall()
    if not rows:
        return []
    names = ("identifier_id", "platform", "sent", "received", "first_sent_at", "example_message_id")
    _upsert(
        con,
        "identifier_activity",
        [dict(zip(names, r[:6], strict=True)) for r in rows],
        "sent = identifier_activity.sent + excluded.sent, "
        "received = identifier_activity.received + excluded.received, "
        "first_sent_at = least(identifier_activity.first_sent_at, excluded.first_sent_at)",
    )
    return sorted({r[0] for r in rows if r[6] == "phone"})


def _upsert(con: Any, table: str, rows: list[dict[str, Any]], update: str) -> None:
    from evidence.db import arrow_view, rows_to_table, unique_key

    key = ", ".join(unique_key(table))
    with arrow_view(con, "_upsert_rows", rows_to_table(table, rows)):
        con.execute(
            f"INSERT INTO {table} BY NAME SELECT * FROM _upsert_rows ON CONFLICT ({key}) DO UPDATE SET {update}"
        )


# --- rules -------------------------------------------------------------------------------------------


def same_display_name(con: Any, names: set[str], owners: set[str]) -> list[dict[str, Any]]:
    """Identifiers that sent exported messages under one display name: the first one to use it is paired
    with each other one."""
    if not names:
        return []
    rows = con.execute(
        """
        SELECT n.identifier_id, i.kind || ':' || i.value, n.name, n.messages, n.first_at, n.example_message_id,
               n.platform
        FROM identifier_names n JOIN identifiers i USING (identifier_id)
        WHERE lower(n.name) IN (SELECT unnest($names::VARCHAR[]))
        ORDER BY n.first_at NULLS LAST, n.identifier_id
        """,
        {"names": sorted(names)},
    ).fetchall()
    by_name: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        if row[0] not in owners and all(r[0] != row[0] for r in by_name[row[2].casefold()]):
            by_name[row[2].casefold()].append(row)
    found = []
    for entries in by_name.values():
        anchor, *others = entries
        for other in others:
            same_platform = anchor[6] == other[6]
            found.append(
                _evidence(
                    "same_display_name",
                    anchor[0],
                    other[0],
                    SAME_NAME_SAME_PLATFORM if same_platform else SAME_NAME,
                    f"both sent messages as '{anchor[2]}': {anchor[1]} ({anchor[3]} on {anchor[6]}, first "
                    f"{_day(anchor[4])}) and {other[1]} ({other[3]} on {other[6]}, first {_day(other[4])})",
                    [anchor[5], other[5]],
                    anchor[2],
                    anchor[2].casefold(),
                )
            )
    return found


# Records a phone and its carrier keep of one line count as one platform: a number that texted and called
# is not evidence of anything; the same number on WhatsApp and by SMS is.
CARRIER = ("sms", "mms", "rcs", "phone")


def same_number_across_platforms(con: Any, numbers: list[str], owners: set[str]) -> list[dict[str, Any]]:
    """One phone number used on two platforms (a WhatsApp sender number equal to an SMS address)."""
    numbers = [n for n in numbers if n not in owners]
    if not numbers:
        return []
    rows = con.execute(
        """
        SELECT p.identifier_id, i.value, list(p.platform ORDER BY p.platform),
               list(p.sent + p.received ORDER BY p.platform), list(p.example_message_id ORDER BY p.platform),
               (SELECT arg_max(n.name, n.messages) FROM identifier_names n WHERE n.identifier_id = p.identifier_id)
        FROM identifier_activity p JOIN identifiers i USING (identifier_id)
        WHERE p.identifier_id IN (SELECT unnest($numbers::VARCHAR[]))
        GROUP BY p.identifier_id, i.value
        HAVING count(DISTINCT CASE WHEN p.platform IN (SELECT unnest($carrier::VARCHAR[])) THEN 'carrier'
                                   ELSE p.platform END) > 1
        """,
        {"numbers": numbers, "carrier": list(CARRIER)},
    ).fetchall()
    found = []
    for ident, value, platforms, counts, examples, label in rows:
        seen = ", ".join(
            f"{p} ({c} message{'s' if c != 1 else ''})" for p, c in zip(platforms, counts, strict=True)
        )
        reason = f"the same number {value} appears on {seen}" + (
            f"; it is shown as '{label}'" if label else ""
        )
        found.append(
            _evidence("same_number_across_platforms", ident, ident, SAME_NUMBER, reason, examples, label, "")
        )
    return found


_ANNOUNCEMENTS = """
WITH candidates AS MATERIALIZED (
    SELECT message_id FROM messages
    WHERE loaded_in_run = $run AND list_contains(phrase_hits, 'own_identifier')
    UNION
    SELECT l.message_id FROM message_identifiers l
    WHERE l.role = 'mentioned' AND l.identifier_id IN (
        SELECT identifier_id FROM message_identifiers WHERE loaded_in_run = $run AND role = 'sender'
        EXCEPT  -- an identifier that wrote in an earlier run had its earlier announcements read then
        SELECT identifier_id FROM message_identifiers
        WHERE role = 'sender' AND loaded_in_run IS DISTINCT FROM $run)
),
-- the candidates' own links first: joined over the whole case, the senders and the mentions of every
-- message met before the candidates cut them down (0.3 s on a case of 1,000,000 messages)
links AS MATERIALIZED (
    SELECT message_id, identifier_id, role FROM message_identifiers
    WHERE role IN ('sender', 'mentioned') AND message_id IN (SELECT message_id FROM candidates)
)
SELECT m.message_id, m.platform, m.sender, m.sent_at_utc, m.body, s.identifier_id AS sender_id,
       si.kind || ':' || si.value AS sender_shown, n.identifier_id AS named_id,
       ni.kind || ':' || ni.value AS named_shown,
       (SELECT min(a.first_sent_at) FROM identifier_activity a
        WHERE a.identifier_id = n.identifier_id AND a.sent > 0) AS named_wrote
FROM messages m
JOIN links s ON s.message_id = m.message_id AND s.role = 'sender'
JOIN identifiers si ON si.identifier_id = s.identifier_id AND si.kind IN ('email', 'phone', 'handle')
JOIN links n ON n.message_id = m.message_id AND n.role = 'mentioned'
JOIN identifiers ni ON ni.identifier_id = n.identifier_id AND ni.kind IN ('email', 'phone', 'handle')
WHERE m.duplicate_of IS NULL AND m.kind <> 'ocr' AND list_contains(m.phrase_hits, 'own_identifier')
  AND NOT list_contains(m.phrase_hits, 'third_party_identifier') AND n.identifier_id <> s.identifier_id
  AND m.message_id IN (SELECT message_id FROM candidates)
"""


_OWN = re.compile(PHRASES["own_identifier"])
_SENTENCE_END = re.compile(r"[.!?;\n]\s")
ANNOUNCED_WITHIN = 80  # characters after the first-person phrase an announced identifier may start


def announced_identifiers(body: str, region: str, platform: str | None) -> dict[str, str]:
    """The identifiers a first-person phrase introduces, each with the words that introduce it: written
    after the phrase in the same sentence and close to it ("you can reach me on 07700 900870"), not every
    identifier of the message (an officer's email that also names the stalker's number must not tie the
    officer to it)."""
    phrases = [(m.start(), m.end()) for m in _OWN.finditer(body)]
    found: dict[str, str] = {}
    for match in scan_matches(body):
        start = match.start()
        for begin, end in phrases:
            if 0 <= start - end <= ANNOUNCED_WITHIN and not _SENTENCE_END.search(body[end:start]):
                words = " ".join(body[begin : match.end()].split())
                for ident in identifiers_in_piece(match.group(0), region, platform):
                    found.setdefault(ident.identifier_id, words)
                break
    return found


def own_new_identifier(con: Any, run_id: str, owners: set[str], region: str) -> list[dict[str, Any]]:
    """First-person announcements naming another identifier: the run's announcements, and earlier ones
    naming an identifier that wrote for the first time in this run."""
    found = []
    announced: dict[str, dict[str, str]] = {}
    # one query: the run's announcements and the earlier ones naming a new writer (tens of thousands of
    # message ids for a large first export) are never fetched into Python and sent back as a list
    for row in con.execute(_ANNOUNCEMENTS, {"run": run_id}).fetchall():
        message_id, platform, sender, sent_at, body, sender_id, sender_shown, named, named_shown, wrote = row
        if sender_id in owners or named in owners:
            continue
        if message_id not in announced:
            prefix = platform if platform in AT_HANDLE_PLATFORMS else None
            announced[message_id] = announced_identifiers(body or "", region, prefix)
        if named not in announced[message_id]:
            continue
        words = _snippet(announced[message_id][named])  # the words that introduce it
        said = f'{sender or sender_shown} ({sender_shown}) wrote on {_day(sent_at)} ({platform}): "...{words}..."'
        label = display_name(sender, sender_shown.split(":", 1)[1])
        if wrote is not None:
            reason = f"{said}; {named_shown} sent messages too (first {_day(wrote)})"
            confidence = ANNOUNCED_AND_USED
        else:
            reason = f"{said}; no message from {named_shown} is in the case yet"
            confidence = ANNOUNCED
        found.append(
            _evidence(
                "own_new_identifier", sender_id, named, confidence, reason, [message_id], label, message_id
            )
        )
    return found


def number_change_notices(con: Any, run_id: str, owners: set[str]) -> list[dict[str, Any]]:
    """A platform's own system line naming two numbers ("+44 7700 900123 changed to +44 7700 900456")."""
    rows = con.execute(
        """
        SELECT m.message_id, m.platform, m.sent_at_utc, m.body,
               list(i.identifier_id ORDER BY position(i.raw IN m.body))
        FROM messages m
        JOIN message_identifiers n ON n.message_id = m.message_id AND n.role = 'mentioned'
        JOIN identifiers i ON i.identifier_id = n.identifier_id AND i.kind = 'phone'
        WHERE m.loaded_in_run = $run AND m.kind = 'system' AND m.duplicate_of IS NULL
          AND regexp_matches(m.body, '(?i)\\bchanged\\b.*\\bto\\b')
        GROUP BY ALL
        HAVING count(*) = 2
        """,
        {"run": run_id},
    ).fetchall()
    found = []
    for message_id, platform, sent_at, body, (old, new) in rows:
        if old in owners or new in owners:
            continue
        reason = f'{platform} recorded on {_day(sent_at)}: "{_snippet(body)}"'
        found.append(
            _evidence("number_change_notice", old, new, CHANGE_NOTICE, reason, [message_id], None, message_id)
        )
    return found


def collect_evidence(con: Any, scope: LinkScope, owners: set[str]) -> int:
    """Run every rule over what the run loaded and store its evidence; returns how many pieces."""
    names = _record_names(con, scope.run_id, owners)
    numbers = _record_activity(con, scope.run_id)
    found = [
        *same_display_name(con, names, owners),
        *same_number_across_platforms(con, numbers, owners),
        *own_new_identifier(con, scope.run_id, owners, scope.region),
        *number_change_notices(con, scope.run_id, owners),
    ]
    if found:
        rows = {row["evidence_id"]: {**row, "found_in_run": scope.run_id} for row in found}
        ids = sorted(rows)
        con.execute("DELETE FROM actor_evidence WHERE evidence_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
        insert_rows(con, "actor_evidence", list(rows.values()))
    return len(found)
