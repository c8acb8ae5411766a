"""Time is explicit: offsets win, local times are read in the run's zone, clock changes are flagged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evidence.timeutil import from_email_date, from_epoch, from_local, zone


def test_local_time_in_summer_and_winter() -> None:
    summer = from_local(datetime(2024, 7, 1, 12, 0), "Europe/London", "01/07/2024, 12:00", "minute")
    winter = from_local(datetime(2024, 1, 1, 12, 0), "Europe/London", "01/01/2024, 12:00", "minute")
    assert summer.utc == datetime(2024, 7, 1, 11, 0, tzinfo=UTC)
    assert winter.utc == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    assert (summer.tz_source, summer.precision, summer.local_text) == (
        "run_parameter",
        "minute",
        "01/07/2024, 12:00",
    )
    assert summer.flags == ()


def test_clock_changes_are_flagged() -> None:
    gap = from_local(datetime(2024, 3, 31, 1, 30), "Europe/London", "x", "minute")
    assert gap.flags == ("dst_gap",)
    assert gap.utc == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)  # moved forward: 02:30 BST
    repeated = from_local(datetime(2024, 10, 27, 1, 30), "Europe/London", "x", "minute")
    assert repeated.flags == ("dst_ambiguous",)
    assert repeated.utc == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # the earlier of the two


def test_email_dates() -> None:
    value = from_email_date("Fri, 01 Mar 2024 21:14:02 -0500")
    assert value.utc == datetime(2024, 3, 2, 2, 14, 2, tzinfo=UTC)
    assert (value.tz_source, value.precision) == ("offset", "second")
    assert from_email_date(None).flags == ("no_date",)
    assert from_email_date("not a date").flags == ("unparseable_date",)
    unknown = from_email_date("Fri, 01 Mar 2024 21:14:02 -0000")
    assert unknown.tz_source == "guess" and "offset_unknown" in unknown.flags


def test_epoch() -> None:
    value = from_epoch(1_700_000_000)
    assert value.utc == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC) and value.tz_source == "epoch"


@pytest.mark.parametrize("seconds", [10**20, -(10**12), float("nan"), float("inf")])
def test_epoch_beyond_any_calendar_is_kept_as_written(seconds: float) -> None:
    value = from_epoch(seconds, "as written")
    assert (value.utc, value.local_text, value.flags) == (None, "as written", ("unparseable_date",))


def test_unknown_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        zone("Europe/Atlantis")


@pytest.mark.parametrize(
    ("region", "expected"),
    [("US", True), ("PH", True), ("pr", True), ("GU", True), ("CA", False), ("GB", False), (None, False)],
)
def test_one_month_first_list_for_exports_and_screenshots(region: str | None, expected: bool) -> None:
    """WhatsApp exports and screenshot day separators read an undecided 03/04/2024 the same way, from the
    one list in timeutil; Canada writes both orders, so it keeps the day-first default (and the flag)."""
    from evidence.images.chat_reading import _parse_day
    from evidence.parsers.whatsapp.dates import _order_from_votes
    from evidence.timeutil import month_first

    assert month_first(region) is expected
    assert _order_from_votes(0, 0, 0, 0, 0, region).day_first is not expected
    day, flags, is_separator = _parse_day("03/04/2024", None, region or "GB")
    assert is_separator and flags == ("ambiguous_day_month",)
    assert (day.month, day.day) == ((3, 4) if expected else (4, 3))
