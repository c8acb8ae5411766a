"""The streaming reader: one pass over the lines of an export of any size, with every rule for odd lines."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from evidence.parsers.context import ParseContext
from evidence.parsers.damaged_headers import (
    DAMAGED_HEADER_FLAG,
    damaged_header_warning,
    holds_glued_header,
    looks_like_damaged_header,
    name_split_from,
)
from evidence.parsers.whatsapp import PLATFORM
from evidence.parsers.whatsapp.dates import _chunks, _DateOrder, _steady_midnight, _valid
from evidence.parsers.whatsapp.lines import (
    _BIDI,
    _BIDI_SET,
    _IOS_CALL,
    _IOS_SYSTEM,
    _MEDIA_ENDINGS,
    _PHONE_NAME,
    _QUOTES,
    _SYSTEM_AUTHOR,
    _SYSTEM_NAME,
    HEADER,
    WARN_EACH,
    _Author,
    _Day,
    _media_of,
    _strip_bidi,
    conversation_from_name,
)
from evidence.timeutil import TZ_RUN_PARAMETER, TimeValue, from_local


class Reader:
    """Second pass: stream lines, group continuation lines under their header, emit messages."""

    def __init__(self, ctx: ParseContext, order: _DateOrder) -> None:
        self.ctx = ctx
        self.order = order
        self.tz = ctx.options.tz
        self.conversation = conversation_from_name(ctx.name, ctx.source_path)
        self.owners = frozenset(ctx.options.owners)
        self.authors: dict[str, _Author] = {}
        self.dates: dict[tuple[str, str, str], _Day] = {}
        self.siblings = ctx.siblings
        self.siblings_folded = {k.rsplit("/", 1)[-1].casefold(): v for k, v in ctx.siblings.items()}
        self.problem_counts: dict[str, int] = {}
        self.problem_text: dict[str, str] = {}
        self.emitted = 0
        self.undated = 0
        self.last_text: str | None = None
        self.last_time: TimeValue | None = None
        self.maybe_bad = False
        self.decode_errors = 0
        self.damaged_headers = 0
        self.first_damaged_header: str | None = None

    # --- warnings ----------------------------------------------------------------------------------
    def problem(self, kind: str, message: str, locator: str) -> None:
        """Warn for the first few lines of one kind of problem, then count; a summary comes at the end."""
        n = self.problem_counts.get(kind, 0) + 1
        self.problem_counts[kind] = n
        if n <= WARN_EACH:
            self.ctx.warn(message, locator)
        else:
            self.problem_text[kind] = message

    def damaged_header(self, locator: str) -> None:
        self.damaged_headers += 1
        if self.first_damaged_header is None:
            self.first_damaged_header = locator

    def finish_warnings(self) -> None:
        if self.damaged_headers:
            self.ctx.warn(damaged_header_warning(self.damaged_headers, str(self.first_damaged_header)), None)
        for kind, n in self.problem_counts.items():
            if n > WARN_EACH:
                self.ctx.warn(f"{n - WARN_EACH} more line(s) like this: {self.problem_text[kind]}", None)
        if self.decode_errors:
            self.ctx.warn(
                f"{self.decode_errors} message(s) held bytes that are not valid UTF-8; they were replaced "
                "by U+FFFD and the messages flagged decode_errors",
                None,
            )

    # --- main loop ---------------------------------------------------------------------------------
    def run(self) -> None:
        """Headers are found by one C-level scan per block; the text between two headers is the first
        one's continuation lines, and line numbers come from counting newlines in between."""
        finditer = HEADER.finditer
        emit = self.emit
        pending: list = []  # [line number, header match, continuation pieces...]
        line_base = 0  # newlines before the current block
        for chunk in _chunks(self.ctx.path):
            if not self.maybe_bad and "\ufffd" in chunk:
                self.maybe_bad = True
            # pos: end of the previous header line in this block (a header line holds no newline), -1 at
            # the block start; cline + 1: line number of the header just found.
            pos, cline = -1, line_base - 1
            for m in finditer(chunk):
                start, end = m.span()
                if start == pos + 1:  # the usual case: the previous message had a single line
                    cline += 1
                    if pending:
                        emit(pending)
                else:
                    gap_start = pos if pos >= 0 else 0
                    cline += chunk.count("\n", gap_start, start) + (0 if pos >= 0 else 1)
                    if pending:
                        pending.append(chunk[gap_start:start])
                        emit(pending)
                    else:
                        self.leading(chunk[gap_start:start], line_base + 1)
                pending = [cline + 1, m]
                pos = end
            if pos < len(chunk):
                if pending:
                    pending.append(chunk[pos if pos >= 0 else 0 :])
                else:
                    self.leading(chunk, line_base + 1)
            line_base += chunk.count("\n")
        if pending:
            emit(pending)
        self.finish_warnings()
        if self.emitted == self.undated:
            raise ValueError(
                "no WhatsApp message with a readable date and time: every header line has an impossible "
                "date or time"
            )

    def leading(self, text: str, first_line: int) -> None:
        """Lines before the first header (a file claimed by the sniff that is broken further on)."""
        for offset, line in enumerate(text.split("\n")):
            if line.strip():
                self.problem(
                    "leading",
                    "line before the first WhatsApp message header could not be read as a message",
                    f"line/{first_line + offset}",
                )

    # --- one message -------------------------------------------------------------------------------
    def classify(
        self, rest: str, flags: list[str]
    ) -> tuple[str, _Author, str, list[str], str | None, str | None]:
        """A header line's text after the time: its author ("Name: text", or none for a system line),
        its kind (media markers and iOS system/call bodies are told by the first line), the media file
        named ('' for omitted media) and that file's sha256 when the export carries it."""
        author = _SYSTEM_AUTHOR
        text = rest
        colon = rest.find(":")
        if colon > 0:
            found = self.authors.get(rest[:colon])
            if found is None:
                found = self.authors[rest[:colon]] = self.author_of(rest[:colon])
            author = found
            if not found.is_system:
                text = rest[colon + 2 :] if rest[colon + 1 : colon + 2] == " " else rest[colon + 1 :]
                if found.flags:
                    flags.extend(found.flags)
        kind = "system" if author.is_system else "message"
        media = sibling = None
        if kind == "message":
            marked = text[:1] in _BIDI_SET
            if marked:
                text = text.lstrip(_BIDI)  # iOS marks system, media and call bodies with U+200E
            if "<" in text or text.endswith(_MEDIA_ENDINGS):
                media = _media_of(text)
            if media is not None:
                kind = "media"
                if media:
                    sibling = self.siblings.get(media) or self.siblings_folded.get(media.casefold())
                if sibling is None:
                    flags.append("media_not_in_export")
            elif marked:
                if _IOS_CALL.match(text):
                    kind = "call"
                elif _IOS_SYSTEM.search(text):
                    kind, author = "system", _SYSTEM_AUTHOR
                    flags = [f for f in flags if f != "non_contact_name"]
        return text, author, kind, flags, media, sibling

    def emit(self, pending: list) -> None:
        """Turn one header and its continuation text into a message row (and an attachment row).

        This runs once per message, so it avoids calls and allocations on the common path.
        """
        ctx = self.ctx
        self.emitted += 1
        m = pending[1]
        tail = ""
        if len(pending) > 2:
            tail = "".join(pending[2:])  # "\n" + continuation lines, each ending in "\n" (but maybe the last)
            if tail[-1:] == "\n":
                tail = tail[:-1]
        _, local_text, a, _, b, c, _, h, mi, s, ap, rest = m.groups()
        locator = f"line/{pending[0]}"
        flags: list[str] = []

        # --- time: consecutive messages often share their minute; a day's offset is looked up once.
        # Inline fast path for a 24-hour time on a day whose order is decided and offset steady.
        if local_text == self.last_text:
            time = self.last_time
        else:
            day = self.dates.get((a, b, c))
            hour, minute = int(h), int(mi)
            if day is not None and day[2] is not None and not day[1] and not ap and hour < 24 and minute < 60:
                if s is None:
                    time = TimeValue(
                        day[2] + _MINUTES[hour * 60 + minute], local_text, TZ_RUN_PARAMETER, "minute"
                    )
                else:
                    second = int(s)
                    time = (
                        TimeValue(
                            day[2] + _MINUTES[hour * 60 + minute] + _SECONDS[second],
                            local_text,
                            TZ_RUN_PARAMETER,
                            "second",
                        )
                        if second < 60
                        else self.time_of(local_text, a, b, c, h, mi, s, ap, locator, flags)
                    )
            else:
                time = self.time_of(local_text, a, b, c, h, mi, s, ap, locator, flags)
            if time.utc is None:
                self.undated += 1
            elif not flags:
                self.last_text, self.last_time = local_text, time
        if self.maybe_bad and ("\ufffd" in rest or "\ufffd" in tail):
            flags.append("decode_errors")
            self.decode_errors += 1

        text, author, kind, flags, media, sibling = self.classify(rest, flags)
        if (
            (tail and looks_like_damaged_header(tail, m.group()))
            or holds_glued_header(rest)
            or (tail and kind == "system" and ":" not in rest and name_split_from(text, tail))
        ):
            flags.append(DAMAGED_HEADER_FLAG)
            self.damaged_header(locator)
        if tail:
            text += tail
        message_id = ctx.add_message(
            platform=PLATFORM,
            kind=kind,
            locator=locator,
            time=time,
            body=text,
            sender=author.sender,
            sender_identifier=author.identifier,
            conversation=self.conversation,
            direction=author.direction,
            flags=flags,
        )
        if media is not None:
            ctx.add_attachment(
                message_id, locator=locator, file_name=media or None, mime=None, sha256=sibling
            )

    def author_of(self, raw_name: str) -> _Author:
        """Resolve an author field once per distinct spelling."""
        name = _strip_bidi(raw_name)
        if not name or len(name) > 100:
            return _SYSTEM_AUTHOR
        if _QUOTES.intersection(name) and _SYSTEM_NAME.search(name):
            return _SYSTEM_AUTHOR
        flags: tuple[str, ...] = ()
        if name[0] == "~":
            # Not in the owner's contacts: the name is the person's self-chosen profile name.
            name = name[1:].lstrip(" \u00a0\u202f")
            flags = ("non_contact_name",)
        ident = None
        if _PHONE_NAME.fullmatch(name) and sum(ch.isdigit() for ch in name) >= 7:
            ident = self.ctx.identifier("phone", name)
        direction = None
        if self.owners:
            outgoing = name in self.owners or raw_name in self.owners or self.ctx.is_owner(ident)
            direction = "outgoing" if outgoing else "incoming"
        return _Author(name, ident, flags, direction, False)

    def time_of(
        self,
        local_text: str,
        a: str,
        b: str,
        c: str,
        h: str,
        mi: str,
        s: str | None,
        ap: str | None,
        locator: str,
        flags: list[str],
    ) -> TimeValue:
        """UTC from a header: day/month order from the first pass, one zone lookup per day."""
        day = self.dates.get((a, b, c))
        if day is None:
            day = self.dates[(a, b, c)] = self.day_of(a, b, c)
        ymd, day_flags, midnight_utc = day
        if day_flags:
            flags.extend(day_flags)
        hour, minute = int(h), int(mi)
        second = int(s) if s else 0
        if ap:
            if 1 <= hour <= 12:
                hour = hour % 12 + (12 if ap[0] in "pP" else 0)
            else:
                if hour == 0 and ap[0] in "pP":
                    hour = 12
                flags.append("invalid_12h_hour")
                self.problem(
                    "12h",
                    f"hour {h} is not a 12-hour clock hour ({local_text!r}); read as {hour:02d}:{mi}",
                    locator,
                )
        if ymd is None or hour > 23 or minute > 59 or second > 59:
            self.problem("date", f"header date/time {local_text!r} is not a real date and time", locator)
            return TimeValue.missing(local_text, "unparseable_date")
        precision = "second" if s else "minute"
        if midnight_utc is not None:
            utc = midnight_utc + _MINUTES[hour * 60 + minute]
            if second:
                utc += _SECONDS[second]
            return TimeValue(utc, local_text, TZ_RUN_PARAMETER, precision, ())
        # A clock change touches this day: let timeutil decide (gap or repeated hour) minute by minute.
        value = from_local(datetime(*ymd, hour, minute), self.tz, local_text, precision)
        if second:
            value = replace(value, utc=value.utc + _SECONDS[second])  # type: ignore[operator]
        return value

    def day_of(self, a: str, b: str, c: str) -> _Day:
        """One calendar date as written: (year, month, day) or None, order flags and its UTC midnight."""
        order = self.order
        flags: tuple[str, ...] = ()
        if len(a) >= 3:
            ymd = _valid(int(a), int(b), int(c)) if len(a) == 4 else None
        elif len(c) not in (2, 4):
            ymd = None
        else:
            year = int(c) + (2000 if len(c) == 2 else 0)
            ai, bi = int(a), int(b)
            day, month = (ai, bi) if order.day_first else (bi, ai)
            flags = () if order.decided else ("ambiguous_day_month",)
            ymd = _valid(year, month, day)
            if ymd is None and order.conflict:
                ymd = _valid(year, day, month)
                flags = ("day_month_conflict",) if ymd else ()
            elif order.conflict and ai <= 12 and bi <= 12 and ai != bi:
                flags = ("ambiguous_day_month",)
        return (ymd, flags, None if ymd is None else _steady_midnight(ymd, self.tz))


_MINUTES = [timedelta(minutes=n) for n in range(24 * 60)]


_SECONDS = [timedelta(seconds=n) for n in range(60)]
