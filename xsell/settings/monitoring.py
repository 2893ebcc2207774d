"""Settings of monitoring (`monitoring/`): drift distances, realised performance and the decision policy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from xsell.settings.base import Section

DistanceMethod = Literal["wasserstein", "psi", "jensenshannon", "hellinger"]
CategoricalDistance = Literal["psi", "jensenshannon", "hellinger"]


class DriftSettings(Section):
    """Feature and prediction drift: a distance per column type (stays meaningful on large samples, unlike a
    p-value), a column drifts when its distance reaches the threshold."""

    num_method: DistanceMethod = "wasserstein"  # numeric features: Wasserstein distance normed by the reference std
    num_threshold: float = Field(0.2, gt=0)  # 0.2 reference standard deviations
    cat_method: CategoricalDistance = "jensenshannon"  # categorical features
    cat_threshold: float = Field(0.1, gt=0)
    prediction_method: DistanceMethod = "wasserstein"  # the champion's propensities, reference vs current
    prediction_threshold: float = Field(0.2, gt=0)
    reference_snapshots: int | None = Field(6, ge=1)  # last N snapshots of the champion's training window (None: all)
    max_rows: int = Field(20_000, ge=100)  # with sample_rows 0: reference and current rows capped at this (seeded)
    # rows per side in the stratified sample the distances are measured on (0: all rows up to max_rows): at 5,000
    # the 95th percentile of the distance between two samples of the same data is under 1/5 of the numeric and
    # ~1/4..1/3 of the categorical threshold (see monitoring/sampling.py), so more rows change no verdict
    sample_rows: int = Field(5_000, ge=0)
    reference_cache: bool = True  # keep the champion's sampled, scored reference under HOME/monitoring/reference
    exclude: tuple[str, ...] = ("months_to_fiscal_year_start",)  # calendar features: move by design


class PolicySettings(Section):
    """What a monitoring check decides: `rollback`, `retrain` or `none`."""

    drift_share: float = Field(0.2, gt=0, le=1)  # a check is drifted when this share of features drifted...
    prediction_drift: bool = True  # ...or (when true) the champion's propensities drifted
    persist_checks: int = Field(2, ge=1)  # retrain when N of ...
    window_checks: int = Field(3, ge=1)  # ... the last M checks of the same champion (since its last retrain) drifted
    min_roc_auc: float | None = Field(0.6, ge=0, le=1)  # retrain when realised ROC-AUC falls below this
    max_pr_auc_drop: float | None = Field(0.3, ge=0, le=1)  # ... or realised PR-AUC < holdout PR-AUC x (1 - this)
    rollback_margin: float = Field(0.05, ge=0, le=1)  # rollback when PR-AUC < previous champion's x (1 - this)
    min_positives: int = Field(20, ge=1)  # realised metrics on fewer positives are reported, never acted on
    max_roc_auc_decay: float | None = Field(0.06, ge=0, le=1)  # ... or realised ROC-AUC fell this much below the
    # champion's first realised ROC-AUC (its own baseline on live data: concept drift shows as decay)
    max_product_roc_auc_decay: float | None = Field(0.06, ge=0, le=1)  # ... or one product's realised ROC-AUC fell
    # this much below its first out-of-sample realised ROC-AUC (a concept drift of one product shows there first)
    max_product_roc_auc_drop: float | None = Field(None, ge=0, le=1)  # ... or a product's realised ROC-AUC is below
    # its holdout ROC-AUC less this (off by default: per-product holdouts of a small book are too noisy)
    bootstrap_resamples: int = Field(200, ge=0)  # row resamples behind the realised metrics' intervals (0: none)
    confidence: float = Field(0.9, gt=0, lt=1)  # interval coverage: a floor or rollback acts only when the whole
    # interval is past its bar (realised PR-AUC on a few dozen positives moves a lot by chance alone)

    @model_validator(mode="after")
    def _window(self) -> PolicySettings:
        if self.persist_checks > self.window_checks:
            raise ValueError(f"persist_checks ({self.persist_checks}) exceeds window_checks ({self.window_checks})")
        return self


class MonitoringSettings(Section):
    """`xsell monitor`: drift of the champion's inputs and outputs, realised performance, decision policy."""

    drift: DriftSettings = DriftSettings()
    policy: PolicySettings = PolicySettings()
    performance_snapshots: int = Field(3, ge=1)  # most recent snapshots with matured labels after the training data
    act: bool = True  # `xsell monitor` carries out its decision (retrain / rollback), audited; --no-act only decides
