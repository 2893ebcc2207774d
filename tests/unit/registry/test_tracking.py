"""configure_tracking: URI from settings, one experiment with artifacts under home, idempotent, no env leak."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlflow import MlflowClient

from registry.errors import RegistryError
from registry.tracking import configure_tracking, is_local_sqlite, sqlite_path
from xsell.settings import Settings


def test_creates_the_experiment_with_artifacts_under_home(mlflow_settings: Settings) -> None:
    # given an empty store under home, when tracking is configured
    experiment_id = configure_tracking(mlflow_settings)
    # then the experiment exists and keeps its artifacts under home
    experiment = MlflowClient(tracking_uri=mlflow_settings.mlflow_uri).get_experiment(experiment_id)
    assert experiment.name == mlflow_settings.registry.experiment
    expected = (mlflow_settings.mlflow_artifacts_dir / experiment.name).resolve()
    assert experiment.artifact_location == expected.as_uri()
    assert expected.is_dir()


def test_is_idempotent_and_leaves_the_environment_alone(mlflow_settings: Settings) -> None:
    first = configure_tracking(mlflow_settings)
    second = configure_tracking(mlflow_settings)
    assert first == second
    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; it must not stick and redirect other homes
    assert "MLFLOW_TRACKING_URI" not in os.environ
    import mlflow

    assert mlflow.get_tracking_uri() == mlflow_settings.mlflow_uri


def test_restores_a_deleted_experiment(mlflow_settings: Settings) -> None:
    experiment_id = configure_tracking(mlflow_settings)
    client = MlflowClient(tracking_uri=mlflow_settings.mlflow_uri)
    client.delete_experiment(experiment_id)
    assert configure_tracking(mlflow_settings) == experiment_id
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_uses_mlflow_tracking_uri_from_the_environment(
    mlflow_settings: Settings, mlflow_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a team store named by MLFLOW_TRACKING_URI (here another SQLite file)
    team = tmp_path / "team" / "mlflow.db"
    team.parent.mkdir()
    team.write_bytes(mlflow_template.read_bytes())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{team}")
    # when configured, the experiment is created there, not under home
    experiment_id = configure_tracking(mlflow_settings)
    assert MlflowClient(tracking_uri=f"sqlite:///{team}").get_experiment(experiment_id) is not None
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{team}"


def test_an_unsupported_tracking_uri_fails(mlflow_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://host/db")
    with pytest.raises(RegistryError, match="cannot use MLflow tracking URI 'nosuchscheme://host/db'"):
        configure_tracking(mlflow_settings)


def test_sqlite_uri_helpers() -> None:
    assert is_local_sqlite("sqlite:////x/mlflow.db") and not is_local_sqlite("http://mlflow:5000")
    assert sqlite_path("sqlite:////x/mlflow.db") == Path("/x/mlflow.db")
    with pytest.raises(ValueError, match="not a local SQLite URI"):
        sqlite_path("http://mlflow:5000")
