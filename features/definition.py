"""What a feature definition is, and the building blocks the catalog's definitions share.

Each `FeatureDef.expr` is the SQL of the output column in the snapshot's final SELECT, over these aliases
(built by `features.families`):

- `a`   one row per account owning the primary product at the as-of date (account-level aggregates);
- `p`   the eligible pair: `account_id`, `product`, `prerequisite`;
- `sig` usage of the features whose catalogue `signals_product` is the pair's product;
- `req` feature-request tickets naming the product;  `tch` marketing touches for the product;
- `opp` opportunities for the product;  `tri` trials of the product;  `pre` the prerequisite, if owned.

A few features that need a window no family aggregates (the scorecard's 180-day NPS mean and head-count growth)
use a correlated subquery, bounded by T computed from `a.as_of` (`t_minus`), over a warehouse table or the
snapshot's `versions` CTE (account versions known at T).

`FeatureDef.reason` says a row's value of the feature as a sentence (see `features.phrasing`); reason codes
(`training.reasons`) use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from features.phrasing import Reason

Family = Literal["adoption", "fit", "readiness", "health", "commercial", "cohort"]
SqlType = Literal["DOUBLE", "BIGINT", "INTEGER", "VARCHAR"]

#: Usage-window slope denominator: sum over x = 0..n-1 of (x - (n-1)/2)^2, for the 90-day trend.
TREND_DAYS = 90
TREND_SXX = TREND_DAYS * (TREND_DAYS**2 - 1) / 12

USAGE = "c360.usage_daily"
VERSIONS = "c360.account_versions"
SUBS = "c360.subscriptions"
CAT_FEATURES = "c360.features"
CAT_PRODUCTS = "c360.products"

#: Adoption features ranked within (segment, tenure band); each yields `<name>_cohort_pct`.
COHORT_BASES: tuple[str, ...] = ("feature_share_30d", "active_users_30d", "events_30d", "seat_activation_30d")


@dataclass(frozen=True)
class FeatureDef:
    """One output feature: what it is, where it comes from, the SQL that computes it and how a value is said."""

    name: str
    family: Family
    window: str
    sources: tuple[str, ...]
    description: str
    expr: str
    dtype: SqlType = "DOUBLE"
    reason: Reason | None = None  # None: the reason sentence is the description and the value

    @property
    def categorical(self) -> bool:
        """True for string-valued features (segment, tier, ...)."""
        return self.dtype == "VARCHAR"


def cohort_name(base: str) -> str:
    """Name of the cohort-relative percentile of feature `base`."""
    return f"{base}_cohort_pct"


def t_minus(days: int) -> str:
    """SQL of T - days as a timestamp, with T = as-of date + 1 day 00:00 (`a.as_of` is the as-of date)."""
    return f"(a.as_of + INTERVAL 1 DAY - INTERVAL {days} DAY)"


def zero_if_null(column: str) -> str:
    """SQL of a count column that is NULL when nothing was counted: 0 instead."""
    return f"coalesce({column}, 0)"
