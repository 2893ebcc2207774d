"""Planning a check fails clearly when there is nothing to monitor (fast: no warehouse, no model)."""

from __future__ import annotations

from datetime import date

import pytest
from factories import run_xsell

from monitoring.check import plan_check
from monitoring.errors import MonitoringError
from xsell.settings import Settings


def test_no_champion_is_named_with_the_date(settings: Settings) -> None:
    with pytest.raises(MonitoringError, match=r"no champion registered for model 'xsell-propensity'.*2025-06-30"):
        plan_check(settings, date(2025, 6, 30))


def test_cli_refuses_a_bad_date(settings: Settings) -> None:
    done = run_xsell("monitor", "--as-of", "2025-13-01", home=settings.home)
    assert done.returncode == 2 and "expected YYYY-MM-DD" in done.stderr
