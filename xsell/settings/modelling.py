"""Settings of training (`training/`) and of the model registry (`registry/`): tuning, gates, access."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from xsell.settings.base import Section


class TrainingSettings(Section):
    """Time-based CV, Optuna tuning, LightGBM fitting and calibration."""

    trials: int = Field(50, ge=1)
    timeout_seconds: float | None = Field(None, gt=0)
    cv_folds: int = Field(3, ge=1)
    holdout_snapshots: int = Field(3, ge=1)  # most recent fully labelled snapshots kept out of tuning
    purge_days: int | None = Field(None, ge=0)  # gap before each validation snapshot; default: the label horizon
    model_layout: Literal["pooled", "per_product"] = "pooled"  # one model (product as a feature) or one per product
    objective_metric: Literal["pr_auc", "log_loss"] = "pr_auc"
    objective_average: Literal["per_product", "pooled"] = "per_product"  # PR-AUC per product's list, then the mean
    calibration: Literal["auto", "isotonic", "platt"] = "auto"  # auto: the lower ECE on out-of-time predictions
    refit_on_holdout: bool = True  # after evaluation, refit with the holdout included (same params and rounds)
    n_jobs: int = Field(2, ge=1)  # Optuna workers in this process (n_jobs x num_threads: capped to the cores)
    workers: int = Field(1, ge=1)  # tuning worker processes on one shared study (>1 needs optuna_storage on a server)
    num_threads: int = Field(1, ge=1)  # LightGBM threads per trial (n_jobs x num_threads <= cores)
    optuna_storage: str | None = None  # database URL; default: sqlite under home
    max_rounds: int = Field(600, ge=10)
    early_stopping_rounds: int = Field(40, ge=1)
    prune_every_rounds: int = Field(50, ge=0)  # boosting rounds between in-fold reports to the pruner (0: fold ends)
    n_seeds: int = Field(5, ge=1)  # boosters per part with different seeds, averaged (variance reduction)
    # seed-bag boosters of the final model and the refit fitted at a time, one thread each (None: one per available
    # core; 1: one after another with n_jobs x num_threads threads each, slow on shared cores)
    bag_jobs: int | None = Field(None, ge=1)


class GateSettings(Section):
    """Promotion gates: what a challenger must show against the champion, re-scored on the same recent labelled
    snapshots, before it may serve.

    `mode`: `disabled` (no gates: `promote` moves the alias, shadow runs never promote), `dry_run` (gates are
    evaluated and recorded, never block: `promote` proceeds, shadow runs only record the verdict), `enabled`
    (a failing gate refuses `promote` unless forced; shadow runs promote a challenger that passes).
    """

    mode: Literal["disabled", "dry_run", "enabled"] = "enabled"
    min_relative_gain: float = Field(0.01, ge=-1)  # challenger PR-AUC >= champion PR-AUC x (1 + this)
    ece_tolerance: float = Field(0.01, ge=0)  # challenger ECE <= champion ECE + this
    product_tolerance: float = Field(0.05, ge=0, le=1)  # per product: PR-AUC may drop by at most this share
    parity_metric: Literal["roc_auc", "top_decile_rate"] = "roc_auc"  # compared between segments
    parity_tolerance: float = Field(0.15, ge=0)  # challenger's largest gap between segments
    segment_column: str = "segment"
    min_segment_rows: int = Field(50, ge=1)  # segments (and products) with fewer rows, or one class, are skipped
    min_shadow_runs: int = Field(2, ge=0)  # distinct as-of dates the challenger was shadow-scored on
    eval_snapshots: int = Field(3, ge=1)  # most recent fully labelled snapshots both models are scored on


class AccessSettings(Section):
    """Who may move the champion through xsell, and what a champion move made in the MLflow UI counts as."""

    # user names (MLflow users in team mode; registry.actor / the OS user in embedded mode) or `role:NAME` (members
    # of an MLflow role); None: anyone may promote or roll back, and UI moves are honoured
    champion_movers: tuple[str, ...] | None = None
    ui_moves_allowed: bool = False  # with champion_movers set: MLflow records no author of an alias move
    ui_move_policy: Literal["report", "revert"] = "report"  # an unauthorised UI move: record it, or also undo it


class RegistrySettings(Section):
    """MLflow tracking and the model registry (the tracking URI itself comes only from MLFLOW_TRACKING_URI)."""

    model_name: str = "xsell-propensity"
    experiment: str = "xsell"
    champion_alias: str = "champion"
    challenger_alias: str = "challenger"
    previous_champion_alias: str = "previous_champion"  # where `rollback` goes back to
    actor: str | None = None  # who is recorded in the audit trail (default: the OS user)
    gates: GateSettings = GateSettings()
    access: AccessSettings = AccessSettings()
