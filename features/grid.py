"""The snapshot grid: as-of dates at the configured cadence, and the data bounds they must fall in."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from features.errors import FeatureError
from xsell.settings import Settings

Cadence = str  # "month_end" | "week_end"


@dataclass(frozen=True)
class DataBounds:
    """First and last day the warehouse can describe, and the load it comes from."""

    start: date
    end: date
    load_run_id: str


def parse_month(value: str) -> tuple[int, int]:
    """`YYYY-MM` -> (year, month); anything else is a FeatureError naming the value."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value or ""):
        raise FeatureError(f"expected a month as YYYY-MM, got {value!r}")
    year, month = value.split("-")
    return int(year), int(month)


def parse_day(value: str) -> date:
    """`YYYY-MM-DD` -> date; anything else is a FeatureError naming the value."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value or ""):
        raise FeatureError(f"expected a date as YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FeatureError(f"not a valid date: {value!r}") from None


def month_end(year: int, month: int) -> date:
    """Last day of the month."""
    return date(year, month, calendar.monthrange(year, month)[1])


def snapshot_dates(from_month: str, to_month: str, cadence: Cadence = "month_end") -> list[date]:
    """As-of dates of the months `from_month`..`to_month` (inclusive): month ends, or week ends (Sundays)."""
    y0, m0 = parse_month(from_month)
    y1, m1 = parse_month(to_month)
    if (y1, m1) < (y0, m0):
        raise FeatureError(f"--from {from_month} is after --to {to_month}")
    first, last = date(y0, m0, 1), month_end(y1, m1)
    if cadence == "month_end":
        out = []
        y, m = y0, m0
        while (y, m) <= (y1, m1):
            out.append(month_end(y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out
    if cadence == "week_end":
        day = first + timedelta(days=(6 - first.weekday()) % 7)
        out = []
        while day <= last:
            out.append(day)
            day += timedelta(days=7)
        return out
    raise FeatureError(f"unknown cadence {cadence!r}: expected month_end or week_end")


def data_bounds(con: duckdb.DuckDBPyConnection, settings: Settings) -> DataBounds:
    """Days the warehouse describes: first usage day (else first account version) .. the export day.

    The end is `features.data_end` when set, else the date of the latest load's export time.
    """
    try:
        run = con.execute(
            "SELECT run_id, data_end FROM meta.load_runs ORDER BY loaded_at DESC, run_id DESC LIMIT 1"
        ).fetchall()
        start = con.execute(
            "SELECT coalesce((SELECT min(date) FROM c360.usage_daily),"
            " (SELECT CAST(min(updated_at) AS DATE) FROM c360.account_versions))"
        ).fetchall()[0][0]
    except duckdb.CatalogException:
        raise FeatureError("the warehouse holds no Customer 360 yet: run `xsell consolidate --raw DIR` first") from None
    if not run or start is None:
        raise FeatureError("the warehouse holds no loaded data yet: run `xsell consolidate --raw DIR` first")
    run_id, load_end = run[0]
    end = date.fromisoformat(settings.features.data_end) if settings.features.data_end else load_end
    return DataBounds(start=start, end=end, load_run_id=str(run_id))


def check_as_of(as_of: date, bounds: DataBounds) -> None:
    """Refuse an as-of date outside the data."""
    if as_of < bounds.start or as_of > bounds.end:
        raise FeatureError(
            f"as-of date {as_of} is outside the data ({bounds.start} .. {bounds.end}): choose a date within it"
        )


def dates_within(dates: list[date], bounds: DataBounds) -> list[date]:
    """The dates that fall within the data bounds (a range is clipped to the data)."""
    return [d for d in dates if bounds.start <= d <= bounds.end]
