"""MLflow tracking set-up: the tracking URI from settings and the training experiment, created once."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from registry.errors import RegistryError
from xsell.settings import Settings

logger = logging.getLogger(__name__)

_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
#: MLflow prints progress bars when it copies artifacts; off unless the user asked for them.
_QUIET_DEFAULTS = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def is_local_sqlite(uri: str) -> bool:
    """True for an embedded SQLite store (`sqlite:///...`), the default under the xsell home."""
    return uri.startswith("sqlite:///")


def sqlite_path(uri: str) -> Path:
    """File of a `sqlite:///...` URI."""
    if not is_local_sqlite(uri):
        raise ValueError(f"not a local SQLite URI: {uri}")
    return Path(uri.removeprefix("sqlite:///"))


def use_tracking_uri(uri: str) -> None:
    """Point MLflow's tracking and registry clients at `uri` for this process.

    `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI (for subprocesses); the variable is put back
    as it was, so that `Settings.mlflow_uri` keeps meaning "the environment, else SQLite under home" and a
    later call with another home is not silently redirected to this store.
    """
    import mlflow

    before = {key: os.environ.get(key) for key in _URI_ENV}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def configure_tracking(settings: Settings) -> str:
    """Set the tracking URI from `settings` and make sure the training experiment exists; return its id.

    With the embedded SQLite store the experiment keeps its artifacts under
    `settings.mlflow_artifacts_dir/<experiment>`; with a tracking server the server decides. Idempotent:
    an existing experiment is reused (and restored if it was deleted). RegistryError names a URI MLflow
    cannot use.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    for key, value in _QUIET_DEFAULTS.items():
        os.environ.setdefault(key, value)
    uri = settings.mlflow_uri
    artifact_location: str | None = None
    if is_local_sqlite(uri):
        sqlite_path(uri).parent.mkdir(parents=True, exist_ok=True)
        artifacts = (settings.mlflow_artifacts_dir / settings.registry.experiment).resolve()
        artifacts.mkdir(parents=True, exist_ok=True)
        artifact_location = artifacts.as_uri()
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    except MlflowException as exc:
        raise RegistryError(f"cannot use MLflow tracking URI {uri!r}: {exc.message}") from exc
    use_tracking_uri(uri)
    name = settings.registry.experiment
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            experiment_id = client.create_experiment(
                name,
                artifact_location=artifact_location,
                tags={"mlflow.note.content": "xsell cross-sell propensity: one parent run per training"},
            )
        except MlflowException:
            # another process may have created it between the lookup and the create
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
        else:
            logger.info("created MLflow experiment %r (id %s) at %s", name, experiment_id, uri)
            return experiment_id
    if experiment.lifecycle_stage == "deleted":
        logger.warning("MLflow experiment %r was deleted; restoring it", name)
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id
