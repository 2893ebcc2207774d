"""Batch shadow scoring: the challenger scores the same rows as the champion, is stored, never published, and
compared.

Comparison of one run (`score_agreement`): PSI of the challenger's scores against the champion's (bins at the
champion's quantiles), the two-sample Kolmogorov-Smirnov statistic, Spearman rank correlation, and top-decile
overlap (share of the champion's top `serving.shadow.top_share` rows that are also in the challenger's). Once the
labels of a shadowed date mature, ROC-AUC and PR-AUC of both models on the same rows (`realised_metrics`).

Where it is logged: the warehouse (`serving.shadow_runs`, `serving.shadow_scores`) and MLflow: one run per shadow
scoring in the experiment `<registry.experiment><serving.shadow.experiment_suffix>` (default `xsell-shadow`),
named `shadow-<as_of>-v<champion>-v<challenger>`, tagged with both versions and the as-of date; metrics `psi`,
`ks`, `spearman`, `top_decile_overlap`, `rows`, per product `<product>/<metric>`, and later `realised/...` on the
same run. A separate experiment keeps the training experiment's runs one per model.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from features.calendar import is_labelled
from features.families import date_sql
from features.grid import data_bounds
from features.labels import conversion_cte, label_expr
from features.store import table_exists, warehouse
from registry.client import registry_client
from registry.tracking import configure_tracking, owner_tags
from serving import store
from xsell.settings import Settings

log = logging.getLogger(__name__)

_EPS = 1e-4


@dataclass(frozen=True)
class ShadowComparison:
    """Champion vs challenger scores on the same rows."""

    rows: int
    psi: float
    ks: float
    spearman: float
    top_decile_overlap: float


def psi(expected: ArrayLike, actual: ArrayLike, bins: int = 10) -> float:
    """Population stability index of `actual` against `expected`, bins at `expected`'s quantiles."""
    x = np.asarray(expected, dtype=float)
    y = np.asarray(actual, dtype=float)
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
    e = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1) / len(x)
    a = np.bincount(np.searchsorted(edges, y, side="right"), minlength=len(edges) + 1) / len(y)
    e, a = np.clip(e, _EPS, None), np.clip(a, _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def top_overlap(first: ArrayLike, second: ArrayLike, share: float) -> float:
    """Share of `first`'s top `share` rows (at least one) that are also among `second`'s top rows (ties by
    position)."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    n = len(a)
    if n == 0:
        return float("nan")
    k = max(1, math.ceil(share * n))
    top_a = set(np.argsort(-a, kind="stable")[:k])
    top_b = set(np.argsort(-b, kind="stable")[:k])
    return len(top_a & top_b) / k


def score_agreement(
    champion: ArrayLike, challenger: ArrayLike, top_share: float = 0.1, bins: int = 10
) -> ShadowComparison:
    """PSI, KS, Spearman and top-share overlap of two models' scores on the same rows (aligned arrays)."""
    a = np.asarray(champion, dtype=float)
    b = np.asarray(challenger, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"champion and challenger scores differ in length: {a.shape} vs {b.shape}")
    n = len(a)
    if n < 2:
        nan = float("nan")
        return ShadowComparison(n, nan, nan, nan, top_overlap(a, b, top_share))
    from scipy import stats  # heavy: imported when runs are compared, not when the CLI starts

    rho = float("nan") if np.ptp(a) == 0 or np.ptp(b) == 0 else float(stats.spearmanr(a, b).statistic)
    return ShadowComparison(
        rows=n,
        psi=psi(a, b, bins),
        ks=float(stats.ks_2samp(a, b).statistic),
        spearman=rho,
        top_decile_overlap=top_overlap(a, b, top_share),
    )


def realised_metrics(labels: ArrayLike, champion: ArrayLike, challenger: ArrayLike) -> dict[str, float | None]:
    """ROC-AUC and PR-AUC of both models on the same labelled rows (None when the labels hold one class)."""
    from sklearn.metrics import average_precision_score, roc_auc_score  # heavy: imported when used

    y = np.asarray(labels, dtype=int)
    out: dict[str, float | None] = {"labelled_rows": len(y)}
    both = len(y) > 0 and 0 < y.sum() < len(y)
    for name, scores in (("champion", champion), ("challenger", challenger)):
        out[f"{name}_roc_auc"] = float(roc_auc_score(y, scores)) if both else None
        out[f"{name}_pr_auc"] = float(average_precision_score(y, scores)) if both else None
    return out


def shadow_experiment(settings: Settings) -> str:
    """Name of the MLflow experiment of the shadow comparisons."""
    return settings.registry.experiment + settings.serving.shadow.experiment_suffix


def log_comparison(
    settings: Settings,
    as_of: date,
    champion_version: int,
    challenger_version: int,
    overall: ShadowComparison,
    per_product: dict[str, ShadowComparison],
) -> str:
    """One MLflow run in the shadow experiment with the comparison; returns its run id."""
    name = shadow_experiment(settings)
    registry = settings.registry.model_copy(update={"experiment": name})
    experiment_id = configure_tracking(settings.model_copy(update={"registry": registry}))
    client = registry_client(settings)
    run = client.create_run(
        experiment_id,
        run_name=f"shadow-{as_of.isoformat()}-v{champion_version}-v{challenger_version}",
        tags={
            "xsell.kind": "shadow",
            "model_name": settings.registry.model_name,
            "as_of": as_of.isoformat(),
            "champion_version": str(champion_version),
            "challenger_version": str(challenger_version),
        }
        | owner_tags(),
    )
    metrics = _finite({k: v for k, v in asdict(overall).items()})
    for product, comparison in per_product.items():
        metrics |= _finite({f"{product}/{k}": v for k, v in asdict(comparison).items()})
    try:
        for key, value in metrics.items():
            client.log_metric(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run.info.run_id, "FAILED")
        raise
    return str(run.info.run_id)


def _finite(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


def run_shadow(
    settings: Settings,
    as_of: date,
    rows: pd.DataFrame,
    champion: pd.DataFrame,
    challenger: Any,
    champion_version: int,
    run_id: str,
) -> dict[str, Any]:
    """Score `rows` (feature rows) with the `challenger` (a `registry.models.LoadedModel`), compare with the
    `champion` rows (account_id, product, propensity), store both in the warehouse and log to MLflow; return the
    stored comparison row."""
    cfg = settings.serving.shadow
    scores = rows[["account_id", "product"]].reset_index(drop=True).copy()
    scores["propensity"] = challenger.predict_proba(rows)
    scores.insert(0, "as_of", as_of)
    scores["model_name"] = challenger.name
    scores["model_version"] = int(challenger.version)
    scores["run_id"] = run_id
    joined = champion[["account_id", "product", "propensity"]].merge(
        scores[["account_id", "product", "propensity"]], on=["account_id", "product"], suffixes=("_a", "_b")
    )
    if len(joined) != len(champion):
        raise ValueError(f"shadow rows of {as_of} do not match the champion's: {len(joined)} of {len(champion)}")
    overall = score_agreement(joined["propensity_a"], joined["propensity_b"], cfg.top_share, cfg.psi_bins)
    per_product = {
        str(p): score_agreement(part["propensity_a"], part["propensity_b"], cfg.top_share, cfg.psi_bins)
        for p, part in joined.groupby("product", sort=True)
    }
    mlflow_run_id = log_comparison(settings, as_of, champion_version, int(challenger.version), overall, per_product)
    record: dict[str, Any] = {
        "run_id": run_id,
        "scored_at": datetime.now(UTC).replace(tzinfo=None),
        "as_of": as_of,
        "model_name": challenger.name,
        "champion_version": int(champion_version),
        "challenger_version": int(challenger.version),
        "rows": overall.rows,
        "psi": overall.psi,
        "ks": overall.ks,
        "spearman": overall.spearman,
        "top_decile_overlap": overall.top_decile_overlap,
        "mlflow_run_id": mlflow_run_id,
    }
    with warehouse(settings) as con:
        store.replace_shadow(con, scores, record)
    log.info("shadow run stored", extra={k: str(v) for k, v in record.items()})
    return record


def _labelled_pairs(con: Any, run: pd.Series, horizon_days: int, data_end: date) -> pd.DataFrame:
    """Champion and challenger scores of one shadow run's rows with their labels (matured horizon)."""
    as_of = pd.Timestamp(run["as_of"]).date()
    sql = f"""WITH {conversion_cte()}
        SELECT s.account_id, s.product, p.propensity AS champion, s.propensity AS challenger,
               {label_expr(as_of, horizon_days, data_end)} AS label
        FROM {store.SHADOW_SCORES} s
        JOIN {store.SCORES} p ON p.as_of = s.as_of AND p.account_id = s.account_id
             AND p.product = s.product AND CAST(p.model_version AS INTEGER) = ?
        LEFT JOIN conversions conv ON conv.account_id = s.account_id AND conv.product = s.product
        WHERE s.as_of = {date_sql(as_of)} AND s.model_version = ?"""
    return con.execute(sql, [int(run["champion_version"]), int(run["challenger_version"])]).df()


def realise_matured(settings: Settings) -> list[dict[str, Any]]:
    """Fill the realised ROC-AUC/PR-AUC of every stored shadow run whose labels have matured and that has none
    yet (warehouse row and the run's MLflow metrics `realised/<model>_<metric>`); return what was filled."""
    horizon = settings.features.horizon_days
    filled = []
    with warehouse(settings) as con:
        runs = store.shadow_runs(con)
        if runs.empty:
            return []
        data_end = data_bounds(con, settings).end
        for _, run in runs[runs["labelled_rows"].isna()].iterrows():
            as_of = pd.Timestamp(run["as_of"]).date()
            if not is_labelled(as_of, horizon, data_end):
                continue
            pairs = _labelled_pairs(con, run, horizon, data_end)
            values = realised_metrics(
                pairs["label"].to_numpy(), pairs["champion"].to_numpy(), pairs["challenger"].to_numpy()
            )
            store.update_realised(con, as_of, int(run["challenger_version"]), values)
            filled.append({"as_of": as_of.isoformat(), "challenger_version": int(run["challenger_version"]), **values})
            if run["mlflow_run_id"]:
                client = registry_client(settings)
                for key, value in _finite({k: v for k, v in values.items()}).items():
                    client.log_metric(str(run["mlflow_run_id"]), f"realised/{key}", value)
    if filled:
        log.info("realised shadow metrics", extra={"runs": len(filled)})
    return filled


def shadow_run_count(settings: Settings, challenger_version: int) -> int:
    """Number of distinct as-of dates the challenger `challenger_version` was shadow-scored on (0 when no
    warehouse or no shadow table)."""
    if not settings.warehouse_path.is_file():
        return 0
    with warehouse(settings, read_only=True) as con:
        if not table_exists(con, store.SCHEMA, "shadow_runs"):
            return 0
        rows = con.execute(
            f"SELECT count(DISTINCT as_of) FROM {store.SHADOW_RUNS} WHERE challenger_version = ?",
            [int(challenger_version)],
        ).fetchall()
        return int(rows[0][0])
