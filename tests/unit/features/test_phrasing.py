"""How a feature value is said in words: numbers, shares, money, counts, labels and the template's context."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from features.catalog import FEATURES, FEATURES_BY_NAME
from features.phrasing import ReasonContext, label, missing, money, num, pct, plural, signed


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (1234.0, "1,234"), (150.7, "151"), (12.5, "12.5"), (0.123, "0.12"), (1e16, "1e+16"), (-1.7, "-1.7")],
)
def test_num_says_a_number_with_separators_and_few_decimals(value: float, text: str) -> None:
    assert num(value) == text


def test_num_says_non_finite_values_instead_of_failing() -> None:
    assert [num(math.nan), num(math.inf), num(-math.inf)] == ["unknown", "infinite", "minus infinite"]
    with pytest.raises(ValueError):
        num("many")  # not a number at all: the caller falls back to the description


def test_shares_money_counts_labels_and_signs() -> None:
    assert pct(0.855) == "86%"
    assert [money(3_000_000), money(25_000), money(1234)] == ["$3.0M", "$25k", "$1,234"]
    assert [plural(1, "seat"), plural(3, "seat"), plural(2, "touch", "touches")] == ["1 seat", "3 seats", "2 touches"]
    assert label("mid_market") == "Mid market"
    assert [signed(0.0, "up", "down"), signed(-0.1, "up", "down")] == ["up", "down"]


def test_missing_knows_none_na_and_nan_only() -> None:
    assert missing(None) and missing(pd.NA) and missing(math.nan)
    assert not missing(0) and not missing("") and not missing(math.inf)


def test_context_names_the_tier_or_says_it_is_unknown() -> None:
    assert ReasonContext({"primary_tier": "professional"}, "widgets").tier_features == "Professional features"
    assert ReasonContext({"primary_tier": None}, "widgets").tier_features == "its tier's features"
    assert ReasonContext({}, "widgets").tier is None


def test_templates_on_the_definitions_read_the_value_and_the_product() -> None:
    # given the catalog's definitions, when their templates say a value
    context = ReasonContext({"primary_tier": "enterprise"}, "widgets")
    say = lambda name, value: FEATURES_BY_NAME[name].reason(value, context)  # type: ignore[misc]  # noqa: E731
    # then the product and tier come from the context, and a flag that is off says nothing
    assert say("feature_requests_90d", 3.0) == "3 feature requests for widgets in the last 90 days"
    assert say("feature_share_30d", 0.5) == "Uses 50% of Enterprise features (last 30 days)"
    assert say("segment", "mid_market") == "Mid market segment"
    assert say("trial_active", 0.0) is None
    with pytest.raises(OverflowError):
        say("usage_velocity_30d", 1000.0)  # the caller falls back to the description
    # every categorical feature has a template; the cohort ranks speak through their base feature
    assert all(d.reason is not None for d in FEATURES if d.categorical)
    assert all(d.reason is None for d in FEATURES if d.family == "cohort")
