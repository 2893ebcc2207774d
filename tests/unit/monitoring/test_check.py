"""Planning a check fails clearly when there is nothing to monitor (fast: no warehouse, no model)."""

from __future__ import annotations

from datetime import date

import pytest
from factories import run_xsell

from monitoring.check import performance_window, plan_check
from monitoring.errors import MonitoringError
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
