"""Reason codes: catalog-driven sentences with the row's value, product and cohort percentile."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.reasons import FeatureInfo, catalog_info, reason_frame, sentence
from xsell.settings import load_settings

CATALOG = catalog_info()
REPO = Path(__file__).resolve().parents[3]


def test_sentences_use_the_row_value_product_tier_and_cohort_percentile() -> None:
    row = {
        "product": "widgets",
        "primary_tier": "professional",
        "feature_share_30d": 0.85,
        "feature_share_30d_cohort_pct": 0.92,
        "feature_requests_90d": 3,
        "nps_latest": 9.0,
        "opportunity_open": 1,
        "employee_growth_180d": 0.12,
        "segment": "mid_market",
    }
    say = lambda name: sentence(name, row, CATALOG, "product")  # noqa: E731
    assert say("feature_share_30d") == "Uses 85% of Professional features (last 30 days), top 10% of peers"
    assert say("feature_share_30d_cohort_pct") == say("feature_share_30d")  # the rank speaks through its base
    assert say("feature_requests_90d") == "3 feature requests for widgets in the last 90 days"
    assert say("nps_latest") == "NPS 9 (latest)"
    assert say("opportunity_open") == "Open sales opportunity for widgets"
    assert say("employee_growth_180d") == "Headcount grew 12% over the last 180 days"
    assert say("segment") == "Mid market segment"


def test_features_without_template_or_value_fall_back_to_the_catalog_description() -> None:
    row = {"product": "widgets", "tickets_high_90d": 2, "nps_latest": None}
    assert sentence("tickets_high_90d", row, CATALOG, "product") == (
        "Tickets of priority 'high' created in the last 90 days: 2"
    )
    assert sentence("nps_latest", row, CATALOG, "product") == "Score of the latest NPS response: unknown"
    # a column no catalog knows (bring-your-own table) is named by its column
    assert sentence("churn_risk", {"churn_risk": 0.25}, {}, None) == "Churn risk: 0.25"


def test_reason_frame_takes_top_positive_contributions_one_per_topic() -> None:
    rows = pd.DataFrame(
        {"product": ["widgets", "gadgets"], "events_30d": [1200, 10], "events_90d": [3000, 40], "nps_latest": [9, 3]}
    )
    names = ["events_30d", "events_90d", "nps_latest"]
    contrib = np.array([[0.5, 0.4, 0.1], [-0.2, -0.1, 0.3]])
    out = reason_frame(contrib, names, rows, CATALOG, top=3, product_column="product")
    assert list(out.columns) == ["reason_1", "reason_2", "reason_3"]
    # events_30d and events_90d share a topic: one sentence; negative contributions give none
    assert out.iloc[0].tolist() == ["1,200 usage events in the last 30 days", "NPS 9 (latest)", None]
    assert out.iloc[1].tolist() == ["NPS 3 (latest)", None, None]


def test_every_catalog_feature_yields_a_sentence() -> None:
    row = {name: (0.5 if not name.startswith(("segment", "industry", "primary_tier")) else "x") for name in CATALOG}
    row["product"] = "widgets"
    for name, info in CATALOG.items():
        text = sentence(name, row, CATALOG, "product")
        assert isinstance(info, FeatureInfo) and text and not text.startswith(" "), name


def test_no_product_name_is_hard_coded_in_training() -> None:
    settings = load_settings()
    names = {p.product for p in settings.generator.catalog_products} | {
        f.feature for f in settings.generator.catalog_features
    }
    offenders = []
    for path in sorted((REPO / "training").glob("*.py")):
        text = path.read_text()
        offenders += [f"{path.name}: {n}" for n in names if re.search(rf"['\"]{re.escape(n)}['\"]", text)]
    assert offenders == []


def test_non_finite_and_huge_values_give_a_sentence_never_an_error() -> None:
    # given values no warehouse holds but a payload may: infinities, NaN, and finite values too large to round
    row = {"product": "widgets", "seats": float("inf"), "usage_velocity_30d": 1000.0, "nps_latest": float("nan")}
    row |= {"events_30d": -float("inf"), "events_30d_cohort_pct": float("inf"), "tickets_high_90d": 1e300}
    say = lambda name: sentence(name, row, CATALOG, "product")  # noqa: E731
    # then each one gets the catalog sentence naming the value, never an OverflowError or ValueError
    assert say("seats").endswith(": infinite")
    assert say("events_30d").endswith(": minus infinite")
    assert say("nps_latest") == "Score of the latest NPS response: unknown"
    assert say("usage_velocity_30d").endswith(": 1,000")  # exp(1000) overflows: the generic sentence instead
    assert say("tickets_high_90d").endswith(": 1e+300")
    every = {name: float("inf") for name in CATALOG if not name.startswith(("segment", "industry", "primary_tier"))}
    for name in every:
        assert sentence(name, {**every, "product": "widgets"}, CATALOG, "product"), name


#: Values every feature is said with in the fixed frame: zero, one, fractions, negatives, large and huge numbers,
#: unknown and infinite values, and text.
FIXED_VALUES: tuple[Any, ...] = (
    0,
    1,
    2,
    0.5,
    -0.3,
    0.123,
    -1.7,
    12.5,
    150.7,
    1234.0,
    25_000,
    3_000_000.0,
    1e16,
    1000.0,
    None,
    float("nan"),
    float("inf"),
    -float("inf"),
    "mid_market",
)
GOLDEN = Path(__file__).with_name("data") / "reasons_golden.json"


def fixed_reasons() -> dict[str, str | None]:
    """Sentences and reason columns of every catalog feature over a fixed frame, keyed `case|feature|value`."""
    out: dict[str, str | None] = {}
    contexts: dict[str, dict[str, Any]] = {
        "full": {"product": "widgets", "primary_tier": "professional"},
        "bare": {},
    }
    for case, context in contexts.items():
        for name in CATALOG:
            for k, value in enumerate(FIXED_VALUES):
                row = {**context, name: value}
                if case == "full":
                    row |= {f"{name}_cohort_pct": (0.05 + 0.9 * k / len(FIXED_VALUES))}
                out[f"{case}|{name}|{value!r}"] = sentence(name, row, CATALOG, "product" if context else None)
    names = list(CATALOG)
    rng = np.random.default_rng(7)
    values = {n: [FIXED_VALUES[(i * 7 + j) % len(FIXED_VALUES)] for i in range(24)] for j, n in enumerate(names)}
    rows = pd.DataFrame({"product": [f"p{i % 3}" for i in range(24)], **values})
    contrib = rng.normal(size=(24, len(names)))
    frame = reason_frame(contrib, names, rows, CATALOG, top=5, product_column="product")
    for i, record in enumerate(frame.to_dict("records")):
        for column, text in record.items():
            out[f"frame|{i}|{column}"] = text
    return out


def test_reasons_on_a_fixed_frame_are_unchanged() -> None:
    # given every catalog feature at fixed values, with and without product, tier and cohort rank
    # when sentences and reason columns are made
    got = fixed_reasons()
    # then each one is byte for byte the text captured before templates moved onto the feature definitions
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(got) == sorted(expected)
    assert [k for k in expected if got[k] != expected[k]] == []
