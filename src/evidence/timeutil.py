"""Explicit time: every timestamp carries UTC, the text as written, where its offset came from and its precision.

Exports often write local wall-clock times with no offset. Guessing silently is how timelines end up an hour
off around clock changes, so this module makes each decision visible as a `tz_source` and as flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Where a UTC offset came from.
TZ_OFFSET = "offset"  # the data carries an offset (+01:00, UTC-08:00, email Date header)
TZ_EPOCH = "epoch"  # the data carries an absolute instant (unix or Apple epoch)
TZ_RUN_PARAMETER = "run_parameter"  # a local time interpreted in the --tz given for the run
TZ_EXIF_OFFSET = "exif_offset"
TZ_GUESS = "guess"
TZ_NONE = "none"  # no time at all

PRECISIONS = ("second", "minute", "day", "unknown")

DEFAULT_TZ = "Europe/London"

# Regions (ISO 3166 codes, as --region) whose numeric dates are written month first (03/12/2024 is 12 March):
# the United States, the territories that follow it (AS, GU, MP, PR, UM, VI), the freely associated states
# (FM, MH, PW) and the Philippines. Every other region is read day first. Canada is not here: it writes
# both (month first after US usage, day first after British and French usage, and year first
# officially; CLDR's short date for en_CA and fr_CA is y-MM-dd), so no default is right for it and an
# order the data do not decide is flagged ambiguous_day_month whichever way it is read. This is the one
# list: WhatsApp exports and screenshot day separators both use it.
MONTH_FIRST_REGIONS = frozenset({"US", "PH", "FM", "MH", "PW", "GU", "AS", "PR", "VI", "UM", "MP"})


def month_first(region: str | None) -> bool:
    """Whether a numeric date that its digits do not decide is read month first in this region."""
    return (region or "").upper() in MONTH_FIRST_REGIONS


@dataclass(frozen=True)
class TimeValue:
    """A point in time as evidence: the instant (UTC), the text it came from and how sure we are."""

    utc: datetime | None
    local_text: str | None
    tz_source: str
    precision: str
    flags: tuple[str, ...] = field(default=())

    @classmethod
    def missing(cls, local_text: str | None = None, flag: str = "no_date") -> TimeValue:
        return cls(None, local_text, TZ_NONE, "unknown", (flag,))


def zone(name: str) -> ZoneInfo:
    """Return the named IANA zone, with a clear error for a typo in --tz."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/London") from exc


def from_local(naive: datetime, tz_name: str, local_text: str, precision: str) -> TimeValue:
    """Interpret a wall-clock time written without an offset in the run's time zone.

    In a repeated hour (clocks going back) the earlier instant is taken and flagged `dst_ambiguous`;
    a time that does not exist (clocks going forward) is moved forward by the gap and flagged `dst_gap`.
    """
    tz = zone(tz_name)
    flags: list[str] = []
    # fold=0 is the earlier instant in a repeated hour, and in a gap it applies the offset from before
    # the change, which lands the instant just after the gap (01:30 on spring-forward day -> 02:30 BST).
    chosen = naive.replace(tzinfo=tz, fold=0)
    if chosen.utcoffset() != naive.replace(tzinfo=tz, fold=1).utcoffset():
        roundtrip = chosen.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        flags.append("dst_ambiguous" if roundtrip == naive else "dst_gap")
    return TimeValue(chosen.astimezone(UTC), local_text, TZ_RUN_PARAMETER, precision, tuple(flags))


def from_aware(moment: datetime, local_text: str, precision: str, source: str = TZ_OFFSET) -> TimeValue:
    """A time that carries its own offset."""
    return TimeValue(moment.astimezone(UTC), local_text, source, precision)


def from_epoch(seconds: float, local_text: str | None = None, precision: str = "second") -> TimeValue:
    """An absolute instant given as seconds since 1970-01-01 UTC; one no calendar holds (a damaged or
    hostile value beyond the year 9999, NaN) is kept as written and flagged, never an error for the file."""
    text = local_text if local_text is not None else str(seconds)
    try:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return TimeValue.missing(text, "unparseable_date")
    return TimeValue(moment, text, TZ_EPOCH, precision)


def from_email_date(value: str | None) -> TimeValue:
    """Parse an RFC 5322 Date header. A header with -0000 or no zone is flagged rather than trusted."""
    if not value or not value.strip():
        return TimeValue.missing(None)
    from email.utils import parsedate_to_datetime  # imported here: only mail parsers need it

    text = " ".join(value.split())
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return TimeValue.missing(text, "unparseable_date")
    if parsed is None:
        return TimeValue.missing(text, "unparseable_date")
    if parsed.tzinfo is None:
        # RFC 5322 "-0000": the sender's zone is unknown; the time is UTC by definition.
        return TimeValue(parsed.replace(tzinfo=UTC), text, TZ_GUESS, "second", ("offset_unknown",))
    return from_aware(parsed, text, "second")
