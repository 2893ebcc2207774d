"""The model card of a registered version: markdown built only from the TrainingResult and settings."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

import pandas as pd

from training.result import TrainingResult
from xsell.settings import Settings

#: Metrics shown first, in this order; any other metric the training computed follows alphabetically.
PREFERRED_METRICS: tuple[str, ...] = ("pr_auc", "roc_auc", "lift_top_decile", "log_loss", "brier", "ece")
#: Metrics where a larger value is better (used to flag a model that does not beat its baselines).
HIGHER_IS_BETTER: frozenset[str] = frozenset({"pr_auc", "roc_auc", "lift_top_decile"})
#: Segments with fewer positives than this get a warning: their metrics move a lot between samples.
MIN_SEGMENT_POSITIVES = 30
MODEL = "xsell"


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if value.is_integer() and abs(value) >= 2:  # counts (rows, positives) stored as floats
            return f"{value:,.0f}"
        return f"{value:.3g}" if 0 < abs(value) < 0.001 else f"{value:.4f}"
    return str(value)


def day_text(value: object) -> str:
    """A date-like value as YYYY-MM-DD (timestamps cut to their day); '' for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def window_text(window: tuple[object, object]) -> str:
    """`start..end` of a data window, or 'no as-of dates' when the rows have none."""
    start, end = (day_text(v) for v in window)
    return f"{start}..{end}" if start or end else "no as-of dates"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def metric_names(metrics: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """Every metric name in a metrics tree (model -> product -> metric), preferred ones first."""
    names = {name for by_product in metrics.values() for values in by_product.values() for name in values}
    return [m for m in PREFERRED_METRICS if m in names] + sorted(names - set(PREFERRED_METRICS))


def _products(metrics: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    products = {p for by_product in metrics.values() for p in by_product}
    return (["overall"] if "overall" in products else []) + sorted(products - {"overall"})


def baseline_shortfalls(result: TrainingResult) -> list[str]:
    """Sentences naming each (product, metric) where the model does not beat a baseline on the holdout."""
    own = result.metrics.get(MODEL, {})
    found = []
    for product in _products(result.metrics):
        for metric in (m for m in metric_names(result.metrics) if m in HIGHER_IS_BETTER):
            mine = own.get(product, {}).get(metric)
            if mine is None or math.isnan(mine):
                continue
            for baseline, by_product in result.metrics.items():
                if baseline == MODEL:
                    continue
                theirs = by_product.get(product, {}).get(metric)
                if theirs is not None and not math.isnan(theirs) and theirs >= mine:
                    found.append(
                        f"on `{product}` the {baseline} baseline matches or beats the model on {metric} "
                        f"({theirs:.4f} vs {mine:.4f})"
                    )
    return found


def _segment_section(segments: pd.DataFrame) -> tuple[list[str], list[str]]:
    if segments.empty:
        return ["No segment metrics were computed."], []
    frame = segments
    if "model" in segments.columns:
        order = segments["model"].ne(MODEL).rename("baseline")
        frame = segments.assign(baseline=order).sort_values(["segment", "baseline", "model"]).drop(columns="baseline")
    columns = [c for c in ("segment", "model", "rows", "positives", "roc_auc", "pr_auc") if c in frame.columns]
    columns += [c for c in frame.columns if c not in columns]
    rows = [[row[c] for c in columns] for row in frame.to_dict("records")]
    small = []
    if "positives" in frame.columns:
        own = frame[frame["model"] == MODEL] if "model" in frame.columns else frame
        small = sorted({str(s) for s in own.loc[own["positives"] < MIN_SEGMENT_POSITIVES, "segment"]})
    return _table(columns, rows), small


def _top_decile_rows(deciles: pd.DataFrame) -> list[list[object]]:
    """Per model and product: conversion in the top decile, overall rate, and their ratio (lift)."""
    if deciles.empty:
        return []
    out = []
    groups = sorted(
        deciles.groupby(["model", "product"]), key=lambda g: (g[0][0] != MODEL, g[0][0], g[0][1] != "overall", g[0][1])
    )
    for (model, product), rows in groups:
        positives, total = float(rows["positives"].sum()), float(rows["rows"].sum())
        top = rows[rows["decile"] == rows["decile"].min()]
        top_rate = float(top["positives"].sum()) / max(float(top["rows"].sum()), 1.0)
        base = positives / total if total else float("nan")
        out.append([model, product, top_rate, base, top_rate / base if base else float("nan")])
    return out


def render_model_card(
    result: TrainingResult, *, model_name: str, version: int | str | None, run_id: str, settings: Settings
) -> str:
    """Markdown model card: intended use, data window, holdout metrics per product and per segment against the
    baselines, calibration, top features, hyperparameters and limitations."""
    model = result.model
    plan = result.plan
    window = window_text(result.data_window)
    dated = bool(plan.holdout_dates)
    holdout = (
        f"snapshots {', '.join(day_text(d) for d in plan.holdout_dates)}"
        if dated
        else f"a stratified sample of {plan.holdout_rows:,} rows"
    )
    refit_note = str((result.extra.get("refit") or {}).get("note", "")) if isinstance(result.extra, dict) else ""
    base_rate = result.n_positives / result.n_rows if result.n_rows else float("nan")
    horizon = plan.horizon_days
    title_version = f" version {version}" if version is not None else ""
    lines = [
        f"# Model card: `{model_name}`{title_version}",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from MLflow run `{run_id}`.",
        "",
        *_table(
            ["", ""],
            [
                ["model", f"{model_name}{title_version}"],
                ["MLflow run", f"`{run_id}`"],
                ["layout", result.model_layout],
                ["products", ", ".join(f"`{p}`" for p in model.products_)],
                ["input features", f"{len(model.feature_names_)} ({len(model.categorical_features_)} categorical)"],
                ["calibration", model.calibration_method_],
                [
                    "tuning",
                    f"{len(result.trials)} Optuna trials, best mean CV {result.objective_metric} "
                    f"{result.best_value:.4f}",
                ],
                ["training data", f"{window} ({result.n_rows:,} rows, {result.n_positives:,} positives)"],
                ["training data sha256", f"`{result.data_hash}`"],
            ],
        ),
        "",
        "## Intended use",
        "",
        f"Ranks every eligible (account, adjacent product) pair by the calibrated probability that the account "
        f"starts paying for the product within {horizon} days of the as-of date. Meant for prioritising "
        "account-manager and marketing outreach and for sizing expected conversions (the probabilities are "
        "calibrated, so their sum over a list estimates its number of buyers).",
        "",
        "Not meant for: pricing, credit, contract or any decision about an individual person; accounts that do not "
        "own the primary product; products absent from the training catalogue "
        f"({', '.join(model.products_)}); horizons other than {horizon} days.",
        "",
        "## Data",
        "",
        f"- As-of snapshots {window}; label = first non-trial item of the product starting within "
        f"{horizon} days after the as-of date.",
        f"- {result.n_rows:,} training rows, {result.n_positives:,} positives (base rate {_fmt(base_rate)}).",
        f"- Holdout (never seen by tuning): {holdout}.",
        f"- Snapshot hash (sha256 of keys, label and features): `{result.data_hash}`.",
        *([f"- Note: {refit_note}."] if refit_note else []),
        "",
        "```text",
        plan.describe(),
        "```",
        "",
        "## Holdout performance",
        "",
        "Per product, for the model (`xsell`) and its baselines, on the holdout.",
        "",
    ]
    names = metric_names(result.metrics)
    models = [MODEL, *sorted(m for m in result.metrics if m != MODEL)]
    rows = [
        [f"`{product}`", model_key, *(result.metrics.get(model_key, {}).get(product, {}).get(m) for m in names)]
        for product in _products(result.metrics)
        for model_key in models
        if product in result.metrics.get(model_key, {})
    ]
    lines += _table(["product", "model", *names], rows) if rows else ["No holdout metrics were computed."]
    lift_rows = _top_decile_rows(result.deciles)
    if lift_rows:
        lines += [
            "",
            "Top decile of scores against the overall conversion rate:",
            "",
            *_table(["model", "product", "top-decile rate", "overall rate", "lift"], lift_rows),
        ]
    segment_table, small_segments = _segment_section(result.segment_metrics)
    lines += ["", "## Per segment", "", *segment_table, ""]
    cal = result.calibration
    lines += [
        "## Calibration",
        "",
        f"Method `{cal.method}`, chosen by the lower ECE on out-of-time predictions: "
        + ", ".join(f"{k} {v:.4f}" for k, v in sorted(cal.candidates.items()))
        + ".",
        "",
        *_table(
            ["product", "holdout ECE"], [[k, v] for k, v in sorted(cal.ece.items(), key=lambda kv: kv[0] != "overall")]
        ),
        "",
        "## Top features",
        "",
    ]
    if result.feature_importance.empty:
        lines.append("No feature importance was computed.")
    else:
        importance = result.feature_importance.sort_values("gain", ascending=False)
        total = float(importance["gain"].sum()) or 1.0
        lines += _table(
            ["feature", "share of gain", "splits"],
            [[f"`{r['feature']}`", r["gain"] / total, r.get("split")] for r in importance.head(15).to_dict("records")],
        )
    lines += [
        "",
        "## Hyperparameters",
        "",
        *_table(["parameter", "value"], [[f"`{k}`", v] for k, v in sorted(result.best_params.items())]),
        "",
        "## Limitations",
        "",
        "- Propensity is not uplift: a high score says the account looks like past buyers, not that outreach "
        "will cause the purchase.",
        f"- Labels need {horizon} days of hindsight, so the newest {horizon} days of behaviour are not in training; "
        "a shift in buying behaviour shows in the metrics only that much later (watch drift monitoring).",
        "- Calibration is fitted on past snapshots; re-check it when the base rate moves (campaigns, pricing, "
        "catalogue changes).",
        "- Metrics come from a few holdout snapshots of the same accounts, so they are correlated; small products "
        "and segments have wide uncertainty.",
    ]
    lines += (
        [f"- Unstable segment estimates (fewer than {MIN_SEGMENT_POSITIVES} positives): {', '.join(small_segments)}."]
        if small_segments
        else []
    )
    lines += [f"- Baseline check: {s}." for s in baseline_shortfalls(result)]
    overall_ece = cal.ece.get("overall")
    if overall_ece is not None and overall_ece > 0.05:
        lines.append(f"- Overall holdout ECE is {overall_ece:.3f} (> 0.05): treat probabilities as rankings first.")
    reg = settings.registry
    lines += [
        "",
        "## Registry",
        "",
        f"New versions of `{model_name}` get the alias `{reg.challenger_alias}`; a version registered while the model "
        f"has no `{reg.champion_alias}` (the first one) gets that alias too. Scoring loads `models:/{model_name}@{reg.champion_alias}`"
        + (f"; this version is `models:/{model_name}/{version}`." if version is not None else "."),
        "",
    ]
    return "\n".join(lines)
