"""The bulk path for large exports (1 MB and more): Arrow and RE2 over all lines at once, rows identical to the
streaming reader's."""

from __future__ import annotations

import logging
import re
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from evidence.parsers.context import ParseContext, message_id_for
from evidence.parsers.damaged_headers import (
    BRACKETED_STAMP_LINE,
    DAMAGED_HEADER,
    DAMAGED_HEADER_FLAG,
    DAMAGED_SYSTEM_HEADER,
    DAMAGED_SYSTEM_SEPARATOR,
    GLUED_HEADER,
    ONE_EDIT_CANDIDATE,
    SPLIT_HEADER_START,
    holds_glued_header,
    looks_like_damaged_header,
    name_split_from,
)
from evidence.parsers.whatsapp import PLATFORM
from evidence.parsers.whatsapp.arrow_text import line_message_ids, parts, split_lines, substrings
from evidence.parsers.whatsapp.dates import _order_from_fields, warn_order
from evidence.parsers.whatsapp.lines import (
    _BIDI,
    _MEDIA_ENDINGS,
    _SP,
    _SYSTEM_AUTHOR,
    _Author,
)
from evidence.parsers.whatsapp.reader import Reader
from evidence.timeutil import TZ_RUN_PARAMETER, TimeValue

FAST_PATH = True


FAST_MIN_BYTES = 1 << 20  # smaller files gain little from the bulk path


_FAST_THREADS = 2  # RE2 splitting of header lines runs on this many threads beside the Python work


FAST_CHUNK = 50_000  # messages per reported chunk (one Parquet part each)


_FAST_MAX_BYTES = 1 << 30


# HEADER for RE2, up to where `rest` starts (head): the backreference and the conditional become plain
# groups (sep2, close) that the bulk path checks against sep and br. RE2's \d is ASCII where Python's is
# any Unicode decimal digit, so a file with other decimal digits is declined (_NON_ASCII_DIGIT).
_FAST_HEADER = (
    "^(?P<head>[\u200e\u200f]*"
    r"(?P<br>\[)?"
    r"(?P<dt>"
    r"(?P<a>\d{1,4})(?P<sep>[./-]) ?(?P<b>\d{1,2})(?P<sep2>[./-]) ?(?P<c>\d{1,4})\.?"
    rf"(?:,{_SP}*|{_SP}+)"
    rf"(?:klo{_SP}+)?"
    r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?:[:.](?P<s>\d{2}))?"
    rf"(?:{_SP}*(?P<ap>[AaPp]\.?{_SP}?[Mm]\.?))?"
    r")"
    r"\.?"
    rf"(?P<close>\]{_SP}?|{_SP}+[-–]{_SP}+))"
)


_NON_ASCII_DIGIT = r"[^\P{Nd}0-9]"


# Bodies the streaming reader sends to _media_of or the iOS system/call rules (a superset is fine).
_FAST_SPECIAL_BODY = f"^[{_BIDI}]|<|(?:" + "|".join(re.escape(e) for e in _MEDIA_ENDINGS) + ")$"


# Continuation lines worth confirming line by line (looks_like_damaged_header): one RE2 pass for all
# shapes, their group names dropped (RE2 refuses a name used twice).
_DAMAGED_CANDIDATE = re.sub(
    r"\(\?P<\w+>",
    "(?:",
    "|".join(
        f"(?:{p})"
        for p in (
            BRACKETED_STAMP_LINE,
            DAMAGED_HEADER,
            DAMAGED_SYSTEM_HEADER,
            DAMAGED_SYSTEM_SEPARATOR,
            ONE_EDIT_CANDIDATE,
            SPLIT_HEADER_START,
        )
    ),
)


def fast_parse(ctx: ParseContext) -> bool:
    """Parse a large export in bulk; False (having reported nothing) when the file is not one it covers."""
    if not FAST_PATH:
        return False
    size = ctx.path.stat().st_size
    if size < FAST_MIN_BYTES or size > _FAST_MAX_BYTES:
        return False
    import pyarrow as pa

    try:
        plan = _FastPlan.build(ctx)
    except Exception as exc:  # nothing was reported yet: the streaming reader reads the file instead
        logging.getLogger(__name__).warning("WhatsApp bulk path declined %s: %s", ctx.source_path, exc)
        plan = None
    if plan is None:
        return False
    warn_order(ctx, plan.reader.order)
    plan.commit()
    del plan
    pa.default_memory_pool().release_unused()  # the loader comes next in the same process
    return True


class _FastPlan:
    """Everything read from the file by the bulk path, checked before anything is reported.

    The checks cover the whole file; rows are then built and reported in chunks of FAST_CHUNK messages,
    in line order, so each chunk's Parquet part is written (and, in an in-process run, loaded) while
    the next one is built, and memory stays bounded.
    """

    @classmethod
    def build(cls, ctx: ParseContext) -> _FastPlan | None:
        import pyarrow as pa
        import pyarrow.compute as pc

        data = ctx.path.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if b"\r" in data or b"\xef\xbf\xbd" in data:
            return None  # newline translation and replacement characters: the streaming reader's rules
        if not data:
            return None
        lines = split_lines(data)
        del data
        try:
            lines.validate(full=True)  # UTF-8: bad bytes are the streaming reader's (U+FFFD and a flag)
        except pa.ArrowInvalid:
            return None
        if pc.any(pc.match_substring_regex(lines, _NON_ASCII_DIGIT)).as_py():
            return None
        is_header = pc.match_substring_regex(lines, _FAST_HEADER)
        if not is_header[0].as_py():
            return None  # text before the first header: warnings the streaming reader writes
        header_lines = lines.filter(is_header)
        header_positions = pc.indices_nonzero(is_header).to_numpy()
        line_numbers = (header_positions + 1).tolist()
        # Splitting headers into fields is RE2 work in C (the GIL released): it runs on other threads
        # while this one computes the message ids, which are Python.
        with ThreadPoolExecutor(max_workers=_FAST_THREADS) as pool:
            splitting = [
                pool.submit(pc.extract_regex, part, _FAST_HEADER)
                for part in parts(header_lines, _FAST_THREADS)
            ]
            message_ids = line_message_ids(ctx.sha256, line_numbers)
            heads = pa.concat_arrays([future.result() for future in splitting])
        f = {field.name: heads.field(field.name) for field in heads.type}  # one per named group
        if heads.null_count:
            return None  # cannot happen: the same pattern matched these lines
        # Certainty checks: the same separator twice, "[" with "]" and only then.
        if not pc.all(pc.equal(f["sep"], f["sep2"])).as_py():
            return None
        if not pc.all(pc.equal(pc.not_equal(f["br"], ""), pc.starts_with(f["close"], "]"))).as_py():
            return None

        plan = cls()
        plan.ctx, plan.n = ctx, len(heads)
        plan.reader = Reader(ctx, _order_from_fields(f, ctx.options.region))
        plan.lines, plan.f, plan.header_lines = lines, f, header_lines
        plan.header_positions, plan.line_numbers, plan.message_ids = (
            header_positions,
            line_numbers,
            message_ids,
        )
        return plan

    def commit(self) -> None:
        """Report every message, chunk by chunk, then the reader's warnings.

        A chunk's tables go to ParsedRows (per-message work, Parquet parts) on a second thread while the
        next chunk is built on this one: most of that work is Arrow, RE2 and Parquet, which release the
        GIL. One chunk is handed over at a time, in order, so parts are written as they were before.
        Only this thread adds rows of other tables (attachments, warnings) meanwhile.
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence-chunks") as writer:
            handed: Future[None] | None = None
            for start in range(0, self.n, FAST_CHUNK):
                stop = min(self.n, start + FAST_CHUNK)
                tables = self.report_chunk(start, stop)
                if handed is not None:
                    handed.result()  # at most one chunk waits while another is being built
                handed = writer.submit(_hand_over, self.ctx, tables)
                self.ctx.message_count += stop - start
            if handed is not None:
                handed.result()
        reader = self.reader
        reader.emitted = self.n
        reader.finish_warnings()
        if reader.emitted == reader.undated:
            raise ValueError(
                "no WhatsApp message with a readable date and time: every header line has an impossible "
                "date or time"
            )

    @staticmethod
    def _damaged_header_messages(
        lines: Any, is_header: Any, positions: Any, texts: Any, nameless: Any
    ) -> list[int]:
        """The chunk's messages (by index) holding a line shaped like a damaged, glued or split header:
        the streaming reader's rules, found by RE2 over all lines at once and confirmed line by line.
        texts: each message's first-line text; nameless: whether its header line holds no colon at all."""
        import numpy as np
        import pyarrow.compute as pc

        shaped = pc.match_substring_regex(lines, _DAMAGED_CANDIDATE).to_numpy(zero_copy_only=False)
        glued = pc.match_substring_regex(lines, GLUED_HEADER).to_numpy(zero_copy_only=False)
        continued = np.append(~is_header[1:], False)  # the line after this one is in the same message

        def found(i: int, message: int) -> bool:
            if is_header[i]:
                return holds_glued_header(lines[i].as_py())
            text = lines[i].as_py()
            return looks_like_damaged_header(
                text + "\n" + lines[i + 1].as_py() if continued[i] else text,
                lines[int(positions[message])].as_py(),  # the header of the message the line is in
            )

        candidates = np.flatnonzero((shaped & ~is_header) | glued)
        in_message = np.searchsorted(positions, candidates, side="right") - 1
        messages = {int(m) for i, m in zip(candidates, in_message, strict=True) if found(int(i), int(m))}
        # an Android header split inside its name: a system line (no colon) with a line after it
        for message in np.flatnonzero(nameless & continued[positions]):
            following = lines[int(positions[message]) + 1].as_py()
            if name_split_from(texts[int(message)].as_py(), following):
                messages.add(int(message))
        return sorted(messages)

    def report_chunk(self, start: int, stop: int) -> list[tuple[str, Any]]:
        """Messages start..stop-1 (header order) with their continuation lines, identifiers and media:
        attachments are reported here, the tables (messages, sender identifiers and links) returned."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        ctx, reader, n = self.ctx, self.reader, stop - start
        f = {name: values.slice(start, n) for name, values in self.f.items()}
        header_lines = self.header_lines.slice(start, n)
        numbers = self.line_numbers[start:stop]
        sha = ctx.sha256
        author_list: list[_Author] = []

        # --- dates: one day_of per distinct date as written (cached across chunks)
        day_codes = pc.dictionary_encode(pc.binary_join_element_wise(f["a"], f["b"], f["c"], "|"))
        days = []
        for key in day_codes.dictionary.to_pylist():
            a, b, c = key.split("|")
            day = reader.dates.get((a, b, c))
            if day is None:
                day = reader.dates[(a, b, c)] = reader.day_of(a, b, c)
            days.append(day)
        day_index = day_codes.indices
        midnight = pa.array([None if d[2] is None else _micros(d[2]) for d in days], pa.int64()).take(
            day_index
        )
        hour = pc.cast(pc.if_else(pc.equal(f["h"], ""), "0", f["h"]), pa.int64())
        minute = pc.cast(pc.if_else(pc.equal(f["mi"], ""), "0", f["mi"]), pa.int64())
        second = pc.cast(pc.if_else(pc.equal(f["s"], ""), "0", f["s"]), pa.int64())
        has_ap = pc.not_equal(f["ap"], "")
        pm = pc.is_in(pc.utf8_slice_codeunits(f["ap"], 0, 1), pa.array(["p", "P"]))
        hour12_ok = pc.and_(pc.greater_equal(hour, 1), pc.less_equal(hour, 12))
        # hour % 12 + 12 for PM, for 1 <= hour <= 12 (other hours next to AM/PM take the full rules)
        hour24 = pc.if_else(
            has_ap, pc.add(pc.if_else(pc.equal(hour, 12), 0, hour), pc.if_else(pm, 12, 0)), hour
        )
        time_ok = pc.and_(
            pc.and_(midnight.is_valid(), pc.or_(pc.invert(has_ap), hour12_ok)),
            pc.and_(pc.less_equal(hour24, 23), pc.and_(pc.less_equal(minute, 59), pc.less_equal(second, 59))),
        )
        seconds = pc.add(pc.multiply(pc.add(pc.multiply(hour24, 60), minute), 60), second)
        utc = pc.add(midnight, pc.multiply(seconds, 1_000_000))
        precision = pc.if_else(pc.equal(f["s"], ""), "minute", "second")

        # --- authors: "Name:" after the head is everything up to the first colon (at least one
        # character); RE2 would scan it as a capture group at several times the cost of a substring search.
        rest = substrings(header_lines, pc.binary_length(f["head"]))
        colon = pc.find_substring(rest, ":")  # a byte offset, -1 when there is none
        has_key = pc.greater(colon, 0)
        key_bytes = pc.if_else(has_key, colon, 0)
        key_codes = pc.dictionary_encode(pc.if_else(has_key, substrings(rest, 0, key_bytes), None))
        for key in key_codes.dictionary.to_pylist():
            found = reader.authors.get(key)
            if found is None:
                found = reader.authors[key] = reader.author_of(key)
            author_list.append(found)
        # author index per message: len(author_list) stands for the system author (no "Name:" in front)
        system_slot = len(author_list)
        author_index = pc.if_else(has_key, pc.cast(key_codes.indices, pa.int64()), system_slot)
        author_list.append(_SYSTEM_AUTHOR)
        is_person = pc.take(pa.array([not a.is_system for a in author_list]), author_index)
        # text: the body's first line, after the head and, for a person, "Name:" and one space
        after_colon = substrings(rest, pc.if_else(has_key, pc.add(colon, 1), 0))
        space = pc.cast(pc.and_(has_key, pc.starts_with(after_colon, " ")), pa.int64())
        author_bytes = pc.add(pc.add(key_bytes, 1), space)
        text = substrings(rest, pc.if_else(is_person, author_bytes, 0))
        special = pc.and_(is_person, pc.match_substring_regex(text, _FAST_SPECIAL_BODY))
        mask = pc.or_(pc.invert(time_ok), special)  # rows that need the full rules
        del rest, after_colon

        locators = pc.binary_join_element_wise("line/", pc.cast(pa.array(numbers), pa.string()), "")
        # Interned values: author objects and flag tuples, shared by all messages that have them.
        author_slots: dict[int, int] = {}
        flag_slots: dict[tuple[str, ...], int] = {}
        kinds = ("message", "system", "media", "call")

        def flag_slot(flags: tuple[str, ...]) -> int:
            slot = flag_slots.get(flags)
            if slot is None:
                slot = flag_slots[flags] = len(flag_slots)
            return slot

        # Flags of the bulk rows: the day's order flags, then the author's.
        authors_count = len(author_list)
        combo_codes = pc.dictionary_encode(
            pc.add(pc.multiply(pc.cast(day_index, pa.int64()), authors_count), author_index)
        )
        combo_slots = []
        for combo in combo_codes.dictionary.to_pylist():
            day_flags = days[combo // authors_count][1]
            author = author_list[combo % authors_count]
            extra = () if author.is_system else author.flags
            combo_slots.append(flag_slot(tuple(dict.fromkeys((*day_flags, *extra)))))
        flag_index = pa.array(combo_slots, pa.int64()).take(combo_codes.indices)
        is_system = pc.take(pa.array([a.is_system for a in author_list]), author_index)
        kind_index = pc.cast(pc.if_else(is_system, 1, 0), pa.int64())
        source = pa.array([TZ_RUN_PARAMETER] * n, pa.string())
        local = f["dt"]

        # Rows that need the full rules, in line order (their warnings come out in the reader's order).
        rows = pc.indices_nonzero(mask).to_pylist()
        if rows:
            p_utc, p_local, p_source, p_precision, p_text = [], [], [], [], []
            p_author, p_flags, p_kind = [], [], []
            picked = pa.array(rows, pa.int64())
            # re.Match.groups() of HEADER: optional groups None when absent; klo (unused by the rules) None
            names = ("br", "dt", "a", "sep", "b", "c", None, "h", "mi", "s", "ap", None)
            columns = [f[name].take(picked).to_pylist() if name else [None] * len(rows) for name in names]
            for k in (0, 9, 10):
                columns[k] = [value or None for value in columns[k]]
            heads = f["head"].take(picked).to_pylist()
            columns[11] = [
                line[len(head) :]
                for line, head in zip(header_lines.take(picked).to_pylist(), heads, strict=True)
            ]
            for i, groups in zip(rows, zip(*columns, strict=True), strict=True):
                locator = f"line/{numbers[i]}"
                time, body, author, kind, flags, media, sibling = _full_rules(reader, groups, locator)
                if time.utc is None:
                    reader.undated += 1
                p_utc.append(None if time.utc is None else _micros(time.utc))
                p_local.append(time.local_text)
                p_source.append(time.tz_source)
                p_precision.append(time.precision)
                p_text.append(body)
                slot = author_slots.get(id(author))
                if slot is None:
                    author_list.append(author)
                    slot = author_slots[id(author)] = len(author_list) - 1
                p_author.append(slot)
                p_flags.append(flag_slot(tuple(dict.fromkeys((*time.flags, *flags)))))
                p_kind.append(kinds.index(kind))
                if media is not None:
                    ctx.add_attachment(
                        message_id_for(sha, locator),
                        locator=locator,
                        file_name=media or None,
                        mime=None,
                        sha256=sibling,
                    )
            utc = pc.replace_with_mask(utc, mask, pa.array(p_utc, pa.int64()))
            local = pc.replace_with_mask(local, mask, pa.array(p_local, pa.string()))
            source = pc.replace_with_mask(source, mask, pa.array(p_source, pa.string()))
            precision = pc.replace_with_mask(precision, mask, pa.array(p_precision, pa.string()))
            author_index = pc.replace_with_mask(author_index, mask, pa.array(p_author, pa.int64()))
            flag_index = pc.replace_with_mask(flag_index, mask, pa.array(p_flags, pa.int64()))
            kind_index = pc.replace_with_mask(kind_index, mask, pa.array(p_kind, pa.int64()))
            text = pc.replace_with_mask(text, mask, pa.array(p_text, pa.string()))

        # Body: the header line's text, then each continuation line, joined by "\n" per message.
        first = int(self.header_positions[start])
        end = int(self.header_positions[stop]) if stop < self.n else len(self.lines)
        lines = self.lines.slice(first, end - first)
        positions = self.header_positions[start:stop] - first
        is_header = np.zeros(end - first, dtype=bool)
        is_header[positions] = True
        lines_text = pc.replace_with_mask(lines, pa.array(is_header), text)
        offsets = np.append(positions, len(lines_text)).astype(np.int32)
        body = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), lines_text), "\n")
        del lines_text
        nameless = pc.equal(colon, -1).to_numpy(zero_copy_only=False)  # no colon: a system line's header
        damaged = self._damaged_header_messages(lines, is_header, positions, text, nameless)
        del text
        if damaged:
            by_slot, slots = list(flag_slots), flag_index.to_pylist()
            for message in damaged:
                slots[message] = flag_slot(
                    tuple(dict.fromkeys((*by_slot[slots[message]], DAMAGED_HEADER_FLAG)))
                )
                reader.damaged_header(f"line/{numbers[message]}")
            flag_index = pa.array(slots, pa.int64())

        # Sender, identifier and direction per author object, as ParseContext.add_message sets them.
        senders, values, directions, idents = [], [], [], []
        for author in author_list:
            ident = author.identifier
            direction = author.direction
            if direction is None and ctx._owner_values and ident is not None:
                direction = "outgoing" if ident.value in ctx._owner_values else "incoming"
            senders.append(author.sender)
            values.append(ident.value if ident else None)
            directions.append(direction)
            idents.append(ident)
        flag_list = [list(flags) for flags in flag_slots]
        string = pa.string()
        message_ids = self.message_ids.slice(start, n)
        messages = pa.table(
            {
                "message_id": message_ids,
                "platform": pa.array([PLATFORM] * n, string),
                "conversation": pa.array([reader.conversation] * n, string),
                "sender": pa.array(senders, string).take(author_index),
                "sender_identifier": pa.array(values, string).take(author_index),
                "recipients": pa.array([[]], pa.list_(string)).take(pa.array([0] * n)),
                "sent_at_utc": pc.cast(utc, pa.timestamp("us", tz="UTC")),
                "sent_at_local": local,
                "tz_source": source,
                "time_precision": precision,
                "kind": pa.array(kinds, string).take(kind_index),
                "body": body,
                "source_sha256": pa.array([sha] * n, string),
                "source_locator": locators,
                "duplicate_of": pa.nulls(n, string),
                "subject": pa.nulls(n, string),
                "external_id": pa.nulls(n, string),
                "direction": pa.array(directions, string).take(author_index),
                "flags": pa.array(flag_list, pa.list_(string)).take(flag_index),
                "parser": pa.array([ctx.parser_name] * n, string),
            }
        )
        tables: list[tuple[str, Any]] = [("messages", messages)]
        del messages, body

        # Sender identifiers: one identifiers row and one link per message that has one.
        linked = pc.indices_nonzero(pa.array([i is not None for i in idents]).take(author_index))
        if len(linked):
            ident_slots = author_index.take(linked)
            ident_rows = [i.row() if i is not None else None for i in idents]
            types = {
                "identifier_id": string,
                "kind": string,
                "value": string,
                "raw": string,
                "is_valid": pa.bool_(),
                "flags": pa.list_(string),
            }
            identifiers = pa.table(
                {
                    name: pa.array([r[name] if r else None for r in ident_rows], type_).take(ident_slots)
                    for name, type_ in types.items()
                }
            )
            links = {
                "message_id": message_ids.take(linked),
                "identifier_id": identifiers["identifier_id"],
                "role": pa.array(["sender"] * len(linked), string),
            }
            tables += [("identifiers", identifiers), ("message_identifiers", pa.table(links))]
        return tables


def _hand_over(ctx: ParseContext, tables: list[tuple[str, Any]]) -> None:
    """A chunk's tables into the file's ParsedRows, in order (on the commit's second thread)."""
    for name, table in tables:
        ctx.out.add_table(name, table)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _full_rules(
    reader: Reader, groups: tuple, locator: str
) -> tuple[TimeValue, str, _Author, str, list[str], str | None, str | None]:
    """One header through the streaming reader's rules (its emit, up to the row): time, first-line text,
    author, kind, flags, media ('' omitted, a name, None) and the media file's sibling sha256."""
    _, local_text, a, _, b, c, _, h, mi, s, ap, rest = groups
    flags: list[str] = []
    time = reader.time_of(local_text, a, b, c, h, mi, s, ap, locator, flags)
    text, author, kind, flags, media, sibling = reader.classify(rest, flags)
    return time, text, author, kind, flags, media, sibling
