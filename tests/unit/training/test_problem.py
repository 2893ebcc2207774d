"""The training problem: one object for the snapshot, bring-your-own and worker paths, and the study it names."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.training.conftest import fast_settings
from training.errors import TrainingError
from training.problem import TableSpec, TrainingProblem, snapshot_problem


def test_the_same_rows_in_any_order_give_the_same_problem_and_study(frame: pd.DataFrame, tmp_path: Path) -> None:
    # given the coordinator's rows and a worker's copy of them in another order
    settings = fast_settings(tmp_path)
    problem = snapshot_problem(frame, settings)
    shuffled = snapshot_problem(frame.sample(frac=1.0, random_state=3), settings)
    # then both build the same ordered rows, plan and study (so a worker tunes the coordinator's problem)
    pd.testing.assert_frame_equal(problem.frame, shuffled.frame)
    assert problem.plan == shuffled.plan and problem.data_hash == shuffled.data_hash
    assert problem.study_name(settings) == shuffled.study_name(settings)
    assert problem.study_name(settings).startswith(f"{settings.registry.model_name}-pooled-")
    assert problem.labels.dtype == np.int64 and list(problem.frame.index) == list(range(len(frame)))
    # and other rows, another model name or another seed name another study
    other = snapshot_problem(frame.iloc[: len(frame) - 7], settings)
    assert other.study_name(settings) != problem.study_name(settings)
    assert snapshot_problem(frame, settings, "other").study_name(settings).startswith("other-pooled-")
    reseeded = settings.model_copy(update={"seed": settings.seed + 1})
    assert problem.study_name(reseeded) != problem.study_name(settings)


def test_a_problem_refuses_what_the_engine_cannot_train(frame: pd.DataFrame, tmp_path: Path) -> None:
    problem = snapshot_problem(frame, fast_settings(tmp_path))
    no_product = TableSpec(features=problem.spec.features, categorical=problem.spec.categorical)
    with pytest.raises(TrainingError, match="per_product layout needs a product column"):
        replace(problem, spec=no_product, layout="per_product")
    with pytest.raises(TrainingError, match="unknown model layout 'stacked'"):
        replace(problem, layout="stacked")
    with pytest.raises(TrainingError, match=f"{len(frame)} rows but 3 labels"):
        replace(problem, labels=np.array([0, 1, 0]))
    assert isinstance(replace(problem, layout="per_product"), TrainingProblem)
