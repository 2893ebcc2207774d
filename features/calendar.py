"""The snapshot calendar: as-of dates at the configured cadence, the data bounds they fall in, and which are labelled.

Pure `datetime.date` functions (no warehouse, no strings in between): the one day parser, the grid of as-of dates,
and `SnapshotCalendar`, the one place that says which snapshot dates lie within the data, which of them had their
labels matured by a day, and which came after a model's training data. Training (the labelled frame), monitoring
(reference and performance windows), the promotion gates and the replay all ask it.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from features.errors import FeatureError
from xsell.settings import Settings

Cadence = str  # "month_end" | "week_end"

__all__ = [
    "Cadence",
    "DataBounds",
    "SnapshotCalendar",
    "check_as_of",
    "dates_within",
    "grid",
    "is_labelled",
    "month_end",
    "parse_day",
    "parse_month",
    "snapshot_dates",
]


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
    """`YYYY-MM-DD` -> date; anything else is a FeatureError naming the value (the one day parser)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value or ""):
        raise FeatureError(f"expected a date as YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FeatureError(f"not a valid date: {value!r}") from None


def month_end(year: int, month: int) -> date:
    """Last day of the month."""
    return date(year, month, calendar.monthrange(year, month)[1])


def grid(first: date, last: date, cadence: Cadence = "month_end") -> list[date]:
    """As-of dates at `cadence` from `first` to `last` (inclusive): month ends, or week ends (Sundays)."""
    if cadence == "month_end":
        out = []
        year, month = first.year, first.month
        while (day := month_end(year, month)) <= last:
            if day >= first:
                out.append(day)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out
    if cadence == "week_end":
        day = first + timedelta(days=(6 - first.weekday()) % 7)
        out = []
        while day <= last:
            out.append(day)
            day += timedelta(days=7)
        return out
    raise FeatureError(f"unknown cadence {cadence!r}: expected month_end or week_end")


def snapshot_dates(from_month: str, to_month: str, cadence: Cadence = "month_end") -> list[date]:
    """As-of dates of the months `from_month`..`to_month` (inclusive, `YYYY-MM`): month ends, or week ends."""
    y0, m0 = parse_month(from_month)
    y1, m1 = parse_month(to_month)
    if (y1, m1) < (y0, m0):
        raise FeatureError(f"--from {from_month} is after --to {to_month}")
    return grid(date(y0, m0, 1), month_end(y1, m1), cadence)


def check_as_of(as_of: date, bounds: DataBounds) -> None:
    """Refuse an as-of date outside the data."""
    if as_of < bounds.start or as_of > bounds.end:
        raise FeatureError(
            f"as-of date {as_of} is outside the data ({bounds.start} .. {bounds.end}): choose a date within it"
        )


def dates_within(dates: list[date], bounds: DataBounds) -> list[date]:
    """The dates that fall within the data bounds (a range is clipped to the data)."""
    return [d for d in dates if bounds.start <= d <= bounds.end]


def is_labelled(as_of: date, horizon_days: int, data_end: date) -> bool:
    """A snapshot is labelled when its whole horizon (D, D + H] lies within the data known at `data_end`."""
    return as_of + timedelta(days=horizon_days) <= data_end


@dataclass(frozen=True)
class SnapshotCalendar:
    """The snapshot grid over the data: which as-of dates exist and which are labelled by a given day."""

    bounds: DataBounds
    cadence: Cadence
    horizon_days: int

    @classmethod
    def of(cls, bounds: DataBounds, settings: Settings) -> SnapshotCalendar:
        """The calendar of the configured cadence and label horizon over `bounds`."""
        return cls(bounds=bounds, cadence=settings.features.cadence, horizon_days=settings.features.horizon_days)

    def dates(self, first: date | None = None, last: date | None = None) -> list[date]:
        """Grid dates within the data from `first` to `last` (inclusive; default: the data bounds)."""
        start = self.bounds.start if first is None else max(first, self.bounds.start)
        end = self.bounds.end if last is None else min(last, self.bounds.end)
        return grid(start, end, self.cadence) if start <= end else []

    def labelled(self, by: date | None = None, after: date | None = None) -> list[date]:
        """Grid dates within the data whose label horizon had passed by `by` (default: the data end), each later
        than `after` when given (e.g. a model's training data end): D + horizon <= min(by, data end)."""
        known = self.bounds.end if by is None else min(by, self.bounds.end)
        first = None if after is None else after + timedelta(days=1)
        return [d for d in self.dates(first, known) if is_labelled(d, self.horizon_days, known)]
