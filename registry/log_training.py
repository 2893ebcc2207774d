"""Log one training to MLflow and register its model: one parent run, trials, evaluation, one pyfunc.

`log_training` writes, in one parent run of the training experiment: parameters, holdout metrics, one nested
run per Optuna trial plus the trials table, the evaluation plots, the feature catalog, the data window and
snapshot hash, the model card, and the pyfunc (preprocessing, LightGBM and calibration together). The model is
registered as a new version of `settings.registry.model_name`, tagged, and given the challenger alias (and the
champion alias when the model has no champion yet). If anything fails the run ends FAILED, a version created
on the way is deleted again, and the exception propagates.

What is logged is decided elsewhere, as plain data: `registry.run_content` (params, metrics, tags, trials, plots,
files) and `registry.provenance` (code version, data fingerprint, lineage). This module is the side-effecting
part: the MLflow run, the nested trial runs and the registration.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from registry.client import registry_client
from registry.model_card import render_model_card
from registry.model_input import build_signature
from registry.models import RegisteredModel
from registry.provenance import model_metadata, pip_requirements, provenance
from registry.pyfunc import MODEL_ARTIFACT, entry_point, save_fitted_model
from registry.run_content import PLOTS, ExtraLogs, finite, run_content, stage_artifacts, trial_records
from registry.tracking import configure_tracking, owner_tags
from training.result import TrainingResult
from xsell import progress
from xsell.faults import fault_point
from xsell.settings import Settings

__all__ = ["MODEL_PATH", "log_training", "log_trial_runs"]

logger = logging.getLogger(__name__)

#: Artifact path of the logged model inside its MLflow logged-model record.
MODEL_PATH = "model"


def log_trial_runs(client: Any, experiment_id: str, parent_run_id: str, result: TrainingResult) -> int:
    """One nested run per trial (`registry.run_content.trial_records`); returns the number of runs created."""
    from mlflow.entities import Metric, Param
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    records = trial_records(result, int(time.time() * 1000))
    for trial in records:
        run = client.create_run(
            experiment_id,
            start_time=trial.start_ms,
            tags={MLFLOW_PARENT_RUN_ID: parent_run_id} | trial.tags | owner_tags(),
            run_name=trial.run_name,
        )
        params = [Param(key, value) for key, value in trial.params.items()]
        metrics = [Metric(key, value, trial.end_ms, 0) for key, value in trial.metrics.items()]
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        client.set_terminated(run.info.run_id, trial.status, end_time=trial.end_ms)
        progress.advance("registry.trials", description=trial.run_name)
    return len(records)


def _log_plots(result: TrainingResult) -> list[str]:
    """Log every plot; a plot that fails is reported (warning, run tag) but does not stop the run."""
    import mlflow

    failed = []
    for artifact, draw in PLOTS.items():
        try:
            mlflow.log_figure(draw(result), artifact)
            progress.advance("registry.plots", description=artifact)
        except Exception:
            logger.warning("could not draw %s; the run is logged without it", artifact, exc_info=True)
            failed.append(artifact)
    return failed


def log_training(
    result: TrainingResult,
    settings: Settings,
    *,
    reason: str = "scheduled retrain",
    trial_runs: bool = True,
    extra: ExtraLogs | None = None,
) -> RegisteredModel:
    """Log `result` as one MLflow run and register its model as a new version with the challenger alias (and
    the champion alias when the model has none yet); return what was registered.

    `trial_runs=False` logs the trials table only (no nested run per trial). `extra` adds text artifacts,
    metrics and tags to the run (the serving layer's tier policy and adoption path). Atomic in spirit: on any failure
    the run is marked FAILED, a model version created by this call is deleted (aliases it moved are put back)
    and the exception propagates.
    """
    import mlflow

    started = time.perf_counter()
    with progress.step("registry.content", "preparing the MLflow run (content, model card)"):
        content = run_content(result, settings, provenance(result, reason))  # refuses an unloadable model
        example, strings = content.example, content.string_columns
        name = settings.registry.model_name
        render_model_card(result, model_name=name, version=None, run_id="(pending)", settings=settings)  # fail early
        experiment_id = configure_tracking(settings)
        client = registry_client(settings)
    with (
        tempfile.TemporaryDirectory(prefix="xsell-mlflow-") as tmp,
        mlflow.start_run(
            experiment_id=experiment_id,
            run_name=content.run_name,
            tags=content.tags | owner_tags(),
            nested=mlflow.active_run() is not None,
            description=f"{name}: {content.description}",
        ) as run,
    ):
        run_id = run.info.run_id
        mlflow.log_params(content.params)
        mlflow.log_metrics(content.metrics)
        mlflow.log_table(content.trials, "trials/trials.json")
        fault_point("train.logging")
        if trial_runs:
            t0 = time.perf_counter()
            with progress.step("registry.trials", "logging the trials as nested MLflow runs", len(result.trials)):
                count = log_trial_runs(client, experiment_id, run_id, result)
            logger.debug("logged %d nested trial runs in %.2f s", count, time.perf_counter() - t0)
        with progress.step("registry.plots", "logging plots", total=len(PLOTS)):
            failed_plots = _log_plots(result)
        if failed_plots:
            mlflow.set_tag("missing_plots", ",".join(failed_plots))
        staging = Path(tmp) / "artifacts"
        with progress.step("registry.artifacts", "logging artifacts"):
            stage_artifacts(result, staging)
            mlflow.log_artifacts(str(staging))
        if extra is not None:
            for artifact, text in extra.texts.items():
                mlflow.log_text(text, artifact)
            mlflow.log_metrics({k: float(v) for k, v in extra.metrics.items() if finite(v)})
            mlflow.set_tags(extra.tags)
        with progress.step("registry.model", "logging the model (signature, input example, requirements)"):
            model_file = save_fitted_model(result.model, Path(tmp) / "model")
            model_info = mlflow.pyfunc.log_model(
                name=MODEL_PATH,
                python_model=str(entry_point()),
                artifacts={MODEL_ARTIFACT: str(model_file)},
                signature=build_signature(example, strings),
                input_example=example,
                pip_requirements=pip_requirements(),
                model_config={"input_columns": list(example.columns), "string_columns": strings},
                metadata=model_metadata(result, list(example.columns)),
            )
        with progress.step("registry.register", "registering the model version"):
            version, previous = _register(
                client, name, model_info, run_id, content.version_tags, content.version_description
            )
        fault_point("train.registration")
        try:
            card = render_model_card(result, model_name=name, version=version, run_id=run_id, settings=settings)
            mlflow.log_text(card, "model_card.md")
            aliases = [settings.registry.challenger_alias]
            if settings.registry.champion_alias not in previous:
                aliases.append(settings.registry.champion_alias)
            for alias in aliases:
                client.set_registered_model_alias(name, alias, str(version))
            mlflow.set_tags({"model_name": name, "model_version": str(version), "aliases": ",".join(aliases)})
        except BaseException:
            _unregister(client, name, version, previous)
            raise
    registered = RegisteredModel(
        name=name,
        version=version,
        run_id=run_id,
        model_uri=f"models:/{name}/{version}",
        aliases=tuple(aliases),
        metrics=content.headline,
        experiment_id=experiment_id,
    )
    logger.info(
        "logged training run %s and registered %s version %d (%s) in %.1f s",
        run_id,
        name,
        version,
        ", ".join(aliases),
        time.perf_counter() - started,
    )
    return registered


def _register(
    client: Any, name: str, model_info: Any, run_id: str, tags: dict[str, str], description: str
) -> tuple[int, dict[str, str]]:
    """Create the registered model if needed and a new version of it; return the version and the aliases the
    model had before (alias -> version)."""
    from mlflow.exceptions import MlflowException

    try:
        registered = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        try:
            registered = client.create_registered_model(
                name, description="xsell cross-sell propensity: calibrated probability per (account, product)"
            )
            logger.info("created registered model %r", name)
        except MlflowException as create_exc:  # created meanwhile by another process
            if create_exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            registered = client.get_registered_model(name)
    previous = dict(registered.aliases or {})
    created = client.create_model_version(
        name,
        source=model_info.model_uri,
        run_id=run_id,
        tags=tags,
        description=description,
        model_id=model_info.model_id,
    )
    return int(created.version), previous


def _unregister(client: Any, name: str, version: int, previous: dict[str, str]) -> None:
    """Best-effort undo of `_register`: delete the new version, put back aliases it had taken."""
    try:
        client.delete_model_version(name, str(version))
        for alias, old_version in previous.items():
            client.set_registered_model_alias(name, alias, str(old_version))
        logger.warning("registration of %s version %d failed; the version was deleted", name, version)
    except Exception:
        logger.error("could not undo the registration of %s version %d", name, version, exc_info=True)
