"""What the serving layer logs with a model: nothing for a model it cannot tier, and no policy for no run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from factories import make_settings

from serving.model_artifacts import load_tier_policy, serving_artifacts
from tests.unit.registry.factories import DATES, TinyPropensityModel, make_feature_rows, make_training_result
from training.result import TrainingResult


@pytest.fixture(scope="module")
def result() -> TrainingResult:
    rows = make_feature_rows()
    model = TinyPropensityModel(random_state=0).fit(rows[rows["as_of"].isin(DATES[:-2])])
    return make_training_result(model, rows)


def test_a_bring_your_own_table_model_gets_no_tier_policy(result: TrainingResult, tmp_path: Path) -> None:
    # given a holdout keyed by row number only (a user's table without product or date)
    byo = replace(result, holdout=result.holdout.assign(product=None, as_of=None))
    # then no tier artifacts are made
    assert serving_artifacts(byo, make_settings(tmp_path / "home")) is None


def test_a_warehouse_model_without_warehouse_gets_no_tier_policy(result: TrainingResult, tmp_path: Path) -> None:
    assert serving_artifacts(result, make_settings(tmp_path / "home")) is None


def test_no_run_means_no_policy(tmp_path: Path) -> None:
    assert load_tier_policy(None, make_settings(tmp_path / "home")) is None
