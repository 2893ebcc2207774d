"""Months, days and timestamps: integer day numbers and epoch seconds, and their ISO 8601 renderings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.errors import GeneratorError
from xsell.settings import GeneratorSettings

DAY = 86_400
#: How far before the period the oldest accounts were created (months).
HISTORY_MONTHS = 36
#: Sentinel for a missing timestamp/day in int64 columns.
NULL = np.iinfo(np.int64).min


def _month(value: str) -> np.datetime64:
    return np.datetime64(value, "M")


@dataclass(frozen=True)
class Timeline:
    """The simulated months: history before the period, then the period `start`..`end` inclusive."""

    #: every simulated month (history + period), as datetime64[M]
    months: np.ndarray
    #: index in `months` of the period's first month
    period_first: int
    #: index in `months` of the drift month, or None
    drift_month: int | None
    #: day number (days since 1970-01-01) of each month's first day, plus one past the end
    month_days: np.ndarray

    @property
    def n_months(self) -> int:
        """All simulated months."""
        return len(self.months)

    @property
    def period_months(self) -> range:
        """Indices of the period's months."""
        return range(self.period_first, self.n_months)

    @property
    def period_start_day(self) -> int:
        """Day number of the period's first day."""
        return int(self.month_days[self.period_first])

    @property
    def last_day(self) -> int:
        """Day number of the period's last day (the export day)."""
        return int(self.month_days[-1]) - 1

    def month_label(self, m: int) -> str:
        """`YYYY-MM` of month index m."""
        return str(self.months[m])

    def month_of_days(self, days: np.ndarray) -> np.ndarray:
        """Month index of each day number (clipped into the simulated range)."""
        idx = np.searchsorted(self.month_days, days, side="right") - 1
        return np.clip(idx, 0, self.n_months - 1)


def build_timeline(settings: GeneratorSettings) -> Timeline:
    """Resolve the settings' period (and drift month) into a timeline; fail on an impossible period."""
    start, end = _month(settings.start), _month(settings.end)
    if end < start:
        raise GeneratorError(f"generator.end ({settings.end}) is before generator.start ({settings.start})")
    first = start - np.timedelta64(HISTORY_MONTHS, "M")
    months = np.arange(first, end + np.timedelta64(1, "M"), dtype="datetime64[M]")
    bounds = np.arange(first, end + np.timedelta64(2, "M"), dtype="datetime64[M]")
    month_days = bounds.astype("datetime64[D]").astype(np.int64)
    drift_month = None
    if (settings.drift_at is None) != (settings.drift_kind is None):
        missing = "generator.drift_kind" if settings.drift_kind is None else "generator.drift_at"
        raise GeneratorError(f"drift needs both generator.drift_at and generator.drift_kind; {missing} is unset")
    if settings.drift_at is not None:
        drift = _month(settings.drift_at)
        if not (start < drift <= end):
            raise GeneratorError(
                f"generator.drift_at ({settings.drift_at}) must fall after start and no later than end"
            )
        drift_month = int((drift - first).astype(np.int64))
    return Timeline(
        months=months,
        period_first=HISTORY_MONTHS,
        drift_month=drift_month,
        month_days=month_days,
    )


def extract_days(timeline: Timeline) -> list[int]:
    """Day numbers of the quarterly account extracts: every 3rd month end going back from the period end."""
    days = []
    m = timeline.n_months - 1
    while m >= timeline.period_first:
        days.append(int(timeline.month_days[m + 1]) - 1)
        m -= 3
    return sorted(days)


def day_string(days: np.ndarray) -> np.ndarray:
    """`YYYY-MM-DD` of day numbers; NULL becomes None (object array)."""
    days = np.asarray(days, dtype=np.int64)
    null = days == NULL
    text = np.datetime_as_string(np.where(null, 0, days).astype("datetime64[D]"), unit="D").astype(object)
    text[null] = None
    return text


def iso_string(seconds: np.ndarray, style: str) -> np.ndarray:
    """ISO 8601 text of epoch seconds; style `Z`, `+00:00`, `naive` or an offset like `+10:00`.

    An offset style writes the same instant as local time at that offset. NULL becomes None.
    """
    seconds = np.asarray(seconds, dtype=np.int64)
    null = seconds == NULL
    shift = 0
    suffix = ""
    if style == "Z":
        suffix = "Z"
    elif style == "naive":
        suffix = ""
    else:
        sign = 1 if style[0] == "+" else -1
        hours, minutes = style[1:].split(":")
        shift = sign * (int(hours) * 3600 + int(minutes) * 60)
        suffix = style
    local = np.where(null, 0, seconds + shift).astype("datetime64[s]")
    text = np.char.add(np.datetime_as_string(local, unit="s"), suffix).astype(object)
    text[null] = None
    return text


def year_of(seconds: np.ndarray) -> np.ndarray:
    """Calendar year of epoch seconds."""
    return np.asarray(seconds, dtype=np.int64).astype("datetime64[s]").astype("datetime64[Y]").astype(int) + 1970
