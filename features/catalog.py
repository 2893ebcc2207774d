"""The feature catalog: one registry of every feature (name, family, window, sources, description, SQL).

Each `FeatureDef.expr` is the SQL of the output column in the snapshot's final SELECT, over these aliases
(built by `features.families`):

- `a`   one row per account owning the primary product at the as-of date (account-level aggregates);
- `p`   the eligible pair: `account_id`, `product`, `prerequisite`;
- `sig` usage of the features whose catalogue `signals_product` is the pair's product;
- `req` feature-request tickets naming the product;  `tch` marketing touches for the product;
- `opp` opportunities for the product;  `tri` trials of the product;  `pre` the prerequisite, if owned.

A few features that need a window no family aggregates (the scorecard's 180-day NPS mean and head-count growth)
use a correlated subquery, bounded by T computed from `a.as_of` (`_t_minus`), over a warehouse table or the
snapshot's `versions` CTE (account versions known at T).

Product names, feature names and tiers never appear here: they come from the warehouse catalogue.
Ticket priorities/categories and touch actions come from the raw contract (`ingest.contract`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from ingest.contract import TICKETS, TOUCHES
from xsell.fileio import write_text_atomic

Family = Literal["adoption", "fit", "readiness", "health", "commercial", "cohort"]
SqlType = Literal["DOUBLE", "BIGINT", "INTEGER", "VARCHAR"]

#: Families in the order of their expected strength (the issue's ranking), for the catalog page.
FAMILIES: tuple[tuple[Family, str], ...] = (
    ("adoption", "primary adoption depth"),
    ("fit", "use-case fit for the product"),
    ("readiness", "organisational readiness"),
    ("health", "relationship health"),
    ("commercial", "commercial"),
    ("cohort", "cohort-relative (within segment x tenure band)"),
)

#: Key columns that precede the features in every snapshot row.
KEY_COLUMNS: tuple[str, ...] = ("account_id", "product", "as_of", "label")

#: Usage-window slope denominator: sum over x = 0..n-1 of (x - (n-1)/2)^2, for the 90-day trend.
TREND_DAYS = 90
TREND_SXX = TREND_DAYS * (TREND_DAYS**2 - 1) / 12

USAGE = "c360.usage_daily"
VERSIONS = "c360.account_versions"
SUBS = "c360.subscriptions"
CAT_FEATURES = "c360.features"
CAT_PRODUCTS = "c360.products"


@dataclass(frozen=True)
class FeatureDef:
    """One output feature: what it is, where it comes from, and the SQL that computes it."""

    name: str
    family: Family
    window: str
    sources: tuple[str, ...]
    description: str
    expr: str
    dtype: SqlType = "DOUBLE"

    @property
    def categorical(self) -> bool:
        """True for string-valued features (segment, tier, ...)."""
        return self.dtype == "VARCHAR"


def _f(
    name: str, family: Family, window: str, sources: tuple[str, ...], description: str, expr: str, dtype: SqlType
) -> FeatureDef:
    return FeatureDef(name, family, window, sources, description, expr, dtype)


def _t_minus(days: int) -> str:
    """SQL of T - days as a timestamp, with T = as-of date + 1 day 00:00 (`a.as_of` is the as-of date)."""
    return f"(a.as_of + INTERVAL 1 DAY - INTERVAL {days} DAY)"


def _count(column: str) -> str:
    return f"coalesce({column}, 0)"


def _adoption() -> list[FeatureDef]:
    src = (USAGE, VERSIONS)
    tier_src = (USAGE, VERSIONS, SUBS, CAT_FEATURES)
    return [
        _f(
            "feature_share_30d",
            "adoption",
            "30d",
            tier_src,
            "share of the primary tier's features used in the last 30 days",
            "a.tier_features_used_30d / nullif(a.tier_features, 0)",
            "DOUBLE",
        ),
        _f(
            "feature_share_90d",
            "adoption",
            "90d",
            tier_src,
            "share of the primary tier's features used in the last 90 days",
            "a.tier_features_used_90d / nullif(a.tier_features, 0)",
            "DOUBLE",
        ),
        *[
            _f(
                f"active_users_{n}d",
                "adoption",
                f"{n}d",
                src,
                f"distinct users active in the last {n} days",
                _count(f"a.users_{n}d"),
                "BIGINT",
            )
            for n in (7, 30, 90)
        ],
        _f("seats", "adoption", "at T", (SUBS,), "licensed seats of the active primary items", "a.seats", "BIGINT"),
        _f(
            "seat_activation_30d",
            "adoption",
            "30d",
            (USAGE, SUBS),
            "active users (30 days) per licensed primary seat",
            f"{_count('a.users_30d')} / nullif(a.seats, 0)",
            "DOUBLE",
        ),
        _f(
            "dau_mau_30d",
            "adoption",
            "30d",
            src,
            "mean daily active users over 30 days divided by 30-day active users (NULL without users)",
            "(a.user_days_30d / 30.0) / nullif(a.users_30d, 0)",
            "DOUBLE",
        ),
        _f("events_30d", "adoption", "30d", src, "usage events in the last 30 days", _count("a.events_30d"), "BIGINT"),
        _f("events_90d", "adoption", "90d", src, "usage events in the last 90 days", _count("a.events_90d"), "BIGINT"),
        _f(
            "active_days_30d",
            "adoption",
            "30d",
            src,
            "days with any usage in the last 30 days",
            _count("a.active_days_30d"),
            "BIGINT",
        ),
        _f(
            "usage_velocity_30d",
            "adoption",
            "30d vs prior 30d",
            src,
            "ln((events last 30 days + 1) / (events in days 31-60 + 1))",
            f"ln(({_count('a.events_30d')} + 1.0) / ({_count('a.events_prev_30d')} + 1.0))",
            "DOUBLE",
        ),
        _f(
            "usage_trend_90d",
            "adoption",
            "90d",
            src,
            "least-squares slope of daily events over 90 days, as a change per 30 days relative to the mean day",
            f"CASE WHEN a.events_90d > 0 THEN a.trend_num / {TREND_SXX} * 30 * {TREND_DAYS} / a.events_90d END",
            "DOUBLE",
        ),
        _f(
            "days_since_last_use",
            "adoption",
            "90d",
            src,
            "days since the last day with usage (NULL: no usage in 90 days)",
            "date_diff('day', a.last_use, a.as_of)",
            "BIGINT",
        ),
        _f(
            "tenure_months",
            "adoption",
            "history to T",
            (SUBS,),
            "months since the first non-trial primary-product item started",
            "a.tenure_months",
            "DOUBLE",
        ),
    ]


def _fit() -> list[FeatureDef]:
    sig = (USAGE, CAT_FEATURES, VERSIONS)
    touches = [
        _f(
            f"touches_{action}_90d",
            "fit",
            "90d",
            ("c360.touches",),
            f"marketing touches for the product with action '{action}' in the last 90 days (holdout rows excluded)",
            _count(f"tch.{action}_90d"),
            "BIGINT",
        )
        for action in TOUCHES.column("action").allowed or ()
    ]
    return [
        _f(
            "signal_events_30d",
            "fit",
            "30d",
            sig,
            "events on the primary features that signal the product, last 30 days",
            _count("sig.events_30d"),
            "BIGINT",
        ),
        _f(
            "signal_events_90d",
            "fit",
            "90d",
            sig,
            "events on the primary features that signal the product, last 90 days",
            _count("sig.events_90d"),
            "BIGINT",
        ),
        _f(
            "signal_users_30d",
            "fit",
            "30d",
            sig,
            "distinct users of the product's signal features, last 30 days",
            _count("sig.users_30d"),
            "BIGINT",
        ),
        _f(
            "signal_features_used_30d",
            "fit",
            "30d",
            sig,
            "distinct signal features of the product used in the last 30 days",
            _count("sig.features_30d"),
            "BIGINT",
        ),
        _f(
            "signal_events_share_30d",
            "fit",
            "30d",
            sig,
            "share of the account's 30-day events that fall on the product's signal features",
            f"{_count('sig.events_30d')} / nullif(a.events_30d, 0)",
            "DOUBLE",
        ),
        _f(
            "feature_requests_90d",
            "fit",
            "90d",
            ("c360.tickets",),
            "feature-request tickets naming the product, created in the last 90 days",
            _count("req.requests_90d"),
            "BIGINT",
        ),
        _f(
            "feature_requests_365d",
            "fit",
            "365d",
            ("c360.tickets",),
            "feature-request tickets naming the product, created in the last 365 days",
            _count("req.requests_365d"),
            "BIGINT",
        ),
        *touches,
        _f(
            "opportunity_open",
            "fit",
            "at T",
            ("c360.opportunities",),
            "1 when an opportunity for the product is open at T (created before T, not closed before T)",
            _count("opp.open_now"),
            "INTEGER",
        ),
        _f(
            "opportunities_lost_365d",
            "fit",
            "365d",
            ("c360.opportunities",),
            "opportunities for the product closed lost in the last 365 days",
            _count("opp.lost_365d"),
            "BIGINT",
        ),
        _f(
            "trial_active",
            "fit",
            "at T",
            (SUBS,),
            "1 when a trial item of the product is active on the as-of date",
            _count("tri.active_now"),
            "INTEGER",
        ),
        _f(
            "trials_total",
            "fit",
            "history to T",
            (SUBS,),
            "trial items of the product started on or before the as-of date",
            _count("tri.trials"),
            "BIGINT",
        ),
    ]


def _readiness() -> list[FeatureDef]:
    return [
        _f(
            "employee_count",
            "readiness",
            "at T",
            (VERSIONS,),
            "latest known employee count (values <= 0 are unknown)",
            "a.employee_count",
            "BIGINT",
        ),
        _f(
            "employee_growth_1y",
            "readiness",
            "365d",
            (VERSIONS,),
            "employee count now over the count known 365 days earlier, minus 1",
            "a.employee_count / nullif(a.employee_count_1y, 0) - 1",
            "DOUBLE",
        ),
        _f(
            "employee_growth_180d",
            "readiness",
            "180d",
            (VERSIONS,),
            "employee count now over the count known 180 days earlier, minus 1",
            "a.employee_count / nullif((SELECT arg_max(v.employee_count, v.updated_at) FROM versions v"
            f" WHERE v.account_id = p.account_id AND v.updated_at < {_t_minus(180)}), 0) - 1",
            "DOUBLE",
        ),
        _f(
            "annual_revenue",
            "readiness",
            "at T",
            (VERSIONS,),
            "latest known annual revenue (USD)",
            "a.annual_revenue",
            "DOUBLE",
        ),
        _f(
            "segment",
            "readiness",
            "at T",
            (VERSIONS,),
            "CRM segment of the account version at T",
            "a.segment",
            "VARCHAR",
        ),
        _f(
            "industry",
            "readiness",
            "at T",
            (VERSIONS,),
            "CRM industry of the account version at T",
            "a.industry",
            "VARCHAR",
        ),
        _f(
            "primary_tier",
            "readiness",
            "at T",
            (SUBS,),
            "highest tier among the active non-trial primary-product items",
            "a.tier",
            "VARCHAR",
        ),
        _f(
            "months_to_fiscal_year_start",
            "readiness",
            "at T",
            (),
            "whole months until the next fiscal year starts (settings: features.fiscal_year_start_month)",
            "a.months_to_fiscal_year_start",
            "INTEGER",
        ),
        _f(
            "months_to_renewal",
            "readiness",
            "at T",
            (SUBS,),
            "months until the next yearly anniversary of the latest active primary item",
            "(365.25 - fmod(date_diff('day', a.contract_start, a.as_of), 365.25)) / 30.4375",
            "DOUBLE",
        ),
    ]


def _health() -> list[FeatureDef]:
    tickets = ("c360.tickets",)
    invoices = ("c360.invoices", VERSIONS)
    by_priority = [
        _f(
            f"tickets_{value}_90d",
            "health",
            "90d",
            tickets,
            f"tickets of priority '{value}' created in the last 90 days",
            _count(f"a.tickets_priority_{value}_90d"),
            "BIGINT",
        )
        for value in TICKETS.column("priority").allowed or ()
    ]
    by_category = [
        _f(
            f"tickets_{value}_90d",
            "health",
            "90d",
            tickets,
            f"tickets of category '{value}' created in the last 90 days",
            _count(f"a.tickets_category_{value}_90d"),
            "BIGINT",
        )
        for value in TICKETS.column("category").allowed or ()
    ]
    return [
        _f(
            "nps_latest",
            "health",
            "history to T",
            ("c360.nps",),
            "score of the latest NPS response",
            "a.nps_latest",
            "DOUBLE",
        ),
        _f(
            "nps_mean_365d",
            "health",
            "365d",
            ("c360.nps",),
            "mean NPS score over the last 365 days",
            "a.nps_mean_365d",
            "DOUBLE",
        ),
        _f(
            "nps_mean_180d",
            "health",
            "180d",
            ("c360.nps",),
            "mean NPS score over the last 180 days",
            "(SELECT avg(n.score) FROM c360.nps n WHERE n.account_id = p.account_id"
            f" AND n.submitted_at < {_t_minus(0)} AND n.submitted_at >= {_t_minus(180)})",
            "DOUBLE",
        ),
        _f(
            "nps_trend",
            "health",
            "history to T",
            ("c360.nps",),
            "latest NPS score minus the one before it",
            "a.nps_latest - a.nps_previous",
            "DOUBLE",
        ),
        _f(
            "nps_responses_365d",
            "health",
            "365d",
            ("c360.nps",),
            "NPS responses in the last 365 days",
            _count("a.nps_responses_365d"),
            "BIGINT",
        ),
        _f(
            "tickets_90d",
            "health",
            "90d",
            tickets,
            "support tickets created in the last 90 days",
            _count("a.tickets_90d"),
            "BIGINT",
        ),
        *by_priority,
        *by_category,
        _f(
            "tickets_open",
            "health",
            "at T",
            tickets,
            "tickets created before T and not solved before T",
            _count("a.tickets_open"),
            "BIGINT",
        ),
        _f(
            "hours_to_solve_median_180d",
            "health",
            "180d",
            tickets,
            "median hours from creation to solution of tickets solved in the last 180 days",
            "a.hours_to_solve_median_180d",
            "DOUBLE",
        ),
        _f(
            "bad_satisfaction_180d",
            "health",
            "180d",
            tickets,
            "tickets solved in the last 180 days rated 'bad'",
            _count("a.bad_180d"),
            "BIGINT",
        ),
        _f(
            "bad_satisfaction_share_180d",
            "health",
            "180d",
            tickets,
            "share of rated tickets solved in the last 180 days rated 'bad'",
            "a.bad_180d / nullif(a.rated_180d, 0)",
            "DOUBLE",
        ),
        _f(
            "invoices_overdue",
            "health",
            "at T",
            invoices,
            "invoices unpaid at T, issued more than 30 days before T, not yet declared uncollectible",
            _count("a.invoices_overdue"),
            "BIGINT",
        ),
        _f(
            "invoices_uncollectible_365d",
            "health",
            "365d",
            invoices,
            "invoices issued in the last 365 days known uncollectible at T (declared 60 days after issue)",
            _count("a.invoices_uncollectible_365d"),
            "BIGINT",
        ),
        _f(
            "invoices_paid_late_365d",
            "health",
            "365d",
            invoices,
            "invoices issued in the last 365 days and paid before T more than 30 days after issue",
            _count("a.invoices_paid_late_365d"),
            "BIGINT",
        ),
        _f(
            "days_to_pay_mean_365d",
            "health",
            "365d",
            invoices,
            "mean days from issue to payment of invoices issued in the last 365 days and paid before T",
            "a.days_to_pay_mean_365d",
            "DOUBLE",
        ),
    ]


def _commercial() -> list[FeatureDef]:
    return [
        _f(
            "mrr",
            "commercial",
            "at T",
            (SUBS,),
            "monthly recurring revenue of all active non-trial items",
            _count("a.mrr"),
            "DOUBLE",
        ),
        _f(
            "primary_mrr",
            "commercial",
            "at T",
            (SUBS,),
            "monthly recurring revenue of the active primary items",
            _count("a.primary_mrr"),
            "DOUBLE",
        ),
        _f(
            "products_owned",
            "commercial",
            "at T",
            (SUBS,),
            "products owned on the as-of date, primary included",
            _count("a.products_owned"),
            "BIGINT",
        ),
        _f(
            "products_churned",
            "commercial",
            "history to T",
            (SUBS,),
            "products bought before and no longer owned on the as-of date",
            _count("a.products_churned"),
            "BIGINT",
        ),
        _f(
            "prerequisite_owned",
            "commercial",
            "at T",
            (SUBS, CAT_PRODUCTS),
            "1 when the product's prerequisite is owned on the as-of date (1 when it has none)",
            "CASE WHEN p.prerequisite IS NULL OR pre.account_id IS NOT NULL THEN 1 ELSE 0 END",
            "INTEGER",
        ),
        _f(
            "months_since_last_purchase",
            "commercial",
            "history to T",
            (SUBS,),
            "months since the latest non-trial item (any product) started",
            "date_diff('day', a.last_purchase, a.as_of) / 30.4375",
            "DOUBLE",
        ),
    ]


#: Adoption features ranked within (segment, tenure band); each yields `<name>_cohort_pct`.
COHORT_BASES: tuple[str, ...] = ("feature_share_30d", "active_users_30d", "events_30d", "seat_activation_30d")


def cohort_name(base: str) -> str:
    """Name of the cohort-relative percentile of feature `base`."""
    return f"{base}_cohort_pct"


def _cohort() -> list[FeatureDef]:
    return [
        _f(
            cohort_name(base),
            "cohort",
            "as its base feature",
            (USAGE, VERSIONS, SUBS),
            f"percent rank of {base} among primary-product owners of the same segment and tenure band at T",
            f"a.{cohort_name(base)}",
            "DOUBLE",
        )
        for base in COHORT_BASES
    ]


def _registry() -> tuple[FeatureDef, ...]:
    defs = (*_adoption(), *_fit(), *_readiness(), *_health(), *_commercial(), *_cohort())
    names = [d.name for d in defs]
    if len(set(names)) != len(names):
        raise RuntimeError("duplicate feature names in the catalog")
    bad = [n for n in names if not re.fullmatch(r"[a-z][a-z0-9_]*", n) or n in KEY_COLUMNS]
    if bad:
        raise RuntimeError(f"invalid feature names in the catalog: {bad}")
    return defs


#: Every feature, in output-column order.
FEATURES: tuple[FeatureDef, ...] = _registry()
FEATURES_BY_NAME: dict[str, FeatureDef] = {d.name: d for d in FEATURES}


def feature_names() -> list[str]:
    """Output feature columns, in order."""
    return [d.name for d in FEATURES]


def categorical_features() -> list[str]:
    """Names of the string-valued features."""
    return [d.name for d in FEATURES if d.categorical]


def render_markdown(horizon_days: int) -> str:
    """The catalog as a markdown page: key columns, label definition and one table row per feature."""
    lines = [
        "# Feature catalog",
        "",
        f"Generated from `features/catalog.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
        f"{len(FEATURES)} features in {len(FAMILIES)} families.",
        "",
        "Every row is one eligible (account, adjacent product) pair at an as-of date D; T = D + 1 day 00:00 UTC,"
        " exclusive. A feature uses only what was known at T (usage `ingested_at < T`, account versions"
        " `updated_at < T`, later-event fields rolled back to their state at T).",
        "",
        "| column | meaning |",
        "|---|---|",
        "| `account_id` | CRM account id |",
        "| `product` | adjacent product (from the warehouse catalogue) |",
        "| `as_of` | as-of date D |",
        f"| `label` | 1 when the account's first non-trial item for the product starts in (D, D + {horizon_days} days];"
        " empty when D + horizon passes the end of the data (scoring only) |",
        "",
    ]
    for family, title in FAMILIES:
        lines += [
            f"## {title} (`{family}`)",
            "",
            "| feature | type | window | sources | description |",
            "|---|---|---|---|---|",
        ]
        for d in FEATURES:
            if d.family != family:
                continue
            sources = ", ".join(f"`{s}`" for s in d.sources) or "as-of date"
            lines.append(f"| `{d.name}` | {d.dtype.lower()} | {d.window} | {sources} | {d.description} |")
        lines.append("")
    return "\n".join(lines)


def write_catalog(reports_dir: Path, horizon_days: int) -> Path:
    """Write `reports_dir/feature_catalog.md` atomically and return its path."""
    return write_text_atomic(reports_dir / "feature_catalog.md", render_markdown(horizon_days))
