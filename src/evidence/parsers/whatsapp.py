"""WhatsApp chat exports (.txt), Android and iOS, in any locale.

WhatsApp writes one header per message (date, time, optional author) and continues multi-line bodies on
plain lines. Dates follow the phone's locale with no offset and no stated day/month order, so the order is
decided from the whole file in a cheap first pass and every guess is flagged (DESIGN principle 5). Files
can have hundreds of thousands of lines: the second pass streams the file, and everything that repeats
(author names, dates, zone lookups) is cached.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from evidence.parsers.base import Parser, Sample
from evidence.parsers.registry import register
from evidence.timeutil import TZ_RUN_PARAMETER, TimeValue, from_local, zone

if TYPE_CHECKING:
    from evidence.extraction import ParseContext
    from evidence.identifiers import Identifier

PLATFORM = "whatsapp"

# Invisible direction marks WhatsApp puts around names, numbers and iOS system/media bodies.
_BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_SP = "[ \u00a0\u202f]"  # space, NBSP, narrow NBSP: all three appear inside times and before AM/PM

# One message header. Groups: a/b/c date fields (a may be a 4-digit year), h/mi/s time, ap the 12-hour
# marker, dt the date+time as written, rest what follows (author and body, or a system text).
HEADER = re.compile(
    r"[\u200e\u200f]*"
    r"(?P<br>\[)?"
    r"(?P<dt>"
    r"(?P<a>\d{1,4})(?P<sep>[./-]) ?(?P<b>\d{1,2})(?P=sep) ?(?P<c>\d{1,4})\.?"
    rf"(?:,{_SP}*|{_SP}+)"
    rf"(?P<klo>klo{_SP}+)?"
    r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?:[:.](?P<s>\d{2}))?"
    rf"(?:{_SP}*(?P<ap>[AaPp]\.?{_SP}?[Mm]\.?))?"
    r")"
    r"\.?"
    rf"(?(br)\]{_SP}?|{_SP}+[-–]{_SP}+)"
    r"(?P<rest>.*)"
)

# Media markers, first body line only. Omitted media (export "without media"), per platform and locale.
_OMITTED_WORDS = (
    r"omitted|omitid[oa]|ausgelassen|weggelassen|weggelaten|ocult[oa]|ocultad[oa]|omis|omise|"
    r"absente?|omess[aoi]|jätetty pois|utelämnad|utelatt|udeladt|pominięt[oay]|опущено|dahil edilmedi"
)
_MEDIA_TYPES = (
    r"image|photo|video|audio|sticker|GIF|document|Contact card|voice message|video note|"
    r"Bild|Foto|Dokument|Kontaktkarte|Sprachnachricht|imagen|vídeo|documento|tarjeta de contacto|"
    r"imagem|figurinha|áudio|immagine|afbeelding|kuva|ääni|tarra|bild|ljud|dokument"
)
# Last word of every omitted-media marker: a set lookup spares the regex for ordinary messages.
_OMITTED_LAST_WORDS = (
    "omitted omitido omitida ausgelassen weggelassen weggelaten oculta ocultado ocultada omis omise "
    "absent absente omessi omesso omessa pois utelämnad utelatt udeladt pominięto pominięte pominięty "
    "pominięta опущено edilmedi"
)
_OMITTED_LAST = frozenset(word + end for word in _OMITTED_LAST_WORDS.split() for end in ("", ">"))
_MEDIA_OMITTED = re.compile(
    rf"<[^<>]{{0,40}}?\b(?:{_OMITTED_WORDS})\b[^<>]{{0,20}}>|(?:{_MEDIA_TYPES}) (?:{_OMITTED_WORDS})",
    re.IGNORECASE,
)
# iOS export "with media": <attached: 00000012-PHOTO-2023-01-01-10-00-00.jpg>, also after a document title.
_ATTACHED = re.compile(
    r"<(?:attached|Anhang|adjunto|anexo|allegato|bijlage|pièce jointe|liite|bifogad|vedlegg|"
    r"vedhæftet|załącznik)\s?:\s?(?P<name>[^<>]+?)\s*>",
    re.IGNORECASE,
)
# Android export "with media": IMG-20230101-WA0001.jpg (file attached), then an optional caption line.
_FILE_ATTACHED = re.compile(
    r"(?P<name>.+?)\s\((?:file attached|Datei angehängt|archivo adjunto|arquivo anexado|ficheiro anexado|"
    r"fichier joint|file allegato|bestand bijgevoegd|tiedosto liitetty|fil bifogad|fil vedlagt|"
    r"fil vedhæftet|plik załączony|dosya ekli)\)",
    re.IGNORECASE,
)

# iOS writes system events as "<chat name>: \u200e<text>"; these phrases tell them from user messages
# that also start with the mark (deleted messages, locations, polls).
_IOS_SYSTEM = re.compile(
    r"end-to-end|Ende-zu-Ende|extremo a extremo|ponta a ponta|de bout en bout|päästä päähän|"
    r"\bcreated (?:group|this group)|\badded\b|\bremoved\b|\bleft\b|\bchanged\b|\bjoined\b|"
    r"security code|is a contact|\bblocked\b|\bunblocked\b|disappearing messages|\badmin\b|"
    r"\bpinned\b|\bturned (?:on|off)\b",
    re.IGNORECASE,
)
_IOS_CALL = re.compile(r"(?:Missed )?(?:voice|video|group voice|group video) call\b", re.IGNORECASE)

# Android system lines have no author; one that contains a colon (a quoted group subject "a: b") would look
# like "Name: text". A quote plus a system verb in the would-be name marks it as a system line.
_SYSTEM_NAME = re.compile(
    r"\b(?:changed|created|added|removed|subject|geändert|erstellt|cambió|creó|alterou|"
    r"criou|a changé|a créé|muutti|loi)\b.*[\"“”«»„]",
    re.IGNORECASE,
)
_QUOTES = frozenset("\"“”«»„")
_PHONE_NAME = re.compile(r"\+?\d[\d \u00a0\-().]{5,}\d")

# Regions whose locales write month first; every other region defaults to day first.
MONTH_FIRST_REGIONS = frozenset({"US", "PH", "FM", "MH", "PW", "GU", "AS", "PR", "VI", "UM", "MP"})

_CHAT_FILE = re.compile(
    r"(?:WhatsApp[ _-]?Chat(?:[ _]with| mit| met| con| med| z| avec)?|Chat de WhatsApp con|"
    r"Conversa do WhatsApp com|Discussion WhatsApp avec|Chat WhatsApp con|WhatsApp-keskustelu)"
    r"[ _]*(?:[-:–][ _]*)?(?P<name>.+?)(?: ?\(\d+\))?\.(?:txt|zip)",
    re.IGNORECASE,
)

WARN_EACH = 5  # per kind of line problem, this many individual warnings, then one summary


@dataclass(frozen=True)
class _Author:
    """What a raw author field resolves to; cached because a chat has few distinct authors."""

    sender: str | None
    identifier: Identifier | None
    flags: tuple[str, ...]
    direction: str | None
    is_system: bool


_SYSTEM_AUTHOR = _Author(None, None, (), None, True)


@dataclass
class _DateOrder:
    """Outcome of the first pass: day-first or not, and whether that was proven by the dates themselves."""

    day_first: bool
    decided: bool
    conflict: bool
    headers: int
    note: str


def _strip_bidi(text: str) -> str:
    return text.strip(_BIDI + " \u00a0\u202f")


def _plausible(m: re.Match[str]) -> bool:
    """Numbers in a header that could be a date and a time (used by sniff, before the order is known)."""
    a, b, c = int(m["a"]), int(m["b"]), int(m["c"])
    if len(m["a"]) >= 3:
        day_ok = 1 <= b <= 12 and 1 <= c <= 31
    else:
        day_ok = 1 <= a <= 31 and 1 <= b <= 31 and min(a, b) <= 12 and len(m["c"]) in (2, 4) and c >= 0
    return day_ok and int(m["h"]) <= 24 and int(m["mi"]) <= 59 and (m["s"] is None or int(m["s"]) <= 59)


def _sniff_header(line: str) -> bool:
    """A strict header: brackets (iOS) always carry seconds, which also keeps Signal's [date, HH:MM] out;
    Android-style lines never combine an ISO date with seconds, which keeps application logs out."""
    m = HEADER.match(line)
    if m is None or not m["rest"].strip() or not _plausible(m):
        return False
    if m["br"] and m["s"] is None:
        return False
    return not (not m["br"] and m["s"] is not None and len(m["a"]) == 4 and m["sep"] == "-")


def conversation_from_name(name: str, source_path: str = "") -> str:
    """Chat name from 'WhatsApp Chat with X.txt' / 'WhatsApp Chat - X.txt' (or the zip it came in)."""
    candidates = [name]
    for part in reversed(source_path.split("!/")):
        candidates.append(part.replace("\\", "/").rsplit("/", 1)[-1])
    for candidate in candidates:
        m = _CHAT_FILE.fullmatch(candidate.strip())
        if m and m["name"].strip():
            return m["name"].strip()
    return name


@register
class WhatsAppParser(Parser):
    name = "whatsapp_txt"
    version = "1"
    platform = PLATFORM
    description = "WhatsApp chat export (.txt), Android and iOS, any locale"

    def sniff(self, sample: Sample) -> bool:
        head = sample.head[:16384]
        if b"\x00" in head:
            return False
        lines = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()
        if sample.size > len(head) and len(lines) > 1:
            lines = lines[:-1]  # the last line may be cut in the middle
        nonempty = [line for line in lines[:400] if line.strip()][:40]
        if not nonempty or not _sniff_header(nonempty[0]):
            return False
        headers = sum(1 for line in nonempty if _sniff_header(line))
        whole_file = sample.size <= len(head)
        return headers >= 2 or (whole_file and headers == 1)

    def parse(self, ctx: ParseContext) -> None:
        zone(ctx.options.tz)  # a bad --tz is a run error; say so before reading anything
        order = _decide_order(ctx)
        if order.headers == 0:
            raise ValueError("no line looks like a WhatsApp message header (date, time, author)")
        if not order.decided or order.conflict:
            ctx.warn(order.note)
        # Rows are plain acyclic dicts; letting the cycle collector re-scan the growing row lists every few
        # thousand messages costs more than the parse itself on large exports.
        collecting = gc.isenabled()
        gc.disable()
        try:
            _Reader(ctx, order).run()
        finally:
            if collecting:
                gc.enable()


def _decide_order(ctx: ParseContext) -> _DateOrder:
    """First pass: day-first if some first field is above 12, month-first if some second field is."""
    day_votes = month_votes = headers = 0
    dotted = klo = us_ampm = 0
    match = HEADER.match
    with open(ctx.path, encoding="utf-8-sig", errors="replace") as handle:
        for line in handle:
            m = match(line)
            if m is None:
                continue
            headers += 1
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
    region = (ctx.options.region or "").upper()
    if day_votes and month_votes:
        day_first = day_votes >= month_votes
        note = (
            f"dates disagree on day/month order: {day_votes} header(s) only fit day-first and "
            f"{month_votes} only month-first; read as {'day-first' if day_first else 'month-first'}, "
            "lines that only fit the other order are read that way and flagged day_month_conflict"
        )
        return _DateOrder(day_first, True, True, headers, note)
    if day_votes or month_votes:
        return _DateOrder(bool(day_votes), True, False, headers, "")
    if dotted or klo:
        day_first, basis = True, "the dotted/Finnish date style, which is written day-first"
    elif us_ampm:
        day_first, basis = False, "the US-style M/D/YY date with AM/PM"
    else:
        day_first = region not in MONTH_FIRST_REGIONS
        basis = f"the run region {region or '(none)'}"
    assumed = "day-first (DD/MM)" if day_first else "month-first (MM/DD)"
    note = (
        "day/month order could not be decided: no date in this file has a day above 12; "
        f"assumed {assumed} from {basis}; every message is flagged ambiguous_day_month"
    )
    return _DateOrder(day_first, False, False, headers, note)


class _Reader:
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
        self.dated = 0
        self.decode_error_lines = 0

    # --- warnings ----------------------------------------------------------------------------------
    def problem(self, kind: str, message: str, locator: str) -> None:
        """Warn for the first few lines of one kind of problem, then count; a summary comes at the end."""
        n = self.problem_counts.get(kind, 0) + 1
        self.problem_counts[kind] = n
        if n <= WARN_EACH:
            self.ctx.warn(message, locator)
        else:
            self.problem_text[kind] = message

    def finish_warnings(self) -> None:
        for kind, n in self.problem_counts.items():
            if n > WARN_EACH:
                self.ctx.warn(f"{n - WARN_EACH} more line(s) like this: {self.problem_text[kind]}", None)
        if self.decode_error_lines:
            self.ctx.warn(
                f"{self.decode_error_lines} line(s) held bytes that are not valid UTF-8; they were replaced "
                "by U+FFFD and the messages flagged decode_errors",
                None,
            )

    # --- main loop ---------------------------------------------------------------------------------
    def run(self) -> None:
        match = HEADER.match
        pending: tuple[int, re.Match[str]] | None = None
        body: list[str] = []
        bad = False
        with open(self.ctx.path, encoding="utf-8-sig", errors="replace") as handle:
            for lineno, raw in enumerate(handle, 1):
                line = raw[:-1] if raw[-1:] == "\n" else raw
                has_bad = "\ufffd" in line
                if has_bad:
                    self.decode_error_lines += 1
                m = match(line)
                if m is not None:
                    if pending is not None:
                        self.emit(pending[0], pending[1], body, bad)
                    pending, body, bad = (lineno, m), [m["rest"]], has_bad
                elif pending is not None:
                    body.append(line)
                    bad = bad or has_bad
                elif line.strip():
                    self.problem(
                        "leading",
                        "line before the first WhatsApp message header could not be read as a message",
                        f"line/{lineno}",
                    )
        if pending is not None:
            self.emit(pending[0], pending[1], body, bad)
        self.finish_warnings()
        if self.dated == 0:
            raise ValueError(
                "no WhatsApp message with a readable date and time: every header line has an impossible "
                "date or time"
            )

    # --- one message -------------------------------------------------------------------------------
    def emit(self, lineno: int, m: re.Match[str], lines: list[str], decode_errors: bool) -> None:
        """Turn one header and its continuation lines into a message row (and an attachment row)."""
        ctx = self.ctx
        locator = f"line/{lineno}"
        flags: list[str] = []
        time = self.time_of(m, locator, flags)
        rest = lines[0]
        author = _SYSTEM_AUTHOR
        text = rest
        colon = rest.find(":")
        if colon > 0:
            raw_name = rest[:colon]
            found = self.authors.get(raw_name)
            if found is None:
                found = self.authors[raw_name] = self.author_of(raw_name)
            author = found
            if not author.is_system:
                text = rest[colon + 2 :] if rest[colon + 1 : colon + 2] == " " else rest[colon + 1 :]
        kind = "system" if author.is_system else "message"
        media = None
        if kind == "message":
            marked = bool(text) and text[0] in _BIDI
            if marked:
                text = text.lstrip(_BIDI)  # iOS marks system, media and call bodies with U+200E
            media = _media_of(text)
            if media is not None:
                kind = "media"
            elif marked:
                if _IOS_CALL.match(text):
                    kind = "call"
                elif _IOS_SYSTEM.search(text):
                    kind, author = "system", _SYSTEM_AUTHOR
        if len(lines) > 1:
            lines[0] = text
            text = "\n".join(lines)
        if author.flags:
            flags.extend(author.flags)
        if decode_errors:
            flags.append("decode_errors")
        sibling = None
        if media is not None:
            if media:
                sibling = self.siblings.get(media) or self.siblings_folded.get(media.casefold())
            if sibling is None:
                flags.append("media_not_in_export")
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

    def time_of(self, m: re.Match[str], locator: str, flags: list[str]) -> TimeValue:
        """UTC from a header: day/month order from the first pass, one zone lookup per day."""
        a, b, c, h, mi, s, ap, local_text = m.group("a", "b", "c", "h", "mi", "s", "ap", "dt")
        day = self.dates.get((a, b, c))
        if day is None:
            day = self.dates[(a, b, c)] = self.day_of(a, b, c)
        if day.flags:
            flags.extend(day.flags)
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
        if day.ymd is None or hour > 23 or minute > 59 or second > 59:
            self.problem("date", f"header date/time {local_text!r} is not a real date and time", locator)
            return TimeValue.missing(local_text, "unparseable_date")
        self.dated += 1
        precision = "second" if s else "minute"
        if day.midnight_utc is not None:
            utc = day.midnight_utc + timedelta(hours=hour, minutes=minute, seconds=second)
            return TimeValue(utc, local_text, TZ_RUN_PARAMETER, precision, ())
        # A clock change touches this day: let timeutil decide (gap or repeated hour) minute by minute.
        value = from_local(datetime(*day.ymd, hour, minute), self.tz, local_text, precision)
        if second:
            value = replace(value, utc=value.utc + timedelta(seconds=second))  # type: ignore[operator]
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
        return _Day(ymd, flags, None if ymd is None else _steady_midnight(ymd, self.tz))


@dataclass(frozen=True)
class _Day:
    ymd: tuple[int, int, int] | None
    flags: tuple[str, ...]
    midnight_utc: datetime | None  # None when the zone changes its offset on this day


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


def _media_of(first: str) -> str | None:
    """'' for omitted media, the file name for attached media, None for no media marker."""
    if "<" in first:
        m = _ATTACHED.search(first)
        if m:
            return _strip_bidi(m["name"])
    elif first.endswith(")"):
        m = _FILE_ATTACHED.fullmatch(first)
        if m:
            return _strip_bidi(m["name"])
    if len(first) <= 60 and first.rpartition(" ")[2].casefold() in _OMITTED_LAST:
        return "" if _MEDIA_OMITTED.fullmatch(first) else None
    return None


def _valid(year: int, month: int, day: int) -> tuple[int, int, int] | None:
    try:
        datetime(year, month, day)
    except ValueError:
        return None
    return (year, month, day)
