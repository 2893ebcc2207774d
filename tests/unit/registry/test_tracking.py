"""configure_tracking: URI from settings, one experiment with artifacts under home, idempotent, no env leak."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlflow import MlflowClient

from registry.audit import read_events, verify_audit_log
from registry.errors import RegistryError
from registry.tracking import configure_tracking
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


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_runs_left_running_by_a_dead_process_are_marked_failed(mlflow_settings: Settings) -> None:
    from registry.tracking import OWNER_PID_TAG, STALE_TAG, fail_stale_runs, owner_tags

    # given four RUNNING runs: one whose owner died, one owned by this (living) process, one with no owner tags
    # and one owned on another host; and two versions registered by the dead run, one holding an alias
    experiment_id = configure_tracking(mlflow_settings)
    client = MlflowClient(tracking_uri=mlflow_settings.mlflow_uri, registry_uri=mlflow_settings.mlflow_uri)
    dead = client.create_run(experiment_id, tags=owner_tags() | {OWNER_PID_TAG: str(_dead_pid())})
    mine = client.create_run(experiment_id, tags=owner_tags())
    untagged = client.create_run(experiment_id)
    elsewhere = client.create_run(
        experiment_id, tags=owner_tags() | {"xsell.owner_host": "another-host", OWNER_PID_TAG: str(_dead_pid())}
    )
    client.create_registered_model("m")
    for _ in range(2):
        client.create_model_version("m", source=f"{dead.info.artifact_uri}/model", run_id=dead.info.run_id)
    client.set_registered_model_alias("m", "champion", "1")
    # when the next start sets up tracking
    marked = fail_stale_runs(mlflow_settings, client, experiment_id)
    # then only the dead owner's run is FAILED, with the reason; its version without an alias is deleted
    assert marked == [dead.info.run_id]
    assert client.get_run(dead.info.run_id).info.status == "FAILED"
    assert "ended without finishing" in client.get_run(dead.info.run_id).data.tags[STALE_TAG]
    for run in (mine, untagged, elsewhere):
        assert client.get_run(run.info.run_id).info.status == "RUNNING"
    assert [str(v.version) for v in client.search_model_versions("name = 'm'")] == ["1"]
    # and the deletion is in the audit log, naming the run and the version
    (event,) = read_events(mlflow_settings)
    assert event.action == "stale_version_deleted" and event.from_version == 2 and event.to_version is None
    assert event.evidence == {"run_id": dead.info.run_id, "model_name": "m", "version": 2}
    assert verify_audit_log(mlflow_settings) == []
    # and a second pass finds nothing more to do
    assert fail_stale_runs(mlflow_settings, client, experiment_id) == []
    assert len(read_events(mlflow_settings)) == 1


def test_a_stale_version_is_kept_when_its_deletion_cannot_be_recorded(
    mlflow_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry import tracking
    from registry.tracking import OWNER_PID_TAG, fail_stale_runs, owner_tags

    # given a dead run that registered a version without an alias, and an audit log that cannot be written
    experiment_id = configure_tracking(mlflow_settings)
    client = MlflowClient(tracking_uri=mlflow_settings.mlflow_uri, registry_uri=mlflow_settings.mlflow_uri)
    dead = client.create_run(experiment_id, tags=owner_tags() | {OWNER_PID_TAG: str(_dead_pid())})
    client.create_registered_model("m")
    client.create_model_version("m", source=f"{dead.info.artifact_uri}/model", run_id=dead.info.run_id)

    def locked(*args: object, **kwargs: object) -> None:
        raise RuntimeError("cannot open warehouse: locked")

    monkeypatch.setattr(tracking, "record_events", locked)
    # when the stale run is found, then the run is FAILED but the unrecorded deletion does not happen
    assert fail_stale_runs(mlflow_settings, client, experiment_id) == [dead.info.run_id]
    assert client.get_run(dead.info.run_id).info.status == "FAILED"
    assert [str(v.version) for v in client.search_model_versions("name = 'm'")] == ["1"]
    assert read_events(mlflow_settings) == []


def test_a_reused_pid_is_not_taken_for_the_owner() -> None:
    from registry.tracking import OWNER_STARTED_TAG, owner_gone, owner_tags

    tags = owner_tags()
    assert not owner_gone(tags)
    assert owner_gone(tags | {OWNER_STARTED_TAG: "1"})  # same pid, another start time: not the owner
    assert not owner_gone({})
