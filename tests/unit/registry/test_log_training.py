"""log_training: one parent run with params, metrics, nested trials, plots and documents; one registered
version with tags and aliases; a failed registration leaves a FAILED run and no version."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow import MlflowClient

from registry.log_training import log_training
from registry.models import RegisteredModel, model_versions
from registry.provenance import code_version
from registry.run_content import PLOTS
from training.result import TrainingResult
from xsell.settings import Settings

TwoVersions = tuple[Settings, RegisteredModel, RegisteredModel]
EXPECTED_ARTIFACTS = {
    "model_card.md",
    "feature_catalog.md",
    "plots/cumulative_gains.png",
    "plots/calibration.png",
    "plots/precision_recall.png",
    "plots/shap_summary.png",
    "plots/feature_importance.png",
    "trials/trials.json",
    "trials/trials.csv",
    "data/training_data.json",
    "data/split_plan.txt",
    "evaluation/metrics.json",
    "evaluation/calibration.json",
    "evaluation/best_params.json",
    "evaluation/deciles.csv",
    "evaluation/segment_metrics.csv",
    "evaluation/reliability.csv",
    "evaluation/feature_importance.csv",
    "evaluation/holdout_predictions.parquet",
}


def _client(settings: Settings) -> MlflowClient:
    return MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def _children(client: MlflowClient, settings: Settings, parent: str) -> list[Any]:
    experiment = client.get_experiment_by_name(settings.registry.experiment)
    assert experiment is not None
    return client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")


def test_first_version_gets_champion_and_challenger(two_versions: TwoVersions) -> None:
    settings, first, _ = two_versions
    assert first.name == settings.registry.model_name == "xsell-propensity"
    assert first.version == 1 and first.model_uri == "models:/xsell-propensity/1"
    assert set(first.aliases) == {"champion", "challenger"}


def test_second_version_gets_only_challenger(two_versions: TwoVersions) -> None:
    settings, first, second = two_versions
    assert second.version == 2 and second.aliases == ("challenger",)
    aliases = _client(settings).get_registered_model(settings.registry.model_name).aliases
    assert {alias: int(v) for alias, v in aliases.items()} == {"champion": 1, "challenger": 2}
    assert first.run_id != second.run_id


def test_version_tags_hold_data_hash_code_version_and_metrics(
    two_versions: TwoVersions, training_result: TrainingResult
) -> None:
    settings, first, _ = two_versions
    tags = _client(settings).get_model_version(first.name, "1").tags
    assert tags["data_hash"] == training_result.data_hash
    assert tags["code_version"] == code_version() and tags["code_version"].startswith("0.")
    assert float(tags["metric.pr_auc"]) == pytest.approx(
        training_result.metrics["xsell"]["overall"]["pr_auc"], rel=1e-5
    )
    assert float(tags["metric.cv_pr_auc"]) == pytest.approx(training_result.best_value)
    assert tags["reason"] == "first training"
    assert _client(settings).get_model_version(first.name, "2").tags["data_hash"] == "f" * 64
    assert first.metrics["pr_auc"] == pytest.approx(training_result.metrics["xsell"]["overall"]["pr_auc"])


def test_run_holds_params_metrics_and_tags(two_versions: TwoVersions, training_result: TrainingResult) -> None:
    settings, first, _ = two_versions
    run = _client(settings).get_run(first.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["data_window_start"] == str(training_result.data_window[0])
    assert params["data_window_end"] == str(training_result.data_window[1])
    assert params["data_hash"] == training_result.data_hash
    assert params["best.num_leaves"] == "7" and params["training.trials"] == str(settings.training.trials)
    assert params["n_trials"] == "6" and params["calibration_method"] == "isotonic"
    metrics = run.data.metrics
    for key in (
        "cv_pr_auc",
        "xsell/overall/pr_auc",
        "scorecard/analytics/roc_auc",
        "xsell/segment/smb/pr_auc",
        "calibration/ece/overall",
        "calibration/candidate_ece/platt",
        "xsell/overall/top_decile_lift",
    ):
        assert key in metrics, key
    assert run.data.tags["data_hash"] == training_result.data_hash
    assert run.data.tags["model_version"] == "1" and "missing_plots" not in run.data.tags


def test_run_holds_every_artifact(two_versions: TwoVersions) -> None:
    settings, first, _ = two_versions
    client = _client(settings)
    assert _artifacts(client, first.run_id) >= EXPECTED_ARTIFACTS
    card = Path(client.download_artifacts(first.run_id, "model_card.md")).read_text()
    assert "version 1" in card and first.run_id in card
    data = json.loads(Path(client.download_artifacts(first.run_id, "data/training_data.json")).read_text())
    assert data["data_window"] == ["2025-01-28", "2025-06-28"] and len(data["data_hash"]) == 64


def test_trials_table_has_one_row_per_trial(two_versions: TwoVersions, training_result: TrainingResult) -> None:
    settings, first, second = two_versions
    for registered in (first, second):
        path = _client(settings).download_artifacts(registered.run_id, "trials/trials.json")
        table = json.loads(Path(path).read_text())
        assert len(table["data"]) == len(training_result.trials)
        assert "params_num_leaves" in table["columns"]


def test_one_nested_run_per_trial_with_params_value_and_state(
    two_versions: TwoVersions, training_result: TrainingResult
) -> None:
    settings, first, _ = two_versions
    runs = {r.info.run_name: r for r in _children(_client(settings), settings, first.run_id)}
    assert sorted(runs) == [f"trial-{n:03d}" for n in range(6)]
    assert runs["trial-001"].data.params == {"num_leaves": "15", "learning_rate": "0.05", "min_child_samples": "10.0"}
    assert runs["trial-001"].data.metrics["cv_pr_auc"] == pytest.approx(0.35)
    assert "min_child_samples" not in runs["trial-004"].data.params  # NaN: not sampled in that trial
    assert [runs[f"trial-{n:03d}"].info.status for n in (0, 4, 5)] == ["FINISHED", "KILLED", "FAILED"]


def test_trial_runs_can_be_left_out(two_versions: TwoVersions) -> None:
    settings, _, second = two_versions
    assert _children(_client(settings), settings, second.run_id) == []


def test_failed_registration_fails_the_run_and_removes_the_version(
    mlflow_settings: Settings, training_result: TrainingResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a registry that refuses aliases
    def refuse(self: MlflowClient, name: str, alias: str, version: str) -> None:
        raise RuntimeError("registry unavailable")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", refuse)
    # when logging, then the error propagates
    with pytest.raises(RuntimeError, match="registry unavailable"):
        log_training(training_result, mlflow_settings, trial_runs=False)
    # and the run is FAILED, and no version is left behind
    client = _client(mlflow_settings)
    experiment = client.get_experiment_by_name(mlflow_settings.registry.experiment)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert model_versions(mlflow_settings) == []


def test_an_unusable_input_example_fails_before_any_run(
    mlflow_settings: Settings, result_factory: Callable[..., TrainingResult], training_result: TrainingResult
) -> None:
    broken = result_factory(input_example=training_result.input_example.drop(columns=["seats"]))
    with pytest.raises(ValueError, match="seats"):
        log_training(broken, mlflow_settings)
    client = _client(mlflow_settings)
    experiment = client.get_experiment_by_name(mlflow_settings.registry.experiment)
    assert experiment is None or client.search_runs([experiment.experiment_id]) == []


def test_a_failing_plot_is_reported_not_fatal(
    mlflow_settings: Settings, training_result: TrainingResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(result: TrainingResult) -> None:
        raise KeyError("no such column")

    monkeypatch.setitem(PLOTS, "plots/shap_summary.png", broken)
    registered = log_training(training_result, mlflow_settings, trial_runs=False)
    run = _client(mlflow_settings).get_run(registered.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["missing_plots"] == "plots/shap_summary.png"


def test_registered_model_to_dict_is_plain(two_versions: TwoVersions) -> None:
    _, first, _ = two_versions
    payload = first.to_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert payload["model_uri"] == "models:/xsell-propensity/1" and payload["version"] == 1


def test_real_style_extra_and_trials_are_logged(
    mlflow_settings: Settings, result_factory: Callable[..., TrainingResult], training_result: TrainingResult
) -> None:
    # given trials with per-fold values and nested objects, and an extra dict with timings and a secret
    trials = training_result.trials.copy()
    trials["fold_values"] = pd.Series([[0.3, 0.32]] * 6, dtype=object)
    trials["rounds"] = pd.Series([{"*": 25}] * 6, dtype=object)
    extra = {"timings_s": {"tune_s": 1.5}, "optuna_storage": "postgresql://u:pw@db/o", "study_name": "s1"}
    registered = log_training(result_factory(trials=trials, extra=extra), mlflow_settings)
    client = _client(mlflow_settings)
    run = client.get_run(registered.run_id)
    assert run.data.metrics["timing/tune_s"] == 1.5 and run.data.params["optuna.study_name"] == "s1"
    saved = Path(client.download_artifacts(registered.run_id, "extra.json")).read_text()
    assert "pw@" not in saved and "u:***@db" in saved
    (child, *_) = _children(client, mlflow_settings, registered.run_id)
    assert child.data.metrics["cv_pr_auc/fold_2"] == 0.32
