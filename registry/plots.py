"""Evaluation plots of a training run, one function per plot: our own frames in, a matplotlib Figure out.

Figures are built with `matplotlib.figure.Figure` (no pyplot, no global backend state); saving one to PNG
renders it with Agg. Every function copes with missing optional columns and empty inputs (the figure then
says there is nothing to show) so a degenerate evaluation never stops a run from being logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from training.result import CalibrationReport

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn, not when the registry is
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Score columns of the holdout frame, by model name (the trained model first, then the baselines).
SCORE_COLUMNS: Mapping[str, str] = {"xsell": "propensity", "scorecard": "scorecard", "logistic": "logistic"}
_STYLE = {"xsell": "-", "scorecard": "--", "logistic": ":"}


def _figure(width: float = 7.0, height: float = 5.0, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _nothing(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} to show", ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def _scored(holdout: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of the rows that have both."""
    frame = holdout[["label", column]].dropna()
    return frame["label"].to_numpy(dtype=float), frame[column].to_numpy(dtype=float)


def gains_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of rows targeted (highest scores first) and share of positives captured, both from 0 to 1."""
    order = np.argsort(-scores, kind="stable")
    captured = np.cumsum(labels[order])
    total = captured[-1] if len(captured) else 0.0
    targeted = np.arange(1, len(labels) + 1) / max(len(labels), 1)
    gains = captured / total if total > 0 else np.zeros_like(captured, dtype=float)
    return np.concatenate([[0.0], targeted]), np.concatenate([[0.0], gains])


def plot_cumulative_gains(holdout: pd.DataFrame, score_columns: Mapping[str, str] = SCORE_COLUMNS) -> Figure:
    """Cumulative gains (share of buyers captured vs share of pairs targeted) and lift over random, on the
    holdout, for the model and each baseline present in `holdout` (columns `label` and the score columns)."""
    fig, (gains_ax, lift_ax) = _figure(11.0, 4.5, ncols=2)
    drawn = False
    for model, column in score_columns.items():
        if column not in holdout.columns:
            continue
        labels, scores = _scored(holdout, column)
        if len(labels) == 0 or labels.sum() == 0:
            continue
        share, gains = gains_curve(labels, scores)
        style = _STYLE.get(model, "-.")
        gains_ax.plot(share, gains, style, label=model)
        shown = share >= 0.01  # the first few rows make the lift jump around
        lift_ax.plot(share[shown], gains[shown] / share[shown], style, label=model)
        drawn = True
    if not drawn:
        _nothing(gains_ax, "labelled holdout rows")
        _nothing(lift_ax, "labelled holdout rows")
        return fig
    gains_ax.plot([0, 1], [0, 1], color="grey", lw=0.8, label="random")
    gains_ax.set(xlabel="share of pairs targeted", ylabel="share of buyers captured", title="Cumulative gains")
    lift_ax.axhline(1.0, color="grey", lw=0.8)
    lift_ax.set(xlabel="share of pairs targeted", ylabel="lift over random", title="Lift", xlim=(0, 1))
    for ax in (gains_ax, lift_ax):
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    return fig


def plot_calibration(report: CalibrationReport) -> Figure:
    """Reliability curves on the holdout (mean predicted vs observed rate per bin), one per product, dot area
    proportional to the rows in the bin; the chosen method and each product's ECE in the legend."""
    fig, (ax,) = _figure(6.5, 5.5)
    table = report.reliability
    if table.empty:
        _nothing(ax, "reliability bins")
        return fig
    biggest = float(table["count"].max()) if "count" in table.columns else 1.0
    for product, rows in table.groupby("product", sort=True):
        rows = rows.sort_values("mean_predicted")
        ece = report.ece.get(str(product))
        label = f"{product} (ECE {ece:.3f})" if ece is not None else str(product)
        style = {"color": "black", "lw": 2.0} if product == "overall" else {"lw": 1.0}
        (line,) = ax.plot(rows["mean_predicted"], rows["observed_rate"], label=label, **style)  # type: ignore[arg-type]
        if "count" in rows.columns:
            sizes = 8 + 140 * rows["count"].to_numpy(dtype=float) / max(biggest, 1.0)
            ax.scatter(rows["mean_predicted"], rows["observed_rate"], s=sizes, color=line.get_color(), alpha=0.6)
    upper = float(min(1.0, 1.05 * max(table["mean_predicted"].max(), table["observed_rate"].max(), 0.02)))
    ax.plot([0, upper], [0, upper], color="grey", lw=0.8, ls="--", label="perfectly calibrated")
    overall = report.ece.get("overall")
    title = f"Calibration ({report.method})" + (f", overall ECE {overall:.3f}" if overall is not None else "")
    ax.set(xlabel="mean predicted probability", ylabel="observed conversion rate", title=title)
    ax.set(xlim=(0, upper), ylim=(0, upper))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return fig


def plot_precision_recall(holdout: pd.DataFrame, score_columns: Mapping[str, str] = SCORE_COLUMNS) -> Figure:
    """Precision-recall curves on the holdout: the model per product and overall, the baselines overall."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, (ax,) = _figure(6.5, 5.5)

    def curve(frame: pd.DataFrame, column: str, label: str, **style: object) -> bool:
        labels, scores = _scored(frame, column)
        if len(labels) == 0 or labels.sum() == 0 or labels.sum() == len(labels):
            return False
        precision, recall, _ = precision_recall_curve(labels, scores)
        ap = average_precision_score(labels, scores)
        ax.plot(recall, precision, label=f"{label} (AP {ap:.3f})", **style)  # type: ignore[arg-type]
        return True

    main, *baselines = list(score_columns.items())
    drawn = False
    if main[1] in holdout.columns:
        drawn = curve(holdout, main[1], f"{main[0]} overall", lw=2.2, color="black")
        if "product" in holdout.columns and holdout["product"].nunique() > 1:
            for product, rows in holdout.groupby("product", sort=True):
                drawn = curve(rows, main[1], f"{main[0]} {product}", lw=1.2) or drawn
    for model, column in baselines:
        if column in holdout.columns:
            drawn = (
                curve(holdout, column, f"{model} overall", lw=1.2, ls=_STYLE.get(model, "-."), color="grey") or drawn
            )
    if not drawn:
        _nothing(ax, "labelled holdout rows with both classes")
        return fig
    base_rate = float(holdout["label"].mean())
    ax.axhline(base_rate, color="grey", lw=0.8, ls="--", label=f"base rate {base_rate:.3f}")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall on the holdout", xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_shap_summary(contributions: pd.DataFrame, values: pd.DataFrame, top: int = 15) -> Figure:
    """SHAP summary (beeswarm): per feature, ranked by mean |contribution|, one dot per sampled row at its
    contribution (log-odds), coloured by the feature's value rank (grey for categorical or missing values)."""
    features = [c for c in contributions.columns if pd.api.types.is_numeric_dtype(contributions[c])]
    fig, (ax,) = _figure(8.0, 0.38 * min(top, max(len(features), 1)) + 1.6)
    if contributions.empty or not features:
        _nothing(ax, "SHAP contributions")
        return fig
    importance = contributions[features].abs().mean().sort_values(ascending=False).head(top)
    ranked = list(importance.index)
    rng = np.random.default_rng(0)
    scatter = None
    for position, feature in enumerate(reversed(ranked)):
        shap = contributions[feature].to_numpy(dtype=float)
        y = position + rng.uniform(-0.3, 0.3, size=len(shap))
        raw = values[feature] if feature in values.columns else pd.Series(np.nan, index=contributions.index)
        numeric = pd.to_numeric(raw, errors="coerce") if not isinstance(raw.dtype, pd.CategoricalDtype) else None
        if numeric is not None and numeric.notna().any():
            colour = numeric.rank(pct=True).to_numpy(dtype=float)
            known = ~np.isnan(colour)
            ax.scatter(shap[~known], y[~known], s=6, color="lightgrey", alpha=0.7)
            scatter = ax.scatter(shap[known], y[known], s=6, c=colour[known], cmap="coolwarm", vmin=0, vmax=1)
        else:
            ax.scatter(shap, y, s=6, color="grey", alpha=0.7)
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_yticks(range(len(ranked)), list(reversed(ranked)))
    ax.set(xlabel="contribution to the log-odds (SHAP value)", title=f"SHAP summary ({len(contributions)} rows)")
    if scatter is not None:
        bar = fig.colorbar(scatter, ax=ax, pad=0.01, aspect=40)
        bar.set_ticks([0, 1], labels=["low", "high"])
        bar.set_label("feature value (rank)")
    return fig


def plot_feature_importance(importance: pd.DataFrame, top: int = 20) -> Figure:
    """Horizontal bars of the top features by share of total gain (split counts in the labels)."""
    fig, (ax,) = _figure(8.0, 0.32 * min(top, max(len(importance), 1)) + 1.4)
    if importance.empty or "gain" not in importance.columns:
        _nothing(ax, "feature importance")
        return fig
    total = float(importance["gain"].sum()) or 1.0
    rows = importance.sort_values("gain", ascending=False).head(top).iloc[::-1]
    share = rows["gain"].to_numpy(dtype=float) / total
    ax.barh(rows["feature"].astype(str), share, color="steelblue")
    if "split" in rows.columns:
        for y, (value, splits) in enumerate(zip(share, rows["split"], strict=True)):
            ax.text(value, y, f" {splits:.0f} splits", va="center", fontsize="x-small", color="dimgrey")
    ax.set(xlabel="share of total gain", title=f"Feature importance (top {len(rows)} of {len(importance)})")
    ax.grid(axis="x", alpha=0.3)
    return fig
