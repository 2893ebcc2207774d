"""Log one training to MLflow and register its model: one parent run, trials, evaluation, one pyfunc.

`log_training` writes, in one parent run of the training experiment: parameters, holdout metrics, one nested
run per Optuna trial plus the trials table, the evaluation plots, the feature catalog, the data window and
snapshot hash, the model card, and the pyfunc (preprocessing, LightGBM and calibration together). The model is
registered as a new version of `settings.registry.model_name`, tagged, and given the challenger alias (and the
champion alias when the model has no champion yet). If anything fails the run ends FAILED, a version created
on the way is deleted again, and the exception propagates.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeGuard, cast

import numpy as np
import pandas as pd

from features.catalog import render_markdown
from registry.model_card import MODEL, day_text, render_model_card, window_text
from registry.plots import (
    plot_calibration,
    plot_cumulative_gains,
    plot_feature_importance,
    plot_precision_recall,
    plot_shap_summary,
)
from registry.pyfunc import (
    MODEL_ARTIFACT,
    build_signature,
    entry_point,
    save_fitted_model,
    string_columns,
    to_model_input,
)
from registry.tracking import configure_tracking, owner_tags
from training.result import TrainingResult
from xsell.faults import fault_point
from xsell.settings import Settings

logger = logging.getLogger(__name__)

#: Distributions the pyfunc needs at load time, pinned to the versions installed here. Listing them spares
#: MLflow ~10 s of requirement inference per log (the xsell package itself must be installed as well).
REQUIREMENTS: tuple[str, ...] = (
    "mlflow",
    "cloudpickle",
    "skops",
    "lightgbm",
    "scikit-learn",
    "scipy",
    "numpy",
    "pandas",
    "pyarrow",
)
#: Artifact path of the logged model inside its MLflow logged-model record.
MODEL_PATH = "model"
_OPTUNA_TO_RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
_BAD_KEY_CHARS = re.compile(r"[^0-9A-Za-z_\-. /:]")


@dataclass(frozen=True)
class RegisteredModel:
    """What `log_training` registered."""

    name: str
    version: int
    run_id: str
    model_uri: str  # models:/NAME/VERSION
    aliases: tuple[str, ...]  # the aliases this version got
    metrics: dict[str, float] = field(default_factory=dict)  # headline metrics (holdout, overall) and CV best
    experiment_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (for flow results and the CLI)."""
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "aliases": list(self.aliases),
            "metrics": dict(self.metrics),
            "experiment_id": self.experiment_id,
        }


@dataclass(frozen=True)
class ExtraLogs:
    """Further records a caller logs with the training run: text artifacts (path -> text), metrics and tags."""

    texts: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def code_version() -> str:
    """Package version plus the git commit of this checkout when there is one: `0.1.0+g1a2b3c4[.dirty]`.

    Uses read-only git commands (no index refresh, no lock), so it is safe beside other git users.
    """
    try:
        package = metadata.version("xsell")
    except metadata.PackageNotFoundError:
        package = "unknown"
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return package
    try:
        sha = _git(root, "rev-parse", "--short=10", "HEAD")
        dirty = _git(root, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return package
    return f"{package}+g{sha}" + (".dirty" if dirty else "")


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()


def pip_requirements() -> list[str]:
    """`REQUIREMENTS` pinned to the installed versions (missing distributions left out)."""
    pinned = []
    for name in REQUIREMENTS:
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pinned


def metric_key(*parts: object) -> str:
    """An MLflow metric/param key from parts joined by '/', characters MLflow refuses replaced by '_'."""
    return "/".join(_BAD_KEY_CHARS.sub("_", str(p)) for p in parts)


def _finite(value: object) -> TypeGuard[numbers.Real]:
    """A finite real number (numpy scalars included; booleans excluded)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_) and math.isfinite(float(value))


def training_params(result: TrainingResult, settings: Settings, reason: str) -> dict[str, str]:
    """Run parameters: data window and hash, plan, outcome of tuning, best hyperparameters (`best.*`) and the
    training settings (`training.*`)."""
    plan = result.plan
    model = result.model
    params: dict[str, Any] = {
        "reason": reason,
        "data_window_start": day_text(result.data_window[0]),
        "data_window_end": day_text(result.data_window[1]),
        "data_hash": result.data_hash,
        "n_rows": result.n_rows,
        "n_positives": result.n_positives,
        "model_layout": result.model_layout,
        "objective_metric": result.objective_metric,
        "calibration_method": model.calibration_method_,
        "products": ",".join(model.products_),
        "n_features": len(model.feature_names_),
        "n_categorical_features": len(model.categorical_features_),
        "n_trials": len(result.trials),
        "cv_folds": len(plan.folds),
        "horizon_days": plan.horizon_days,
        "purge_days": plan.purge_days,
        "split_kind": getattr(plan, "kind", "time"),
        "holdout_start": day_text(plan.holdout_dates[0]) if plan.holdout_dates else "",
        "holdout_end": day_text(plan.holdout_dates[-1]) if plan.holdout_dates else "",
        "final_train_start": day_text(plan.final_train_dates[0]) if plan.final_train_dates else "",
        "final_train_end": day_text(plan.final_train_dates[-1]) if plan.final_train_dates else "",
        "seed": settings.seed,
    }
    extra = result.extra or {}
    params |= {f"optuna.{k}": extra[k] for k in ("study_name", "best_trial", "trials_run") if extra.get(k) is not None}
    params |= {f"best.{metric_key(k)}": v for k, v in result.best_params.items()}
    params |= {f"training.{metric_key(k)}": v for k, v in settings.training.model_dump().items()}
    return {k: str(v)[:6000] for k, v in params.items()}


def training_metrics(result: TrainingResult) -> dict[str, float]:
    """Run metrics: `cv_<objective>` (best mean CV value), holdout `<model>/<product>/<metric>`,
    `<model>/segment/<segment>/<metric>`, `calibration/ece/<product>`, `calibration/candidate_ece/<method>`
    and `<model>/<product>/top_decile_lift`. Non-finite values are left out."""
    metrics: dict[str, Any] = {f"cv_{result.objective_metric}": result.best_value}
    for model, by_product in result.metrics.items():
        for product, values in by_product.items():
            metrics |= {metric_key(model, product, name): value for name, value in values.items()}
    segments = result.segment_metrics
    if not segments.empty:
        value_columns = [c for c in segments.columns if c not in ("model", "segment", "rows", "positives")]
        for row in segments.to_dict("records"):
            model = row.get("model", MODEL)
            metrics |= {metric_key(model, "segment", row["segment"], c): row[c] for c in value_columns}
    metrics |= {metric_key("calibration", "ece", k): v for k, v in result.calibration.ece.items()}
    metrics |= {metric_key("calibration", "candidate_ece", k): v for k, v in result.calibration.candidates.items()}
    metrics |= {
        k: v
        for k, v in _top_decile_lift(result.deciles).items()
        if k.replace("top_decile_lift", "lift_top_decile") not in metrics
    }
    timings = (result.extra or {}).get("timings_s")
    if isinstance(timings, dict):
        metrics |= {metric_key("timing", k): v for k, v in timings.items()}
    return {k: float(v) for k, v in metrics.items() if _finite(v)}


def _top_decile_lift(deciles: pd.DataFrame) -> dict[str, float]:
    if deciles.empty:
        return {}
    out = {}
    for (model, product), rows in deciles.groupby(["model", "product"], sort=True):
        total_rows, total_pos = float(rows["rows"].sum()), float(rows["positives"].sum())
        top = rows[rows["decile"] == rows["decile"].min()]
        if total_pos > 0 and float(top["rows"].sum()) > 0:
            top_rate = float(top["positives"].sum()) / float(top["rows"].sum())
            out[metric_key(model, product, "top_decile_lift")] = top_rate / (total_pos / total_rows)
    return out


def headline_metrics(result: TrainingResult) -> dict[str, float]:
    """The model's overall holdout metrics and its best CV value: the version's summary and tags."""
    overall = result.metrics.get(MODEL, {}).get("overall", {})
    metrics = {name: float(v) for name, v in overall.items() if _finite(v)}
    if _finite(result.best_value):
        metrics[f"cv_{result.objective_metric}"] = float(result.best_value)
    return metrics


def trials_table(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials frame made JSON-safe: datetimes as ISO strings, durations as seconds."""
    table = trials.copy()
    for column in table.columns:
        dtype = table[column].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            table[column] = table[column].map(lambda v: v.isoformat() if pd.notna(v) else None)
        elif pd.api.types.is_timedelta64_dtype(dtype):
            table[column] = table[column].dt.total_seconds()
        elif pd.api.types.is_object_dtype(dtype):
            table[column] = table[column].map(lambda v: v if v is None or isinstance(v, str | int | float) else str(v))
    return table


def log_trial_runs(client: Any, experiment_id: str, parent_run_id: str, result: TrainingResult) -> int:
    """One nested run per trial, named `trial-NNN`, with its parameters, its CV value as
    `cv_<objective>`, its duration and state; returns the number of runs created."""
    from mlflow.entities import Metric, Param
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    objective = f"cv_{result.objective_metric}"
    now_ms = int(time.time() * 1000)
    created = 0
    for row in cast(list[dict[str, Any]], result.trials.to_dict("records")):
        number = int(row.get("number", created))
        state = str(row.get("state", "COMPLETE")).split(".")[-1].upper()
        start_ms, end_ms = _trial_times(row, now_ms)
        run = client.create_run(
            experiment_id,
            start_time=start_ms,
            tags={MLFLOW_PARENT_RUN_ID: parent_run_id, "optuna.state": state, "optuna.trial": str(number)}
            | owner_tags(),
            run_name=f"trial-{number:03d}",
        )
        params = [
            Param(key[len("params_") :], str(value)[:6000])
            for key, value in row.items()
            if str(key).startswith("params_")
            and value is not None
            and not (isinstance(value, float) and math.isnan(value))
        ]
        metrics = []
        value, duration = row.get("value"), row.get("duration_s")
        if _finite(value):
            metrics.append(Metric(objective, float(value), end_ms, 0))
        if _finite(duration):
            metrics.append(Metric("duration_s", float(duration), end_ms, 0))
        folds = row.get("fold_values")
        if isinstance(folds, list | tuple):
            metrics += [
                Metric(f"{objective}/fold_{i}", float(v), end_ms, 0) for i, v in enumerate(folds, 1) if _finite(v)
            ]
        metrics += [
            Metric(metric_key(str(key)[len("user_attrs_") :]), float(value), end_ms, 0)
            for key, value in row.items()
            if str(key).startswith("user_attrs_") and _finite(value)
        ]
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        client.set_terminated(run.info.run_id, _OPTUNA_TO_RUN_STATUS.get(state, "FAILED"), end_time=end_ms)
        created += 1
    return created


def _trial_times(row: dict[str, Any], default_ms: int) -> tuple[int, int]:
    start = row.get("datetime_start")
    if isinstance(start, datetime | pd.Timestamp) and not pd.isna(start):
        start_ms = int(pd.Timestamp(start).timestamp() * 1000)
    else:
        start_ms = default_ms
    duration = row.get("duration_s")
    end_ms = start_ms + int(float(duration) * 1000) if _finite(duration) else start_ms
    return start_ms, end_ms


#: Plot artifact -> function drawing it from a TrainingResult.
PLOTS: dict[str, Callable[[TrainingResult], Any]] = {
    "plots/cumulative_gains.png": lambda r: plot_cumulative_gains(r.holdout),
    "plots/calibration.png": lambda r: plot_calibration(r.calibration),
    "plots/precision_recall.png": lambda r: plot_precision_recall(r.holdout),
    "plots/shap_summary.png": lambda r: plot_shap_summary(r.shap_sample, r.shap_sample_values),
    "plots/feature_importance.png": lambda r: plot_feature_importance(r.feature_importance),
}


def _log_plots(result: TrainingResult) -> list[str]:
    """Log every plot; a plot that fails is reported (warning, run tag) but does not stop the run."""
    import mlflow

    failed = []
    for artifact, draw in PLOTS.items():
        try:
            mlflow.log_figure(draw(result), artifact)
        except Exception:
            logger.warning("could not draw %s; the run is logged without it", artifact, exc_info=True)
            failed.append(artifact)
    return failed


_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+):[^@/\s]+@", re.IGNORECASE)


def redact(payload: Any) -> Any:
    """`payload` with passwords in URLs (`scheme://user:secret@host`) replaced by `***`."""
    if isinstance(payload, str):
        return _URL_PASSWORD.sub(lambda m: f"{m['head']}:***@", payload)
    if isinstance(payload, dict):
        return {k: redact(v) for k, v in payload.items()}
    if isinstance(payload, list | tuple):
        return [redact(v) for v in payload]
    return payload


def _json(payload: Any) -> str:
    return json.dumps(payload, indent=2, default=str) + "\n"


def _stage_artifacts(result: TrainingResult, root: Path) -> None:
    """Write the run's file artifacts (everything but plots, trials table and model card) under `root`."""
    plan = result.plan
    model = result.model
    (root / "data").mkdir(parents=True)
    (root / "evaluation").mkdir()
    (root / "trials").mkdir()
    (root / "feature_catalog.md").write_text(render_markdown(plan.horizon_days), encoding="utf-8")
    data = {
        "data_window": [day_text(v) for v in result.data_window],
        "split_kind": getattr(plan, "kind", "time"),
        "holdout_rows": getattr(plan, "holdout_rows", 0),
        "holdout_positives": getattr(plan, "holdout_positives", 0),
        "data_hash": result.data_hash,
        "n_rows": result.n_rows,
        "n_positives": result.n_positives,
        "horizon_days": plan.horizon_days,
        "purge_days": plan.purge_days,
        "folds": [{"train": list(f.train_dates), "valid": list(f.valid_dates)} for f in plan.folds],
        "final_train_dates": list(plan.final_train_dates),
        "holdout_dates": list(plan.holdout_dates),
        "products": list(model.products_),
        "feature_names": list(model.feature_names_),
        "categorical_features": list(model.categorical_features_),
    }
    (root / "data" / "training_data.json").write_text(_json(data), encoding="utf-8")
    (root / "data" / "split_plan.txt").write_text(plan.describe() + "\n", encoding="utf-8")
    cal = result.calibration
    evaluation = root / "evaluation"
    (evaluation / "metrics.json").write_text(_json(result.metrics), encoding="utf-8")
    (evaluation / "calibration.json").write_text(
        _json({"method": cal.method, "candidates": cal.candidates, "ece": cal.ece}), encoding="utf-8"
    )
    (evaluation / "best_params.json").write_text(_json(result.best_params), encoding="utf-8")
    for name, frame in (
        ("deciles", result.deciles),
        ("segment_metrics", result.segment_metrics),
        ("reliability", cal.reliability),
        ("feature_importance", result.feature_importance),
    ):
        frame.to_csv(evaluation / f"{name}.csv", index=False)
    result.holdout.to_parquet(evaluation / "holdout_predictions.parquet", index=False)
    oof = getattr(result, "oof", None)
    if isinstance(oof, pd.DataFrame) and not oof.empty:
        oof.to_parquet(evaluation / "oof_predictions.parquet", index=False)
    trials_table(result.trials).to_csv(root / "trials" / "trials.csv", index=False)
    if result.extra:
        (root / "extra.json").write_text(_json(redact(result.extra)), encoding="utf-8")


def _validate(result: TrainingResult) -> tuple[pd.DataFrame, list[str]]:
    """Fail before anything is written when the result cannot make a loadable model; return the typed input
    example (its columns are the pyfunc's inputs: the features, plus the product for a pooled model) and the
    names of its string columns."""
    model = result.model
    example = result.input_example
    if not model.feature_names_:
        raise ValueError("the fitted model has no input features")
    missing = [c for c in model.feature_names_ if c not in example.columns]
    if missing:
        raise ValueError(f"the input example lacks model features: {missing}")
    if example.empty:
        raise ValueError("the training result's input example has no rows")
    strings = string_columns(example, model.categorical_features_)
    typed = to_model_input(example, list(example.columns), strings)
    model.predict_proba(typed)  # the typed example must score, or the pyfunc will not
    return typed, strings


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
    from mlflow import MlflowClient

    started = time.perf_counter()
    example, strings = _validate(result)
    name = settings.registry.model_name
    render_model_card(result, model_name=name, version=None, run_id="(pending)", settings=settings)  # fail early
    experiment_id = configure_tracking(settings)
    client = MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)
    version_code = code_version()
    headline = headline_metrics(result)
    run_tags = {
        "reason": reason,
        "data_hash": result.data_hash,
        "code_version": version_code,
        "data_window": window_text(result.data_window),
        "xsell.kind": "training",
    } | owner_tags()
    run_name = f"train-{day_text(result.data_window[1]) or 'rows'}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    with (
        tempfile.TemporaryDirectory(prefix="xsell-mlflow-") as tmp,
        mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name,
            tags=run_tags,
            nested=mlflow.active_run() is not None,
            description=f"{name}: {reason}; training data {run_tags['data_window']}",
        ) as run,
    ):
        run_id = run.info.run_id
        mlflow.log_params(training_params(result, settings, reason))
        mlflow.log_metrics(training_metrics(result))
        mlflow.log_table(trials_table(result.trials), "trials/trials.json")
        fault_point("train.logging")
        if trial_runs:
            t0 = time.perf_counter()
            count = log_trial_runs(client, experiment_id, run_id, result)
            logger.debug("logged %d nested trial runs in %.2f s", count, time.perf_counter() - t0)
        failed_plots = _log_plots(result)
        if failed_plots:
            mlflow.set_tag("missing_plots", ",".join(failed_plots))
        staging = Path(tmp) / "artifacts"
        _stage_artifacts(result, staging)
        mlflow.log_artifacts(str(staging))
        if extra is not None:
            for artifact, text in extra.texts.items():
                mlflow.log_text(text, artifact)
            mlflow.log_metrics({k: float(v) for k, v in extra.metrics.items() if _finite(v)})
            mlflow.set_tags(extra.tags)
        model_file = save_fitted_model(result.model, Path(tmp) / "model")
        model_info = mlflow.pyfunc.log_model(
            name=MODEL_PATH,
            python_model=str(entry_point()),
            artifacts={MODEL_ARTIFACT: str(model_file)},
            signature=build_signature(example, strings),
            input_example=example,
            pip_requirements=pip_requirements(),
            model_config={"input_columns": list(example.columns), "string_columns": strings},
            metadata={
                "input_columns": list(example.columns),
                "feature_names": list(result.model.feature_names_),
                "categorical_features": list(result.model.categorical_features_),
                "products": list(result.model.products_),
                "calibration_method": result.model.calibration_method_,
                "data_hash": result.data_hash,
                "horizon_days": result.plan.horizon_days,
            },
        )
        version_tags = {
            "data_hash": result.data_hash,
            "code_version": version_code,
            "reason": reason,
            "data_window": run_tags["data_window"],
            "model_layout": result.model_layout,
            "calibration_method": result.model.calibration_method_,
        } | {f"metric.{k}": f"{v:.6g}" for k, v in headline.items()}
        summary = ", ".join(f"{k} {v:.4f}" for k, v in headline.items() if k not in ("rows", "positives"))
        version, previous = _register(client, name, model_info, run_id, version_tags, f"{reason}; {summary}")
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
        metrics=headline,
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
