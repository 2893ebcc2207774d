"""Command-line dates and months: parsed by the feature layer's parsers, each error naming the option."""

from __future__ import annotations

from datetime import date

import pytest

from features.calendar import parse_month
from features.errors import FeatureError
from flows.console import OptionError
from flows.options import month_range, named, option_day, optional_day


def test_an_option_day_is_a_date_or_nothing() -> None:
    assert option_day("2025-06-30", "--as-of") == date(2025, 6, 30)
    assert optional_day(None, "--as-of") is None and optional_day("2025-06-30", "--as-of") == date(2025, 6, 30)


@pytest.mark.parametrize("value", ["2025-13-01", "2025-06-31", "30/06/2025", "20250630", ""])
def test_a_bad_option_day_is_one_line_naming_the_option(value: str) -> None:
    with pytest.raises(OptionError) as caught:
        option_day(value, "--as-of")
    assert str(caught.value) == f"--as-of: expected YYYY-MM-DD, got {value!r}"


def test_a_month_range_runs_forward() -> None:
    month_range("2025-01", "2025-03")
    month_range("2025-03", "2025-03")
    with pytest.raises(FeatureError, match=r"^--from 2025-04 is after --to 2025-03$"):
        month_range("2025-04", "2025-03")


def test_a_parse_error_is_prefixed_with_its_option() -> None:
    assert named("--degrade-at", parse_month, "2025-04") == (2025, 4)
    with pytest.raises(FeatureError, match=r"^--to: expected a month as YYYY-MM, got '2025-4'$"):
        month_range("2025-01", "2025-4")
