"""The snapshot grid: as-of dates, data bounds and the errors for dates outside them."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from features.build import plan_snapshots
from features.errors import FeatureError
from features.grid import DataBounds, check_as_of, data_bounds, dates_within, parse_day, parse_month, snapshot_dates
from features.store import connect_warehouse
from xsell.settings import Settings, load_settings


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


def test_data_bounds_span_first_usage_day_to_export_day(scenario_settings: Settings) -> None:
    con = connect_warehouse(scenario_settings, read_only=True)
    try:
        bounds = data_bounds(con, scenario_settings)
        overridden = data_bounds(
            con, scenario_settings.model_copy(update={"features": _features(data_end="2026-01-31")})
        )
    finally:
        con.close()
    assert (bounds.start, bounds.end) == (date(2024, 6, 15), date(2026, 3, 31))
    assert bounds.load_run_id
    assert overridden.end == date(2026, 1, 31)


def test_data_bounds_of_an_empty_database_is_a_feature_error() -> None:
    con = duckdb.connect()
    with pytest.raises(FeatureError, match="consolidate"):
        data_bounds(con, load_settings())


def test_as_of_outside_the_data_is_refused() -> None:
    bounds = DataBounds(start=date(2024, 1, 1), end=date(2024, 12, 31), load_run_id="r")
    check_as_of(date(2024, 6, 30), bounds)
    for outside in (date(2023, 12, 31), date(2025, 1, 1)):
        with pytest.raises(FeatureError, match="outside the data"):
            check_as_of(outside, bounds)
    assert dates_within([date(2023, 12, 31), date(2024, 1, 31), date(2025, 1, 31)], bounds) == [date(2024, 1, 31)]


def test_plan_snapshots_clips_the_range_to_the_data(scenario_settings: Settings) -> None:
    con = connect_warehouse(scenario_settings, read_only=True)
    try:
        assert plan_snapshots(con, "2026-02", "2026-06", scenario_settings) == [date(2026, 2, 28), date(2026, 3, 31)]
        with pytest.raises(FeatureError, match="no as-of date"):
            plan_snapshots(con, "2020-01", "2020-03", scenario_settings)
    finally:
        con.close()


def _features(**values: object):
    return load_settings().features.model_copy(update=values)
