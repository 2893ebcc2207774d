"""Input encoding inside the model, the RevOps scorecard and the logistic-regression baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.baselines import SCORECARD, fit_logistic, predict_logistic, scorecard_missing, scorecard_points
from training.encoding import TableEncoder, infer_categorical, to_float
from training.errors import TrainingError


def test_encoder_learns_categories_and_maps_unseen_and_missing_to_nan() -> None:
    train = pd.DataFrame({"segment": ["smb", "enterprise", None, "smb"], "n": pd.array([1, None, 3, 4], "Int64")})
    encoder = TableEncoder(["segment", "n"], ["segment"]).fit(train)
    assert encoder.categories_ == {"segment": ["enterprise", "smb"]}
    new = pd.DataFrame({"segment": ["smb", "startup", None], "n": pd.array([None, 2, 5], "Int64")})
    x = encoder.transform(new)
    assert x.dtype == np.float64
    assert x[0, 0] == 1.0 and np.isnan(x[1, 0]) and np.isnan(x[2, 0])  # unseen and missing: NaN
    assert np.isnan(x[0, 1]) and x[1, 1] == 2.0
    assert encoder.decode("segment", np.array([0.0, np.nan])) == ["enterprise", None]


def test_encoder_refuses_missing_and_non_numeric_columns() -> None:
    encoder = TableEncoder(["a", "b"], []).fit(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    with pytest.raises(TrainingError, match="lack the model's columns"):
        encoder.transform(pd.DataFrame({"a": [1.0]}))


def test_dtype_helpers() -> None:
    frame = pd.DataFrame({"s": ["a"], "c": pd.Categorical(["x"]), "f": [1.0], "b": [True], "i": pd.array([1], "Int64")})
    assert infer_categorical(frame, list(frame.columns)) == ["s", "c"]
    assert to_float(pd.Series([True, False])).tolist() == [1.0, 0.0]
    assert np.isnan(to_float(pd.Series(pd.array([None, 1], "Int64")))[0])


def _card_row(**over: object) -> dict[str, object]:
    # a row earning every point: 90 in total
    row = {
        "seat_activation_30d": 0.6,
        "nps_mean_180d": 8.0,
        "tenure_months": 7.0,
        "tickets_90d": 2,
        "employee_growth_180d": 0.05,
        "signal_events_30d": 3,
        "months_to_renewal": 7.0,
    }
    return {**row, **over}


@pytest.mark.parametrize(
    ("change", "points"),
    [
        ({}, 90),
        ({"seat_activation_30d": 0.5}, 70),  # not more than 50% of seats
        ({"nps_mean_180d": 7.9}, 75),
        ({"nps_mean_180d": None}, 75),  # no NPS in 180 days: no points
        ({"tenure_months": 6.0}, 80),
        ({"tickets_90d": 3}, 80),
        ({"employee_growth_180d": 0.0}, 80),
        ({"signal_events_30d": 0}, 75),
        ({"months_to_renewal": 6.0}, 80),
    ],
)
def test_scorecard_points_follow_the_revops_rules(change: dict[str, object], points: int) -> None:
    frame = pd.DataFrame([_card_row(**change)])
    frame["tickets_90d"] = frame["tickets_90d"].astype("Int64")
    assert scorecard_points(frame).tolist() == [points]
    assert sum(r.points for r in SCORECARD) == 90


def test_scorecard_missing_names_absent_features() -> None:
    assert scorecard_missing(list(_card_row())) == []
    assert scorecard_missing(["tenure_months"]) == [r.feature for r in SCORECARD if r.feature != "tenure_months"]


def test_logistic_baseline_imputes_scales_and_one_hot_encodes(frame: pd.DataFrame) -> None:
    numeric = ["feature_share_30d", "signal_events_30d", "nps_mean_180d"]
    categorical = ["segment", "industry", "product"]
    model = fit_logistic(frame, frame["label"].to_numpy(), numeric, categorical, seed=1)
    new = frame.head(3).copy()
    new.loc[new.index[0], "segment"] = "never-seen"
    p = predict_logistic(model, new, numeric, categorical)
    assert p.shape == (3,) and ((p > 0) & (p < 1)).all()
