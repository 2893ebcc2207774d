"""The tuned objective: booster parameters of a trial, scored on time-based CV folds whose datasets are built once.

The objective trains every fold with early stopping on its validation rows and returns the mean fold score. It reports
to the pruner after each fold (the running mean) and, inside a fold, every few boosting rounds (the fold's score at
that round, read from LightGBM's running validation predictions), so a poor trial stops long before its folds end.
Trials vary only booster parameters; the fold datasets are constructed before the study and shared by every trial
and worker thread. The study protocol is `training.study`; the drivers that run it are `training.tuning`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna
from scipy.special import expit

from training.boosting import Checkpoint, FoldSets, fit_fold
from training.errors import TrainingError
from training.metrics import objective_score

__all__ = ["DEFAULT_TRIAL", "SEARCH_SPACE_VERSION", "CVObjective", "CVScore", "suggest_params"]

#: Bumped whenever the search space or the objective changes meaning (it is part of the study name).
SEARCH_SPACE_VERSION = "3"
#: The first trial of a fresh study: the usual LightGBM settings for a few percent positives (moderate leaves, enough
#: rows per leaf, some L2, row and column subsampling, positives unweighted). TPE's first trials are random draws in
#: a wide space; starting from this one, a tuned result replaces it only by scoring better in CV. Measured at 20,000
#: accounts: these settings alone beat the logistic regression's holdout PR-AUC on two products of three.
DEFAULT_TRIAL: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 200,
    "min_sum_hessian_in_leaf": 1e-3,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "lambda_l1": 1e-3,
    "lambda_l2": 5.0,
    "path_smooth": 1e-3,
    "extra_trees": False,
    "cat_smooth": 10.0,
    "scale_pos_weight": 1.0,
}


def suggest_params(trial: optuna.Trial, *, max_pos_weight: float) -> dict[str, Any]:
    """Booster parameters of one trial (never dataset parameters: the fold datasets are shared)."""
    params: dict[str, Any] = {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 2, 64, log=True),  # 2: stumps, an additive model
        "min_child_samples": trial.suggest_int("min_child_samples", 10, 500, log=True),
        "min_sum_hessian_in_leaf": trial.suggest_float("min_sum_hessian_in_leaf", 1e-3, 10.0, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l1": trial.suggest_float("lambda_l1", 1e-3, 10.0, log=True),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 50.0, log=True),
        "path_smooth": trial.suggest_float("path_smooth", 1e-3, 50.0, log=True),  # shrinks small leaves to parents
        "extra_trees": trial.suggest_categorical("extra_trees", [False, True]),  # random thresholds: less variance
        "cat_smooth": trial.suggest_float("cat_smooth", 1.0, 50.0, log=True),
    }
    # class imbalance: weight the positives by up to the negative/positive ratio (1 = unweighted)
    if max_pos_weight > 1.0:
        params["scale_pos_weight"] = trial.suggest_float("scale_pos_weight", 1.0, max_pos_weight, log=True)
    return params


@dataclass
class CVScore:
    """One parameter set on every fold: the objective, fold scores, best iterations and out-of-fold raw scores."""

    value: float
    fold_values: list[float]
    best_iterations: list[dict[str, int]]
    oof_raw: np.ndarray | None  # validation raw scores of every fold, concatenated in fold order (None if pruned)
    boosters: list[dict[str, lgb.Booster]] | None = None  # each fold's boosters by part (kept for reuse; not pruned)

    @property
    def rounds(self) -> dict[str, int]:
        """Mean best iteration per part (booster) over the folds: the final model's rounds."""
        keys = sorted({k for fold in self.best_iterations for k in fold})
        return {k: max(1, round(float(np.mean([f[k] for f in self.best_iterations if k in f])))) for k in keys}


class CVObjective:
    """The tuned objective: shared fold datasets, fold-by-fold reports to the pruner, mean fold score."""

    def __init__(
        self,
        folds: Sequence[FoldSets],
        base_params: dict[str, Any],
        *,
        metric: str,
        max_rounds: int,
        early_stopping_rounds: int,
        max_pos_weight: float,
        check_every: int = 0,
        per_product_objective: bool = False,
    ) -> None:
        if not folds:
            raise TrainingError("tuning needs at least one CV fold")
        self.folds = list(folds)
        self.base_params = base_params
        self.metric = metric
        self.max_rounds = max_rounds
        self.early_stopping_rounds = early_stopping_rounds
        self.max_pos_weight = max_pos_weight
        self.per_product_objective = per_product_objective  # PR-AUC averaged over products (fold.valid_groups)
        self.check_every = check_every  # boosting rounds between in-fold reports to the pruner (0: fold ends only)
        self._lock = threading.Lock()
        self.best: tuple[int, CVScore] | None = None  # best finished trial of this process, with its OOF scores

    @property
    def direction(self) -> str:
        """Optuna direction of the metric."""
        return "maximize" if self.metric == "pr_auc" else "minimize"

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b

    def _groups(self, fold: FoldSets) -> np.ndarray | None:
        """The products of a fold's validation rows when the objective averages over products."""
        return fold.valid_groups if self.per_product_objective else None

    def evaluate(self, params: dict[str, Any], report: Callable[[float, int], bool] | None = None) -> CVScore:
        """Score `params` (booster parameters over the base ones) on every fold.

        `report(value, step)` is called every `check_every` boosting rounds of each part (value: the running mean
        over finished folds with the current part's score at this round standing in for its fold) and after each
        fold (the running mean of the fold scores); when it returns True the evaluation stops (`oof_raw` is then
        None). Steps are numbered so that every trial reports the same step at the same point of the same fold.
        """
        run = {**self.base_params, **params}
        values: list[float] = []
        iterations: list[dict[str, int]] = []
        raws: list[np.ndarray] = []
        kept: list[dict[str, lgb.Booster]] = []
        slots = self.max_rounds // self.check_every + 1 if self.check_every else 1  # steps per part
        n_parts = max(len(fold.parts) for fold in self.folds)
        for i, fold in enumerate(self.folds):
            checkpoint = None
            if report is not None and self.check_every:

                def look(
                    part: int,
                    round_: int,
                    labels: np.ndarray,
                    predictions: np.ndarray,
                    fold: FoldSets = fold,
                    i: int = i,
                ) -> bool:
                    if len(np.unique(labels)) < 2:
                        return False
                    groups = self._groups(fold)
                    if groups is not None:
                        groups = groups[list(fold.parts.values())[part].valid_pos]
                    current = objective_score(self.metric, labels, predictions, groups)
                    step = (i * n_parts + part) * slots + round_ // self.check_every - 1
                    return report((sum(values) + current) / (len(values) + 1), step)

                checkpoint = Checkpoint(self.check_every, look)
            kept.append({})
            fitted = fit_fold(
                run, fold, max_rounds=self.max_rounds, early_stopping_rounds=self.early_stopping_rounds,
                checkpoint=checkpoint, keep=kept[-1],
            )  # fmt: skip
            if fitted is None:  # pruned inside the fold
                return CVScore(float(np.mean(values)) if values else math.nan, values, iterations, None)
            raw, best = fitted
            values.append(objective_score(self.metric, fold.valid_y, expit(raw), self._groups(fold)))
            iterations.append(best)
            raws.append(raw)
            step = (i + 1) * n_parts * slots - 1
            if report is not None and report(float(np.mean(values)), step) and i < len(self.folds) - 1:
                return CVScore(float(np.mean(values)), values, iterations, None)
        return CVScore(float(np.mean(values)), values, iterations, np.concatenate(raws), kept)

    def out_of_fold(self, params: dict[str, Any], rounds: dict[str, int], fitted: CVScore | None = None) -> CVScore:
        """Score `params` with exactly `rounds` per part on every fold (no early stopping).

        These out-of-fold scores come from models boosted as long as the final model, so a calibrator fitted on
        them sees raw scores on the final model's scale (early-stopped folds stop at different rounds). With
        `fitted` (the same `params` evaluated on these folds, its boosters kept), its fold boosters are reused:
        boosted further where they stopped short of `rounds`, then read at `rounds`. A booster's first `rounds`
        trees do not depend on how long it boosts after them nor on its validation rows (same seed, data and
        parameters, one thread, `deterministic`), so the scores are those of boosters trained for exactly `rounds`
        (`tests/unit/training/test_boosting_bag_reuse.py` checks the equality).
        """
        run = {**self.base_params, **params}
        values, raws = [], []
        for i, fold in enumerate(self.folds):
            boosters = fitted.boosters[i] if fitted is not None and fitted.boosters is not None else None
            if boosters is not None:
                raw = _read_at_rounds(fold, boosters, rounds, self.max_rounds, run)
            else:
                out = fit_fold(
                    run, fold, max_rounds=self.max_rounds, early_stopping_rounds=self.early_stopping_rounds,
                    fixed_rounds=rounds,
                )  # fmt: skip
                assert out is not None  # no checkpoint, no pruning
                raw, _ = out
            values.append(objective_score(self.metric, fold.valid_y, expit(raw), self._groups(fold)))
            raws.append(raw)
        return CVScore(float(np.mean(values)), values, [dict(rounds) for _ in self.folds], np.concatenate(raws))

    def __call__(self, trial: optuna.Trial) -> float:
        params = suggest_params(trial, max_pos_weight=self.max_pos_weight)

        def report(value: float, step: int) -> bool:
            trial.report(value, step)
            return trial.should_prune()

        score = self.evaluate(params, report)
        trial.set_user_attr("fold_values", [round(v, 6) for v in score.fold_values])
        trial.set_user_attr("rounds", score.rounds)
        if score.oof_raw is None:
            raise optuna.TrialPruned(f"pruned in fold {len(score.fold_values) + 1} of {len(self.folds)}")
        with self._lock:
            if self.best is None or self._better(score.value, self.best[1].value):
                self.best = (trial.number, score)
        return score.value


def _read_at_rounds(
    fold: FoldSets, boosters: dict[str, lgb.Booster], rounds: dict[str, int], max_rounds: int, run: dict[str, Any]
) -> np.ndarray:
    """A fold's validation raw scores from its kept boosters read at `rounds` per part (boosted further when they
    stopped short), in the fold's validation order; as `fit_fold` with `fixed_rounds=rounds` would score them."""
    raw = np.empty(len(fold.valid_y), dtype="float64")
    for key, part in fold.parts.items():
        if part.train is None:
            raw[part.valid_pos] = part.prior
            continue
        if part.valid is None or len(part.valid_pos) == 0:
            continue
        iteration = rounds.get(key, max(rounds.values(), default=max_rounds))
        booster = boosters[key]
        for _ in range(iteration - booster.current_iteration()):
            if booster.update():  # nothing left to split: later rounds add no tree either, as in `fit_fold`
                break
        threads = run.get("num_threads") or 1
        raw[part.valid_pos] = booster.predict(
            part.valid_x, num_iteration=iteration, raw_score=True, num_threads=threads
        )
    return raw
