"""Model inputs of a training problem: encoded once, fold datasets built once, and the CV objective over them.

Built identically by the coordinator (`training.engine.run_engine`) and its tuning workers
(`training.engine.run_engine_worker`), so every process scores trials on the same folds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from training.boosting import POOLED, base_params, build_fold_sets
from training.encoding import TableEncoder
from training.objective import CVObjective
from training.problem import TrainingProblem
from xsell.cores import ThreadPlan, available_cores, cap_threads, thread_plan
from xsell.settings import Settings

__all__ = ["TuningInputs", "bag_jobs", "build_inputs", "tuning_threads"]


def tuning_threads(settings: Settings) -> ThreadPlan:
    """Optuna trial threads x LightGBM threads per trial from the settings, capped to the available cores (a warning
    when capped: more threads than cores only queue and spin)."""
    cfg = settings.training
    return thread_plan(cfg.n_jobs, cfg.num_threads, available_cores(), what="training.n_jobs x training.num_threads")


def bag_jobs(settings: Settings) -> int:
    """Seed-bag boosters fitted at a time: `training.bag_jobs`, by default one per available core, never above."""
    cores = available_cores()
    asked = settings.training.bag_jobs
    return cores if asked is None else cap_threads(asked, cores, what="training.bag_jobs")


@dataclass(frozen=True)
class TuningInputs:
    """Encoded inputs, the booster part of every row, the base LightGBM parameters and the tuned objective."""

    x: np.ndarray
    parts: np.ndarray  # the booster each row belongs to: POOLED, or its product (per-product layout)
    inputs: list[str]  # the encoded columns, in the order of `x`
    categorical: list[str]
    cat_idx: list[int]
    base: dict[str, Any]
    objective: CVObjective


def build_inputs(problem: TrainingProblem, settings: Settings) -> TuningInputs:
    """Encode the inputs once, build the fold datasets once and the CV objective over them."""
    cfg = settings.training
    frame, y, spec, rows, layout = problem.frame, problem.labels, problem.spec, problem.rows, problem.layout
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
    threads = tuning_threads(settings).threads
    base = base_params(seed=settings.seed, num_threads=threads, objective_metric=cfg.objective_metric)
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
    return TuningInputs(x, parts, inputs, categorical, cat_idx, base, objective)
