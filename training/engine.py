"""The training engine shared by xsell snapshots, bring-your-own tables and tuning workers.

`run_engine` is a list of stages over one `training.problem.TrainingProblem` (rows, labels, split plan, column
roles): build the inputs and fold datasets once (`training.inputs`), tune with Optuna (`training.tuning`), pick the
calibration on out-of-fold (out-of-time) scores and fit the final model on the plan's final training rows
(`fit_final`), evaluate it and the baselines on the holdout (`training.evaluation`), measure the positive weight,
(optionally) refit on every labelled row, explain a holdout sample, and assemble the `TrainingResult`.
`run_engine_worker` runs only the first two stages, as a worker of the coordinator's study. Nothing here knows
where the rows came from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from training.calibration import choose_calibration
from training.encoding import to_float
from training.errors import TrainingError
from training.evaluation import HoldoutEvaluation, evaluate_holdout, imbalance_study
from training.inputs import TuningInputs, bag_jobs, build_inputs, tuning_threads
from training.metrics import binary_metrics
from training.model import PropensityModel
from training.objective import CVScore
from training.problem import TableSpec, TrainingProblem
from training.result import TrainingResult
from training.tuning import TuningOutcome, WorkerPool, tune, tune_worker
from xsell import progress
from xsell.faults import fault_point
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["FinalFit", "run_engine", "run_engine_worker"]

SHAP_SAMPLE_ROWS = 1000
_T = TypeVar("_T")


#: Progress key and description of each timed stage (`xsell.progress`; units, where counted: trials, boosters).
STAGES: dict[str, tuple[str, str]] = {
    "datasets_s": ("train.datasets", "building the fold datasets"),
    "tuning_s": ("train.tuning", "tuning (trials)"),
    "calibration_s": ("train.calibration", "choosing the calibration on out-of-fold scores"),
    "final_fit_s": ("train.final_fit", "fitting the final model (boosters)"),
    "evaluation_s": ("train.evaluation", "evaluating on the holdout"),
    "imbalance_s": ("train.imbalance", "measuring the positive weight"),
    "refit_s": ("train.refit", "refitting on every labelled row (boosters)"),
    "explain_s": ("train.explain", "explaining a holdout sample"),
}


class _Clock:
    """Seconds per stage, in the order the stages ran, and the total since the clock started."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    def run(self, name: str, stage: Callable[..., _T], *args: Any, total: float | None = None) -> _T:
        """Run one stage (its progress announced with `total` units) and record its seconds under `name`; one log
        line when it ends."""
        key, description = STAGES[name]
        progress.start(key, description, total)
        t0 = time.perf_counter()
        try:
            out = stage(*args)
        finally:
            progress.finish(key)
        self.timings[name] = time.perf_counter() - t0
        log.info("stage done", extra={"stage": name.removesuffix("_s"), "seconds": round(self.timings[name], 2)})
        return out

    def total(self) -> dict[str, float]:
        """Every stage's seconds and `total_s`, rounded."""
        self.timings["total_s"] = time.perf_counter() - self.started
        return {k: round(v, 2) for k, v in self.timings.items()}


@dataclass(frozen=True)
class Calibration:
    """The calibration method chosen on out-of-fold scores at the final model's rounds."""

    at_final_rounds: CVScore  # the best parameters on every fold, boosted for the final model's rounds
    oof_idx: np.ndarray  # row positions of the out-of-fold scores, fold after fold
    oof_groups: np.ndarray  # fold of each (0-based)
    method: str
    candidates: dict[str, float]


@dataclass(frozen=True)
class FinalFit:
    """The evaluated model, its parameters, and the out-of-fold scores its calibrator was fitted on."""

    model: PropensityModel  # trained on the plan's final training rows
    params: dict[str, Any]  # LightGBM parameters: base + tuned
    at_final_rounds: CVScore  # the best parameters on every fold, boosted for the final model's rounds
    oof_idx: np.ndarray  # row positions of the out-of-fold scores, fold after fold
    oof_groups: np.ndarray  # fold of each (0-based)
    method: str
    candidates: dict[str, float]

    @property
    def oof_raw(self) -> np.ndarray:
        """Out-of-fold raw scores at the final model's rounds."""
        assert self.at_final_rounds.oof_raw is not None
        return self.at_final_rounds.oof_raw


@dataclass(frozen=True)
class _Refit:
    model: PropensityModel  # the returned model
    positions: np.ndarray  # the rows it was trained on
    info: dict[str, Any]


@dataclass(frozen=True)
class _Explanations:
    shap_sample: pd.DataFrame
    shap_values: pd.DataFrame
    input_example: pd.DataFrame


def run_engine_worker(
    problem: TrainingProblem, settings: Settings, *, study_name: str | None = None, worker: int = 1,
    timeout: float | None = None,
) -> tuple[str, int]:  # fmt: skip
    """Run trials of the coordinator's study on the same problem (never fits or registers); (study name, trials run).

    TrainingError when `study_name` is given and this problem and settings name another study (the worker would
    tune a different problem).
    """
    name = problem.study_name(settings)
    if study_name is not None and study_name != name:
        raise TrainingError(
            f"this worker's training data and settings give study {name}, not {study_name}: a worker needs the "
            "coordinator's rows (same export, as-of date, seed and training settings)"
        )
    inputs = build_inputs(problem, settings)
    cfg = settings.training
    ran = tune_worker(
        inputs.objective,
        storage=settings.optuna_uri,
        study_name=name,
        seed=settings.seed,
        worker=worker,
        n_jobs=tuning_threads(settings).workers,
        timeout=timeout if timeout is not None else cfg.timeout_seconds,
    )
    return name, ran


def run_engine(
    problem: TrainingProblem,
    settings: Settings,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    measure_imbalance: bool = True,
    launch_workers: Callable[[str], WorkerPool] | None = None,
) -> TrainingResult:
    """Tune, fit, calibrate, evaluate against the baselines, explain and (optionally) refit; see the module doc.

    `launch_workers(study_name)` starts worker processes that run the study's trials (this process waits, then
    fits and registers once); without it this process runs them.
    """
    clock = _Clock()
    log.info("split plan\n%s", problem.plan.describe())
    inputs = clock.run("datasets_s", build_inputs, problem, settings)
    n_trials = trials if trials is not None else settings.training.trials
    outcome = clock.run(
        "tuning_s", tune_problem, problem, inputs, settings, trials, timeout, launch_workers, total=n_trials
    )
    calibration = clock.run("calibration_s", choose_final_calibration, problem, inputs, outcome, settings)
    boosters = settings.training.n_seeds * len(set(inputs.parts[problem.rows.final_train]))
    fit = clock.run("final_fit_s", fit_final, problem, inputs, outcome, settings, calibration, total=boosters)
    evaluation = clock.run("evaluation_s", evaluate_holdout, problem, fit.model, fit.candidates, settings)
    imbalance: dict[str, Any] = {}
    if measure_imbalance:
        imbalance = clock.run("imbalance_s", imbalance_study, problem, inputs, outcome, fit.params, evaluation.raw)
    if settings.training.refit_on_holdout:
        boosters = settings.training.n_seeds * len(set(inputs.parts[problem.rows.refit]))
        refit = clock.run("refit_s", refit_on_every_row, problem, fit, evaluation, outcome, total=boosters)
    else:
        note = "the returned model is the evaluated one (trained on plan.final_train_dates)"
        refit = _Refit(fit.model, problem.rows.final_train, {"refit_on_holdout": False, "note": note})
    explained = clock.run("explain_s", explain, problem, refit.model, inputs, settings)
    return assemble_result(problem, settings, outcome, fit, evaluation, imbalance, refit, explained, clock.total())


def tune_problem(
    problem: TrainingProblem,
    inputs: TuningInputs,
    settings: Settings,
    trials: int | None,
    timeout: float | None,
    launch_workers: Callable[[str], WorkerPool] | None,
) -> TuningOutcome:
    """Run the problem's study to `trials` finished trials (default `training.trials`); the best, on every fold."""
    cfg = settings.training
    study_name = problem.study_name(settings)
    outcome = tune(
        inputs.objective,
        storage=settings.optuna_uri,
        study_name=study_name,
        seed=settings.seed,
        trials=trials if trials is not None else cfg.trials,
        timeout=timeout if timeout is not None else cfg.timeout_seconds,
        n_jobs=tuning_threads(settings).workers,
        launch_workers=launch_workers,
    )
    assert outcome.score.oof_raw is not None
    log.info(
        "tuning done",
        extra={"study": study_name, "best_value": round(outcome.best_value, 5), "rounds": outcome.score.rounds},
    )
    return outcome


def choose_final_calibration(
    problem: TrainingProblem, inputs: TuningInputs, outcome: TuningOutcome, settings: Settings
) -> Calibration:
    """Out-of-fold scores of the best parameters boosted as long as the final model (the search's own fold boosters,
    read at those rounds) and the calibration method with the lower error on them."""
    fault_point("train.fitting")
    rows, y = problem.rows, problem.labels
    score = outcome.score
    at_final_rounds = inputs.objective.out_of_fold(outcome.best_params, score.rounds, fitted=score)
    assert at_final_rounds.oof_raw is not None
    oof_idx = np.concatenate([va for _, va in rows.folds])
    oof_groups = np.concatenate([np.full(len(va), i) for i, (_, va) in enumerate(rows.folds)])
    method, candidates = choose_calibration(
        at_final_rounds.oof_raw, y[oof_idx], oof_groups, settings.training.calibration
    )
    return Calibration(at_final_rounds, oof_idx, oof_groups, method, candidates)


def fit_final(
    problem: TrainingProblem,
    inputs: TuningInputs,
    outcome: TuningOutcome,
    settings: Settings,
    calibration: Calibration | None = None,
) -> FinalFit:
    """Fit the final model on the plan's final training rows with the best parameters, its calibrator on the
    out-of-fold scores at the final rounds (`calibration`, chosen here when not given)."""
    if calibration is None:
        calibration = choose_final_calibration(problem, inputs, outcome, settings)
    cfg, rows, spec, y = settings.training, problem.rows, problem.spec, problem.labels
    score = outcome.score
    at_final_rounds, oof_idx, oof_groups = calibration.at_final_rounds, calibration.oof_idx, calibration.oof_groups
    method, candidates = calibration.method, calibration.candidates
    plan = tuning_threads(settings)
    params = {**inputs.base, **outcome.best_params}
    params.pop("metric", None)
    model = PropensityModel(
        params=params,
        num_boost_round=score.rounds,
        layout=problem.layout,
        calibration=method,
        product_column=spec.product_column,
        features=spec.features,
        categorical=spec.categorical,
        catalog=spec.catalog,
        random_state=settings.seed,
        num_threads=plan.workers * plan.threads,
        id_column=spec.id_column,
        n_seeds=cfg.n_seeds,
        n_jobs=bag_jobs(settings),
    )
    final = problem.frame.iloc[rows.final_train]
    model.fit(
        final, y[rows.final_train], calibration_scores=at_final_rounds.oof_raw, calibration_labels=y[oof_idx],
        on_booster=lambda: progress.advance("train.final_fit"),
    )  # fmt: skip
    return FinalFit(model, params, at_final_rounds, oof_idx, oof_groups, method, candidates)


def refit_on_every_row(
    problem: TrainingProblem, fit: FinalFit, evaluation: HoldoutEvaluation, outcome: TuningOutcome
) -> _Refit:
    """The evaluated model refit on every labelled row (same parameters and rounds), its calibrator on the
    out-of-time and holdout scores."""
    rows, y = problem.rows, problem.labels
    refit_scores = np.concatenate([fit.oof_raw, evaluation.raw])
    refit_labels = np.concatenate([y[fit.oof_idx], y[rows.holdout]])
    model = PropensityModel(**fit.model.get_params()).fit(
        problem.frame.iloc[rows.refit],
        y[rows.refit],
        calibration_scores=refit_scores,
        calibration_labels=refit_labels,
        on_booster=lambda: progress.advance("train.refit"),
    )
    info = {
        "refit_on_holdout": True,
        "trained_rows": len(rows.refit),
        "trained_window": [_iso(v) for v in _window(problem.frame, problem.spec, rows.refit)],
        "rounds": outcome.score.rounds,
        "calibrator_rows": len(refit_labels),
        "calibrator_fitted_on": "CV out-of-fold predictions + holdout predictions of the evaluated model",
        "note": "holdout metrics describe the evaluated model (trained on plan.final_train_dates); the"
        " returned model was refit on every labelled row with the same parameters and rounds",
    }
    return _Refit(model, rows.refit, info)


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


def explain(
    problem: TrainingProblem, model: PropensityModel, inputs: TuningInputs, settings: Settings
) -> _Explanations:
    """SHAP contributions of the returned model on a seeded holdout sample, with the sample's inputs, and an input
    example of five holdout rows."""
    spec, product = problem.spec, problem.spec.product_column
    hold = problem.frame.iloc[problem.rows.holdout]
    rng = np.random.default_rng(settings.seed)
    sample_idx = np.sort(rng.choice(len(hold), size=min(SHAP_SAMPLE_ROWS, len(hold)), replace=False))
    sample = hold.iloc[sample_idx]
    shap_sample = model.contributions(sample).reset_index(drop=True)
    model_inputs = spec.features + ([product] if product else [])
    shap_values = _plain_inputs(sample, spec.features, set(spec.categorical)).reset_index(drop=True)
    input_example = _plain_inputs(hold.head(5), model_inputs, set(inputs.categorical)).reset_index(drop=True)
    return _Explanations(shap_sample, shap_values, input_example)


def assemble_result(
    problem: TrainingProblem,
    settings: Settings,
    outcome: TuningOutcome,
    fit: FinalFit,
    evaluation: HoldoutEvaluation,
    imbalance: dict[str, Any],
    refit: _Refit,
    explained: _Explanations,
    timings: dict[str, float],
) -> TrainingResult:
    """The `TrainingResult` of the run: the returned model, the evaluation, the tuning record and the run facts."""
    frame, y, spec, rows = problem.frame, problem.labels, problem.spec, problem.rows
    product, score = spec.product_column, outcome.score
    oof_y = y[fit.oof_idx]
    oof_metrics = binary_metrics(oof_y, fit.oof_raw)  # ranking metrics only: calibration was fitted on these rows
    extra: dict[str, Any] = {
        "study_name": outcome.study_name,
        "optuna_storage": outcome.storage,
        "trials_run": outcome.trials_run,
        "trials_in_study": len(outcome.trials),
        "best_trial": outcome.best_number,
        "fold_values": score.fold_values,
        "rounds": score.rounds,
        "lightgbm_params": fit.params,
        "cv_out_of_fold": {
            **{k: oof_metrics[k] for k in ("rows", "positives", "roc_auc", "pr_auc")},
            "objective_at_final_rounds": fit.at_final_rounds.value,
        },
        "calibration_fitted_on": f"{len(oof_y):,} out-of-fold rows of {len(rows.folds)} CV folds, each fold boosted"
        " for the final model's rounds with the best parameters",
        "baselines": evaluation.baselines,
        "imbalance": imbalance,
        "refit": refit.info,
        "timings_s": timings,
        "holdout_rows": len(rows.holdout),
        "features": len(spec.features),
        "categorical_features": spec.categorical,
    }
    oof_rows = frame.iloc[fit.oof_idx]
    oof = pd.DataFrame(
        {
            "account_id": oof_rows[spec.id_column].to_numpy() if spec.id_column else fit.oof_idx,
            "product": oof_rows[product].to_numpy() if product else None,
            "as_of": oof_rows[spec.time_column].to_numpy() if spec.time_column else None,
            "label": oof_y,
            "fold": fit.oof_groups + 1,
            "raw_score": fit.oof_raw,
            "propensity": fit.model.calibrate(fit.oof_raw),
        }
    )
    return TrainingResult(
        model=refit.model,
        plan=problem.plan,
        best_params=dict(outcome.best_params),
        best_value=outcome.best_value,
        objective_metric=settings.training.objective_metric,
        trials=outcome.trials,
        holdout=evaluation.frame,
        metrics=evaluation.metrics,
        deciles=evaluation.deciles,
        segment_metrics=evaluation.segments,
        calibration=evaluation.calibration,
        feature_importance=refit.model.feature_importance(),
        shap_sample=explained.shap_sample,
        shap_sample_values=explained.shap_values,
        data_window=_window(frame, spec, refit.positions),  # type: ignore[arg-type]
        data_hash=problem.data_hash,
        n_rows=len(refit.positions),
        n_positives=int(y[refit.positions].sum()),
        model_layout=problem.layout,
        input_example=explained.input_example,
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
