"""Bring your own table: the same engine on any labelled feature table.

With a time column the CV is time-based over periods of it (`training.periods`: each distinct value when they are few,
else equal-count periods of numbers or calendar periods of dates; purge = `training.purge_days`, else 0, plus a gap of
whole periods; the holdout is the last period); without one it is stratified K-fold with a stratified 20% holdout. String
columns are encoded inside the model; no product column is required (metrics are then "overall" only). The only
baseline is the logistic regression: the RevOps scorecard needs xsell's features.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from training.dataset import data_hash
from training.encoding import infer_categorical
from training.engine import run_engine
from training.errors import TrainingError
from training.periods import Grain, plan_periods, time_values
from training.problem import TableSpec, TrainingProblem
from training.result import TrainingResult
from training.splits import stratified_splits
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["HOLDOUT_SHARE", "table_problem", "train_table"]

#: Share of the rows held out (stratified) when the table has no time column.
HOLDOUT_SHARE = 0.2
LABEL = "__label__"


def _labels(frame: pd.DataFrame, label: str | Sequence[int] | np.ndarray | pd.Series) -> tuple[np.ndarray, str | None]:
    if isinstance(label, str):
        if label not in frame.columns:
            raise TrainingError(f"the table has no label column {label!r}")
        values = frame[label]
        name: str | None = label
    else:
        values = pd.Series(np.asarray(label), index=frame.index)
        name = None
        if len(values) != len(frame):
            raise TrainingError(f"{len(frame)} rows but {len(values)} labels")
    if values.isna().any():
        raise TrainingError(f"{int(values.isna().sum())} rows have no label: drop them first")
    uniques = set(pd.unique(values))
    if not uniques <= {0, 1} or len(uniques) < 2:  # True == 1 and False == 0 in a set
        raise TrainingError(f"the label must be binary (0/1) with both classes present, got {sorted(uniques, key=str)}")
    return values.astype("int64").to_numpy(), name


def train_table(
    frame: pd.DataFrame,
    label: str | Sequence[int] | np.ndarray | pd.Series,
    time_col: str | None = None,
    id_col: str | None = None,
    settings: Settings | None = None,
    *,
    product_col: str | None = None,
    segment_col: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    model_name: str | None = None,
    time_grain: Grain | None = None,
    purge_periods: int | None = None,
) -> TrainingResult:
    """Tune, fit, calibrate and evaluate a propensity model on any feature table; see the module doc.

    `label` is the name of a 0/1 column (or the labels themselves); every other column except `time_col`,
    `id_col` and `product_col` is a feature. `segment_col` (a feature too) adds per-segment metrics. The layout is
    `training.model_layout` when a product column is given, else pooled. `time_grain` (day, week, month, quarter,
    "value" or a number of equal-count periods; default automatic) and `purge_periods` (whole periods purged before
    each validation period and the holdout) shape the periods of `time_col`: see `training.periods`.
    """
    settings = settings or Settings()
    problem = table_problem(
        frame, label, time_col, id_col, settings, product_col=product_col, segment_col=segment_col,
        model_name=model_name, time_grain=time_grain, purge_periods=purge_periods,
    )  # fmt: skip
    return run_engine(problem, settings, trials=trials, timeout=timeout)


def table_problem(
    frame: pd.DataFrame,
    label: str | Sequence[int] | np.ndarray | pd.Series,
    time_col: str | None,
    id_col: str | None,
    settings: Settings,
    *,
    product_col: str | None = None,
    segment_col: str | None = None,
    model_name: str | None = None,
    time_grain: Grain | None = None,
    purge_periods: int | None = None,
) -> TrainingProblem:
    """The training problem of a feature table: checked labels, column roles, rows in time order and the plan."""
    if frame.empty:
        raise TrainingError("the table is empty")
    for role, column in (("time", time_col), ("id", id_col), ("product", product_col), ("segment", segment_col)):
        if column is not None and column not in frame.columns:
            raise TrainingError(f"the table has no {role} column {column!r}")
    labels, label_name = _labels(frame, label)
    data = frame.reset_index(drop=True)
    if label_name is not None:
        data = data.drop(columns=[label_name])
    keys = [c for c in (id_col, time_col, product_col) if c]
    features = [c for c in data.columns if c not in keys]
    if not features:
        raise TrainingError("the table has no feature column")
    spec = TableSpec(
        features=features,
        categorical=infer_categorical(data, features),
        product_column=product_col,
        segment_column=segment_col,
        id_column=id_col,
        time_column=time_col,
        catalog={},
        scorecard=False,
        scorecard_note="the RevOps scorecard needs xsell's snapshot features; a bring-your-own table has no such"
        " columns",
    )
    cfg = settings.training
    if time_col:
        times = time_values(data[time_col], time_col)
        keys_frame = data[[c for c in (id_col, product_col) if c]].assign(__time__=times.to_numpy())
        order = keys_frame.sort_values(["__time__", *[c for c in (id_col, product_col) if c]], kind="stable").index
        data, labels = data.loc[order].reset_index(drop=True), labels[order.to_numpy()]
        plan, rows = plan_periods(
            times.loc[order].reset_index(drop=True),
            labels,
            column=time_col,
            cv_folds=cfg.cv_folds,
            purge=cfg.purge_days or 0,
            grain=time_grain,
            gap=purge_periods,
        )
    else:
        plan, rows = stratified_splits(labels, cv_folds=cfg.cv_folds, holdout_share=HOLDOUT_SHARE, seed=settings.seed)
    layout = cfg.model_layout if product_col else "pooled"
    hashed = data.assign(**{LABEL: labels})
    return TrainingProblem(
        frame=data,
        labels=labels,
        spec=spec,
        plan=plan,
        rows=rows,
        layout=layout,
        data_hash=data_hash(hashed, sort_by=keys),
        model_name=model_name or f"{settings.registry.model_name}-table",
    )
