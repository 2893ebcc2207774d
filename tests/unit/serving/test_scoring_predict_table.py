"""A model trained on a user's table scores that kind of table, keyed by the table's own id column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serving.scoring import ScoringError, predict_table
from training.byo import train_table
from xsell.settings import load_settings


def _table(rows: int = 1200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    usage = rng.uniform(0, 1, rows)
    plan = rng.choice(["basic", "pro"], rows)
    label = (rng.uniform(0, 1, rows) < 0.03 + 0.3 * usage * (plan == "pro")).astype(int)
    return pd.DataFrame(
        {
            "customer": [f"c{i:05d}" for i in range(rows)],
            "period": np.repeat(pd.date_range("2025-01-31", periods=8, freq="ME").date, rows // 8),
            "usage": usage,
            "plan": plan,
            "label": label,
        }
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> object:
    settings = load_settings(home=tmp_path_factory.mktemp("byo"), **{"training.cv_folds": 2})
    return train_table(_table(), "label", time_col="period", id_col="customer", settings=settings, trials=2).model


def test_scores_are_keyed_by_the_training_id_column(model: object, tmp_path: Path) -> None:
    fresh = _table(seed=1).drop(columns=["label"]).head(50)
    scores = predict_table(model, fresh)
    assert list(scores.columns) == ["id", "propensity"]
    assert scores["id"].tolist() == fresh["customer"].tolist()
    assert scores["propensity"].between(0, 1).all()


def test_a_table_without_the_id_or_a_feature_is_refused(model: object) -> None:
    fresh = _table(seed=1).drop(columns=["label"])
    with pytest.raises(ScoringError, match="no id column 'customer'"):
        predict_table(model, fresh.drop(columns=["customer"]))
    with pytest.raises(ScoringError, match="usage"):
        predict_table(model, fresh.drop(columns=["usage"]))
