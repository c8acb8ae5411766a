"""WhatsApp chat exports (.txt), Android and iOS, in any locale.

WhatsApp writes one header per message (date, time, optional author) and continues multi-line bodies on
plain lines. Dates follow the phone's locale with no offset and no stated day/month order, so the order is
decided from the whole file in a cheap first pass and every guess is flagged (DESIGN principle 5). Files
can have hundreds of thousands of lines: the second pass streams the file, and everything that repeats
(author names, dates, zone lookups) is cached.

Decisions a reader of the rows should know:
- sent_at_local is the date and time exactly as written (NBSP, "klo", "p. m." kept); a trailing dot after
  the time is punctuation and is left out. Day/month order: proven by a field above 12 somewhere in the
  file; otherwise a locale hint (dotted dates, "klo": day-first; M/D/YY with AM/PM: month-first) or the
  run region decides, every message is flagged ambiguous_day_month and one warning says so. Evidence both
  ways: majority order, one warning, lines that only fit the other order flagged day_month_conflict.
- An hour 0 or 13+ next to AM/PM is read on a 0-11 clock (00:08 a. m. = 00:08), flagged and warned.
- System lines (no author, or iOS "<chat name>: \u200e<event>") have sender None: on iOS the name in front
  is the chat's, not a person's. iOS "Missed voice/video call" lines become kind "call".
- Invisible direction marks are removed from names and from the start of bodies; "~ Name" (someone not in
  the owner's contacts, showing a self-chosen profile name) keeps the name and is flagged non_contact_name.
"""

from __future__ import annotations

import gc
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evidence.extraction import message_id_for, message_ids_for
from evidence.parsers.base import Parser, Sample
from evidence.parsers.registry import register
from evidence.timeutil import TZ_RUN_PARAMETER, TimeValue, from_local, zone

if TYPE_CHECKING:
    from collections.abc import Iterator

    from evidence.extraction import ParseContext
    from evidence.identifiers import Identifier

PLATFORM = "whatsapp"

# Invisible direction marks WhatsApp puts around names, numbers and iOS system/media bodies.
_BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI_SET = frozenset(_BIDI)
_SP = "[ \u00a0\u202f]"  # space, NBSP, narrow NBSP: all three appear inside times and before AM/PM


def _header_pattern(a: str = r"\d{1,4}", b: str = r"\d{1,2}") -> str:
    """One message header at a line start. Groups: a/b/c date fields (a may be a 4-digit year), h/mi/s
    time, ap the 12-hour marker, dt the date+time as written, rest the author and body or a system text.
    The first pass narrows a and b to find day/month evidence with the very same line shape."""
    return (
        r"^[\u200e\u200f]*"
        r"(?P<br>\[)?"
        r"(?P<dt>"
        rf"(?P<a>{a})(?P<sep>[./-]) ?(?P<b>{b})(?P=sep) ?(?P<c>\d{{1,4}})\.?"
        rf"(?:,{_SP}*|{_SP}+)"
        rf"(?P<klo>klo{_SP}+)?"
        r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?:[:.](?P<s>\d{2}))?"
        rf"(?:{_SP}*(?P<ap>[AaPp]\.?{_SP}?[Mm]\.?))?"
        r")"
        r"\.?"
        rf"(?(br)\]{_SP}?|{_SP}+[-–]{_SP}+)"
        r"(?P<rest>.*)"
    )


HEADER = re.compile(_header_pattern(), re.MULTILINE)
_ABOVE_12 = r"1[3-9]|[2-9]\d"
_UP_TO_12 = r"0?\d|1[0-2]"
DAY_FIRST_EVIDENCE = re.compile(_header_pattern(_ABOVE_12, _UP_TO_12), re.MULTILINE)
MONTH_FIRST_EVIDENCE = re.compile(_header_pattern(_UP_TO_12, _ABOVE_12), re.MULTILINE)
# The same, found after a newline: a pattern with a literal first character is searched far faster
# than "^" in MULTILINE mode; the first line of each block is checked with the anchored form.
_DAY_FIRST_AFTER_NL = re.compile("\n" + DAY_FIRST_EVIDENCE.pattern[1:], re.MULTILINE)
_MONTH_FIRST_AFTER_NL = re.compile("\n" + MONTH_FIRST_EVIDENCE.pattern[1:], re.MULTILINE)
CHUNK_BYTES = 1 << 22

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
# Endings that make a first line worth testing against the media regexes (one C-level endswith call).
_OMITTED_ENDINGS = tuple(" " + word for word in _OMITTED_LAST_WORDS.split())
_MEDIA_ENDINGS = (")", *_OMITTED_ENDINGS)
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
_QUOTES = frozenset('"“”«»„')
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
        # Rows are plain acyclic dicts; letting the cycle collector re-scan the growing row lists every few
        # thousand messages costs more than the parse itself on large exports.
        collecting = gc.isenabled()
        gc.disable()
        try:
            if not _fast_parse(ctx):  # the bulk path decides the day/month order from its own fields
                order = _decide_order(ctx)
                if order.headers == 0:
                    raise ValueError("no line looks like a WhatsApp message header (date, time, author)")
                _warn_order(ctx, order)
                _Reader(ctx, order).run()
        finally:
            if collecting:
                gc.enable()


def _warn_order(ctx: ParseContext, order: _DateOrder) -> None:
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


def _decide_order(ctx: ParseContext) -> _DateOrder:
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
        day_first = region not in MONTH_FIRST_REGIONS
        basis = f"the run region {region or '(none)'}"
    assumed = "day-first (DD/MM)" if day_first else "month-first (MM/DD)"
    note = (
        "day/month order could not be decided: no date in this file has a day above 12; "
        f"assumed {assumed} from {basis}; every message is flagged ambiguous_day_month"
    )
    return _DateOrder(day_first, False, False, 1, note)


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
        self.emitted = 0
        self.undated = 0
        self.last_text: str | None = None
        self.last_time: TimeValue | None = None
        self.maybe_bad = False
        self.decode_errors = 0

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


# (year, month, day) or None, order flags, UTC instant of local midnight (None on clock-change days)
_Day = tuple[tuple[int, int, int] | None, tuple[str, ...], datetime | None]
_MINUTES = [timedelta(minutes=n) for n in range(24 * 60)]
_SECONDS = [timedelta(seconds=n) for n in range(60)]


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
    if len(first) <= 60 and _MEDIA_OMITTED.fullmatch(first):
        return ""
    return None


def _valid(year: int, month: int, day: int) -> tuple[int, int, int] | None:
    try:
        datetime(year, month, day)
    except ValueError:
        return None
    return (year, month, day)


# --- bulk path for large exports ---------------------------------------------------------------------
# The whole file as one Arrow string array of lines: headers are found and split by RE2 (pyarrow.compute)
# in C, continuation lines are joined per message in C, and only what is rare or repeats goes through the
# Python code above: each distinct author and date once, and per line only headers whose time or body needs
# the full rules (AM/PM hours outside 1-12, clock-change days, impossible dates, media markers, marked
# bodies). It declines, before it reports anything, whenever a file holds something it does not model
# exactly (carriage returns, bad UTF-8, U+FFFD, text before the first header, non-ASCII digits, a header
# that only matches with a different separator or bracket pairing); the streaming reader then parses it.

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


def _fast_parse(ctx: ParseContext) -> bool:
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
    _warn_order(ctx, plan.reader.order)
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
        lines = _split_lines(data)
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
                for part in _parts(header_lines, _FAST_THREADS)
            ]
            message_ids = _message_ids(ctx.sha256, line_numbers)
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
        plan.reader = _Reader(ctx, _order_from_fields(f, ctx.options.region))
        plan.lines, plan.f, plan.header_lines = lines, f, header_lines
        plan.header_positions, plan.line_numbers, plan.message_ids = (
            header_positions,
            line_numbers,
            message_ids,
        )
        return plan

    def commit(self) -> None:
        """Report every message, chunk by chunk, then the reader's warnings."""
        for start in range(0, self.n, FAST_CHUNK):
            self.report_chunk(start, min(self.n, start + FAST_CHUNK))
        reader = self.reader
        reader.emitted = self.n
        reader.finish_warnings()
        if reader.emitted == reader.undated:
            raise ValueError(
                "no WhatsApp message with a readable date and time: every header line has an impossible "
                "date or time"
            )

    def report_chunk(self, start: int, stop: int) -> None:
        """Messages start..stop-1 (header order) with their continuation lines, identifiers and media."""
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
        rest = _substrings(header_lines, pc.binary_length(f["head"]))
        colon = pc.find_substring(rest, ":")  # a byte offset, -1 when there is none
        has_key = pc.greater(colon, 0)
        key_bytes = pc.if_else(has_key, colon, 0)
        key_codes = pc.dictionary_encode(pc.if_else(has_key, _substrings(rest, 0, key_bytes), None))
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
        after_colon = _substrings(rest, pc.if_else(has_key, pc.add(colon, 1), 0))
        space = pc.cast(pc.and_(has_key, pc.starts_with(after_colon, " ")), pa.int64())
        author_bytes = pc.add(pc.add(key_bytes, 1), space)
        text = _substrings(rest, pc.if_else(is_person, author_bytes, 0))
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
        del text
        offsets = np.append(positions, len(lines_text)).astype(np.int32)
        body = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), lines_text), "\n")
        del lines_text

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
        ctx.out.add_table("messages", messages)
        ctx.message_count += n
        del messages, body

        # Sender identifiers: one identifiers row and one link per message that has one.
        linked = pc.indices_nonzero(pa.array([i is not None for i in idents]).take(author_index))
        if len(linked):
            ident_slots = author_index.take(linked)
            ident_rows = [i.row() if i is not None else None for i in idents]
            id_of = [r["identifier_id"] if r else None for r in ident_rows]
            ctx.out.add_table(
                "identifiers",
                pa.table(
                    {
                        "identifier_id": pa.array(id_of, string).take(ident_slots),
                        "kind": pa.array([r and r["kind"] for r in ident_rows], string).take(ident_slots),
                        "value": pa.array([r and r["value"] for r in ident_rows], string).take(ident_slots),
                        "raw": pa.array([r and r["raw"] for r in ident_rows], string).take(ident_slots),
                        "is_valid": pa.array([r and r["is_valid"] for r in ident_rows], pa.bool_()).take(
                            ident_slots
                        ),
                        "flags": pa.array(
                            [r["flags"] if r else None for r in ident_rows], pa.list_(string)
                        ).take(ident_slots),
                    }
                ),
            )
            ctx.out.add_table(
                "message_identifiers",
                pa.table(
                    {
                        "message_id": message_ids.take(linked),
                        "identifier_id": pa.array(id_of, string).take(ident_slots),
                        "role": pa.array(["sender"] * len(linked), string),
                    }
                ),
            )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _full_rules(
    reader: _Reader, groups: tuple, locator: str
) -> tuple[TimeValue, str, _Author, str, list[str], str | None, str | None]:
    """One header through the streaming reader's rules (its emit, up to the row): time, first-line text,
    author, kind, flags, media ('' omitted, a name, None) and the media file's sibling sha256."""
    _, local_text, a, _, b, c, _, h, mi, s, ap, rest = groups
    flags: list[str] = []
    time = reader.time_of(local_text, a, b, c, h, mi, s, ap, locator, flags)
    text, author, kind, flags, media, sibling = reader.classify(rest, flags)
    return time, text, author, kind, flags, media, sibling


def _parts(array: Any, count: int) -> list[Any]:
    """An Arrow array as `count` consecutive zero-copy slices (fewer when it is short)."""
    step = max(1, -(-len(array) // count))
    return [array.slice(start, step) for start in range(0, len(array), step)] or [array]


def _message_ids(sha256: str, line_numbers: list[int]) -> Any:
    """message_id_for(sha256, f"line/{k}") for every header line number k, as a pyarrow string array."""
    import pyarrow as pa

    return pa.array(message_ids_for(sha256, "line/", line_numbers), pa.string())


def _split_lines(data: bytes) -> Any:
    """UTF-8 bytes as a pyarrow StringArray of lines split at "\\n" (a final newline ends the last line)."""
    import numpy as np
    import pyarrow as pa

    raw = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(raw == 10).astype(np.int64)
    ends = newlines if data.endswith(b"\n") else np.append(newlines, len(data))
    n = len(ends)
    # Pieces line, newline, line, newline, ... over the same buffer; the lines are every second piece.
    split = np.empty(2 * n, np.int64)
    split[0] = 0
    split[1::2] = ends
    split[2::2] = ends[:-1] + 1
    split = np.append(split, ends[-1] + 1 if data.endswith(b"\n") else ends[-1]).astype(np.int32)
    pieces = pa.StringArray.from_buffers(2 * n, pa.py_buffer(split), pa.py_buffer(data), null_count=0)
    return pieces.take(pa.array(np.arange(0, 2 * n, 2, dtype=np.int64)))


def _order_from_fields(f: dict[str, Any], region: str | None) -> _DateOrder:
    """_decide_order from the bulk path's header fields (the same headers, split the same way)."""
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


def _substrings(strings: Any, starts: Any, ends: Any = None) -> Any:
    """Bytes starts[i]:ends[i] of each string of a pyarrow StringArray (ends None: to its end); every cut
    must fall on a character boundary.

    The data buffer is shared by a twice-as-long array whose offsets mark each wanted piece and the gap
    after it (piece, gap, piece, gap, ...); taking every second item copies the pieces out in one C pass.
    """
    import numpy as np
    import pyarrow as pa

    n = len(strings)
    offsets = np.frombuffer(strings.buffers()[1], np.int32)[strings.offset : strings.offset + n + 1]
    split = np.empty(2 * n + 1, np.int32)
    split[0:-1:2] = offsets[:-1] + np.asarray(starts, np.int32)
    split[1::2] = offsets[1:] if ends is None else offsets[:-1] + np.asarray(ends, np.int32)
    split[-1] = offsets[-1]
    pieces = pa.StringArray.from_buffers(2 * n, pa.py_buffer(split), strings.buffers()[2], null_count=0)
    return pieces.take(pa.array(np.arange(0, 2 * n, 2, dtype=np.int64)))
