"""PropensityModel: scikit-learn conventions, plain inputs, both layouts, pickling, SHAP and reason codes."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from training.errors import TrainingError
from training.model import PropensityModel
from training.reasons import catalog_info

PARAMS = {"learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20, "verbosity": -1}


def _fit(frame: pd.DataFrame, layout: str = "pooled", **kw: object) -> PropensityModel:
    raw = np.random.default_rng(0).normal(-1.5, 1.0, 400)
    labels = (np.random.default_rng(1).random(400) < 1 / (1 + np.exp(-raw))).astype(int)
    model = PropensityModel(params=PARAMS, num_boost_round=30, layout=layout, catalog=catalog_info(), **kw)
    return model.fit(frame, frame["label"], calibration_scores=raw, calibration_labels=labels)


def test_init_only_stores_parameters_and_clone_works() -> None:
    model = PropensityModel(params=PARAMS, num_boost_round=5, random_state=3)
    assert not hasattr(model, "boosters_")
    assert model.get_params()["random_state"] == 3
    assert clone(model).get_params()["num_boost_round"] == 5


@pytest.mark.parametrize("layout", ["pooled", "per_product"])
def test_fit_learns_attributes_and_scores_plain_frames(frame: pd.DataFrame, layout: str) -> None:
    model = _fit(frame, layout)
    # then the learned attributes end in "_" and describe the inputs
    assert model.products_ == ["prod_a", "prod_b"]
    assert model.categorical_features_ == ["segment", "industry", "primary_tier"]
    assert "product" not in model.feature_names_ and "label" not in model.feature_names_
    assert model.calibration_method_ == "isotonic"
    assert set(model.boosters_) == ({"*"} if layout == "pooled" else {"prod_a", "prod_b"})
    # and it scores plain strings and floats (no pandas category), unseen categories included
    rows = frame.head(20).copy()
    rows["segment"] = rows["segment"].astype(str)
    rows.loc[rows.index[0], "industry"] = "never-seen"
    plain = rows.astype({c: "float64" for c in ("events_30d", "signal_events_30d")})
    p = model.predict_proba(plain)
    assert p.shape == (20,) and ((p >= 0) & (p <= 1)).all()
    assert np.allclose(model.predict_proba(rows), p)  # nullable Int64 inputs give the same scores


@pytest.mark.parametrize("n_seeds", [1, 3])
def test_contributions_add_up_to_the_raw_score(frame: pd.DataFrame, n_seeds: int) -> None:
    model = _fit(frame, n_seeds=n_seeds)
    rows = frame.head(50)
    contrib = model.contributions(rows)
    assert list(contrib.columns) == model.feature_names_
    full = model.contributions(rows, include_base=True)
    assert {"product", "base"} <= set(full.columns)
    assert np.allclose(full.sum(axis=1).to_numpy(), model.raw_score(rows))


def test_reason_codes_are_sentences_naming_the_row_product(frame: pd.DataFrame) -> None:
    model = _fit(frame)
    reasons = model.reason_codes(frame.head(30), top=3)
    assert list(reasons.columns) == ["reason_1", "reason_2", "reason_3"]
    assert reasons["reason_1"].notna().mean() > 0.5  # a row whose every contribution is negative has none
    texts = " ".join(reasons.stack().tolist())
    assert "prod_a" in texts or "prod_b" in texts or "%" in texts


def test_pickle_round_trip_scores_identically(frame: pd.DataFrame) -> None:
    model = _fit(frame, "per_product")
    copy = pickle.loads(pickle.dumps(model))
    rows = frame.tail(40)
    assert np.array_equal(copy.predict_proba(rows), model.predict_proba(rows))
    assert copy.reason_codes(rows).equals(model.reason_codes(rows))


def test_without_calibration_scores_probabilities_are_the_sigmoid(frame: pd.DataFrame) -> None:
    model = PropensityModel(params=PARAMS, num_boost_round=10).fit(frame, frame["label"])
    rows = frame.head(10)
    assert model.calibration_method_ == "none"
    assert np.allclose(model.predict_proba(rows), 1 / (1 + np.exp(-model.raw_score(rows))))


def test_per_product_scores_unknown_products_as_nan(frame: pd.DataFrame) -> None:
    model = _fit(frame, "per_product")
    rows = frame.head(3).assign(product="prod_new")
    assert np.isnan(model.predict_proba(rows)).all()


def test_failures_name_the_problem(frame: pd.DataFrame) -> None:
    with pytest.raises(TrainingError, match="not fitted"):
        PropensityModel().predict_proba(frame.head(2))
    with pytest.raises(TrainingError, match="per_product layout needs a product column"):
        PropensityModel(layout="per_product").fit(frame.drop(columns=["product"]), frame["label"])
    with pytest.raises(TrainingError, match="unknown model layout"):
        PropensityModel(layout="stacked").fit(frame, frame["label"])
    with pytest.raises(TrainingError, match="rows but"):
        PropensityModel().fit(frame, frame["label"].head(3))
    model = _fit(frame)
    with pytest.raises(TrainingError, match="lack"):
        model.predict_proba(frame.drop(columns=["feature_share_30d"]).head(2))


def test_a_seed_bag_averages_differently_seeded_boosters(frame: pd.DataFrame) -> None:
    # given a model with three seeds under row and feature subsampling
    params = {**PARAMS, "bagging_fraction": 0.7, "bagging_freq": 1, "feature_fraction": 0.7}
    model = PropensityModel(params=params, num_boost_round=30, n_seeds=3).fit(frame, frame["label"])
    # then each part holds three distinct boosters and the raw score is their mean
    boosters = model.boosters_["*"]
    rows = frame.head(40)
    x = model.encoder_.transform(rows, model.input_columns_)
    each = np.array([b.predict(x, raw_score=True) for b in boosters])
    assert len(boosters) == 3 and not np.allclose(each[0], each[1])
    assert np.allclose(model.raw_score(rows), each.mean(axis=0))


def test_a_model_pickled_before_seed_bags_still_scores(frame: pd.DataFrame) -> None:
    # given a model whose parts hold one booster each, as models registered before seed bags do
    model = _fit(frame)
    rows = frame.head(30)
    expected = model.raw_score(rows)
    model.boosters_ = {k: v[0] for k, v in model.boosters_.items()}
    # then it scores and explains as before
    assert np.allclose(model.raw_score(rows), expected)
    assert model.contributions(rows).shape == (30, len(model.feature_names_))
