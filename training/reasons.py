"""Reason codes: the top positive SHAP contributions of a row as plain-language sentences.

Sentences come from a template per feature (or per feature pattern) of the feature catalog, filled with the row's
value, the row's product and tier where a sentence names them, and the row's cohort percentile where the catalog
has one (`<feature>_cohort_pct`, rank within segment x tenure band). A feature without a template gets a sentence
built from its catalog description; a column the catalog does not know (a bring-your-own table) gets its name.
Product, tier and segment names are never written here: they are read from the row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FeatureInfo", "catalog_info", "reason_frame", "sentence"]

COHORT_SUFFIX = "_cohort_pct"


@dataclass(frozen=True)
class FeatureInfo:
    """What a reason sentence needs to know about a feature: family, window and description."""

    name: str
    family: str
    window: str
    description: str


def catalog_info() -> dict[str, FeatureInfo]:
    """Every feature of the xsell catalog as `FeatureInfo` (plain strings: picklable with the model)."""
    from features.catalog import FEATURES

    return {f.name: FeatureInfo(f.name, f.family, f.window, f.description) for f in FEATURES}


# ---- value formatting --------------------------------------------------------------------------------


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _infinite(v: Any) -> bool:
    return isinstance(v, float | np.floating) and math.isinf(v)


def _num(v: Any) -> str:
    x = float(v)
    if not math.isfinite(x):  # never from the warehouse; a payload may still carry one: say so, never crash
        return "unknown" if math.isnan(x) else ("infinite" if x > 0 else "minus infinite")
    if abs(x) >= 1e15:
        return f"{x:.3g}"
    if abs(x - round(x)) < 1e-9:
        return f"{round(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 1 else f"{x:.2f}"


def _pct(v: Any) -> str:
    return f"{float(v) * 100:.0f}%"


def _money(v: Any) -> str:
    x = float(v)
    if abs(x) >= 1e6:
        return f"${x / 1e6:.1f}M"
    if abs(x) >= 1e4:
        return f"${x / 1e3:.0f}k"
    return f"${x:,.0f}"


def _plural(n: Any, word: str, plural: str | None = None) -> str:
    return f"{_num(n)} {word if float(n) == 1 else (plural or word + 's')}"


def _label(value: Any) -> str:
    """A category value as words: `mid_market` -> `Mid market`."""
    text = str(value).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _days(window: str) -> str:
    return f"in the last {window} days"


# ---- templates ------------------------------------------------------------------------------------------

Template = Callable[[float, "_Context", re.Match[str]], str | None]


@dataclass(frozen=True)
class _Context:
    row: Mapping[str, Any]
    product: str

    @property
    def tier(self) -> str | None:
        tier = self.row.get("primary_tier")
        return None if _missing(tier) else _label(tier)

    @property
    def tier_features(self) -> str:
        return f"{self.tier} features" if self.tier else "its tier's features"


def _signed(v: float, up: str, down: str) -> str:
    return up if v >= 0 else down


_TEMPLATES: tuple[tuple[str, Template], ...] = (
    (
        r"feature_share_(\d+)d",
        lambda v, c, m: f"Uses {_pct(v)} of {c.tier_features} (last {m[1]} days)",
    ),
    (r"active_users_(\d+)d", lambda v, c, m: f"{_plural(v, 'active user')} {_days(m[1])}"),
    (r"seats", lambda v, c, m: f"{_plural(v, 'licensed seat')}"),
    (r"seat_activation_(\d+)d", lambda v, c, m: f"{_pct(v)} of licensed seats active {_days(m[1])}"),
    (r"dau_mau_30d", lambda v, c, m: f"Daily active users are {_pct(v)} of monthly active users"),
    (r"events_(\d+)d", lambda v, c, m: f"{_plural(v, 'usage event')} {_days(m[1])}"),
    (r"active_days_(\d+)d", lambda v, c, m: f"Active on {_num(v)} of the last {m[1]} days"),
    (
        r"usage_velocity_30d",
        lambda v, c, m: f"Usage {_signed(v, 'up', 'down')} {abs(math.exp(v) - 1) * 100:.0f}% on the previous 30 days",
    ),
    (
        r"usage_trend_90d",
        lambda v, c, m: f"Usage trending {_signed(v, 'up', 'down')} {abs(v) * 100:.0f}% a month over 90 days",
    ),
    (r"days_since_last_use", lambda v, c, m: f"Last active {_plural(v, 'day')} ago"),
    (r"tenure_months", lambda v, c, m: f"Customer for {_plural(round(v), 'month')}"),
    (
        r"signal_events_(\d+)d",
        lambda v, c, m: f"{_plural(v, 'use')} of features linked to {c.product} {_days(m[1])}",
    ),
    (
        r"signal_users_(\d+)d",
        lambda v, c, m: f"{_plural(v, 'user')} of features linked to {c.product} {_days(m[1])}",
    ),
    (
        r"signal_features_used_(\d+)d",
        lambda v, c, m: f"{_plural(v, 'feature')} linked to {c.product} used {_days(m[1])}",
    ),
    (
        r"signal_events_share_(\d+)d",
        lambda v, c, m: f"{_pct(v)} of usage on features linked to {c.product} (last {m[1]} days)",
    ),
    (
        r"feature_requests_(\d+)d",
        lambda v, c, m: f"{_plural(v, 'feature request')} for {c.product} {_days(m[1])}",
    ),
    (
        r"touches_([a-z]+)_(\d+)d",
        lambda v, c, m: f"{_plural(v, 'marketing touch', 'marketing touches')} about {c.product} {m[1]} {_days(m[2])}",
    ),
    (r"opportunity_open", lambda v, c, m: f"Open sales opportunity for {c.product}" if v >= 1 else None),
    (
        r"opportunities_lost_365d",
        lambda v, c, m: f"{_plural(v, 'lost opportunity', 'lost opportunities')} for {c.product} in the last year",
    ),
    (r"trial_active", lambda v, c, m: f"Trial of {c.product} running now" if v >= 1 else None),
    (r"trials_total", lambda v, c, m: f"{_plural(v, 'trial')} of {c.product} so far"),
    (r"employee_count", lambda v, c, m: f"{_plural(v, 'employee')}"),
    (
        r"employee_growth_(1y|\d+d)",
        lambda v, c, m: (
            f"Headcount {_signed(v, 'grew', 'shrank')} {abs(v) * 100:.0f}% over the last "
            + ("year" if m[1] == "1y" else f"{m[1][:-1]} days")
        ),
    ),
    (r"annual_revenue", lambda v, c, m: f"Annual revenue {_money(v)}"),
    (r"months_to_fiscal_year_start", lambda v, c, m: f"{_plural(v, 'month')} to the start of its fiscal year"),
    (r"months_to_renewal", lambda v, c, m: f"Renewal in {_plural(round(v), 'month')}"),
    (r"nps_latest", lambda v, c, m: f"NPS {_num(v)} (latest)"),
    (r"nps_mean_(\d+)d", lambda v, c, m: f"Mean NPS {_num(v)} over the last {m[1]} days"),
    (
        r"nps_trend",
        lambda v, c, m: f"NPS {_signed(v, 'up', 'down')} {_plural(abs(v), 'point')} on the previous response",
    ),
    (r"nps_responses_365d", lambda v, c, m: f"{_plural(v, 'NPS response')} in the last year"),
    (r"tickets_90d", lambda v, c, m: f"{_plural(v, 'support ticket')} in the last 90 days"),
    (r"tickets_open", lambda v, c, m: f"{_plural(v, 'open support ticket')}"),
    (r"mrr", lambda v, c, m: f"MRR {_money(v)}"),
    (r"primary_mrr", lambda v, c, m: f"MRR of the primary product {_money(v)}"),
    (r"products_owned", lambda v, c, m: f"Owns {_plural(v, 'product')}"),
    (
        r"prerequisite_owned",
        lambda v, c, m: f"No prerequisite missing for {c.product}" if v >= 1 else None,
    ),
    (r"months_since_last_purchase", lambda v, c, m: f"Last purchase {_plural(round(v), 'month')} ago"),
)
_COMPILED = tuple((re.compile(rf"{pattern}"), fn) for pattern, fn in _TEMPLATES)
_CATEGORY_TEMPLATES: dict[str, Callable[[str], str]] = {
    "segment": lambda v: f"{_label(v)} segment",
    "industry": lambda v: f"Industry: {_label(v)}",
    "primary_tier": lambda v: f"On the {_label(v)} tier",
}


def _peers(pct: Any) -> str:
    """`, top 10% of peers` for a percent rank of 0.9 (rounded up to 5%); empty when unknown."""
    if _missing(pct) or not math.isfinite(p := float(pct)):
        return ""
    if p >= 0.5:
        return f", top {max(5, math.ceil((1 - p) * 20) * 5)}% of peers"
    return f", bottom {max(5, math.ceil(p * 20) * 5)}% of peers"


def _generic(name: str, value: Any, info: FeatureInfo | None) -> str:
    text = info.description if info else name.replace("_", " ")
    text = text[:1].upper() + text[1:]
    if _missing(value):
        return f"{text}: unknown"
    if isinstance(value, str):
        return f"{text}: {_label(value)}"
    return f"{text}: {_num(value)}"


def sentence(name: str, row: Mapping[str, Any], catalog: Mapping[str, FeatureInfo], product_column: str | None) -> str:
    """Plain-language sentence for feature `name` of `row` (its value, product and cohort percentile)."""
    base = name[: -len(COHORT_SUFFIX)] if name.endswith(COHORT_SUFFIX) and name[: -len(COHORT_SUFFIX)] in row else name
    value = row.get(base)
    info = catalog.get(base)
    if info is None or _missing(value) or _infinite(value):  # the description says it (and the value, if any)
        return _generic(base, value, info)
    product = row.get(product_column) if product_column else None
    context = _Context(row, "the product" if _missing(product) else str(product))
    text: str | None = None
    if base in _CATEGORY_TEMPLATES and isinstance(value, str):
        text = _CATEGORY_TEMPLATES[base](value)
    else:
        for pattern, fn in _COMPILED:
            match = pattern.fullmatch(base)
            if match:
                try:
                    text = fn(float(value), context, match)  # type: ignore[arg-type]
                except (TypeError, ValueError, OverflowError):  # e.g. exp() of a huge velocity: the generic one
                    text = None
                break
    if text is None:
        text = _generic(base, value, info)
    cohort = base + COHORT_SUFFIX
    if cohort in row and cohort in catalog:
        text += _peers(row[cohort])
    return text


def _topic(name: str) -> str:
    """What a sentence is about, windows aside: `events_30d` and `events_90d` (and a cohort rank) share one."""
    base = name[: -len(COHORT_SUFFIX)] if name.endswith(COHORT_SUFFIX) else name
    return re.sub(r"_(\d+d|1y)$", "", base)


def reason_frame(
    contributions: np.ndarray,
    names: list[str],
    rows: pd.DataFrame,
    catalog: Mapping[str, FeatureInfo],
    *,
    top: int = 3,
    product_column: str | None = None,
    skip: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Columns `reason_1..reason_top`: sentences of each row's largest positive contributions (None when fewer).

    One sentence per topic (a feature, its other windows and its cohort percentile); names in `skip` give none.
    """
    n = len(rows)
    out = np.full((n, top), None, dtype=object)
    order = np.argsort(-contributions, axis=1, kind="stable")
    records: list[dict[str, Any]] = rows.reset_index(drop=True).to_dict("records")  # type: ignore[assignment]
    for i in range(n):
        seen: set[str] = set()
        k = 0
        for j in order[i]:
            if k >= top or contributions[i, j] <= 0:
                break
            name = names[j]
            if name in skip:
                continue
            key = _topic(name)
            if key in seen:
                continue
            seen.add(key)
            out[i, k] = sentence(name, records[i], catalog, product_column)
            k += 1
    return pd.DataFrame(out, columns=[f"reason_{k + 1}" for k in range(top)], index=rows.index)
