"""Link step: messages read from screenshots (kind `ocr`) matched to the exported messages they show.

A link is a suggestion in `corroborations`; nothing is merged or deleted. It needs the same text (both
sides' stored `match_text`, with the letters OCR confuses folded, and no difference an OCR error does not
explain: a changed word or number is a different message), a time the screenshot allows, and the
conversation named in the screenshot's header (or, when none was read, the one the screenshot's other
bubbles agree on). Each bubble links to at most one exported message, and one screenshot shows each
exported message at most once.

Incremental: a run links its new OCR messages against the exported messages of the whole case, and its
new exported messages against the OCR messages already in the case; only the screenshots involved are
re-linked. Where a bubble can have been sent is kept in `ocr_message_windows`, so both directions are one
range join on `sent_at_utc`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from evidence.analysis.scope import LinkScope
from evidence.db import insert_rows
from evidence.parsers.enrich import fold
from evidence.timeutil import DEFAULT_TZ

TEXT_SCORE = 85.0  # folded-text ratio for a bubble with its date on screen
UNDATED_TEXT_SCORE = 90.0  # ... for a bubble whose day is only bounded (its time of day must match too)
UNDATED_NO_TIME_SCORE = 95.0  # ... for a bubble with neither a day nor a readable time
UNDATED_MIN_CHARS = 15  # shorter texts without a time of day are too common to match on text alone
SHORT_TEXT = 6  # folded texts shorter than this must be equal
MAX_OCR_ERROR = 2  # characters: a longer difference is a different word, not a misread
CONVERSATION_SCORE = 80.0
TIME_WINDOW_SECONDS = 300  # around a bubble's date and time as read (a misread digit, clock drift)
UNDATED_LOOKBACK_DAYS = 31  # how far before what bounds it an undated bubble is looked for

_CLOCK = re.compile(r"(?P<h>[012]?\d)[:.;](?P<m>[0-5]\d)(?:\s*(?P<ap>[AaPp])\.?[Mm]\.?)?\W*$")


def _norm(text: str | None) -> str:
    """Lower case, every run of characters that are not letters or digits one space (as match_text)."""
    return " ".join(re.sub(r"[\W_]+", " ", (text or "").casefold()).split())


def text_score(ocr_text: str, exported_text: str) -> float | None:
    """0-100 when the two match_texts can be the same message read by OCR, else None.

    Equal after folding is 100. Otherwise every difference must be short (at most MAX_OCR_ERROR characters
    on either side, differences closer than two characters counted as one) and never a digit for a digit:
    "today"/"yesterday", "him"/"you" or "8"/"9" are different messages, "|"/"I" or "rn"/"m" misreads.
    """
    from rapidfuzz.distance import Levenshtein

    a, b = fold(ocr_text), fold(exported_text)
    if not a or not b:
        return None
    if a == b:
        return 100.0
    if min(len(a), len(b)) < SHORT_TEXT:
        return None
    blocks: list[list[int]] = []  # [a_start, a_end, b_start, b_end] of merged differences
    for op in Levenshtein.opcodes(a, b):
        if op.tag == "equal":
            continue
        if blocks and op.src_start - blocks[-1][1] < 2 and op.dest_start - blocks[-1][3] < 2:
            blocks[-1][1], blocks[-1][3] = op.src_end, op.dest_end
        else:
            blocks.append([op.src_start, op.src_end, op.dest_start, op.dest_end])
    for a0, a1, b0, b1 in blocks:
        if max(a1 - a0, b1 - b0) > MAX_OCR_ERROR:
            return None
        if any(c.isdigit() for c in a[a0:a1]) and any(c.isdigit() for c in b[b0:b1]):
            return None
    return round(100.0 * (1 - Levenshtein.normalized_distance(a, b)), 1)


def _minute_of_day(local_text: str | None) -> int | None:
    """Minutes after midnight of the time a bubble shows (the end of sent_at_local), or None."""
    match = _CLOCK.search(local_text or "")
    if not match:
        return None
    hour, minute, ap = int(match["h"]), int(match["m"]), match["ap"]
    if ap:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ap.lower() == "p" else 0)
    return hour * 60 + minute if hour < 24 else None


def run_tz(con: Any, run_id: str) -> str:
    """The time zone the run read local times in (--tz)."""
    row = con.execute(
        "SELECT json_extract_string(parameters, '$.tz') FROM ingest_runs WHERE run_id = ?", [run_id]
    ).fetchone()
    return (row[0] if row else None) or DEFAULT_TZ


# --- where each bubble can have been sent ------------------------------------------------------------
def _record_windows(con: Any, scope: LinkScope) -> tuple[int, set[str]]:
    """Windows for this run's OCR messages (and, once, for OCR messages loaded before windows existed);
    returns how many, and the screenshots of such older messages (to be re-linked once by these rules)."""
    tz = run_tz(con, scope.run_id)
    rows = con.execute(
        "SELECT message_id, source_sha256, source_locator, sent_at_utc, sent_at_local FROM messages "
        "WHERE loaded_in_run = ? AND kind = 'ocr'",
        [scope.run_id],
    ).fetchall()
    older: list[tuple[Any, ...]] = []
    if (
        not con.execute("SELECT count(*) FROM ocr_message_windows").fetchone()[0]
        and (con.execute("SELECT count(*) FROM ocr_regions").fetchone()[0])
    ):
        older = con.execute(  # a case from before this table: every OCR message gets its window once
            "SELECT message_id, source_sha256, source_locator, sent_at_utc, sent_at_local FROM messages "
            "WHERE kind = 'ocr' AND loaded_in_run IS DISTINCT FROM ?",
            [scope.run_id],
        ).fetchall()
        rows += older
    if not rows:
        return 0, set()
    shas = sorted({r[1] for r in rows})
    captured = dict(
        con.execute(
            "SELECT sha256, taken_at_utc FROM images WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))", [shas]
        ).fetchall()
    )
    per_image: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        per_image[row[1]].append(row)
    out = []
    lookback = timedelta(days=UNDATED_LOOKBACK_DAYS)
    for sha, bubbles in per_image.items():
        bubbles.sort(key=lambda r: _top(r[2]))
        for index, (message_id, _sha, _locator, sent_at, local) in enumerate(bubbles):
            minute = _minute_of_day(local)
            if sent_at is not None:
                out.append((message_id, sha, sent_at, sent_at, minute, tz, "screen_date"))
                continue
            below = next((r[3] for r in bubbles[index + 1 :] if r[3] is not None), None)
            above = next((r[3] for r in reversed(bubbles[:index]) if r[3] is not None), None)
            latest, basis = (below, "dated_bubble_below") if below else (captured.get(sha), "capture_time")
            if latest is None:
                out.append((message_id, sha, None, None, minute, tz, "none"))
                continue
            earliest = max(above, latest - lookback) if above is not None else latest - lookback
            out.append((message_id, sha, earliest, latest, minute, tz, basis))
    insert_rows(con, "ocr_message_windows", out, or_ignore=True)
    return len(out), {r[1] for r in older}


def _top(locator: str) -> tuple[int, int]:
    """(y, x) of a bubble from its locator region/x,y,w,h: bubbles are in time order top to bottom."""
    try:
        x, y = (int(v) for v in locator.split("/", 1)[1].split(",")[:2])
    except (IndexError, ValueError):
        return (0, 0)
    return (y, x)


# --- which screenshots this run involves ---------------------------------------------------------------
_EXPORTED = (  # canonical exported messages a bubble can show (not system lines or calls)
    "m.kind NOT IN ('ocr', 'system', 'call') AND m.duplicate_of IS NULL AND m.match_text IS NOT NULL AND m.match_text <> '' "
    "AND m.sent_at_utc IS NOT NULL"
)
_IN_WINDOW = (
    f"m.sent_at_utc BETWEEN w.earliest_utc - INTERVAL {TIME_WINDOW_SECONDS} SECOND "
    f"AND w.latest_utc + INTERVAL {TIME_WINDOW_SECONDS} SECOND "
    "AND (w.minute_of_day IS NULL OR w.basis = 'screen_date' OR "
    "hour(timezone(w.tz, m.sent_at_utc)) * 60 + minute(timezone(w.tz, m.sent_at_utc)) = w.minute_of_day)"
)


def _involved_images(con: Any, scope: LinkScope) -> set[str]:
    """Screenshots with an OCR message of this run, or one an exported message of this run can match."""
    run = [scope.run_id]
    shas = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT source_sha256 FROM messages WHERE loaded_in_run = ? AND kind = 'ocr'", run
        ).fetchall()
    }
    bounded, unbounded = con.execute(
        "SELECT count(*) FILTER (earliest_utc IS NOT NULL), count(*) FILTER (earliest_utc IS NULL) "
        "FROM ocr_message_windows"
    ).fetchone()
    if bounded:
        shas |= {
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT w.sha256 FROM messages m JOIN ocr_message_windows w ON {_IN_WINDOW} "
                f"WHERE m.loaded_in_run = ? AND {_EXPORTED}",
                run,
            ).fetchall()
        }
    if unbounded:  # bubbles nothing bounds in time: the exact text, long enough to be telling
        shas |= {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT w.sha256 FROM messages m JOIN messages o ON o.match_text = m.match_text "
                "JOIN ocr_message_windows w ON w.ocr_message_id = o.message_id AND w.earliest_utc IS NULL "
                f"WHERE m.loaded_in_run = ? AND {_EXPORTED} AND o.kind = 'ocr' AND length(m.match_text) >= ?",
                [scope.run_id, UNDATED_MIN_CHARS],
            ).fetchall()
        }
    return shas


# --- candidates and the choice -------------------------------------------------------------------------
@dataclass
class _Bubble:
    message_id: str
    sha256: str
    top: tuple[int, int]
    conversation: str | None
    direction: str | None
    match_text: str
    sent_at: datetime | None
    basis: str
    minute: int | None
    candidates: list[_Candidate] = field(default_factory=list)


@dataclass
class _Candidate:
    message_id: str
    conversation: str | None
    sent_at: datetime
    order: tuple[datetime, str]
    text_score: float
    conversation_score: float | None
    delta: float | None


def _bubbles(con: Any, shas: list[str]) -> dict[str, _Bubble]:
    rows = con.execute(
        "SELECT o.message_id, o.source_sha256, o.source_locator, o.conversation, o.direction, o.match_text, "
        "o.sent_at_utc, w.basis, w.minute_of_day FROM messages o "
        "JOIN ocr_message_windows w ON w.ocr_message_id = o.message_id "
        "WHERE o.kind = 'ocr' AND o.source_sha256 IN (SELECT unnest(?::VARCHAR[]))",
        [shas],
    ).fetchall()
    return {
        r[0]: _Bubble(r[0], r[1], _top(r[2]), r[3], r[4], r[5] or "", r[6], r[7], r[8])
        for r in rows
        if (r[5] or "").strip()
    }


def _candidate_rows(con: Any, shas: list[str]) -> list[tuple[Any, ...]]:
    """Exported messages each bubble of these screenshots can show: in its time window (a range join on
    sent_at_utc), or, for a bubble nothing bounds in time, with exactly its text."""
    columns = (
        "w.ocr_message_id, m.message_id, m.conversation, m.sender, m.recipients, m.direction, m.match_text, "
        "m.sent_at_utc, m.source_locator"
    )
    images = "w.sha256 IN (SELECT unnest(?::VARCHAR[]))"
    bounded = con.execute(
        f"SELECT {columns} FROM ocr_message_windows w JOIN messages m ON {_IN_WINDOW} "
        f"WHERE {images} AND {_EXPORTED}",
        [shas],
    ).fetchall()
    unbounded = con.execute(
        f"SELECT {columns} FROM ocr_message_windows w "
        "JOIN messages o ON o.message_id = w.ocr_message_id AND o.kind = 'ocr' "
        "JOIN messages m ON m.match_text = o.match_text "
        f"WHERE {images} AND w.earliest_utc IS NULL AND {_EXPORTED} AND length(o.match_text) >= ?",
        [shas, UNDATED_MIN_CHARS],
    ).fetchall()
    return bounded + unbounded


def _evaluate(bubble: _Bubble, row: tuple[Any, ...]) -> _Candidate | None:
    """The candidate with its scores, or None when text, direction or conversation rule it out."""
    _, message_id, conversation, sender, recipients, direction, match_text, sent_at, locator = row
    if bubble.direction and direction and bubble.direction != direction:
        return None
    score = text_score(bubble.match_text, match_text)
    if bubble.basis == "screen_date":
        threshold = TEXT_SCORE
    elif bubble.minute is not None and bubble.basis != "none":
        threshold = UNDATED_TEXT_SCORE
    else:
        threshold = UNDATED_NO_TIME_SCORE
        if len(bubble.match_text) < UNDATED_MIN_CHARS:
            return None
    if score is None or score < threshold:
        return None
    # names the export gives for the other party: the chat name, the sender of an incoming message, the
    # recipients of an outgoing one
    names = [conversation, *(recipients or [])] + ([sender] if bubble.direction != "outgoing" else [])
    names = [n for n in (_norm(n) for n in names if n) if n]
    conversation_score = None
    shown = _norm(bubble.conversation)
    if shown and names:
        conversation_score = max(_name_score(shown, n) for n in names)
        if conversation_score < CONVERSATION_SCORE:
            return None
    delta = (sent_at - bubble.sent_at).total_seconds() if bubble.sent_at is not None else None
    return _Candidate(message_id, conversation, sent_at, (sent_at, locator), score, conversation_score, delta)


def _name_score(shown: str, name: str) -> float:
    """How well a header name fits an export's name: a part of it is enough ("Jordan" for "Jordan
    Blake"), unless the shorter is under 4 characters ("Al" is not a part of every "Alex")."""
    from rapidfuzz import fuzz

    if min(len(shown), len(name)) < 4:
        return float(fuzz.ratio(shown, name))
    return float(fuzz.partial_ratio(shown, name))


def _rank(bubble: _Bubble, candidate: _Candidate) -> tuple[float, float]:
    """Higher is better: text first, then closeness to the date and time shown. A bubble without a date
    has no closeness: the same text at the same time of day on two days is a tie (not linked)."""
    if candidate.delta is not None:
        return (candidate.text_score, -abs(candidate.delta))
    return (candidate.text_score, 0.0)


def _choose(bubbles: list[_Bubble]) -> list[tuple[_Bubble, _Candidate, str]]:
    """Links for one screenshot: each bubble its best candidate, each exported message once.

    Without a name in the header, the screenshot's conversation is the one its unambiguous bubbles agree
    on; a bubble whose best candidates tie (identical texts at the same time) is linked only when as many
    identical bubbles share the tie, in order.
    """
    basis = ""
    if bubbles and not bubbles[0].conversation:
        sure: Counter[str | None] = Counter()
        for bubble in bubbles:
            best = _best(bubble, bubble.candidates)
            if best and len({c.conversation for c in best}) == 1:
                sure[best[0].conversation] += 1
        if len(sure) == 1:
            (chosen,) = sure
            basis = "conversation from the screenshot's other bubbles (no name read in its header)"
            for bubble in bubbles:
                bubble.candidates = [c for c in bubble.candidates if c.conversation == chosen]
    taken: set[str] = set()
    links = []
    groups: dict[tuple[str, ...], list[_Bubble]] = defaultdict(list)
    for bubble in sorted(bubbles, key=lambda b: b.top):
        best = _best(bubble, [c for c in bubble.candidates if c.message_id not in taken])
        if not best:
            continue
        if len(best) == 1:
            links.append((bubble, best[0], basis))
            taken.add(best[0].message_id)
        else:
            groups[tuple(sorted(c.message_id for c in best))].append(bubble)
    for _ids, tied in groups.items():
        options = sorted(_best(tied[0], tied[0].candidates) or [], key=lambda c: c.order)
        if len(options) == len(tied) and not any(c.message_id in taken for c in options):
            for bubble, candidate in zip(tied, options, strict=True):
                links.append((bubble, candidate, basis or "identical messages matched in screen order"))
                taken.add(candidate.message_id)
    return links


def _best(bubble: _Bubble, candidates: list[_Candidate]) -> list[_Candidate]:
    """The top-ranked candidates (more than one only when they tie)."""
    if not candidates:
        return []
    top = max(_rank(bubble, c) for c in candidates)
    return [c for c in candidates if _rank(bubble, c) == top]


def _reason(bubble: _Bubble, candidate: _Candidate, basis: str) -> str:
    parts = [f"text {candidate.text_score:.0f}% similar"]
    if candidate.conversation_score is not None:
        parts.append(f"conversation name {candidate.conversation_score:.0f}% similar")
    else:
        parts.append(basis or "conversation not checked (no name on the screenshot or in the export)")
    if candidate.delta is not None:
        parts.append(f"sent {abs(candidate.delta):.0f} s apart")
    elif bubble.basis == "none":
        parts.append("screenshot shows no date: matched on the exact text only")
    else:
        bound = "a later dated bubble" if bubble.basis == "dated_bubble_below" else "the screenshot's time"
        shown = "the same time of day" if bubble.minute is not None else "no time of day"
        parts.append(f"screenshot shows no date: {shown}, before {bound}")
    if basis and candidate.conversation_score is not None:
        parts.append(basis)
    return "; ".join(parts)


def corroborate(con: Any, scope: LinkScope) -> dict[str, Any]:
    """Link this run's OCR messages, and the OCR messages this run's exports can match, to exported ones."""
    windows, older = _record_windows(con, scope)
    shas = sorted(_involved_images(con, scope) | older)
    if not shas:
        return {"windows": windows, "screenshots": 0, "ocr_messages": 0, "corroborated": 0}
    bubbles = _bubbles(con, shas)
    for row in _candidate_rows(con, shas):
        bubble = bubbles.get(row[0])
        if bubble is not None and (candidate := _evaluate(bubble, row)) is not None:
            bubble.candidates.append(candidate)
    per_image: dict[str, list[_Bubble]] = defaultdict(list)
    for bubble in bubbles.values():
        per_image[bubble.sha256].append(bubble)
    found = []
    for sha in shas:
        for bubble, candidate, basis in _choose(per_image.get(sha, [])):
            found.append(
                (
                    bubble.message_id,
                    candidate.message_id,
                    candidate.text_score,
                    candidate.conversation_score,
                    candidate.delta,
                    _reason(bubble, candidate, basis),
                )
            )
    con.execute(
        "DELETE FROM corroborations WHERE ocr_message_id IN (SELECT unnest(?::VARCHAR[]))", [list(bubbles)]
    )
    insert_rows(con, "corroborations", found)
    return {
        "windows": windows,
        "screenshots": len(shas),
        "ocr_messages": len(bubbles),
        "corroborated": len(found),
    }
