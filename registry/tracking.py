"""MLflow tracking set-up: the tracking URI from settings and the training experiment, created once; runs left
`RUNNING` by a process that died (`kill -9` while logging) are marked `FAILED` the next time tracking is set up."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from registry.audit import EventDraft, record_events
from registry.client import is_local_sqlite, registry_client, sqlite_path, use_tracking_uri
from xsell.reaper import process_started
from xsell.settings import Settings

logger = logging.getLogger(__name__)

#: Run tags naming the process that owns a run while it is RUNNING (pid, host, and the pid's start time).
OWNER_PID_TAG, OWNER_HOST_TAG, OWNER_STARTED_TAG = "xsell.owner_pid", "xsell.owner_host", "xsell.owner_started"
#: Tag set on a run marked FAILED because its owner died.
STALE_TAG = "xsell.failed_reason"
#: MLflow prints progress bars when it copies artifacts; off unless the user asked for them.
_QUIET_DEFAULTS = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def configure_tracking(settings: Settings) -> str:
    """Set the tracking URI from `settings` and make sure the training experiment exists; return its id.

    With the embedded SQLite store the experiment keeps its artifacts under
    `settings.mlflow_artifacts_dir/<experiment>`; with a tracking server the server decides. Idempotent:
    an existing experiment is reused (and restored if it was deleted). Runs of the experiment left RUNNING by a
    process that is gone are marked FAILED (`fail_stale_runs`). RegistryError names a URI MLflow cannot use.
    """
    for key, value in _QUIET_DEFAULTS.items():
        os.environ.setdefault(key, value)
    uri = settings.mlflow_uri
    artifact_location: str | None = None
    if is_local_sqlite(uri):
        sqlite_path(uri).parent.mkdir(parents=True, exist_ok=True)
        artifacts = (settings.mlflow_artifacts_dir / settings.registry.experiment).resolve()
        artifacts.mkdir(parents=True, exist_ok=True)
        artifact_location = artifacts.as_uri()
    client = registry_client(settings)
    use_tracking_uri(uri)
    experiment_id = _experiment(client, settings.registry.experiment, artifact_location)
    fail_stale_runs(settings, client, experiment_id)
    return experiment_id


def _experiment(client: Any, name: str, artifact_location: str | None) -> str:
    """The id of experiment `name`, created (or restored) when needed."""
    from mlflow.exceptions import MlflowException

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
            logger.info("created MLflow experiment %r (id %s)", name, experiment_id)
            return str(experiment_id)
    if experiment.lifecycle_stage == "deleted":
        logger.warning("MLflow experiment %r was deleted; restoring it", name)
        client.restore_experiment(experiment.experiment_id)
    return str(experiment.experiment_id)


def owner_tags() -> dict[str, str]:
    """Tags naming this process as the owner of a run it starts (read by `fail_stale_runs`)."""
    pid = os.getpid()
    return {
        OWNER_PID_TAG: str(pid),
        OWNER_HOST_TAG: socket.gethostname(),
        OWNER_STARTED_TAG: process_started(pid) or "",
    }


def owner_gone(tags: dict[str, str]) -> bool:
    """True when the run's owner ran on this host and that process no longer exists (its pid is free or reused).

    Runs without owner tags, or owned on another host, are never judged gone: no living owner can be ruled out.
    """
    pid, host = tags.get(OWNER_PID_TAG, ""), tags.get(OWNER_HOST_TAG)
    if not pid.isdigit() or host != socket.gethostname():
        return False
    started = process_started(int(pid))
    return started is None or started != tags.get(OWNER_STARTED_TAG, started)


def fail_stale_runs(settings: Settings, client: Any, experiment_id: str) -> list[str]:
    """Mark `FAILED` the RUNNING runs of the experiment whose owner process is gone, and delete the model versions
    such a run registered that hold no alias (a registration cut short), each deletion recorded in the audit log
    (`stale_version_deleted`); return the run ids marked."""
    runs = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000)
    stale = [run for run in runs if owner_gone(dict(run.data.tags))]
    for run in stale:
        tags = run.data.tags
        reason = f"owner process {tags[OWNER_PID_TAG]} on {tags[OWNER_HOST_TAG]} ended without finishing the run"
        client.set_tag(run.info.run_id, STALE_TAG, reason)
        client.set_terminated(run.info.run_id, "FAILED")
        logger.warning("marked run %s (%s) FAILED: %s", run.info.run_id, run.info.run_name, reason)
        _drop_unfinished_versions(settings, client, run.info.run_id, reason)
    return [run.info.run_id for run in stale]


def _drop_unfinished_versions(settings: Settings, client: Any, run_id: str, reason: str) -> None:
    """Delete the model versions registered by a dead run that hold no alias (nothing serves them), recording
    each in the audit log first; a version whose deletion cannot be recorded is kept (and logged)."""
    for found in client.search_model_versions(f"run_id = '{run_id}'"):
        version = client.get_model_version(found.name, found.version)  # search results carry no aliases
        if version.aliases:
            continue
        draft = EventDraft(
            "stale_version_deleted",
            from_version=int(version.version),
            reason=f"registered by training run {run_id}, which never finished: {reason}",
            evidence={"run_id": run_id, "model_name": version.name, "version": int(version.version)},
            outcome=f"deleted {version.name} version {version.version} (it held no alias)",
        )
        try:  # tag=False: the version is about to go, there is nothing to tag
            record_events(settings, [draft], tag=False)
        except Exception:
            logger.error(
                "kept %s version %s of dead run %s: its deletion could not be recorded in the audit log",
                version.name,
                version.version,
                run_id,
                exc_info=True,
            )
            continue
        client.delete_model_version(version.name, version.version)
        logger.warning("deleted %s version %s: its training run never finished", version.name, version.version)
