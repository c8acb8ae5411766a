"""The report's events as rows: the query over rep_events, the compact rows of the page's JSON data (values
that repeat travel once, as small integers), and an event as printed outside the timeline (threads,
flagged events)."""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evidence.outputs.report_wording import duration, sender_text

OWNER_KEY = "owner"
# Events that count as contact, over the report's rep_events table: message_actor.counts (someone else's,
# not a system line, not a screenshot's bubble of an exported message, which counts as that message), dated.
CONTACT = "counts AND utc IS NOT NULL"
TIMED_CONTACT = CONTACT + " AND time_precision IN ('second', 'minute')"
THREAD_CONTEXT = 3  # messages of the conversation shown before and after an incident
THREAD_ROWS = 60  # rows at most per thread
FLAGGED_EXAMPLES = {"threat_for_review": 200}  # events listed per flag in "Flagged events"; others 25


class Interner:
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


def static_row(
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


@dataclass
class CompactRows:
    """The events as the page's JSON data holds them, and what the report's sections look up in them."""

    rows: list[list]  # one per event in time order, trailing empty fields left out
    days: list[list]  # runs of [local day, first row]
    shots: dict[str, int]  # screenshot sha256 -> its number
    conversations: dict[Any, list[int]]  # (platform, conversation) -> its rows, in order
    flag_counts: Counter
    flagged_examples: dict[str, list[int]]  # flag -> its first rows (FLAGGED_EXAMPLES)
    platforms: Interner
    kinds: Interner
    convs: Interner
    flagsets: Interner
    suggested: Interner
    sources: Interner

    def static(
        self, row: tuple, i: int, labels: dict[str, str], member: bool, detail: str | None
    ) -> dict[str, Any]:
        """Event i as printed outside the timeline, its suggested actor written out."""
        shown = static_row(row, self.rows[i], labels, member, detail)
        index = shown.pop("suggested_index")
        shown["suggested"] = self.suggested.values[index] if index is not None else ""
        return shown


def compact_rows(
    rows: list[tuple],
    person_label: dict[str, str],
    person_index: dict[str, int],
    t: Callable[[Any], Any],
    ident_of: Callable[[Any], Any],
) -> CompactRows:
    """The rows of ROW_SQL as the page's data: evidence text through `t` and identifiers through
    `ident_of` (the redactor, or nothing), people as indexes into the filter's list."""
    platforms, kinds, convs, flagsets, suggested, sources = (Interner() for _ in range(6))
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
        shown_sender = sender_text(sender, ident_of(ident) if ident else None) or None
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
    return CompactRows(
        out_rows,
        days,
        shots,
        conv_rows,
        flag_counter,
        flagged_examples,
        platforms,
        kinds,
        convs,
        flagsets,
        suggested,
        sources,
    )


def thread_views(
    chosen: list[tuple],
    members_of: dict[str, list[int]],
    annotations: list[dict[str, Any]],
    rows: list[tuple],
    compact: CompactRows,
    person_label: dict[str, str],
) -> list[dict[str, Any]]:
    """Each chosen incident as a thread: its messages with THREAD_CONTEXT messages of the same
    conversation before and after each, at most THREAD_ROWS rows, and the analysts' notes on it."""
    threads = []
    for inc_id, key, _start, n, gap, lo, hi, threat, after, _noted in chosen:
        members = members_of.get(inc_id, [lo, hi])
        member_set = set(members)
        shown: set[int] = set()
        for m in members:
            ordered = compact.conversations[(rows[m][R_PLATFORM], rows[m][R_CONV])]
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
                "gap": duration(gap),
                "threat": threat,
                "after": after,
                "notes": [a for a in annotations if a["target"] in targets],
                "rows": [compact.static(rows[i], i, person_label, i in member_set, None) for i in picked],
                "more": len(shown) - len(picked),
            }
        )
    return threads
