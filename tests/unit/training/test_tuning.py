"""Optuna tuning: datasets built once, fold-wise pruning reports, seeded sampler, a shared persistent study."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
import pytest

from training.boosting import POOLED, base_params, build_fold_sets
from training.encoding import TableEncoder
from training.errors import TrainingError
from training.objective import CVObjective
from training.splits import assign_rows, plan_time_splits
from training.study import create_study, redact_url
from training.tuning import tune


def _objective(frame: pd.DataFrame, check_every: int = 0) -> CVObjective:
    data = frame.sort_values("as_of", kind="stable").reset_index(drop=True)
    y = data["label"].to_numpy()
    plan = plan_time_splits(sorted(set(data["as_of"])), horizon_days=30, cv_folds=2, holdout_snapshots=2)
    _, rows = assign_rows(plan, data["as_of"], y)
    features = [c for c in data.columns if c not in ("account_id", "as_of", "label")]
    categorical = ["segment", "industry", "primary_tier", "product"]
    x = TableEncoder(features, categorical).fit(data).transform(data)
    cat_idx = [features.index(c) for c in categorical]
    parts = np.full(len(data), POOLED, dtype=object)
    folds = [build_fold_sets(x, y, parts, tr, va, features, cat_idx) for tr, va in rows.folds]
    base = base_params(seed=7, num_threads=1, objective_metric="pr_auc")
    return CVObjective(
        folds, base, metric="pr_auc", max_rounds=40, early_stopping_rounds=5, max_pos_weight=4.0,
        check_every=check_every,
    )  # fmt: skip


def _storage(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'optuna.db'}"


def test_trials_reuse_the_fold_datasets(frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given fold datasets built before the study
    objective = _objective(frame)

    # when every new LightGBM dataset is forbidden during the study
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a trial built a new LightGBM dataset")

    monkeypatch.setattr(lgb.Dataset, "__init__", forbidden)
    outcome = tune(objective, storage=_storage(tmp_path), study_name="s", seed=7, trials=4, timeout=None, n_jobs=2)
    # then the study still ran every trial on the shared datasets
    assert outcome.trials_run == 4 and len(outcome.trials) == 4
    assert outcome.score.oof_raw is not None and np.isfinite(outcome.score.oof_raw).all()


def test_each_fold_reports_the_running_mean_to_the_pruner(frame: pd.DataFrame, tmp_path: Path) -> None:
    outcome = tune(
        _objective(frame), storage=_storage(tmp_path), study_name="s", seed=7, trials=3, timeout=None, n_jobs=1
    )
    study = optuna.load_study(study_name="s", storage=_storage(tmp_path))
    for trial in study.trials:
        assert sorted(trial.intermediate_values) == [0, 1]  # one report per fold
        folds = trial.user_attrs["fold_values"]
        assert trial.intermediate_values[1] == pytest.approx(np.mean(folds), abs=1e-5)
    assert set(outcome.trials.columns) >= {"number", "state", "value", "duration_s", "params_learning_rate"}
    assert outcome.score.rounds["*"] >= 1


def test_in_fold_checkpoints_report_distinct_ordered_steps_and_can_stop_a_fold(frame: pd.DataFrame) -> None:
    # given an objective that looks every 5 rounds inside each fold
    objective = _objective(frame, check_every=5)
    params = {"learning_rate": 0.1, "num_leaves": 4, "min_child_samples": 5}
    seen: list[tuple[int, float]] = []

    # when nothing asks to stop
    full = objective.evaluate(params, lambda value, step: seen.append((step, value)) is not None)
    # then steps rise strictly, the last report of each fold is the running mean, and nothing was pruned
    steps = [s for s, _ in seen]
    assert steps == sorted(set(steps)) and len(steps) > len(objective.folds)
    slots = 40 // 5 + 1
    fold_ends = {s: v for s, v in seen if (s + 1) % slots == 0}
    assert list(fold_ends.values())[-1] == pytest.approx(np.mean(full.fold_values))
    assert full.oof_raw is not None

    # when the first in-fold look asks to stop, the fold is abandoned there
    stopped = objective.evaluate(params, lambda value, step: True)
    assert stopped.oof_raw is None and stopped.fold_values == []


def test_the_sampler_is_seeded(frame: pd.DataFrame, tmp_path: Path) -> None:
    params = []
    for name in ("a", "b"):
        outcome = tune(
            _objective(frame), storage=_storage(tmp_path), study_name=name, seed=11, trials=3, timeout=None, n_jobs=1
        )
        params.append(outcome.trials.filter(like="params_").to_dict("records"))
    assert params[0] == params[1]


def test_a_study_is_shared_and_trials_is_its_target_size(frame: pd.DataFrame, tmp_path: Path) -> None:
    objective = _objective(frame)
    first = tune(objective, storage=_storage(tmp_path), study_name="shared", seed=7, trials=3, timeout=None, n_jobs=1)
    # a second worker (or a rerun) with the same target runs nothing new and rescoring gives the same best
    again = tune(
        _objective(frame), storage=_storage(tmp_path), study_name="shared", seed=7, trials=3, timeout=None, n_jobs=1
    )
    assert again.trials_run == 0 and again.best_number == first.best_number
    assert again.score.value == pytest.approx(first.best_value)
    # a larger target adds trials to the same study
    more = tune(objective, storage=_storage(tmp_path), study_name="shared", seed=7, trials=5, timeout=None, n_jobs=1)
    assert more.trials_run == 2 and len(more.trials) == 5


def test_loading_a_study_offsets_the_seed(tmp_path: Path) -> None:
    study = create_study(_storage(tmp_path), "x", direction="maximize", seed=1)
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))
    loaded = create_study(_storage(tmp_path), "x", direction="maximize", seed=1)
    assert len(loaded.trials) == 1


def test_failures(frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="at least one CV fold"):
        CVObjective([], {}, metric="pr_auc", max_rounds=5, early_stopping_rounds=2, max_pos_weight=1)
    with pytest.raises(TrainingError, match="no completed trial"):
        tune(_objective(frame), storage=_storage(tmp_path), study_name="t", seed=7, trials=1, timeout=1e-9, n_jobs=1)


def test_redact_url_hides_passwords() -> None:
    assert "secret" not in redact_url("postgresql://user:secret@db:5432/optuna")
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
