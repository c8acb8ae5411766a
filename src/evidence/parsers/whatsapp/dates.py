"""WhatsApp dates: the day/month order decided from the whole file (first pass, or the bulk path's fields),
and the checks on one date."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from evidence.parsers.context import ParseContext
from evidence.parsers.whatsapp.lines import (
    _DAY_FIRST_AFTER_NL,
    _MONTH_FIRST_AFTER_NL,
    DAY_FIRST_EVIDENCE,
    HEADER,
    MONTH_FIRST_EVIDENCE,
)
from evidence.timeutil import from_local, month_first

CHUNK_BYTES = 1 << 22


@dataclass
class _DateOrder:
    """Outcome of the first pass: day-first or not, and whether that was proven by the dates themselves."""

    day_first: bool
    decided: bool
    conflict: bool
    headers: int
    note: str


def warn_order(ctx: ParseContext, order: _DateOrder) -> None:
    if not order.decided or order.conflict:
        ctx.warn(order.note)


def _chunks(path: Path) -> Iterator[str]:
    """The file as text in blocks of whole lines (about 4 MB), so memory stays bounded.

    The same text as reading in text mode with encoding utf-8-sig, errors="replace" and universal
    newlines, at several times the speed: blocks end on b"\n", so no character or "\r\n" is cut.
    """
    with open(path, "rb") as handle:
        first = True
        while True:
            block = handle.read(CHUNK_BYTES)
            if not block:
                return
            if block[-1:] != b"\n":
                block += handle.readline()
            if first and block.startswith(b"\xef\xbb\xbf"):
                block = block[3:]
            first = False
            text = block.decode("utf-8", "replace")
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            yield text


def _has(chunk: str, anchored: re.Pattern[str], after_newline: re.Pattern[str]) -> bool:
    return anchored.match(chunk) is not None or after_newline.search(chunk) is not None


def decide_order(ctx: ParseContext) -> _DateOrder:
    """First pass: day-first if some first field is above 12, month-first if some second field is.

    Usually two regex searches per block settle it; counting (conflicting evidence) and locale hints
    (no evidence at all) need a full scan, which only such files pay for.
    """
    any_header = day = month = False
    for chunk in _chunks(ctx.path):
        any_header = any_header or HEADER.search(chunk) is not None
        day = day or _has(chunk, DAY_FIRST_EVIDENCE, _DAY_FIRST_AFTER_NL)
        month = month or _has(chunk, MONTH_FIRST_EVIDENCE, _MONTH_FIRST_AFTER_NL)
        if day and month:
            break
    if not any_header:
        return _DateOrder(True, False, False, 0, "")
    if day != month:
        return _DateOrder(day, True, False, 1, "")
    day_votes = month_votes = dotted = klo = us_ampm = 0
    for chunk in _chunks(ctx.path):
        for m in HEADER.finditer(chunk):
            a, sep, b, c = m.group("a", "sep", "b", "c")
            if len(a) >= 3:
                continue  # year first: Y/M/D, no ambiguity
            ai, bi = int(a), int(b)
            if ai > 12 and bi <= 12:
                day_votes += 1
            elif bi > 12 and ai <= 12:
                month_votes += 1
            if sep == ".":
                dotted += 1
            if m["klo"]:
                klo += 1
            ap = m["ap"]
            if ap and ap[-1] in "Mm" and ap[0] in "AP" and sep == "/" and len(c) == 2:
                us_ampm += 1
    return _order_from_votes(day_votes, month_votes, dotted, klo, us_ampm, ctx.options.region)


def _order_from_votes(
    day_votes: int, month_votes: int, dotted: int, klo: int, us_ampm: int, region: str | None
) -> _DateOrder:
    """The order when the first fields and second fields above 12 do not settle it on their own."""
    if day_votes and month_votes:
        day_first = day_votes >= month_votes
        note = (
            f"dates disagree on day/month order: {day_votes} header(s) only fit day-first and "
            f"{month_votes} only month-first; read as {'day-first' if day_first else 'month-first'}, "
            "lines that only fit the other order are read that way and flagged day_month_conflict"
        )
        return _DateOrder(day_first, True, True, 1, note)
    region = (region or "").upper()
    if dotted or klo:
        day_first, basis = True, "the dotted/Finnish date style, which is written day-first"
    elif us_ampm:
        day_first, basis = False, "the US-style M/D/YY date with AM/PM"
    else:
        day_first = not month_first(region)  # the one region list (timeutil)
        basis = f"the run region {region or '(none)'}"
    assumed = "day-first (DD/MM)" if day_first else "month-first (MM/DD)"
    note = (
        "day/month order could not be decided: no date in this file has a day above 12; "
        f"assumed {assumed} from {basis}; every message is flagged ambiguous_day_month"
    )
    return _DateOrder(day_first, False, False, 1, note)


def _steady_midnight(ymd: tuple[int, int, int], tz: str) -> datetime | None:
    """UTC instant of local midnight when the day has one offset throughout, else None.

    Checking both ends of the day through timeutil keeps one definition of "local time -> UTC" while
    letting the many messages of an ordinary day skip the zone arithmetic.
    """
    start = from_local(datetime(*ymd), tz, "", "minute")
    end = from_local(datetime(*ymd, 23, 59), tz, "", "minute")
    if start.flags or end.flags or start.utc is None or end.utc is None:
        return None
    if end.utc - start.utc != timedelta(hours=23, minutes=59):
        return None
    return start.utc


def _valid(year: int, month: int, day: int) -> tuple[int, int, int] | None:
    try:
        datetime(year, month, day)
    except ValueError:
        return None
    return (year, month, day)


def _order_from_fields(f: dict[str, Any], region: str | None) -> _DateOrder:
    """decide_order from the bulk path's header fields (the same headers, split the same way)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def count(mask: Any) -> int:
        return pc.sum(pc.cast(mask, pa.int64())).as_py() or 0

    a_len, b_len = pc.utf8_length(f["a"]), pc.utf8_length(f["b"])
    a_int, b_int = pc.cast(f["a"], pa.int64()), pc.cast(f["b"], pa.int64())

    def above_12(length: Any, value: Any) -> Any:  # _ABOVE_12: two digits, 13-99
        return pc.and_(pc.equal(length, 2), pc.greater_equal(value, 13))

    def up_to_12(length: Any, field: Any, value: Any) -> Any:  # _UP_TO_12: d, 0d, 10-12
        two = pc.and_(pc.equal(length, 2), pc.or_(pc.starts_with(field, "0"), pc.less_equal(value, 12)))
        return pc.or_(pc.equal(length, 1), two)

    day = count(pc.and_(above_12(a_len, a_int), up_to_12(b_len, f["b"], b_int))) > 0
    month = count(pc.and_(up_to_12(a_len, f["a"], a_int), above_12(b_len, b_int))) > 0
    if day != month:
        return _DateOrder(day, True, False, 1, "")
    short = pc.less(a_len, 3)  # year first (Y/M/D) counts for nothing
    a_big, b_big = pc.greater(a_int, 12), pc.greater(b_int, 12)
    # An upper-case AM/PM marker on a slashed date with a two-digit year: the US style.
    us_ampm = pc.and_(
        pc.match_substring_regex(f["ap"], "^[AP].*[Mm]$"),
        pc.and_(pc.equal(f["sep"], "/"), pc.equal(pc.utf8_length(f["c"]), 2)),
    )
    return _order_from_votes(
        count(pc.and_(short, pc.and_(a_big, pc.invert(b_big)))),
        count(pc.and_(short, pc.and_(b_big, pc.invert(a_big)))),
        count(pc.and_(short, pc.equal(f["sep"], "."))),
        count(pc.and_(short, pc.match_substring(f["dt"], "klo"))),
        count(pc.and_(short, us_ampm)),
        region,
    )
