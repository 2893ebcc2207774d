"""What one training run logs, as plain typed data: parameters, metrics, tags, trials, plots and file artifacts.

Nothing here talks to MLflow. `run_content` turns a `TrainingResult` into a `RunContent` (names, tags, params,
metrics, the trials table, the version's tags and summary, the pyfunc's typed input example) and refuses a result
that cannot make a loadable model before anything is written; `trial_records` turns the Optuna trials into one
`TrialRecord` per nested run; `stage_artifacts` writes the run's file artifacts into a folder. `registry.log_training`
sends all of it to MLflow.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard, cast

import numpy as np
import pandas as pd

from features.catalog import render_markdown
from registry.model_card import MODEL, day_text
from registry.model_input import string_columns, to_model_input
from registry.plots import (
    plot_calibration,
    plot_cumulative_gains,
    plot_feature_importance,
    plot_precision_recall,
    plot_shap_summary,
)
from registry.provenance import Provenance, training_data_record
from training.result import TrainingResult
from xsell.settings import Settings

__all__ = [
    "PLOTS",
    "ExtraLogs",
    "RunContent",
    "TrialRecord",
    "finite",
    "headline_metrics",
    "metric_key",
    "redact",
    "run_content",
    "stage_artifacts",
    "training_metrics",
    "training_params",
    "trial_records",
    "trials_table",
]

_OPTUNA_TO_RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
_BAD_KEY_CHARS = re.compile(r"[^0-9A-Za-z_\-. /:]")
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+):[^@/\s]+@", re.IGNORECASE)

#: Plot artifact -> function drawing it from a TrainingResult.
PLOTS: dict[str, Callable[[TrainingResult], Any]] = {
    "plots/cumulative_gains.png": lambda r: plot_cumulative_gains(r.holdout),
    "plots/calibration.png": lambda r: plot_calibration(r.calibration),
    "plots/precision_recall.png": lambda r: plot_precision_recall(r.holdout),
    "plots/shap_summary.png": lambda r: plot_shap_summary(r.shap_sample, r.shap_sample_values),
    "plots/feature_importance.png": lambda r: plot_feature_importance(r.feature_importance),
}


@dataclass(frozen=True)
class ExtraLogs:
    """Further records a caller logs with the training run: text artifacts (path -> text), metrics and tags."""

    texts: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunContent:
    """Everything one training run logs apart from plots, files and the model itself."""

    run_name: str
    description: str  # the run's description, after the model name
    tags: dict[str, str]  # run tags (the MLflow run adds its owner tags)
    params: dict[str, str]
    metrics: dict[str, float]
    trials: pd.DataFrame  # the JSON-safe trials table
    headline: dict[str, float]  # the version's summary metrics
    version_tags: dict[str, str]
    version_description: str
    example: pd.DataFrame  # the pyfunc's typed input example (its columns are the pyfunc's inputs)
    string_columns: list[str]  # the example's string columns


@dataclass(frozen=True)
class TrialRecord:
    """One Optuna trial as a nested run: name, tags, params, metrics, run status and times (ms since the epoch)."""

    run_name: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    status: str
    start_ms: int
    end_ms: int


def metric_key(*parts: object) -> str:
    """An MLflow metric/param key from parts joined by '/', characters MLflow refuses replaced by '_'."""
    return "/".join(_BAD_KEY_CHARS.sub("_", str(p)) for p in parts)


def finite(value: object) -> TypeGuard[numbers.Real]:
    """A finite real number (numpy scalars included; booleans excluded)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_) and math.isfinite(float(value))


def run_content(result: TrainingResult, settings: Settings, source: Provenance) -> RunContent:
    """The content of the run logging `result` with provenance `source`; ValueError (before anything is written)
    when the result cannot make a loadable model."""
    example, strings = _validate(result)
    headline = headline_metrics(result)
    summary = ", ".join(f"{k} {v:.4f}" for k, v in headline.items() if k not in ("rows", "positives"))
    version_tags = (
        source.tags()
        | {"model_layout": result.model_layout, "calibration_method": result.model.calibration_method_}
        | {f"metric.{k}": f"{v:.6g}" for k, v in headline.items()}
    )
    return RunContent(
        run_name=f"train-{day_text(result.data_window[1]) or 'rows'}-{datetime.now(UTC):%Y%m%dT%H%M%S}",
        description=f"{source.reason}; training data {source.data_window}",
        tags=source.tags() | {"xsell.kind": "training"},
        params=training_params(result, settings, source.reason),
        metrics=training_metrics(result),
        trials=trials_table(result.trials),
        headline=headline,
        version_tags=version_tags,
        version_description=f"{source.reason}; {summary}",
        example=example,
        string_columns=strings,
    )


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
    return {k: float(v) for k, v in metrics.items() if finite(v)}


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
    metrics = {name: float(v) for name, v in overall.items() if finite(v)}
    if finite(result.best_value):
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


def trial_records(result: TrainingResult, default_ms: int) -> list[TrialRecord]:
    """One nested run per trial, named `trial-NNN`: its parameters, its CV value as `cv_<objective>` (and per fold),
    its duration and user attributes, its Optuna state as run status; `default_ms` stands in for a missing start."""
    objective = f"cv_{result.objective_metric}"
    records = []
    for index, row in enumerate(cast(list[dict[str, Any]], result.trials.to_dict("records"))):
        number = int(row.get("number", index))
        state = str(row.get("state", "COMPLETE")).split(".")[-1].upper()
        start_ms, end_ms = _trial_times(row, default_ms)
        params = {
            key[len("params_") :]: str(value)[:6000]
            for key, value in row.items()
            if str(key).startswith("params_")
            and value is not None
            and not (isinstance(value, float) and math.isnan(value))
        }
        metrics: dict[str, float] = {}
        value, duration = row.get("value"), row.get("duration_s")
        if finite(value):
            metrics[objective] = float(value)
        if finite(duration):
            metrics["duration_s"] = float(duration)
        folds = row.get("fold_values")
        if isinstance(folds, list | tuple):
            metrics |= {f"{objective}/fold_{i}": float(v) for i, v in enumerate(folds, 1) if finite(v)}
        metrics |= {
            metric_key(str(key)[len("user_attrs_") :]): float(value)
            for key, value in row.items()
            if str(key).startswith("user_attrs_") and finite(value)
        }
        records.append(
            TrialRecord(
                run_name=f"trial-{number:03d}",
                tags={"optuna.state": state, "optuna.trial": str(number)},
                params=params,
                metrics=metrics,
                status=_OPTUNA_TO_RUN_STATUS.get(state, "FAILED"),
                start_ms=start_ms,
                end_ms=end_ms,
            )
        )
    return records


def _trial_times(row: dict[str, Any], default_ms: int) -> tuple[int, int]:
    start = row.get("datetime_start")
    if isinstance(start, datetime | pd.Timestamp) and not pd.isna(start):
        start_ms = int(pd.Timestamp(start).timestamp() * 1000)
    else:
        start_ms = default_ms
    duration = row.get("duration_s")
    end_ms = start_ms + int(float(duration) * 1000) if finite(duration) else start_ms
    return start_ms, end_ms


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


def stage_artifacts(result: TrainingResult, root: Path) -> None:
    """Write the run's file artifacts (everything but plots, trials table and model card) under `root`."""
    plan = result.plan
    (root / "data").mkdir(parents=True)
    (root / "evaluation").mkdir()
    (root / "trials").mkdir()
    (root / "feature_catalog.md").write_text(render_markdown(plan.horizon_days), encoding="utf-8")
    (root / "data" / "training_data.json").write_text(_json(training_data_record(result)), encoding="utf-8")
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
