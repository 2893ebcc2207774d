"""Reason codes: the top positive SHAP contributions of a row as plain-language sentences.

Sentences come from the reason template on each feature's definition (`features.catalog`, `FeatureDef.reason`),
filled with the row's value, the row's product and tier where a sentence names them, and the row's cohort
percentile where the catalog has one (`<feature>_cohort_pct`, rank within segment x tenure band). A feature without
a template gets a sentence built from its catalog description; a column the catalog does not know (a
bring-your-own table) gets its name. Product, tier and segment names are never written here: they are read from
the row.

A model keeps `FeatureInfo` (plain strings, picklable) per feature it was trained on; the templates are read from
the catalog when a sentence is made, so a saved model speaks with the current wording.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.catalog import FEATURES, FEATURES_BY_NAME
from features.phrasing import ReasonContext, label, missing, num

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
    return {f.name: FeatureInfo(f.name, f.family, f.window, f.description) for f in FEATURES}


def _infinite(v: Any) -> bool:
    return isinstance(v, float | np.floating) and math.isinf(v)


def _peers(pct: Any) -> str:
    """`, top 10% of peers` for a percent rank of 0.9 (rounded up to 5%); empty when unknown."""
    if missing(pct) or not math.isfinite(p := float(pct)):
        return ""
    if p >= 0.5:
        return f", top {max(5, math.ceil((1 - p) * 20) * 5)}% of peers"
    return f", bottom {max(5, math.ceil(p * 20) * 5)}% of peers"


def _generic(name: str, value: Any, info: FeatureInfo | None) -> str:
    text = info.description if info else name.replace("_", " ")
    text = text[:1].upper() + text[1:]
    if missing(value):
        return f"{text}: unknown"
    if isinstance(value, str):
        return f"{text}: {label(value)}"
    return f"{text}: {num(value)}"


def sentence(name: str, row: Mapping[str, Any], catalog: Mapping[str, FeatureInfo], product_column: str | None) -> str:
    """Plain-language sentence for feature `name` of `row` (its value, product and cohort percentile)."""
    base = name[: -len(COHORT_SUFFIX)] if name.endswith(COHORT_SUFFIX) and name[: -len(COHORT_SUFFIX)] in row else name
    value = row.get(base)
    info = catalog.get(base)
    if info is None or missing(value) or _infinite(value):  # the description says it (and the value, if any)
        return _generic(base, value, info)
    product = row.get(product_column) if product_column else None
    context = ReasonContext(row, "the product" if missing(product) else str(product))
    definition = FEATURES_BY_NAME.get(base)
    text: str | None = None
    if definition is not None and definition.reason is not None:
        if definition.categorical:
            text = definition.reason(value, context) if isinstance(value, str) else None
        else:
            try:
                text = definition.reason(float(value), context)  # type: ignore[arg-type]
            except (TypeError, ValueError, OverflowError):  # e.g. exp() of a huge velocity: the generic one
                text = None
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
