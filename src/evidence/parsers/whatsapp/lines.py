"""WhatsApp header lines and message bodies: the patterns and rules both readers share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from evidence.identifiers import Identifier
from evidence.parsers.damaged_headers import SPACE_IN_TIME

# Invisible direction marks WhatsApp puts around names, numbers and iOS system/media bodies.
_BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


_BIDI_SET = frozenset(_BIDI)


_SP = SPACE_IN_TIME


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


_CHAT_FILE = re.compile(
    r"(?:WhatsApp[ _-]?Chat(?:[ _]with| mit| met| con| med| z| avec)?|Chat de WhatsApp con|"
    r"Conversa do WhatsApp com|Discussion WhatsApp avec|Chat WhatsApp con|WhatsApp-keskustelu)"
    r"[ _]*(?:[-:–][ _]*)?(?P<name>.+?)(?: ?\(\d+\))?\.(?:txt|zip)",
    re.IGNORECASE,
)


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


# (year, month, day) or None, order flags, UTC instant of local midnight (None on clock-change days)
_Day = tuple[tuple[int, int, int] | None, tuple[str, ...], datetime | None]


def sniff_header(line: str) -> bool:
    """A strict header: brackets (iOS) always carry seconds, which also keeps Signal's [date, HH:MM] out;
    Android-style lines never combine an ISO date with seconds, which keeps application logs out."""
    m = HEADER.match(line)
    if m is None or not m["rest"].strip() or not _plausible(m):
        return False
    if m["br"] and m["s"] is None:
        return False
    return not (not m["br"] and m["s"] is not None and len(m["a"]) == 4 and m["sep"] == "-")
