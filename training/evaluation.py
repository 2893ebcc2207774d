"""Holdout evaluation of a training run: the model against the baselines, per product and segment, its calibration,
and the positive-weight (class imbalance) study.

The holdout is the plan's last period, never seen by tuning; the baselines (the RevOps scorecard, when the table has
its features, and a logistic regression) are fitted on the same final training rows as the evaluated model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from training.baselines import SCORECARD, fit_logistic, predict_logistic, scorecard_points
from training.boosting import fit_boosters
from training.calibration import choose_calibration, fit_calibrator
from training.inputs import TuningInputs
from training.metrics import binary_metrics, decile_table, expected_calibration_error, reliability_table
from training.model import PropensityModel
from training.problem import TableSpec, TrainingProblem
from training.result import CalibrationReport
from training.tuning import TuningOutcome
from xsell.settings import Settings

__all__ = ["OVERALL", "HoldoutEvaluation", "evaluate_holdout", "imbalance_study"]

OVERALL = "overall"


@dataclass(frozen=True)
class HoldoutEvaluation:
    """The evaluated model's holdout scores, the baselines', and every table computed from them."""

    raw: np.ndarray  # the model's raw (log-odds) holdout scores
    propensity: np.ndarray  # calibrated
    scores: dict[str, np.ndarray]  # calibrated probability per model: xsell, scorecard (when applicable), logistic
    baselines: dict[str, Any]
    metrics: dict[str, dict[str, dict[str, float]]]
    deciles: pd.DataFrame
    segments: pd.DataFrame
    calibration: CalibrationReport
    frame: pd.DataFrame  # one row per holdout row: keys, label and every model's score


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


def _scorecard(
    problem: TrainingProblem, final: pd.DataFrame, hold: pd.DataFrame, settings: Settings
) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, Any]]:
    """The RevOps scorecard's calibrated holdout scores, its holdout points and its description (None, None and
    the reason when the table lacks its features)."""
    spec, cfg = problem.spec, settings.training
    if not spec.scorecard:
        return None, None, {"applicable": False, "reason": spec.scorecard_note or "not applicable"}
    y_final = problem.labels[problem.rows.final_train]
    points_train = scorecard_points(final)
    groups = _scorecard_groups(final, spec, settings.seed, max(2, cfg.cv_folds))
    method, candidates = choose_calibration(points_train, y_final, groups, cfg.calibration)
    calibrator = fit_calibrator(method, points_train, y_final)
    points_hold = scorecard_points(hold)
    described = {
        "rules": [f"{r.rule}: {r.points} points" for r in SCORECARD],
        "calibration": method,
        "calibration_candidates_ece": candidates,
    }
    return calibrator.predict(points_hold), points_hold, described


def evaluate_holdout(
    problem: TrainingProblem, model: PropensityModel, candidates: dict[str, float], settings: Settings
) -> HoldoutEvaluation:
    """Score the holdout with the evaluated model and the baselines; metrics, deciles, segments and calibration."""
    frame, y, spec, rows = problem.frame, problem.labels, problem.spec, problem.rows
    product = spec.product_column
    final, hold = frame.iloc[rows.final_train], frame.iloc[rows.holdout]
    y_final, y_hold = y[rows.final_train], y[rows.holdout]
    raw_hold = model.raw_score(hold)
    p_hold = model.calibrate(raw_hold)
    scores: dict[str, np.ndarray] = {"xsell": p_hold}
    baselines: dict[str, Any] = {}
    scorecard, points_hold, baselines["scorecard"] = _scorecard(problem, final, hold, settings)
    if scorecard is not None:
        scores["scorecard"] = scorecard
    numeric = [c for c in spec.features if c not in set(spec.categorical)]
    lr_categorical = spec.categorical + ([product] if product else [])
    logistic = fit_logistic(final, y_final, numeric, lr_categorical, settings.seed)
    scores["logistic"] = predict_logistic(logistic, hold, numeric, lr_categorical)
    baselines["logistic"] = {"features": len(numeric) + len(lr_categorical), "trained_rows": len(final)}
    metrics, deciles = _per_product(hold, y_hold, scores, spec)
    segments = _segment_metrics(hold, y_hold, scores, spec.segment_column)
    ece, reliability = _reliability(hold, y_hold, p_hold, spec)
    calibration = CalibrationReport(method=model.calibration, candidates=candidates, ece=ece, reliability=reliability)
    table = pd.DataFrame(
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
    return HoldoutEvaluation(raw_hold, p_hold, scores, baselines, metrics, deciles, segments, calibration, table)


def imbalance_study(
    problem: TrainingProblem,
    inputs: TuningInputs,
    outcome: TuningOutcome,
    params: dict[str, Any],
    raw_hold: np.ndarray,
) -> dict[str, Any]:
    """The tuned positive weight against the unweighted alternative (or a balanced one when the tuned is ~1).

    Both are scored on the CV folds and, for the record (not for selection), on the holdout's ranking metrics; the
    tuned weight's holdout scores are the evaluated model's (`raw_hold`).
    """
    rows, y = problem.rows, problem.labels
    x_final, y_final, parts_final = inputs.x[rows.final_train], y[rows.final_train], inputs.parts[rows.final_train]
    x_hold, y_hold, parts_hold = inputs.x[rows.holdout], y[rows.holdout], inputs.parts[rows.holdout]
    tuned = float(outcome.best_params.get("scale_pos_weight", 1.0))
    ratio = float((len(y_final) - y_final.sum()) / max(1, y_final.sum()))
    alternative = 1.0 if tuned > 1.05 else ratio
    result: dict[str, Any] = {"negative_positive_ratio": round(ratio, 2), "tuned_scale_pos_weight": round(tuned, 3)}
    for label, weight, score in (
        ("tuned", tuned, outcome.score),
        ("alternative", alternative, None),
    ):
        trial_params = {**outcome.best_params, "scale_pos_weight": weight}
        cv = score if score is not None else inputs.objective.evaluate(trial_params)
        if score is not None:
            raw = raw_hold
        else:
            boosters, priors = fit_boosters(
                x_final, y_final, parts_final, {**params, "scale_pos_weight": weight}, cv.rounds, inputs.inputs,
                inputs.cat_idx,
            )  # fmt: skip
            raw = np.full(len(y_hold), np.nan)
            for key in np.unique(parts_hold):
                part = parts_hold == key
                raw[part] = (
                    boosters[key].predict(x_hold[part], raw_score=True, num_threads=params.get("num_threads", 1))
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
