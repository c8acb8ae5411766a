"""Link steps for screenshots: near-duplicate image groups and OCR <-> exported message corroboration.

Both are suggestions written to their own tables (image_groups, corroborations); nothing is merged or
deleted, every image and every OCR message stays visible. Both steps rebuild their table over the whole
case each time, so they are idempotent.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Any

from evidence.db import insert_rows
from evidence.link import link_step

PHASH_DISTANCE = 10  # of 64 bits: re-saved and recompressed copies are usually within 0-6
TEXT_SIMILARITY = 90.0  # OCR text similarity that groups crops of the same screenshot
MIN_GROUP_TEXT = 20  # characters of OCR text needed before text alone may group two images
TEXT_SCORE = 85.0  # fuzzy ratio for an OCR message to match an exported message
CONVERSATION_SCORE = 80.0
TIME_WINDOW_SECONDS = 300  # screenshot times are minute precision and read in the run's --tz
UNDATED_TEXT_SCORE = 95.0
UNDATED_MIN_CHARS = 15


def _norm(text: str | None) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", (text or "").casefold()).split())


@link_step("image_groups")
def group_images(con: Any, run_id: str) -> dict[str, Any]:
    """Group images whose perceptual hashes are close, or whose OCR texts nearly match (crops)."""
    rows = con.execute(
        "SELECT sha256, phash, coalesce(width, 0) * coalesce(height, 0), ocr_text FROM images "
        "WHERE phash IS NOT NULL ORDER BY sha256"
    ).fetchall()
    con.execute("DELETE FROM image_groups")
    if len(rows) < 2:
        return {"groups": 0, "images": 0}
    import numpy as np  # only cases with images pay for these imports
    from rapidfuzz import fuzz, process

    shas = [r[0] for r in rows]
    hashes = np.array([int(r[1], 16) for r in rows], dtype=np.uint64)
    distance = np.empty((len(rows), len(rows)), dtype=np.uint8)
    for start in range(0, len(rows), 512):  # chunked: an n x n uint64 matrix would not fit for big cases
        distance[start : start + 512] = np.bitwise_count(hashes[start : start + 512, None] ^ hashes[None, :])
    texts = [_norm(r[3]) for r in rows]
    similar = process.cdist(texts, texts, scorer=fuzz.ratio, workers=-1)
    has_text = np.array([len(t) >= MIN_GROUP_TEXT for t in texts])
    close = (distance <= PHASH_DISTANCE) | (
        (similar >= TEXT_SIMILARITY) & has_text[:, None] & has_text[None, :]
    )
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(close, 1)), strict=True):
        parent[find(int(i))] = find(int(j))
    members: dict[int, list[int]] = {}
    for i in range(len(rows)):
        members.setdefault(find(i), []).append(i)
    out = []
    for group in members.values():
        if len(group) < 2:
            continue
        rep = max(group, key=lambda i: (rows[i][2], shas[i]))
        group_id = hashlib.blake2b(
            "|".join(sorted(shas[i] for i in group)).encode(), digest_size=8
        ).hexdigest()
        for i in group:
            d, t = int(distance[i, rep]), float(similar[i, rep]) if has_text[i] and has_text[rep] else None
            if i == rep:
                reason = "representative: the largest image of the group"
            elif d <= PHASH_DISTANCE:
                reason = (
                    f"perceptual hash within {d} of 64 bits of the representative (re-saved or recompressed)"
                )
            else:
                reason = f"OCR text {t:.0f}% similar to the representative (cropped or edited copy)"
            out.append((shas[i], group_id, shas[rep], d, t, reason))
    if out:
        insert_rows(con, "image_groups", out)
    return {"groups": sum(1 for g in members.values() if len(g) > 1), "images": len(out)}


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


@link_step("screenshot_corroboration")
def corroborate(con: Any, run_id: str) -> dict[str, Any]:
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
