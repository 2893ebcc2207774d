"""The snapshot calendar: as-of dates, the one day parser, data bounds and which snapshots are labelled."""

from __future__ import annotations

from datetime import date

import pytest

from features.calendar import (
    DataBounds,
    SnapshotCalendar,
    check_as_of,
    dates_within,
    grid,
    is_labelled,
    parse_day,
    parse_month,
    snapshot_dates,
)
from features.errors import FeatureError


def test_month_ends_of_a_range_inclusive_with_leap_february() -> None:
    assert snapshot_dates("2023-11", "2024-02") == [
        date(2023, 11, 30),
        date(2023, 12, 31),
        date(2024, 1, 31),
        date(2024, 2, 29),
    ]
    assert snapshot_dates("2025-06", "2025-06") == [date(2025, 6, 30)]


def test_week_ends_are_the_sundays_of_the_months() -> None:
    assert snapshot_dates("2025-01", "2025-01", "week_end") == [date(2025, 1, d) for d in (5, 12, 19, 26)]


@pytest.mark.parametrize(
    ("start", "end", "cadence", "message"),
    [
        ("2025/01", "2025-02", "month_end", "YYYY-MM"),
        ("2025-01", "2025-13", "month_end", "YYYY-MM"),
        ("2025-03", "2025-02", "month_end", "is after"),
        ("2025-01", "2025-02", "daily", "unknown cadence"),
    ],
)
def test_bad_ranges_are_named(start: str, end: str, cadence: str, message: str) -> None:
    with pytest.raises(FeatureError, match=message):
        snapshot_dates(start, end, cadence)


def test_parse_month_and_day() -> None:
    assert parse_month("2024-02") == (2024, 2)
    assert parse_day("2024-02-29") == date(2024, 2, 29)
    for bad in ("2025-02-30", "2025/01/01", "20250101", ""):
        with pytest.raises(FeatureError):
            parse_day(bad)


def test_as_of_outside_the_data_is_refused() -> None:
    bounds = DataBounds(start=date(2024, 1, 1), end=date(2024, 12, 31), load_run_id="r")
    check_as_of(date(2024, 6, 30), bounds)
    for outside in (date(2023, 12, 31), date(2025, 1, 1)):
        with pytest.raises(FeatureError, match="outside the data"):
            check_as_of(outside, bounds)
    assert dates_within([date(2023, 12, 31), date(2024, 1, 31), date(2025, 1, 31)], bounds) == [date(2024, 1, 31)]


def test_grid_between_two_days_keeps_only_dates_within_them() -> None:
    # month ends of the days' months that fall between them, Sundays between them
    assert grid(date(2024, 1, 31), date(2024, 3, 30)) == [date(2024, 1, 31), date(2024, 2, 29)]
    assert grid(date(2024, 2, 1), date(2024, 1, 31)) == []
    assert grid(date(2025, 1, 6), date(2025, 1, 19), "week_end") == [date(2025, 1, 12), date(2025, 1, 19)]
    # and it is the month grid of `snapshot_dates` over whole months
    assert grid(date(2023, 11, 1), date(2024, 2, 29)) == snapshot_dates("2023-11", "2024-02")
    with pytest.raises(FeatureError, match="unknown cadence"):
        grid(date(2024, 1, 1), date(2024, 2, 1), "daily")


def test_is_labelled_when_the_whole_horizon_lies_within_the_data() -> None:
    assert is_labelled(date(2025, 1, 31), 90, date(2025, 5, 1))
    assert not is_labelled(date(2025, 1, 31), 90, date(2025, 4, 30))


CALENDAR = SnapshotCalendar(DataBounds(date(2024, 6, 15), date(2025, 6, 30), "run"), "month_end", 90)


def test_calendar_dates_are_clipped_to_the_data_and_the_window() -> None:
    # given data from 2024-06-15 to 2025-06-30: every month end within the data
    assert CALENDAR.dates()[0] == date(2024, 6, 30) and CALENDAR.dates()[-1] == date(2025, 6, 30)
    assert len(CALENDAR.dates()) == 13
    # a window (a model's training data) is clipped to the data, and one outside the data holds nothing
    assert CALENDAR.dates(date(2024, 1, 1), date(2024, 8, 15)) == [date(2024, 6, 30), date(2024, 7, 31)]
    assert CALENDAR.dates(date(2023, 1, 1), date(2023, 12, 31)) == []


def test_calendar_labelled_by_a_day_and_after_training() -> None:
    # by the data end (default): D + 90 days <= 2025-06-30, so the last labelled snapshot is 2025-03-31
    labelled = CALENDAR.labelled()
    assert labelled[0] == date(2024, 6, 30) and labelled[-1] == date(2025, 3, 31)
    # by an earlier day: only what had matured then; a later day is capped at the data end
    assert CALENDAR.labelled(by=date(2024, 12, 31))[-1] == date(2024, 9, 30)
    assert CALENDAR.labelled(by=date(2030, 1, 1)) == labelled
    # after a model's training data: strictly later snapshots only
    assert CALENDAR.labelled(by=date(2025, 6, 30), after=date(2025, 1, 31)) == [date(2025, 2, 28), date(2025, 3, 31)]
    assert CALENDAR.labelled(by=date(2024, 9, 1)) == []
