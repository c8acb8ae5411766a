"""Link steps for screenshots: near-duplicate image groups and OCR <-> exported message corroboration.

Both are suggestions written to their own tables (image_groups, corroborations); nothing is merged or
deleted, every image and every OCR message stays visible. Both steps rebuild their table over the whole
case each time, so they are idempotent.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from evidence.analysis.scope import LinkScope
from evidence.db import insert_rows

TEXT_SCORE = 85.0  # fuzzy ratio for an OCR message to match an exported message
CONVERSATION_SCORE = 80.0
TIME_WINDOW_SECONDS = 300  # screenshot times are minute precision and read in the run's --tz
UNDATED_TEXT_SCORE = 95.0
UNDATED_MIN_CHARS = 15


def _norm(text: str | None) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", (text or "").casefold()).split())


def _dated_candidates(con: Any, ocr: list[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
    """Exported messages within TIME_WINDOW_SECONDS of each dated OCR message, in one query rather than
    one per OCR message. The range join on timestamps (one second wider) only narrows the search; the
    window itself is the same expression on epoch seconds as before, so rows on its edge are decided
    exactly as they were."""
    found: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    if any(sent_at is not None for _, _, sent_at, _, _ in ocr):
        rows = con.execute(
            """
            SELECT o.message_id, m.message_id, m.conversation, m.sender, m.recipients, m.body,
                   epoch(m.sent_at_utc) - epoch(o.sent_at_utc)
            FROM messages o JOIN messages m
              ON m.sent_at_utc >= o.sent_at_utc - to_seconds(?::BIGINT + 1)
             AND m.sent_at_utc <= o.sent_at_utc + to_seconds(?::BIGINT + 1)
            WHERE o.kind = 'ocr' AND o.body IS NOT NULL AND o.sent_at_utc IS NOT NULL
              AND m.kind <> 'ocr' AND m.body IS NOT NULL AND m.sent_at_utc IS NOT NULL
              AND abs(epoch(m.sent_at_utc) - epoch(o.sent_at_utc)) <= ?
            """,
            [TIME_WINDOW_SECONDS, TIME_WINDOW_SECONDS, TIME_WINDOW_SECONDS],
        ).fetchall()
        for ocr_id, *candidate in rows:
            found[ocr_id].append(tuple(candidate))
    return found


def corroborate(con: Any, scope: LinkScope) -> dict[str, Any]:
    """Link OCR messages to exported messages with the same conversation, a close time and similar text."""
    con.execute("DELETE FROM corroborations")
    ocr = con.execute(
        "SELECT message_id, conversation, sent_at_utc, body, direction FROM messages "
        "WHERE kind = 'ocr' AND body IS NOT NULL"
    ).fetchall()
    if not ocr:
        return {"ocr_messages": 0, "corroborated": 0}
    from rapidfuzz import fuzz

    dated = _dated_candidates(con, ocr)
    found = []
    for message_id, conversation, sent_at, body, direction in ocr:
        if sent_at is not None:
            candidates = dated.get(message_id, [])
            threshold = TEXT_SCORE
        elif len(_norm(body)) >= UNDATED_MIN_CHARS:
            candidates = con.execute(
                "SELECT message_id, conversation, sender, recipients, body, NULL FROM messages "
                "WHERE kind <> 'ocr' AND body IS NOT NULL AND length(body) BETWEEN ? AND ?",
                [len(body) // 2, len(body) * 2],
            ).fetchall()
            threshold = UNDATED_TEXT_SCORE
        else:
            continue
        for other_id, other_conv, other_sender, other_recipients, other_body, delta in candidates:
            score = fuzz.ratio(_norm(body), _norm(other_body))
            if score < threshold:
                continue
            # names the export gives for the other party: the chat name, the sender of an incoming
            # message, the recipients of an outgoing one
            names = [other_conv, *(other_recipients or [])] + (
                [other_sender] if direction != "outgoing" else []
            )
            names = [_norm(n) for n in names if n and _norm(n)]
            conv_score = None
            if conversation and names:
                conv_score = max(fuzz.partial_ratio(_norm(conversation), n) for n in names)
                if conv_score < CONVERSATION_SCORE:
                    continue
            parts = [f"text {score:.0f}% similar"]
            parts.append(
                f"conversation name {conv_score:.0f}% similar"
                if conv_score is not None
                else "conversation not checked (no name on the screenshot or in the export)"
            )
            parts.append(
                f"sent {abs(delta):.0f} s apart"
                if delta is not None
                else "screenshot shows no date: matched on text only"
            )
            found.append((message_id, other_id, round(score, 1), conv_score, delta, "; ".join(parts)))
    if found:
        insert_rows(con, "corroborations", found, or_ignore=True)
    return {"ocr_messages": len(ocr), "corroborated": len({f[0] for f in found})}
