"""How a feature value is said in words: the formatting its reason template uses, and what the template knows.

A reason template (`FeatureDef.reason`) turns one row's value of its feature into a plain-language sentence;
`training.reasons` picks the features to explain and adds the cohort rank. Product, tier and segment names are
never written in a template: they are read from the row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd


def missing(value: Any) -> bool:
    """True for a value that is unknown: None, pandas' NA or a float NaN."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def num(value: Any) -> str:
    """A number as words: thousands separated, one or two decimals when small; never an error on inf or NaN."""
    x = float(value)
    if not math.isfinite(x):  # never from the warehouse; a payload may still carry one: say so, never crash
        return "unknown" if math.isnan(x) else ("infinite" if x > 0 else "minus infinite")
    if abs(x) >= 1e15:
        return f"{x:.3g}"
    if abs(x - round(x)) < 1e-9:
        return f"{round(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 1 else f"{x:.2f}"


def pct(value: Any) -> str:
    """A share as a whole percentage: 0.85 -> `85%`."""
    return f"{float(value) * 100:.0f}%"


def money(value: Any) -> str:
    """An amount in dollars, shortened: `$3.0M`, `$25k`, `$1,234`."""
    x = float(value)
    if abs(x) >= 1e6:
        return f"${x / 1e6:.1f}M"
    if abs(x) >= 1e4:
        return f"${x / 1e3:.0f}k"
    return f"${x:,.0f}"


def plural(n: Any, word: str, plural_word: str | None = None) -> str:
    """A count and its noun: `1 seat`, `3 seats` (or the plural given)."""
    return f"{num(n)} {word if float(n) == 1 else (plural_word or word + 's')}"


def label(value: Any) -> str:
    """A category value as words: `mid_market` -> `Mid market`."""
    text = str(value).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def signed(value: float, up: str, down: str) -> str:
    """`up` for a value of zero or more, `down` below zero."""
    return up if value >= 0 else down


@dataclass(frozen=True)
class ReasonContext:
    """What a template may read besides its value: the row (for the tier) and the row's product."""

    row: Mapping[str, Any]
    product: str

    @property
    def tier(self) -> str | None:
        """The row's primary tier as words, None when unknown."""
        tier = self.row.get("primary_tier")
        return None if missing(tier) else label(tier)

    @property
    def tier_features(self) -> str:
        """`Professional features`, or `its tier's features` when the tier is unknown."""
        return f"{self.tier} features" if self.tier else "its tier's features"


#: A reason template: (the value: a float, or the text of a categorical feature; the context) -> a sentence, or None
#: when the value says nothing worth a sentence (the catalog description then speaks).
Reason = Callable[[Any, ReasonContext], str | None]
