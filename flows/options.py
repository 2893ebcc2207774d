"""Command-line values parsed into dates and months, each error naming the option it came from."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TypeVar

from features.calendar import parse_day, parse_month
from features.errors import FeatureError
from flows.console import OptionError

T = TypeVar("T")


def named(option: str, parse: Callable[[str], T], value: str) -> T:
    """`parse(value)`, its FeatureError message prefixed with the option it came from."""
    try:
        return parse(value)
    except FeatureError as exc:
        raise FeatureError(f"{option}: {exc}") from None


def option_day(value: str, option: str) -> date:
    """The date an option gives as YYYY-MM-DD; anything else is an OptionError naming the option and the value."""
    try:
        return parse_day(value)
    except FeatureError:
        raise OptionError(f"{option}: expected YYYY-MM-DD, got {value!r}") from None


def optional_day(value: str | None, option: str) -> date | None:
    """`option_day` of an option that may be left out (None)."""
    return None if value is None else option_day(value, option)


def month_range(from_month: str, to_month: str) -> None:
    """Refuse a --from/--to month range that is malformed or runs backwards, naming the option."""
    if named("--from", parse_month, from_month) > named("--to", parse_month, to_month):
        raise FeatureError(f"--from {from_month} is after --to {to_month}")
