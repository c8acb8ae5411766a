"""What the export formats share: the result they hand back to the CLI, the case's time zone, times in
UTC and in the case's zone, and the canonical message rows each format starts from."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from evidence.analysis.key_dates import case_tz
from evidence.errors import EvidenceError
from evidence.timeutil import zone


class ExportError(EvidenceError, ValueError):
    """An export cannot be written as asked (an option the format refuses, an output path in the way)."""


@dataclass
class ExportResult:
    """What an export wrote: the files (each hashed into the custody log), how many rows, and notes the CLI
    prints (what was left out and why)."""

    paths: list[Path]
    rows: int
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # extra facts for the custody entry


@contextlib.contextmanager
def open_atomically(path: Path) -> Iterator[IO[str]]:
    """A text file written beside its target, fsynced, then renamed over it (as delivery.write_atomically,
    but streamed: a large case's export is never held in memory). Removed again if writing fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def case_zone_name(con: Any) -> str:
    """The case's time zone (case_settings.tz: the latest run's --tz), UTC when none was recorded."""
    return case_tz(con)


def utc(value: datetime | None) -> datetime | None:
    """A TIMESTAMPTZ from DuckDB as an aware UTC datetime (DuckDB hands them over in the session's zone)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def in_zone(value: datetime | None, tz_name: str) -> datetime | None:
    moment = utc(value)
    return None if moment is None else moment.astimezone(zone(tz_name))


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 with the +00:00 offset, microseconds only when there are any."""
    moment = utc(value)
    return None if moment is None else moment.isoformat()


def epoch_micros(value: datetime) -> int:
    moment = utc(value)
    assert moment is not None
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def human_duration(seconds: float | None) -> str:
    """3 d 4 h, 2 h 15 min, 40 min, 55 s: the gap between incidents as an advocate reads it."""
    if seconds is None:
        return ""
    total = round(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def clip(text: str | None, limit: int) -> str:
    """Text cut to `limit` characters with an ellipsis; the full text stays in the case and the timeline."""
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"
