"""run_content: what a training run logs, as plain data, built without MLflow; a result that cannot make a
loadable model is refused before anything is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from registry.provenance import provenance
from registry.run_content import (
    metric_key,
    redact,
    run_content,
    stage_artifacts,
    training_metrics,
    training_params,
    trial_records,
    trials_table,
)
from training.result import TrainingResult
from xsell.settings import Settings


def test_training_metrics_and_params_are_named_and_finite(
    result_factory: Callable[..., TrainingResult], training_result: TrainingResult, settings: Settings
) -> None:
    metrics = {k: {p: dict(v) for p, v in by.items()} for k, by in training_result.metrics.items()}
    metrics["xsell"]["overall"]["roc_auc"] = float("nan")
    names = training_metrics(result_factory(metrics=metrics))
    assert "xsell/overall/roc_auc" not in names and "xsell/overall/pr_auc" in names
    params = training_params(training_result, settings, "why")
    assert params["reason"] == "why" and all(isinstance(v, str) for v in params.values())


def test_trials_table_serialises_datetimes(training_result: TrainingResult) -> None:
    table = trials_table(training_result.trials)
    assert isinstance(table["datetime_start"].iloc[0], str)
    assert json.loads(table.to_json(orient="split"))  # JSON-safe
    assert isinstance(pd.Timestamp(table["datetime_start"].iloc[0]), pd.Timestamp)


def test_redact_hides_passwords_in_urls() -> None:
    extra = {"optuna_storage": "postgresql://xsell:s3cret@db:5432/optuna", "nested": ["https://u:p@h/x", "plain"]}
    assert redact(extra) == {
        "optuna_storage": "postgresql://xsell:***@db:5432/optuna",
        "nested": ["https://u:***@h/x", "plain"],
    }
    assert redact("sqlite:////home/optuna.db") == "sqlite:////home/optuna.db"


def test_run_content_carries_lineage_tags_params_and_the_version_summary(
    training_result: TrainingResult, settings: Settings
) -> None:
    # given a training result and its provenance
    source = provenance(training_result, "scheduled retrain")
    # when its run content is built (no MLflow involved)
    content = run_content(training_result, settings, source)
    # then run and version carry the same lineage, and the version its headline metrics
    for key in ("data_hash", "code_version", "reason", "data_window"):
        assert content.tags[key] == content.version_tags[key] == source.tags()[key]
    assert content.tags["xsell.kind"] == "training" and content.run_name.startswith("train-")
    assert content.description == f"scheduled retrain; training data {source.data_window}"
    assert float(content.version_tags["metric.pr_auc"]) == pytest.approx(content.headline["pr_auc"])
    assert content.version_description.startswith("scheduled retrain; ")
    assert content.params == training_params(training_result, settings, "scheduled retrain")
    assert content.metrics == training_metrics(training_result)
    assert list(content.example.columns)[: len(training_result.model.feature_names_)]


def test_run_content_refuses_an_example_without_the_model_features(
    result_factory: Callable[..., TrainingResult], training_result: TrainingResult, settings: Settings
) -> None:
    broken = result_factory(input_example=training_result.input_example.drop(columns=["seats"]))
    with pytest.raises(ValueError, match="seats"):
        run_content(broken, settings, provenance(broken, "why"))
    empty = result_factory(input_example=training_result.input_example.head(0))
    with pytest.raises(ValueError, match="no rows"):
        run_content(empty, settings, provenance(empty, "why"))


def test_trial_records_map_optuna_states_and_values(
    result_factory: Callable[..., TrainingResult], training_result: TrainingResult
) -> None:
    # given trials with fold values, one pruned and one failed trial without a start time
    trials = training_result.trials.copy().reset_index(drop=True)
    trials["fold_values"] = pd.Series([[0.3, float("nan")]] * len(trials), dtype=object)
    trials.loc[1, "state"] = "PRUNED"
    trials.loc[2, "state"] = "TrialState.FAIL"
    trials.loc[2, "datetime_start"] = pd.NaT
    records = trial_records(result_factory(trials=trials), default_ms=1_000)
    # then one record per trial with its run status, objective and finite fold values only
    assert [r.run_name for r in records] == [f"trial-{int(n):03d}" for n in trials["number"]]
    assert [r.status for r in records[:3]] == ["FINISHED", "KILLED", "FAILED"]
    assert records[2].start_ms == 1_000 and records[2].tags["optuna.state"] == "FAIL"
    first = records[0]
    assert "cv_pr_auc/fold_1" in first.metrics and "cv_pr_auc/fold_2" not in first.metrics
    assert first.end_ms >= first.start_ms and all(isinstance(v, str) for v in first.params.values())


def test_stage_artifacts_writes_the_files_and_refuses_an_existing_folder(
    training_result: TrainingResult, tmp_path: Path
) -> None:
    root = tmp_path / "artifacts"
    stage_artifacts(training_result, root)
    data = json.loads((root / "data" / "training_data.json").read_text())
    assert data["data_hash"] == training_result.data_hash
    assert (root / "evaluation" / "holdout_predictions.parquet").is_file()
    assert (root / "trials" / "trials.csv").is_file() and (root / "feature_catalog.md").is_file()
    with pytest.raises(FileExistsError):
        stage_artifacts(training_result, root)


def test_metric_key_replaces_characters_mlflow_refuses() -> None:
    assert metric_key("xsell", "a&b", "pr_auc") == "xsell/a_b/pr_auc"
