"""Real training, real registry: a generated export is consolidated, trained on with 5 Optuna trials, and the
result is logged and registered twice; aliases, tags and the pyfunc round trip are checked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow import MlflowClient

from features.store import connect_warehouse
from ingest.pipeline import consolidate_raw
from registry.log_training import log_training
from registry.models import RegisteredModel, alias_uri, load_model, model_versions
from synth import generate_raw
from tests.unit.registry.factories import QUIET
from training.dataset import load_training_frame
from training.pipeline import train_propensity
from training.result import TrainingResult
from xsell.settings import ENV_PREFIX, Settings, load_settings

Trained = tuple[Settings, Any, TrainingResult, RegisteredModel, RegisteredModel]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    # given a small generated export, consolidated, and its matured snapshots
    root = tmp_path_factory.mktemp("registry-training")
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
            patch.delenv(name)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("MLFLOW_REGISTRY_URI", raising=False)
        for key, value in QUIET.items():
            patch.setenv(key, value)
        settings = load_settings(
            home=root / "home",
            **{
                "generator.accounts": 200,
                "generator.start": "2024-01",
                "generator.end": "2025-12",
                "ingest.gate.enabled": False,
                "ingest.duckdb_memory_limit": "1GB",
                "training.trials": 5,
                "training.n_jobs": 1,
                "training.num_threads": 2,
            },  # type: ignore[arg-type]
        )
        generate_raw(root / "raw", settings.generator, seed=7)
        consolidate_raw(root / "raw", settings)
        con = connect_warehouse(settings)
        try:
            frame = load_training_frame(con, settings)
        finally:
            con.close()
        # when trained with 5 trials and logged twice
        result = train_propensity(frame, settings)
        first = log_training(result, settings, reason="integration: first")
        second = log_training(result, settings, reason="integration: second")
        yield settings, frame, result, first, second


def test_two_registrations_move_only_the_challenger(trained: Trained) -> None:
    settings, _, _, first, second = trained
    assert (first.version, second.version) == (1, 2)
    assert set(first.aliases) == {"champion", "challenger"} and second.aliases == ("challenger",)
    versions = {v.version: v for v in model_versions(settings)}
    assert versions[1].aliases == ("champion",) and versions[2].aliases == ("challenger",)


def test_versions_are_tagged_and_runs_hold_trials(trained: Trained) -> None:
    settings, _, result, first, _ = trained
    client = MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)
    tags = client.get_model_version(settings.registry.model_name, "1").tags
    assert tags["data_hash"] == result.data_hash and tags["code_version"]
    assert float(tags["metric.pr_auc"]) == pytest.approx(result.metrics["xsell"]["overall"]["pr_auc"], rel=1e-5)
    experiment = client.get_experiment_by_name(settings.registry.experiment)
    assert experiment is not None
    children = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{first.run_id}'")
    assert len(children) == len(result.trials) == 5
    names = {a.path for a in client.list_artifacts(first.run_id, "plots")}
    assert "plots/shap_summary.png" in names and len(names) == 5


def test_champion_scores_like_the_trained_model(trained: Trained) -> None:
    settings, frame, result, _, _ = trained
    champion = load_model(alias_uri(settings), settings)
    rows = frame.sample(300, random_state=3)
    # feature rows straight from the warehouse (keys, label, nullable ints) score through the registered pyfunc
    np.testing.assert_allclose(champion.predict_proba(rows), result.model.predict_proba(rows), rtol=1e-9)
    reasons = champion.predict(rows.head(5), reasons=True)
    assert {"propensity", "reason_1", "reason_2", "reason_3"} <= set(reasons.columns)


def test_store_lives_under_home(trained: Trained) -> None:
    settings, *_ = trained
    assert Path(settings.home, "mlflow.db").is_file()
    assert any((settings.mlflow_artifacts_dir / settings.registry.experiment).iterdir())
