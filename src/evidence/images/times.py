"""Image times from three places (EXIF, the file name, the container) and flags where they disagree.

A screenshot's own metadata, the name the phone gave it and the zip entry it arrived in are three
independent witnesses. None is proof; when two disagree beyond a tolerance the image gets a flag such as
`time_conflict_exif_vs_file_name`, which the timeline shows on every message read from that image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from evidence.timeutil import TZ_EXIF_OFFSET, TZ_GUESS, TZ_OFFSET, TimeValue, from_aware, from_local

# Sources, in the order taken_at prefers them.
EXIF, XMP, FILE_NAME, CONTAINER, FILE_SYSTEM = "exif", "xmp", "file_name", "container", "file_system"
CAPTURE_SOURCES = (EXIF, XMP, FILE_NAME)
# Sources compared for conflicts: a loose file's modification time is usually just the copy time.
COMPARED = (EXIF, XMP, FILE_NAME, CONTAINER)
TOLERANCE = timedelta(minutes=2)
# A day-precision time (IMG-20240101-WA0001) is a local date: allow for any UTC offset.
DAY_TOLERANCE = timedelta(hours=38)

_EXIF_DATE = re.compile(r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")

# Date then (optionally) time, with the separators phones and desktops use:
# Screenshot_20240101-101010.png, Screenshot_2024-01-01-10-10-10-123_com.whatsapp.jpg,
# Screenshot 2024-01-01 at 10.10.10.png, Screen Shot 2024-01-01 at 10.10.10 AM.png,
# Screenshot from 2024-01-01 10-10-10.png, IMG_20240101_101010.jpg, PXL_20240101_101010123.jpg,
# photo_2024-01-01_10-10-10.jpg, signal-2024-01-01-101010.jpg, WhatsApp Image 2024-01-01 at 10.10.10.jpeg
_NAME = re.compile(
    r"(?<!\d)(?P<y>20\d{2})[-_.]?(?P<mo>[01]\d)[-_.]?(?P<d>[0-3]\d)"
    r"(?:(?:[ _-]|\sat\s|T)(?P<h>[0-2]\d)[-_.:]?(?P<mi>[0-5]\d)[-_.:]?(?P<s>[0-5]\d)"
    r"(?:\s?(?P<ampm>[AaPp][Mm]))?)?(?!\d{1,2}(?:\D|$))"
)
_WHATSAPP_MEDIA = re.compile(r"^(?:IMG|VID|STK|AUD|PTT)-\d{8}-WA\d+", re.IGNORECASE)
_PIXEL = re.compile(r"^PXL_\d{8}_\d{9}", re.IGNORECASE)
_APP_SUFFIX = re.compile(
    r"_((?:com|org|net)\.[A-Za-z0-9_.]+?)(?:\.(?:png|jpe?g|webp|heic|heif))?$", re.IGNORECASE
)


@dataclass(frozen=True)
class SourcedTime:
    source: str
    time: TimeValue


def exif_time(value: str | None, offset: str | None, tz_name: str, source: str = EXIF) -> TimeValue | None:
    """EXIF DateTimeOriginal ('2024:01:01 10:10:10') with OffsetTimeOriginal when present.

    Without an offset the time is a wall-clock time of the phone, read in the run's --tz.
    """
    if not value:
        return None
    match = _EXIF_DATE.match(value)
    if not match:
        return None
    try:
        naive = datetime(*(int(g) for g in match.groups()))  # type: ignore[misc]
    except ValueError:
        return None
    text = value.strip()
    off = _OFFSET.match(offset or "")
    if off:
        sign = -1 if off[1] == "-" else 1
        delta = timedelta(hours=int(off[2]), minutes=int(off[3])) * sign
        moment = naive.replace(tzinfo=UTC) - delta
        return from_aware(moment, f"{text} {offset.strip()}", "second", TZ_EXIF_OFFSET)  # type: ignore[union-attr]
    return from_local(naive, tz_name, text, "second")


def name_time(name: str, tz_name: str) -> TimeValue | None:
    """Capture time encoded in a file name, or None. Names carry local wall-clock times (Pixel: UTC)."""
    stem = name.rsplit("/", 1)[-1]
    match = _NAME.search(stem)
    if not match:
        return None
    try:
        day = datetime(int(match["y"]), int(match["mo"]), int(match["d"]))
    except ValueError:
        return None
    text = match.group(0)
    if match["h"] is None or _WHATSAPP_MEDIA.match(stem):
        return from_local(day, tz_name, text[:10] if _WHATSAPP_MEDIA.match(stem) else text, "day")
    hour = int(match["h"])
    if match["ampm"]:
        if hour > 12:
            return None
        hour = hour % 12 + (12 if match["ampm"].lower() == "pm" else 0)
    try:
        moment = day.replace(hour=hour, minute=int(match["mi"]), second=int(match["s"]))
    except ValueError:
        return None
    if _PIXEL.match(stem):
        # Pixel camera names are written in UTC; an assumption worth a flag.
        value = from_aware(moment.replace(tzinfo=UTC), text, "second", TZ_GUESS)
        return TimeValue(
            value.utc, value.local_text, value.tz_source, value.precision, ("file_name_utc_assumed",)
        )
    return from_local(moment, tz_name, text, "second")


def app_from_name(name: str) -> str | None:
    """Android adds the foreground app's package to screenshot names: ..._com.whatsapp.jpg -> com.whatsapp."""
    match = _APP_SUFFIX.search(name.rsplit("/", 1)[-1])
    return match[1] if match else None


def container_time(modified_at: str | None, in_container: bool) -> SourcedTime | None:
    """The zip entry time (container) or a loose file's modification time (file_system), as acquired (UTC)."""
    if not modified_at:
        return None
    try:
        moment = datetime.fromisoformat(modified_at)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    value = from_aware(moment, modified_at, "second", TZ_OFFSET)
    return SourcedTime(CONTAINER if in_container else FILE_SYSTEM, value)


def _tolerance(a: TimeValue, b: TimeValue) -> timedelta:
    return DAY_TOLERANCE if "day" in (a.precision, b.precision) else TOLERANCE


def conflicts(times: list[SourcedTime]) -> list[str]:
    """One flag per pair of compared sources whose times differ by more than the tolerance."""
    usable = [t for t in times if t.source in COMPARED and t.time.utc is not None]
    flags = []
    for i, first in enumerate(usable):
        for second in usable[i + 1 :]:
            delta = abs(first.time.utc - second.time.utc)  # type: ignore[operator]
            if delta > _tolerance(first.time, second.time):
                flags.append(f"time_conflict_{first.source}_vs_{second.source}")
    return flags


def capture_time(times: list[SourcedTime]) -> SourcedTime | None:
    """The best capture time: EXIF, then XMP, then the file name. Container times are not capture times."""
    for source in CAPTURE_SOURCES:
        for item in times:
            if item.source == source and item.time.utc is not None:
                return item
    return None
