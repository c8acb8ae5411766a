"""Reading a chat screenshot: OCR lines assigned to bubbles, times, day separators and the contact name.

Everything read here is OCR: texts are kept exactly as tesseract read them, and each message carries its
confidence. A screenshot without a readable day separator gives messages without a date, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from evidence.images.layout import SIDES, Layout, Region, app_of
from evidence.timeutil import month_first

if TYPE_CHECKING:
    from evidence.images.ocr import OcrLine, OcrResult

_TIME = re.compile(
    r"(?:^|\s)(?P<t>(?P<h>[012]?\d)[:.](?P<m>[0-5]\d)(?:\s?(?P<ap>[AaPp])\.?[Mm]\.?)?)[^\w]{0,4}\s*$"
)
# One word of a bubble's time stamp: "21:07", "9:04", "9:04pm", "21.07"; "pm" may be the next word. Tesseract
# sometimes glues the stamp to the last word of the text ("me21:07"): that word is kept as `pre`.
_TIME_WORD = re.compile(
    r"^(?P<pre>(?:.*[^\W\d])?)\W{0,2}(?P<h>[012]?\d)[:.;](?P<m>[0-5]\d)(?:(?P<ap>[AaPp])\.?[Mm]\.?)?\W{0,2}$"
)
_AM_PM_WORD = re.compile(r"^(?P<ap>[AaPp])\.?[Mm]\.?\W{0,2}$")
# Status bar (clock, battery, signal, carrier, network): never a contact's name.
_CLOCK = re.compile(r"(?<!\d)[012]?\d[:.]\d{2}(?!\d)")
_PERCENT = re.compile(r"\d{1,3}\s?%")
_NETWORK = re.compile(
    r"^(lte\+?|volte|vowifi|wi-?fi|wlan|[2-5]g\+?|[2-5]g\s?e|h\+?|e|4g\+|5g\s?uc|5g\s?uw|nr|sos|"
    r"no\s?service|emergency\s?calls?\s?only|r)$",
    re.IGNORECASE,
)
# Carriers whose names appear in status bars (the common ones in the UK, Ireland, the US and Europe);
# a header line made only of these and network words is the status bar.
CARRIERS = frozenset(
    {
        "ee", "o2", "o2-uk", "vodafone", "vodafone uk", "three", "3", "giffgaff", "tesco", "tesco mobile",
        "sky", "bt", "virgin", "lyca", "lebara", "smarty", "voxi", "id mobile", "asda mobile", "talkmobile",
        "verizon", "at&t", "t-mobile", "sprint", "cricket", "boost", "orange", "sfr", "free", "bouygues",
        "telekom", "movistar", "vivo", "claro", "tim", "wind", "iliad", "meteor", "eir", "airtel", "jio",
        "telstra", "optus", "rogers", "bell", "telus", "fido", "carrier",
    }
)  # fmt: skip
# How tesseract reads signal bars, wifi fans and battery outlines: short runs of strokes and brackets.
_SIGNAL_GLYPHS = re.compile(
    r"^[ailtu1|!.:,'`^\-]{1,5}$|^\W{1,4}$|^\w?[\])}\[({]\w?$|^[a-z]{0,2}\W$", re.IGNORECASE
)
_SUBTITLE = re.compile(r"\b(online|last seen|typing|tap here|active now|business account)\b", re.IGNORECASE)
_DAY_FORMATS = (
    "%d %B %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%b %d %Y",
    "%A %d %B %Y",
    "%A %B %d %Y",
    "%a %d %b %Y",
    "%a %b %d %Y",
    "%Y-%m-%d",
    "%d.%m.%Y",
)
_DAY_FORMATS_NO_YEAR = ("%d %B", "%B %d", "%A %d %B", "%A %B %d", "%d %b", "%b %d")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class ChatMessage:
    side: str
    text: str
    confidence: float
    region: Region
    time_text: str | None
    day_text: str | None
    day: date | None
    day_flags: tuple[str, ...]
    time_of_day: time | None

    @property
    def direction(self) -> str:
        return SIDES[self.side]

    @property
    def locator(self) -> str:
        r = self.region
        return f"region/{r.x},{r.y},{r.w},{r.h}"


@dataclass
class ChatScreenshot:
    app: str | None
    contact: str | None
    messages: list[ChatMessage]


def read_chat(
    result: OcrResult,
    *,
    reference_day: date | None = None,
    region_code: str = "GB",
    app_hint: str | None = None,
) -> ChatScreenshot | None:
    """Chat structure of an OCR'd screenshot, or None when it does not look like a chat.

    reference_day (the capture date, from EXIF or the file name) resolves Today, Yesterday, weekday
    names and dates without a year; without it those days stay unknown.
    """
    layout = result.layout
    if layout is None or not result.lines:
        return None
    bubbles = sorted((r for r in layout.regions if r.kind in SIDES), key=lambda r: (r.y, r.x))
    in_bubble: dict[int, list[OcrLine]] = {id(b): [] for b in bubbles}
    loose: list[OcrLine] = []
    for line in result.lines:
        cx, cy = line.center
        owner = next((b for b in bubbles if b.contains(cx, cy)), None)
        if owner is None:
            loose.append(line)
        else:
            in_bubble[id(owner)].append(line)
    bubbles = [b for b in bubbles if in_bubble[id(b)]]
    if len(bubbles) < 2:
        return None
    top = bubbles[0].y
    header_lines = [
        ln
        for ln in loose
        if ln.y + ln.h <= top
        and _in_header(ln, layout)
        and not (_centered(ln, layout.width) and _parse_day(ln.text, reference_day, region_code)[2])
    ]
    separators = [
        ln
        for ln in loose
        if _centered(ln, layout.width) and ln.y >= (header_lines[-1].y if header_lines else 0)
    ]
    separators = [(ln, *_parse_day(ln.text, reference_day, region_code)) for ln in separators]
    separators = [s for s in separators if s[1] is not None or s[3]]
    messages = []
    for bubble in bubbles:
        lines = sorted(in_bubble[id(bubble)], key=lambda ln: (ln.y, ln.x))
        time_text, time_of_day, texts = _bubble_time(lines, bubble)
        words = [w.confidence for ln in lines for w in ln.words]
        above = [s for s in separators if s[0].y < bubble.y]
        day_text, day, day_flags = (
            (above[-1][0].text, above[-1][1], above[-1][2]) if above else (None, None, ())
        )
        messages.append(
            ChatMessage(
                side=bubble.kind,
                text=" ".join(t for t in texts if t),
                confidence=round(sum(words) / len(words), 1) if words else 0.0,
                region=bubble,
                time_text=time_text,
                day_text=day_text,
                day=day,
                day_flags=day_flags,
                time_of_day=time_of_day,
            )
        )
    return ChatScreenshot(app_of(layout, app_hint), _contact(header_lines), messages)


def _in_header(line: OcrLine, layout: Layout) -> bool:
    """In the header bar when the screenshot has one at its top, else in the top 15% of the screen."""
    bars = [r for r in layout.regions if r.kind == "bar"]
    if any(r.y <= line.center[1] <= r.y + r.h for r in bars):
        return True
    top_bar = any(r.y <= 0.05 * layout.height for r in bars)
    return not top_bar and line.y <= 0.15 * layout.height


def _centered(line: OcrLine, width: int) -> bool:
    return abs(line.x + line.w / 2 - width / 2) <= 0.1 * width and line.w <= 0.7 * width


def _bubble_time(lines: list[OcrLine], bubble: Region) -> tuple[str | None, time | None, list[str]]:
    """(time as read, time of day, the bubble's text lines without it).

    The stamp is the last time-shaped word in the bubble's bottom-right corner (where chat apps draw it),
    with an "am"/"pm" word after it; read ticks and other marks right of it go with it. A time elsewhere
    ("see you at 9:30") is text. Lines without word boxes are read as before: a time ending the last line.
    """
    texts = [ln.text for ln in lines]
    bottom = bubble.y + bubble.h
    found: tuple[int, int] | None = None
    for i, line in enumerate(lines):
        for j, word in enumerate(line.words):
            if not _TIME_WORD.match(word.text):
                continue
            near_bottom = bottom - (word.y + word.h) <= max(2 * word.h, 0.2 * bubble.h)
            if near_bottom and word.x + word.w >= bubble.x + 0.5 * bubble.w:
                found = (i, j)
    if found is not None:
        i, j = found
        words = lines[i].words
        match = _TIME_WORD.match(words[j].text)
        assert match is not None
        stamp = [words[j].text[len(match["pre"]) :]]
        ap = match["ap"]
        if ap is None and j + 1 < len(words) and (am_pm := _AM_PM_WORD.match(words[j + 1].text)):
            ap = am_pm["ap"]
            stamp.append(words[j + 1].text)
        parsed = _clock(int(match["h"]), int(match["m"]), ap)
        if parsed is not None:
            texts[i] = " ".join([w.text for w in words[:j]] + [match["pre"]]).strip()
            return " ".join(stamp).strip(" ,;"), parsed, [t for t in texts if t]
    match = _TIME.search(texts[-1]) if texts and not lines[-1].words else None
    if match and (parsed := _time_of(match)) is not None:
        texts[-1] = texts[-1][: match.start()].strip()
        return match["t"], parsed, [t for t in texts if t]
    return None, None, texts


def is_status_bar(line: OcrLine, status_rows: list[OcrLine] | None = None) -> bool:
    """Whether a header line is the phone's status bar (clock, battery, signal, carrier, network).

    A clock or a percentage anywhere in the line, or nothing but carrier and network names, is the status
    bar. Signal bars and battery outlines read as strokes ("all", "il", "a)") count only beside such a
    line (overlapping it vertically), so a contact really named "Al" below it keeps the name.
    """
    text = line.text
    if _CLOCK.search(text) or _PERCENT.search(text):
        return True
    words = [w.text for w in line.words] or text.split()
    plain = [w.strip(".,;:!?()[]{}'\"").lower() for w in words]
    if plain and all(_network_word(w) for w in plain if w) and any(plain):
        return True
    beside = any(
        other is not line and other.y < line.y + line.h and line.y < other.y + other.h
        for other in status_rows or []
    )
    return beside and all(_network_word(w.lower()) or _SIGNAL_GLYPHS.match(w) for w in words)


_CARRIER_WORDS = frozenset(word for name in CARRIERS for word in name.split()) | {"uk", "ie", "us", "mobile"}


def _network_word(word: str) -> bool:
    return bool(_NETWORK.match(word)) or word in _CARRIER_WORDS


def _contact(header_lines: list[OcrLine]) -> str | None:
    """The biggest text in the header that is neither the status bar nor an 'online' subtitle."""
    status = [ln for ln in header_lines if is_status_bar(ln)]
    status += [ln for ln in header_lines if ln not in status and is_status_bar(ln, status)]
    names = [ln for ln in header_lines if ln not in status and not _SUBTITLE.search(ln.text)]
    names = [ln for ln in names if re.search(r"[^\W\d_]{2}", ln.text)]
    if not names:
        return None
    best = max(names, key=lambda ln: (ln.h, ln.w))
    return re.sub(r"^[^\w+]+|[^\w.)]+$", "", best.text).strip() or None


def _time_of(match: re.Match[str]) -> time | None:
    return _clock(int(match["h"]), int(match["m"]), match["ap"])


def _clock(hour: int, minute: int, ap: str | None) -> time | None:
    if ap:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ap.lower() == "p" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _parse_day(
    text: str, reference: date | None, region_code: str
) -> tuple[date | None, tuple[str, ...], bool]:
    """(day, flags, is_separator) for a separator's text; is_separator when it names a day at all."""
    clean = " ".join(re.sub(r"[^\w/.\-]+", " ", text).split()).strip(" .")
    lower = clean.lower()
    if lower in ("today", "yesterday"):
        if reference is None:
            return None, ("relative_day_unresolved",), True
        return reference - timedelta(days=lower == "yesterday"), ("relative_day",), True
    if lower in _WEEKDAYS:
        if reference is None:
            return None, ("relative_day_unresolved",), True
        back = (reference.weekday() - _WEEKDAYS.index(lower)) % 7 or 7
        return reference - timedelta(days=back), ("relative_day",), True
    for fmt in _DAY_FORMATS:
        try:
            return datetime.strptime(clean, fmt).date(), (), True
        except ValueError:
            continue
    slash = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", clean)
    if slash:
        a, b, year = (int(g) for g in slash.groups())
        month, day_ = (a, b) if month_first(region_code) else (b, a)
        flags = ("ambiguous_day_month",) if a <= 12 and b <= 12 and a != b else ()
        try:
            return date(year, month, day_), flags, True
        except ValueError:
            return None, (), False
    for fmt in _DAY_FORMATS_NO_YEAR:
        try:
            parsed = datetime.strptime(f"{clean} 2000", f"{fmt} %Y").date()
        except ValueError:
            continue
        if reference is None:
            return None, ("year_unknown",), True
        year = (
            reference.year
            if (parsed.month, parsed.day) <= (reference.month, reference.day)
            else reference.year - 1
        )
        try:
            return parsed.replace(year=year), ("year_from_capture_date",), True
        except ValueError:
            return None, (), False
    return None, (), False
