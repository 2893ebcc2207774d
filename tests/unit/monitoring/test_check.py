"""Planning a check fails clearly when there is nothing to monitor (fast: no warehouse, no model)."""

from __future__ import annotations

from datetime import date

import pytest
from factories import run_xsell

from features.calendar import DataBounds, SnapshotCalendar
from monitoring.check import performance_window, plan_check, reference_window
from monitoring.errors import MonitoringError
from monitoring.model_refs import ModelRef
from xsell.settings import Settings


def test_no_champion_is_named_with_the_date(settings: Settings) -> None:
    with pytest.raises(MonitoringError, match=r"no champion registered for model 'xsell-propensity'.*2025-06-30"):
        plan_check(settings, date(2025, 6, 30))


def test_cli_refuses_a_bad_date(settings: Settings) -> None:
    done = run_xsell("monitor", "--as-of", "2025-13-01", home=settings.home)
    assert done.returncode == 2 and "expected YYYY-MM-DD" in done.stderr


def test_performance_window_prefers_snapshots_labelled_after_the_training_labels() -> None:
    # given a champion trained on snapshots up to 2024-10-31 (labels to 2025-01-29 with a 90-day horizon)
    trained_until = date(2024, 10, 31)
    months = [date(2024, 11, 30), date(2024, 12, 31), date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31)]
    # when only the overlapping snapshots have matured: they are used, flagged in sample
    assert performance_window(months[:2], trained_until, 90, 3) == ((months[0], months[1]), False)
    # when later ones have matured too: only those labelled after the training labels count
    assert performance_window(months, trained_until, 90, 3) == ((months[2], months[3], months[4]), True)
    assert performance_window(months, trained_until, 90, 2) == ((months[3], months[4]), True)
    # and nothing matured is no window (nothing to flag)
    assert performance_window([], trained_until, 90, 3) == ((), True)


def test_reference_window_is_the_champions_training_snapshots_within_the_data() -> None:
    # given data from 2024-06-15 to 2025-06-30 and a champion trained on 2024-01-01 .. 2024-10-31
    calendar = SnapshotCalendar(DataBounds(date(2024, 6, 15), date(2025, 6, 30), "run"), "month_end", 90)
    champion = ModelRef("champion", 3, "models:/m/3", None, date(2024, 1, 1), date(2024, 10, 31))
    # then its reference snapshots are the last ones of that window within the data (0: all of them)
    assert reference_window(calendar, champion, 2) == (date(2024, 9, 30), date(2024, 10, 31))
    assert reference_window(calendar, champion, 0)[0] == date(2024, 6, 30)
    # and a window before the data holds none: a MonitoringError naming both
    before = ModelRef("champion", 3, "models:/m/3", None, date(2023, 1, 1), date(2023, 12, 31))
    with pytest.raises(MonitoringError, match=r"v3's training window 2023-01-01 .. 2023-12-31 holds no snapshot"):
        reference_window(calendar, before, 2)
