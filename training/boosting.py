"""LightGBM pieces shared by tuning and the final model: base parameters, per-fold datasets built once, fitting.

Layouts: "pooled" fits one booster over every product (the product is a categorical input); "per_product" fits one
booster per product (the product column selects it). In both, a "part" is what one booster sees: `POOLED` or a
product. LightGBM datasets are built with `free_raw_data=False` and `feature_pre_filter=False`, so one dataset
serves every trial whatever its booster parameters (dataset parameters such as `max_bin` are never tuned).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

__all__ = [
    "POOLED",
    "Checkpoint",
    "FoldSets",
    "base_params",
    "build_fold_sets",
    "dataset",
    "early_stopping_metric",
    "fit_bag",
    "fit_boosters",
    "fit_fold",
    "prior_score",
]

#: Key of the single booster of the pooled layout.
POOLED = "*"
#: Dataset parameters: bins stay valid for any booster parameters, so a dataset is built once and reused. 63 bins
#: instead of 255: ~16% less boosting time, and equal or better out-of-fold ROC/PR-AUC on the default export and the
#: sample (coarser bins regularise noisy counts).
DATASET_PARAMS: dict[str, Any] = {"feature_pre_filter": False, "max_bin": 63, "verbose": -1}


def early_stopping_metric(objective_metric: str) -> str:
    """LightGBM metric that early stopping watches: the log loss, whatever the objective.

    The log loss is smooth from round to round; average precision on a validation window with ~100 positives jumps
    by chance, so watching it stops low learning rates at an early lucky peak (measured on the default export and
    the sample: fewer rounds, lower out-of-fold ROC-AUC and PR-AUC). The objective (PR-AUC or log loss) is then
    computed at the round the log loss picked.
    """
    return "binary_logloss"


def base_params(*, seed: int, num_threads: int, objective_metric: str) -> dict[str, Any]:
    """Fixed booster parameters every trial and the final model share."""
    return {
        "objective": "binary",
        "metric": early_stopping_metric(objective_metric),
        "verbosity": -1,
        "num_threads": num_threads,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,  # measured faster than col-wise at 1 thread on ~50k x 80 (1.34 s vs 1.66 s a trial)
        "bagging_freq": 1,
    }


def prior_score(y: np.ndarray) -> float:
    """Log-odds of the base rate: the constant raw score of a part without both classes."""
    rate = min(max(float(np.mean(y)) if len(y) else 0.0, 1e-6), 1 - 1e-6)
    return math.log(rate / (1 - rate))


def dataset(
    x: np.ndarray,
    y: np.ndarray,
    feature_names: list[str],
    categorical: list[int],
    reference: lgb.Dataset | None = None,
) -> lgb.Dataset:
    """A constructed LightGBM dataset that keeps its raw data (reusable across trials and as a reference)."""
    data = lgb.Dataset(
        x,
        label=y,
        feature_name=feature_names,
        categorical_feature=categorical,
        reference=reference,
        free_raw_data=False,
        params=DATASET_PARAMS,
    )
    return data.construct()


@dataclass
class Part:
    """One booster's rows of one fold: datasets, the raw validation matrix and where its rows go."""

    train: lgb.Dataset | None  # None when the training rows lack a class (constant prior instead)
    valid: lgb.Dataset | None
    valid_x: np.ndarray
    valid_pos: np.ndarray  # positions within the fold's validation rows
    prior: float
    valid_has_both: bool  # both classes among the validation rows


@dataclass
class FoldSets:
    """LightGBM datasets of one CV fold, per part, built once before the study."""

    parts: dict[str, Part]
    valid_y: np.ndarray
    valid_groups: np.ndarray | None = None  # product of each validation row (None: a table without products)


def build_fold_sets(
    x: np.ndarray,
    y: np.ndarray,
    part_of_row: np.ndarray,
    train_idx: np.ndarray,
    valid_idx: np.ndarray,
    feature_names: list[str],
    categorical: list[int],
    groups: np.ndarray | None = None,
) -> FoldSets:
    """Datasets of one fold; `part_of_row` names each row's part (`POOLED` everywhere for the pooled layout)."""
    parts: dict[str, Part] = {}
    valid_parts = part_of_row[valid_idx]
    for key in sorted(set(part_of_row[train_idx]) | set(valid_parts)):
        tr = train_idx[part_of_row[train_idx] == key]
        pos = np.flatnonzero(valid_parts == key)
        va = valid_idx[pos]
        ytr, yva = y[tr], y[va]
        both = len(np.unique(ytr)) == 2
        train = dataset(x[tr], ytr, feature_names, categorical) if both else None
        valid = dataset(x[va], yva, feature_names, categorical, reference=train) if both and len(va) else None
        parts[str(key)] = Part(train, valid, x[va], pos, prior_score(ytr), len(np.unique(yva)) == 2)
    return FoldSets(parts=parts, valid_y=y[valid_idx], valid_groups=None if groups is None else groups[valid_idx])


def fit_fold(
    params: dict[str, Any],
    fold: FoldSets,
    *,
    max_rounds: int,
    early_stopping_rounds: int,
    fixed_rounds: dict[str, int] | None = None,
    checkpoint: Checkpoint | None = None,
    keep: dict[str, lgb.Booster] | None = None,
) -> tuple[np.ndarray, dict[str, int]] | None:
    """Train every part of a fold with early stopping on its validation rows (or exactly `fixed_rounds`).

    Returns the raw validation scores (log-odds, in the fold's validation order) at each part's best iteration,
    and the best iteration per part (parts with a constant prior are left out). With `checkpoint`, every
    `checkpoint.every` rounds the part's current validation predictions are handed to `checkpoint.check(part_index,
    round, labels, predictions)`; when it returns True training stops and the function returns None (a pruned trial).
    With `keep`, each part's booster is stored there by part, with its training data (it can boost further).
    """
    raw = np.empty(len(fold.valid_y), dtype="float64")
    best: dict[str, int] = {}
    for index, (key, part) in enumerate(fold.parts.items()):
        if part.train is None:
            raw[part.valid_pos] = part.prior
            continue
        if part.valid is None or len(part.valid_pos) == 0:
            continue
        run = {**params, "num_threads": params.get("num_threads") or 1}
        if fixed_rounds is not None:
            iteration = fixed_rounds.get(key, max(fixed_rounds.values(), default=max_rounds))
            booster = lgb.Booster(params=run, train_set=part.train)
            for _ in range(iteration):
                booster.update()
        else:
            trained = _train_early_stopping(run, part, max_rounds, early_stopping_rounds, checkpoint, index)
            if trained is None:
                return None
            booster, iteration = trained
        # num_threads on every call: LightGBM keeps the thread count in a process-wide variable that each call
        # with other parameters resets, and a trial predicting while another creates a booster with a different
        # count sizes its per-thread buffers wrongly (a segfault, seen with parallel trials)
        raw[part.valid_pos] = booster.predict(
            part.valid_x, num_iteration=iteration, raw_score=True, num_threads=run["num_threads"]
        )
        best[key] = iteration
        if keep is not None:
            keep[key] = booster
        else:
            booster.free_dataset()
    return raw, best


@dataclass(frozen=True)
class Checkpoint:
    """A look at a part's validation scores every `every` rounds; `check` returning True stops (prunes) the fit."""

    every: int
    check: Callable[[int, int, np.ndarray, np.ndarray], bool]  # (part index, round, labels, predictions) -> stop


def _train_early_stopping(
    params: dict[str, Any],
    part: Part,
    max_rounds: int,
    patience: int,
    checkpoint: Checkpoint | None = None,
    index: int = 0,
) -> tuple[lgb.Booster, int] | None:
    """Boost until the validation metric has not improved for `patience` rounds; return the booster and best round.

    A plain loop over `Booster.update` rather than `lgb.train`: `lgb.train` re-sets the feature names of the shared
    validation dataset (a write into LightGBM's dataset) on every call, which races between trials run in threads.
    Here the shared datasets are only read. A checkpoint reads the booster's running validation predictions (no
    extra prediction pass) and returns None when it asks to stop.
    """
    assert part.train is not None and part.valid is not None
    booster = lgb.Booster(params=params, train_set=part.train)
    booster.add_valid(part.valid, "valid")
    labels = part.valid.get_label()
    seen: list[np.ndarray] = []

    def grab(preds: np.ndarray, _: lgb.Dataset) -> tuple[str, float, bool]:
        seen.append(preds)
        return "checkpoint", 0.0, True

    best_score, best_round = None, 0
    for round_ in range(1, max_rounds + 1):
        booster.update()
        looking = checkpoint is not None and round_ % checkpoint.every == 0
        results = booster.eval_valid(feval=grab) if looking else booster.eval_valid()
        if looking and checkpoint is not None and checkpoint.check(index, round_, labels, seen.pop()):
            booster.free_dataset()
            return None
        result = results[0]  # (data name, metric name, value, higher is better)
        value, higher_better = result[2], result[3]
        if best_score is None or (value > best_score if higher_better else value < best_score):
            best_score, best_round = value, round_
        elif round_ - best_round >= patience:
            break
    return booster, best_round


def fit_bag(
    x: np.ndarray,
    y: np.ndarray,
    part_of_row: np.ndarray,
    params: dict[str, Any],
    rounds: dict[str, int],
    feature_names: list[str],
    categorical: list[int],
    *,
    seeds: list[int],
    jobs: int = 1,
    on_booster: Callable[[], None] | None = None,
) -> tuple[list[dict[str, lgb.Booster]], dict[str, float]]:
    """One booster per seed and part with a fixed number of rounds, `jobs` boosters at a time; parts lacking a class
    get a constant prior.

    Each part's dataset is built once and shared (only read) by its boosters. With `jobs` > 1 the boosters are fitted
    in threads (LightGBM releases the GIL while boosting) and `params["num_threads"]` should be 1: a one-thread
    booster is the same model whatever runs beside it, and runs at full speed on a core shared with other processes,
    where a multi-threaded OpenMP fit stalls at every barrier behind a descheduled peer (issue 15, measured in
    `bench/contention.py`). `on_booster()` is called after each booster.
    """
    priors: dict[str, float] = {}
    sets: dict[str, lgb.Dataset] = {}
    default_rounds = max(1, round(float(np.mean(list(rounds.values()))))) if rounds else 100
    for key in sorted(set(part_of_row)):
        rows = part_of_row == key
        yk = y[rows]
        priors[str(key)] = prior_score(yk)
        if len(np.unique(yk)) == 2:
            threads = {"num_threads": params.get("num_threads") or 1}
            sets[str(key)] = lgb.Dataset(
                x[rows], label=yk, feature_name=feature_names, categorical_feature=categorical,
                params={**DATASET_PARAMS, **threads}, free_raw_data=False,
            ).construct()  # fmt: skip

    def fit_one(task: tuple[int, int, str]) -> lgb.Booster:
        _, seed, key = task
        booster = lgb.Booster(params={**params, "seed": seed}, train_set=sets[key])
        for _ in range(rounds.get(key, default_rounds)):
            booster.update()
        booster.free_dataset()
        if on_booster is not None:
            on_booster()
        return booster

    tasks = [(i, seed, key) for i, seed in enumerate(seeds) for key in sets]
    if jobs > 1 and len(tasks) > 1:
        with ThreadPoolExecutor(max_workers=min(jobs, len(tasks)), thread_name_prefix="bag") as pool:
            fitted = list(pool.map(fit_one, tasks))
    else:
        fitted = [fit_one(task) for task in tasks]
    bag: list[dict[str, lgb.Booster]] = [{} for _ in seeds]
    for (i, _, key), booster in zip(tasks, fitted, strict=True):
        bag[i][key] = booster
    return bag, priors


def fit_boosters(
    x: np.ndarray,
    y: np.ndarray,
    part_of_row: np.ndarray,
    params: dict[str, Any],
    rounds: dict[str, int],
    feature_names: list[str],
    categorical: list[int],
) -> tuple[dict[str, lgb.Booster], dict[str, float]]:
    """Fit one booster per part (seed `params["seed"]`) with a fixed number of rounds; parts lacking a class get a
    constant prior."""
    bag, priors = fit_bag(x, y, part_of_row, params, rounds, feature_names, categorical, seeds=[params.get("seed", 0)])
    return bag[0], priors
