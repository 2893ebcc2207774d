"""The data bounds read from the warehouse, and the month range planned within them."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from features.build import plan_snapshots
from features.errors import FeatureError
from features.grid import data_bounds, snapshot_calendar
from features.store import connect_warehouse
from xsell.settings import Settings, load_settings


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
    with pytest.raises(FeatureError, match="consolidate"):
        snapshot_calendar(con, load_settings())


def test_snapshot_calendar_is_the_configured_grid_over_the_data(scenario_settings: Settings) -> None:
    con = connect_warehouse(scenario_settings, read_only=True)
    try:
        calendar = snapshot_calendar(con, scenario_settings)
        assert calendar.bounds == data_bounds(con, scenario_settings)
    finally:
        con.close()
    assert (calendar.cadence, calendar.horizon_days) == ("month_end", scenario_settings.features.horizon_days)
    assert calendar.dates()[0] == date(2024, 6, 30) and calendar.dates()[-1] == date(2026, 3, 31)


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
