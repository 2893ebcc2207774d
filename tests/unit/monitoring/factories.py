"""Small builders of drift results, realised performance and check histories for the monitoring tests."""

from __future__ import annotations

from monitoring.drift import ColumnDrift, DriftResult
from monitoring.performance import ModelMetrics, RealisedPerformance
from monitoring.policy import CheckRecord


def drift_result(share: float = 0.0, prediction_score: float = 0.01, n_features: int = 10) -> DriftResult:
    """A drift result where `share` of `n_features` numeric features drifted (score 0.5 vs threshold 0.1)."""
    drifted = round(share * n_features)
    columns = {
        f"f{i}": ColumnDrift(f"f{i}", "numeric", "wasserstein", 0.5 if i < drifted else 0.01, 0.1, i < drifted)
        for i in range(n_features)
    }
    prediction = ColumnDrift("propensity", "prediction", "wasserstein", prediction_score, 0.1, prediction_score >= 0.1)
    return DriftResult(
        drift_share=drifted / n_features,
        drifted_features=tuple(n for n, c in columns.items() if c.drifted),
        columns=columns,
        prediction=prediction,
        html_path="/reports/monitoring/drift.html",
    )


def metrics(
    version: int,
    pr_auc: float,
    roc_auc: float = 0.8,
    positives: int = 50,
    rows: int = 1000,
    pr_ci: tuple[float, float] | None = None,
    roc_ci: tuple[float, float] | None = None,
) -> ModelMetrics:
    """Realised metrics of one model (bootstrap intervals optional)."""
    return ModelMetrics(
        version=version,
        rows=rows,
        positives=positives,
        roc_auc=roc_auc,
        pr_auc=pr_auc,
        ece=0.02,
        roc_auc_ci=roc_ci,
        pr_auc_ci=pr_ci,
    )


def performance(
    champion: ModelMetrics,
    previous: ModelMetrics | None = None,
    holdout_pr_auc: float = 0.2,
    ratio_ci: tuple[float, float] | None = None,
) -> RealisedPerformance:
    """Realised performance with the champion's holdout PR-AUC as the floor's baseline."""
    return RealisedPerformance(
        snapshots=("2025-03-31",),
        champion=champion,
        previous_champion=previous,
        champion_holdout={"pr_auc": holdout_pr_auc, "roc_auc": 0.8},
        pr_auc_ratio_ci=ratio_ci,
    )


def record(
    as_of: str,
    drifted: bool,
    decision: str = "none",
    champion: int = 1,
    action: str = "",
    realised_roc_auc: float | None = None,
    realised_positives: int = 0,
    out_of_sample: bool | None = True,
    products: dict[str, tuple[float, int]] | None = None,
) -> CheckRecord:
    """One earlier check (`action` "" as in records written before actions were noted); `products` maps a product
    to its realised (ROC-AUC, positives)."""
    return CheckRecord(
        as_of=as_of,
        champion_version=champion,
        drifted=drifted,
        drift_share=0.5 if drifted else 0.0,
        prediction_drift=None,
        decision=decision,
        action=action,
        realised_roc_auc=realised_roc_auc,
        realised_positives=realised_positives,
        realised_out_of_sample=out_of_sample,
        realised_products={p: {"roc_auc": r, "positives": n} for p, (r, n) in (products or {}).items()},
    )
