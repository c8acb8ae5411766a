"""Chat-screenshot structure: bubbles, sides, times, day separators and the contact name in the header.

Layout comes from the pixels, not from OCR: the page colour is the most common colour, and every large,
solidly filled block of another colour is a region (a bubble, a header bar, a day "pill"). Chat apps draw
received messages as bubbles on the left and the phone owner's own messages on the right, so a bubble's
side gives its direction. OCR lines are then assigned to the regions they fall in.

Everything read here is OCR: texts are kept exactly as tesseract read them, and each message carries its
confidence. A screenshot without a readable day separator gives messages without a date, never a guess.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from evidence.ocr import OcrLine, OcrResult

ANALYSIS_WIDTH = 540  # layout analysis runs on a copy at most this wide
COLOUR_DISTANCE = 8  # a pixel differing from the page by more than this (any channel) is "ink or fill"
SIDES = {"left": "incoming", "right": "outgoing"}

# Bubble colours of apps we recognise (light and dark themes, old and new palettes).
APP_BUBBLES = {
    "whatsapp": [(220, 248, 198), (217, 253, 211), (0, 92, 75), (0, 93, 75), (5, 97, 98), (0, 95, 82)],
}
# Android puts the foreground app's package in screenshot names.
APP_PACKAGES = {
    "com.whatsapp": "whatsapp",
    "com.whatsapp.w4b": "whatsapp",
    "org.telegram.messenger": "telegram",
    "org.thoughtcrime.securesms": "signal",
    "com.instagram.android": "instagram",
    "com.facebook.orca": "messenger",
    "com.snapchat.android": "snapchat",
    "com.google.android.apps.messaging": "sms",
    "com.samsung.android.messaging": "sms",
}

_TIME = re.compile(
    r"(?:^|\s)(?P<t>(?P<h>[012]?\d)[:.](?P<m>[0-5]\d)(?:\s?(?P<ap>[AaPp])\.?[Mm]\.?)?)[^\w]{0,4}\s*$"
)
_STATUS_NOISE = re.compile(r"^\W*(\d{1,2}[:.]\d{2}|\d{1,3}\s?%|lte|5g|4g|wi-?fi)\W*$", re.IGNORECASE)
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
class Region:
    """A solidly filled block: bubble, bar or pill. Box in original pixels; kind from its position."""

    x: int
    y: int
    w: int
    h: int
    fill: tuple[int, int, int]
    kind: str  # bar, left, right, center, other

    def contains(self, px: float, py: float, margin: int = 2) -> bool:
        return (
            self.x - margin <= px <= self.x + self.w + margin
            and self.y - margin <= py <= self.y + self.h + margin
        )

    @property
    def fill_hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.fill)


@dataclass
class Layout:
    width: int
    height: int
    page_color: tuple[int, int, int]
    regions: list[Region] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list, repr=False)  # per region, its box's filled pixels


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


def luminance(rgb: tuple[int, int, int] | tuple[float, ...]) -> float:
    r, g, b = rgb[:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _quantize(pixels: np.ndarray, shift: int = 3) -> np.ndarray:
    q = (pixels >> shift).astype(np.int32)
    return (q[..., 0] << 16) | (q[..., 1] << 8) | q[..., 2]


def find_layout(rgb: Image.Image) -> Layout:
    """Page colour and filled regions of an RGB image (works on a reduced copy for speed)."""
    width, height = rgb.size
    step = max(1, math.ceil(width / ANALYSIS_WIDTH))
    small = np.asarray(rgb, dtype=np.int16)[::step, ::step]
    keys = _quantize(small)
    values, counts = np.unique(keys, return_counts=True)
    page_key = values[counts.argmax()]
    page = tuple(int(v) for v in small[keys == page_key].mean(axis=0).round())
    layout = Layout(width, height, page)  # type: ignore[arg-type]
    ink = np.abs(small - np.array(page, dtype=np.int16)).max(axis=2) > COLOUR_DISTANCE
    from scipy import ndimage  # costs ~0.3 s to import: only when a screenshot is analysed

    labels, _count = ndimage.label(ink)
    sh, sw = ink.shape
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        if w < max(16, 0.08 * sw) or h < max(8, 0.02 * sh):
            continue
        component = labels[box] == index
        filled = ndimage.binary_fill_holes(component)
        if filled.sum() < 0.8 * w * h:
            continue  # text, icons, wallpaper doodles: not a solid block
        pixels = small[box][component]
        pkeys = _quantize(pixels, 4)  # coarse: JPEG recompression spreads a flat fill over many values
        fvalues, fcounts = np.unique(pkeys, return_counts=True)
        if fcounts.max() < 0.4 * len(pixels):
            continue  # no dominant fill colour (a photo, a bold word with its halo)
        fill = tuple(int(v) for v in pixels[pkeys == fvalues[fcounts.argmax()]].mean(axis=0).round())
        x, y = box[1].start * step, box[0].start * step
        w_full, h_full = min(width - x, w * step), min(height - y, h * step)
        mask = Image.fromarray(filled).resize((w_full, h_full), Image.Resampling.NEAREST)
        region = Region(x, y, w_full, h_full, fill, _kind(x, w_full, width))  # type: ignore[arg-type]
        layout.regions.append(region)
        layout.masks.append(np.asarray(mask, dtype=bool))
    return layout


def _kind(x: int, w: int, width: int) -> str:
    right = x + w
    if w >= 0.9 * width:
        return "bar"
    if x <= 0.12 * width and right <= 0.92 * width:
        return "left"
    if right >= 0.88 * width and x >= 0.08 * width:
        return "right"
    if abs(x + w / 2 - width / 2) <= 0.06 * width and w <= 0.6 * width:
        return "center"
    return "other"


def app_of(layout: Layout, hint: str | None = None) -> str | None:
    """Chat app from the screenshot name's package (Android) or from its bubble colours."""
    if hint and hint in APP_PACKAGES:
        return APP_PACKAGES[hint]
    for app, colours in APP_BUBBLES.items():
        for region in layout.regions:
            if region.kind in SIDES and any(
                max(abs(a - b) for a, b in zip(region.fill, c, strict=True)) <= 10 for c in colours
            ):
                return app
    return None


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
    header_lines = [ln for ln in loose if ln.y + ln.h <= top and _in_header(ln, layout)]
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
        texts = [ln.text for ln in lines]
        time_text, time_of_day = None, None
        match = _TIME.search(texts[-1])
        if match and (parsed := _time_of(match)) is not None:
            time_text, time_of_day = match["t"], parsed
            texts[-1] = texts[-1][: match.start()].strip()
            if not texts[-1]:
                texts.pop()
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
    bar = next((r for r in layout.regions if r.kind == "bar" and r.y <= line.center[1] <= r.y + r.h), None)
    return bar is not None or line.y <= 0.15 * layout.height


def _centered(line: OcrLine, width: int) -> bool:
    return abs(line.x + line.w / 2 - width / 2) <= 0.1 * width and line.w <= 0.7 * width


def _contact(header_lines: list[OcrLine]) -> str | None:
    """The biggest text in the header that is not the clock, battery or an 'online' subtitle."""
    names = [ln for ln in header_lines if not _STATUS_NOISE.match(ln.text) and not _SUBTITLE.search(ln.text)]
    names = [ln for ln in names if re.search(r"[^\W\d_]{2}", ln.text)]
    if not names:
        return None
    best = max(names, key=lambda ln: (ln.h, ln.w))
    return re.sub(r"^[^\w+]+|[^\w.)]+$", "", best.text).strip() or None


def _time_of(match: re.Match[str]) -> time | None:
    hour, minute = int(match["h"]), int(match["m"])
    if match["ap"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match["ap"].lower() == "p" else 0)
    if hour > 23:
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
        month_first = region_code.upper() in ("US", "CA", "PH")
        month, day_ = (a, b) if month_first else (b, a)
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
