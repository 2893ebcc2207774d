"""The training engine shared by xsell snapshots and bring-your-own tables.

Given rows, labels, a split plan and which columns play which role, it builds the fold datasets once, tunes with
Optuna, picks the calibration on out-of-fold (out-of-time) scores, fits the final model on the plan's final training
rows, evaluates it and the baselines on the holdout, explains a holdout sample, and (optionally) refits on every
labelled row. Nothing here knows where the rows came from.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.baselines import SCORECARD, fit_logistic, predict_logistic, scorecard_points
from training.boosting import POOLED, base_params, build_fold_sets, fit_boosters
from training.calibration import choose_calibration, fit_calibrator
from training.encoding import TableEncoder, to_float
from training.errors import TrainingError
from training.metrics import binary_metrics, decile_table, expected_calibration_error, reliability_table
from training.model import PropensityModel
from training.reasons import FeatureInfo
from training.result import CalibrationReport, SplitPlan, TrainingResult
from training.splits import FoldRows
from training.tuning import SEARCH_SPACE_VERSION, CVObjective, TuningOutcome, WorkerPool, tune, tune_worker
from xsell.faults import fault_point
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["TableSpec", "run_engine", "run_engine_worker", "study_name_for"]

OVERALL = "overall"
SHAP_SAMPLE_ROWS = 1000


@dataclass(frozen=True)
class TableSpec:
    """Roles of the columns of a training table."""

    features: list[str]
    categorical: list[str]
    product_column: str | None = None
    segment_column: str | None = None
    id_column: str | None = None
    time_column: str | None = None
    catalog: dict[str, FeatureInfo] = field(default_factory=dict)
    scorecard: bool = False
    scorecard_note: str = ""


def study_name_for(model_name: str, layout: str, data_hash: str, plan: SplitPlan, settings: Settings) -> str:
    """Study name: the model name plus a hash of the data, the plan and everything that changes the objective."""
    t = settings.training
    key = "|".join(
        [
            data_hash,
            plan.describe(),
            layout,
            t.objective_metric,
            SEARCH_SPACE_VERSION,
            str(t.max_rounds),
            str(t.early_stopping_rounds),
            str(settings.seed),
        ]
    )
    return f"{model_name}-{layout}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _scorecard_groups(frame: pd.DataFrame, spec: TableSpec, seed: int, k: int) -> np.ndarray:
    """Groups for cross-fitting a calibrator on training rows: k contiguous time periods, else k random groups."""
    if spec.time_column:
        times = frame[spec.time_column]
        distinct = sorted(set(times))
        bucket = {t: i * k // len(distinct) for i, t in enumerate(distinct)}
        return times.map(bucket).to_numpy()
    return np.random.default_rng(seed).integers(0, k, len(frame))


def _per_product(
    frame: pd.DataFrame, y: np.ndarray, scores: dict[str, np.ndarray], spec: TableSpec
) -> tuple[dict[str, dict[str, dict[str, float]]], pd.DataFrame]:
    """Metrics and decile tables per model, per product and overall."""
    groups: list[tuple[str, np.ndarray]] = [(OVERALL, np.ones(len(frame), dtype=bool))]
    if spec.product_column:
        products = frame[spec.product_column].astype(str).to_numpy()
        groups += [(p, products == p) for p in sorted(set(products))]
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    deciles = []
    for model, p in scores.items():
        metrics[model] = {}
        for name, rows in groups:
            metrics[model][name] = binary_metrics(y[rows], p[rows])
            table = decile_table(y[rows], p[rows])
            table.insert(0, "product", name)
            table.insert(0, "model", model)
            deciles.append(table)
    return metrics, pd.concat(deciles, ignore_index=True)


def _segment_metrics(
    frame: pd.DataFrame, y: np.ndarray, scores: dict[str, np.ndarray], column: str | None
) -> pd.DataFrame:
    columns = ["model", "segment", "rows", "positives", "roc_auc", "pr_auc"]
    if not column:
        return pd.DataFrame(columns=columns)
    segments = frame[column].astype(object).where(frame[column].notna(), "unknown").astype(str).to_numpy()
    rows = []
    for model, p in scores.items():
        for segment in sorted(set(segments)):
            mask = segments == segment
            m = binary_metrics(y[mask], p[mask])
            rows.append([model, segment, int(m["rows"]), int(m["positives"]), m["roc_auc"], m["pr_auc"]])
    return pd.DataFrame(rows, columns=columns)


def _reliability(
    frame: pd.DataFrame, y: np.ndarray, p: np.ndarray, spec: TableSpec
) -> tuple[dict[str, float], pd.DataFrame]:
    ece = {OVERALL: expected_calibration_error(y, p)}
    tables = [reliability_table(y, p).assign(product=OVERALL)]
    if spec.product_column:
        products = frame[spec.product_column].astype(str).to_numpy()
        for product in sorted(set(products)):
            rows = products == product
            ece[product] = expected_calibration_error(y[rows], p[rows])
            tables.append(reliability_table(y[rows], p[rows]).assign(product=product))
    table = pd.concat(tables, ignore_index=True)[["product", "bin", "mean_predicted", "observed_rate", "count"]]
    return ece, table


def _plain_inputs(frame: pd.DataFrame, columns: list[str], categorical: set[str]) -> pd.DataFrame:
    """Model inputs with plain dtypes: float64 numbers (NA -> NaN), object strings (NA -> None)."""
    out: dict[str, Any] = {}
    for c in columns:
        if c in categorical:
            values = frame[c].astype(object)
            values[values.isna()] = None
            out[c] = values
        else:
            out[c] = to_float(frame[c])
    return pd.DataFrame(out, index=frame.index)


def _imbalance_study(
    objective: CVObjective,
    outcome: TuningOutcome,
    x_final: np.ndarray,
    y_final: np.ndarray,
    parts_final: np.ndarray,
    x_hold: np.ndarray,
    y_hold: np.ndarray,
    parts_hold: np.ndarray,
    params: dict[str, Any],
    inputs: list[str],
    cat_idx: list[int],
    raw_hold: np.ndarray,
) -> dict[str, Any]:
    """The tuned positive weight against the unweighted alternative (or a balanced one when the tuned is ~1).

    Both are scored on the CV folds and, for the record (not for selection), on the holdout's ranking metrics; the
    tuned weight's holdout scores are the evaluated model's (`raw_hold`).
    """
    tuned = float(outcome.best_params.get("scale_pos_weight", 1.0))
    ratio = float((len(y_final) - y_final.sum()) / max(1, y_final.sum()))
    alternative = 1.0 if tuned > 1.05 else ratio
    result: dict[str, Any] = {"negative_positive_ratio": round(ratio, 2), "tuned_scale_pos_weight": round(tuned, 3)}
    for label, weight, score in (
        ("tuned", tuned, outcome.score),
        ("alternative", alternative, None),
    ):
        trial_params = {**outcome.best_params, "scale_pos_weight": weight}
        cv = score if score is not None else objective.evaluate(trial_params)
        if score is not None:
            raw = raw_hold
        else:
            boosters, priors = fit_boosters(
                x_final, y_final, parts_final, {**params, "scale_pos_weight": weight}, cv.rounds, inputs, cat_idx
            )
            raw = np.full(len(y_hold), np.nan)
            for key in np.unique(parts_hold):
                rows = parts_hold == key
                raw[rows] = (
                    boosters[key].predict(x_hold[rows], raw_score=True, num_threads=params.get("num_threads", 1))
                    if key in boosters
                    else priors.get(key, 0.0)
                )
        m = binary_metrics(y_hold, raw)
        result[label] = {
            "scale_pos_weight": round(weight, 3),
            "cv_objective": round(cv.value, 5),
            "holdout_roc_auc": round(m["roc_auc"], 5),
            "holdout_pr_auc": round(m["pr_auc"], 5),
            "rounds": cv.rounds,
        }
    return result


@dataclass
class _TuningInputs:
    """Encoded inputs, fold datasets and the tuned objective, built identically by the coordinator and workers."""

    x: np.ndarray
    parts: np.ndarray
    inputs: list[str]
    categorical: list[str]
    cat_idx: list[int]
    base: dict[str, Any]
    objective: CVObjective


def _prepare_tuning(
    frame: pd.DataFrame, y: np.ndarray, spec: TableSpec, rows: FoldRows, settings: Settings, layout: str
) -> _TuningInputs:
    """Encode the inputs once, build the fold datasets once and the CV objective over them."""
    cfg = settings.training
    product = spec.product_column
    inputs = spec.features + ([product] if product and layout == "pooled" else [])
    categorical = spec.categorical + ([product] if product else [])
    encoder = TableEncoder(spec.features + ([product] if product else []), categorical)
    encoder.fit(frame.iloc[rows.final_train])
    x = encoder.transform(frame, inputs)
    cat_idx = [i for i, c in enumerate(inputs) if c in set(categorical)]
    parts = (
        frame[product].astype(str).to_numpy(dtype=object)
        if layout == "per_product" and product
        else np.full(len(frame), POOLED, dtype=object)
    )
    groups = frame[product].astype(str).to_numpy(dtype=object) if product else None
    folds = [build_fold_sets(x, y, parts, tr, va, inputs, cat_idx, groups) for tr, va in rows.folds]
    y_final = y[rows.final_train]
    ratio = float((len(y_final) - y_final.sum()) / max(1, y_final.sum()))
    base = base_params(seed=settings.seed, num_threads=cfg.num_threads, objective_metric=cfg.objective_metric)
    objective = CVObjective(
        folds,
        base,
        metric=cfg.objective_metric,
        max_rounds=cfg.max_rounds,
        early_stopping_rounds=cfg.early_stopping_rounds,
        max_pos_weight=max(1.0, ratio),
        check_every=cfg.prune_every_rounds,
        per_product_objective=cfg.objective_average == "per_product",
    )
    return _TuningInputs(x, parts, inputs, categorical, cat_idx, base, objective)


def run_engine_worker(
    frame: pd.DataFrame,
    y: np.ndarray,
    spec: TableSpec,
    plan: SplitPlan,
    rows: FoldRows,
    settings: Settings,
    *,
    layout: str,
    data_hash: str,
    model_name: str,
    study_name: str | None = None,
    worker: int = 1,
    timeout: float | None = None,
) -> tuple[str, int]:
    """Run trials of the coordinator's study on the same rows (never fits or registers); (study name, trials run).

    TrainingError when `study_name` is given and these rows and settings name another study (the worker would
    tune a different problem).
    """
    name = study_name_for(model_name, layout, data_hash, plan, settings)
    if study_name is not None and study_name != name:
        raise TrainingError(
            f"this worker's training data and settings give study {name}, not {study_name}: a worker needs the "
            "coordinator's rows (same export, as-of date, seed and training settings)"
        )
    frame = frame.reset_index(drop=True)
    prep = _prepare_tuning(frame, np.asarray(y, dtype="int64"), spec, rows, settings, layout)
    cfg = settings.training
    ran = tune_worker(
        prep.objective,
        storage=settings.optuna_uri,
        study_name=name,
        seed=settings.seed,
        worker=worker,
        n_jobs=cfg.n_jobs,
        timeout=timeout if timeout is not None else cfg.timeout_seconds,
    )
    return name, ran


def run_engine(
    frame: pd.DataFrame,
    y: np.ndarray,
    spec: TableSpec,
    plan: SplitPlan,
    rows: FoldRows,
    settings: Settings,
    *,
    layout: str,
    data_hash: str,
    model_name: str,
    trials: int | None = None,
    timeout: float | None = None,
    measure_imbalance: bool = True,
    launch_workers: Callable[[str], WorkerPool] | None = None,
) -> TrainingResult:
    """Tune, fit, calibrate, evaluate against the baselines, explain and (optionally) refit; see the module doc.

    `launch_workers(study_name)` starts worker processes that run the study's trials (this process waits, then
    fits and registers once); without it this process runs them.
    """
    cfg = settings.training
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    frame = frame.reset_index(drop=True)
    y = np.asarray(y, dtype="int64")
    if layout == "per_product" and not spec.product_column:
        raise TrainingError("the per_product layout needs a product column")
    log.info("split plan\n%s", plan.describe())

    # ---- inputs: encoded once, fold datasets built once; the tuned objective ---------------------------------
    prep = _prepare_tuning(frame, y, spec, rows, settings, layout)
    x, parts, inputs, cat_idx, categorical = prep.x, prep.parts, prep.inputs, prep.cat_idx, prep.categorical
    product, base, objective, y_final = spec.product_column, prep.base, prep.objective, y[rows.final_train]
    timings["datasets_s"] = time.perf_counter() - clock

    # ---- tuning ---------------------------------------------------------------------------------------------
    study_name = study_name_for(model_name, layout, data_hash, plan, settings)
    t0 = time.perf_counter()
    outcome = tune(
        objective,
        storage=settings.optuna_uri,
        study_name=study_name,
        seed=settings.seed,
        trials=trials if trials is not None else cfg.trials,
        timeout=timeout if timeout is not None else cfg.timeout_seconds,
        n_jobs=cfg.n_jobs,
        launch_workers=launch_workers,
    )
    timings["tuning_s"] = time.perf_counter() - t0
    score = outcome.score
    assert score.oof_raw is not None
    log.info(
        "tuning done",
        extra={"study": study_name, "best_value": round(outcome.best_value, 5), "rounds": score.rounds},
    )

    # ---- calibration on out-of-time (out-of-fold) scores, boosted as long as the final model ----------------------
    fault_point("train.fitting")
    t0 = time.perf_counter()
    at_final_rounds = objective.out_of_fold(outcome.best_params, score.rounds)
    oof_raw = at_final_rounds.oof_raw
    assert oof_raw is not None
    oof_idx = np.concatenate([va for _, va in rows.folds])
    oof_y = y[oof_idx]
    oof_groups = np.concatenate([np.full(len(va), i) for i, (_, va) in enumerate(rows.folds)])
    method, candidates = choose_calibration(oof_raw, oof_y, oof_groups, cfg.calibration)

    # ---- final model on the plan's final training rows -------------------------------------------------------
    params = {**base, **outcome.best_params}
    params.pop("metric", None)
    model = PropensityModel(
        params=params,
        num_boost_round=score.rounds,
        layout=layout,
        calibration=method,
        product_column=product,
        features=spec.features,
        categorical=spec.categorical,
        catalog=spec.catalog,
        random_state=settings.seed,
        num_threads=cfg.num_threads * cfg.n_jobs,
        id_column=spec.id_column,
        n_seeds=cfg.n_seeds,
    )
    final = frame.iloc[rows.final_train]
    model.fit(final, y_final, calibration_scores=oof_raw, calibration_labels=oof_y)
    timings["final_fit_s"] = time.perf_counter() - t0

    # ---- holdout: the model and the baselines ---------------------------------------------------------------
    t0 = time.perf_counter()
    hold = frame.iloc[rows.holdout]
    y_hold = y[rows.holdout]
    raw_hold = model.raw_score(hold)
    p_hold = model.calibrate(raw_hold)
    scores: dict[str, np.ndarray] = {"xsell": p_hold}
    baselines: dict[str, Any] = {}
    points_hold = None
    if spec.scorecard:
        points_train = scorecard_points(final)
        groups = _scorecard_groups(final, spec, settings.seed, max(2, cfg.cv_folds))
        sc_method, sc_candidates = choose_calibration(points_train, y_final, groups, cfg.calibration)
        sc_calibrator = fit_calibrator(sc_method, points_train, y_final)
        points_hold = scorecard_points(hold)
        scores["scorecard"] = sc_calibrator.predict(points_hold)
        baselines["scorecard"] = {
            "rules": [f"{r.rule}: {r.points} points" for r in SCORECARD],
            "calibration": sc_method,
            "calibration_candidates_ece": sc_candidates,
        }
    else:
        baselines["scorecard"] = {"applicable": False, "reason": spec.scorecard_note or "not applicable"}
    numeric = [c for c in spec.features if c not in set(spec.categorical)]
    lr_categorical = spec.categorical + ([product] if product else [])
    logistic = fit_logistic(final, y_final, numeric, lr_categorical, settings.seed)
    scores["logistic"] = predict_logistic(logistic, hold, numeric, lr_categorical)
    baselines["logistic"] = {"features": len(numeric) + len(lr_categorical), "trained_rows": len(final)}
    metrics, deciles = _per_product(hold, y_hold, scores, spec)
    segments = _segment_metrics(hold, y_hold, scores, spec.segment_column)
    ece, reliability = _reliability(hold, y_hold, p_hold, spec)
    calibration = CalibrationReport(method=method, candidates=candidates, ece=ece, reliability=reliability)
    timings["evaluation_s"] = time.perf_counter() - t0

    imbalance: dict[str, Any] = {}
    if measure_imbalance:
        t0 = time.perf_counter()
        x_final, x_hold = x[rows.final_train], x[rows.holdout]
        imbalance = _imbalance_study(
            objective, outcome, x_final, y_final, parts[rows.final_train], x_hold, y_hold, parts[rows.holdout],
            params, inputs, cat_idx, raw_hold,
        )  # fmt: skip
        timings["imbalance_s"] = time.perf_counter() - t0

    holdout = pd.DataFrame(
        {
            "account_id": hold[spec.id_column].to_numpy() if spec.id_column else hold.index.to_numpy(),
            "product": hold[product].to_numpy() if product else None,
            "as_of": hold[spec.time_column].to_numpy() if spec.time_column else None,
            "label": y_hold,
            "segment": hold[spec.segment_column].to_numpy() if spec.segment_column else None,
            "propensity": p_hold,
            "scorecard": scores.get("scorecard", np.full(len(hold), np.nan)),
            "logistic": scores["logistic"],
            "propensity_raw": raw_hold,
            "scorecard_points": points_hold if points_hold is not None else np.full(len(hold), np.nan),
        }
    )

    # ---- refit on every labelled row (same params and rounds), calibrator on out-of-time + holdout -----------------
    evaluated_model = model
    refit: dict[str, Any] = {"refit_on_holdout": cfg.refit_on_holdout}
    train_positions = rows.final_train
    if cfg.refit_on_holdout:
        t0 = time.perf_counter()
        refit_scores = np.concatenate([oof_raw, raw_hold])
        refit_labels = np.concatenate([oof_y, y_hold])
        model = PropensityModel(**evaluated_model.get_params()).fit(
            frame.iloc[rows.refit],
            y[rows.refit],
            calibration_scores=refit_scores,
            calibration_labels=refit_labels,
        )
        train_positions = rows.refit
        refit.update(
            {
                "trained_rows": len(rows.refit),
                "trained_window": [_iso(v) for v in _window(frame, spec, rows.refit)],
                "rounds": score.rounds,
                "calibrator_rows": len(refit_labels),
                "calibrator_fitted_on": "CV out-of-fold predictions + holdout predictions of the evaluated model",
                "note": "holdout metrics describe the evaluated model (trained on plan.final_train_dates); the"
                " returned model was refit on every labelled row with the same parameters and rounds",
            }
        )
        timings["refit_s"] = time.perf_counter() - t0
    else:
        refit["note"] = "the returned model is the evaluated one (trained on plan.final_train_dates)"

    # ---- explanations of a holdout sample by the returned model ------------------------------------------------
    t0 = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    sample_idx = np.sort(rng.choice(len(hold), size=min(SHAP_SAMPLE_ROWS, len(hold)), replace=False))
    sample = hold.iloc[sample_idx]
    shap_sample = model.contributions(sample).reset_index(drop=True)
    model_inputs = spec.features + ([product] if product else [])
    shap_values = _plain_inputs(sample, spec.features, set(spec.categorical)).reset_index(drop=True)
    input_example = _plain_inputs(hold.head(5), model_inputs, set(categorical)).reset_index(drop=True)
    timings["explain_s"] = time.perf_counter() - t0

    timings["total_s"] = time.perf_counter() - clock
    window = _window(frame, spec, train_positions)
    oof_metrics = binary_metrics(oof_y, oof_raw)  # ranking metrics only: calibration was fitted on these rows
    extra: dict[str, Any] = {
        "study_name": study_name,
        "optuna_storage": outcome.storage,
        "trials_run": outcome.trials_run,
        "trials_in_study": len(outcome.trials),
        "best_trial": outcome.best_number,
        "fold_values": score.fold_values,
        "rounds": score.rounds,
        "lightgbm_params": params,
        "cv_out_of_fold": {
            **{k: oof_metrics[k] for k in ("rows", "positives", "roc_auc", "pr_auc")},
            "objective_at_final_rounds": at_final_rounds.value,
        },
        "calibration_fitted_on": f"{len(oof_y):,} out-of-fold rows of {len(rows.folds)} CV folds, each fold boosted"
        " for the final model's rounds with the best parameters",
        "baselines": baselines,
        "imbalance": imbalance,
        "refit": refit,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "holdout_rows": len(hold),
        "features": len(spec.features),
        "categorical_features": spec.categorical,
    }
    oof_rows = frame.iloc[oof_idx]
    oof = pd.DataFrame(
        {
            "account_id": oof_rows[spec.id_column].to_numpy() if spec.id_column else oof_idx,
            "product": oof_rows[product].to_numpy() if product else None,
            "as_of": oof_rows[spec.time_column].to_numpy() if spec.time_column else None,
            "label": oof_y,
            "fold": oof_groups + 1,
            "raw_score": oof_raw,
            "propensity": evaluated_model.calibrate(oof_raw),
        }
    )
    return TrainingResult(
        model=model,
        plan=plan,
        best_params=dict(outcome.best_params),
        best_value=outcome.best_value,
        objective_metric=cfg.objective_metric,
        trials=outcome.trials,
        holdout=holdout,
        metrics=metrics,
        deciles=deciles,
        segment_metrics=segments,
        calibration=calibration,
        feature_importance=model.feature_importance(),
        shap_sample=shap_sample,
        shap_sample_values=shap_values,
        data_window=window,  # type: ignore[arg-type]
        data_hash=data_hash,
        n_rows=len(train_positions),
        n_positives=int(y[train_positions].sum()),
        model_layout=layout,
        input_example=input_example,
        extra=extra,
        oof=oof,
    )


def _window(frame: pd.DataFrame, spec: TableSpec, positions: np.ndarray) -> tuple[Any, Any]:
    if not spec.time_column or not len(positions):
        return (None, None)
    values = frame[spec.time_column].iloc[positions]
    return (values.min(), values.max())


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
