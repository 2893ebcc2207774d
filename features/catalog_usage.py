"""The catalog's usage features: primary adoption depth (`adoption`) and use-case fit for the product (`fit`).

Ticket priorities/categories and touch actions come from the raw contract (`ingest.contract`); product and
feature names never appear here (they come from the warehouse catalogue). See `features.definition` for the SQL
aliases.
"""

from __future__ import annotations

import math

from features.definition import (
    CAT_FEATURES,
    SUBS,
    TREND_DAYS,
    TREND_SXX,
    USAGE,
    VERSIONS,
    FeatureDef,
    zero_if_null,
)
from features.phrasing import Reason, num, pct, plural, signed
from ingest.contract import TOUCHES


def _active_users(days: int) -> Reason:
    """Reason template of `active_users_<days>d`."""
    return lambda v, c: f"{plural(v, 'active user')} in the last {days} days"


def _touches(action: str) -> Reason:
    """Reason template of `touches_<action>_90d`."""
    return lambda v, c: (
        f"{plural(v, 'marketing touch', 'marketing touches')} about {c.product} {action} in the last 90 days"
    )


def adoption_features() -> list[FeatureDef]:
    """How deeply the account uses the primary product: tier features, users, seats, events, trend, tenure."""
    src = (USAGE, VERSIONS)
    tier_src = (USAGE, VERSIONS, SUBS, CAT_FEATURES)
    return [
        FeatureDef(
            "feature_share_30d",
            "adoption",
            "30d",
            tier_src,
            "share of the primary tier's features used in the last 30 days",
            "a.tier_features_used_30d / nullif(a.tier_features, 0)",
            "DOUBLE",
            reason=lambda v, c: f"Uses {pct(v)} of {c.tier_features} (last 30 days)",
        ),
        FeatureDef(
            "feature_share_90d",
            "adoption",
            "90d",
            tier_src,
            "share of the primary tier's features used in the last 90 days",
            "a.tier_features_used_90d / nullif(a.tier_features, 0)",
            "DOUBLE",
            reason=lambda v, c: f"Uses {pct(v)} of {c.tier_features} (last 90 days)",
        ),
        *[
            FeatureDef(
                f"active_users_{n}d",
                "adoption",
                f"{n}d",
                src,
                f"distinct users active in the last {n} days",
                zero_if_null(f"a.users_{n}d"),
                "BIGINT",
                reason=_active_users(n),
            )
            for n in (7, 30, 90)
        ],
        FeatureDef(
            "seats",
            "adoption",
            "at T",
            (SUBS,),
            "licensed seats of the active primary items",
            "a.seats",
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'licensed seat')}",
        ),
        FeatureDef(
            "seat_activation_30d",
            "adoption",
            "30d",
            (USAGE, SUBS),
            "active users (30 days) per licensed primary seat",
            f"{zero_if_null('a.users_30d')} / nullif(a.seats, 0)",
            "DOUBLE",
            reason=lambda v, c: f"{pct(v)} of licensed seats active in the last 30 days",
        ),
        FeatureDef(
            "dau_mau_30d",
            "adoption",
            "30d",
            src,
            "mean daily active users over 30 days divided by 30-day active users (NULL without users)",
            "(a.user_days_30d / 30.0) / nullif(a.users_30d, 0)",
            "DOUBLE",
            reason=lambda v, c: f"Daily active users are {pct(v)} of monthly active users",
        ),
        FeatureDef(
            "events_30d",
            "adoption",
            "30d",
            src,
            "usage events in the last 30 days",
            zero_if_null("a.events_30d"),
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'usage event')} in the last 30 days",
        ),
        FeatureDef(
            "events_90d",
            "adoption",
            "90d",
            src,
            "usage events in the last 90 days",
            zero_if_null("a.events_90d"),
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'usage event')} in the last 90 days",
        ),
        FeatureDef(
            "active_days_30d",
            "adoption",
            "30d",
            src,
            "days with any usage in the last 30 days",
            zero_if_null("a.active_days_30d"),
            "BIGINT",
            reason=lambda v, c: f"Active on {num(v)} of the last 30 days",
        ),
        FeatureDef(
            "usage_velocity_30d",
            "adoption",
            "30d vs prior 30d",
            src,
            "ln((events last 30 days + 1) / (events in days 31-60 + 1))",
            f"ln(({zero_if_null('a.events_30d')} + 1.0) / ({zero_if_null('a.events_prev_30d')} + 1.0))",
            "DOUBLE",
            reason=lambda v, c: (
                f"Usage {signed(v, 'up', 'down')} {abs(math.exp(v) - 1) * 100:.0f}% on the previous 30 days"
            ),
        ),
        FeatureDef(
            "usage_trend_90d",
            "adoption",
            "90d",
            src,
            "least-squares slope of daily events over 90 days, as a change per 30 days relative to the mean day",
            f"CASE WHEN a.events_90d > 0 THEN a.trend_num / {TREND_SXX} * 30 * {TREND_DAYS} / a.events_90d END",
            "DOUBLE",
            reason=lambda v, c: f"Usage trending {signed(v, 'up', 'down')} {abs(v) * 100:.0f}% a month over 90 days",
        ),
        FeatureDef(
            "days_since_last_use",
            "adoption",
            "90d",
            src,
            "days since the last day with usage (NULL: no usage in 90 days)",
            "date_diff('day', a.last_use, a.as_of)",
            "BIGINT",
            reason=lambda v, c: f"Last active {plural(v, 'day')} ago",
        ),
        FeatureDef(
            "tenure_months",
            "adoption",
            "history to T",
            (SUBS,),
            "months since the first non-trial primary-product item started",
            "a.tenure_months",
            "DOUBLE",
            reason=lambda v, c: f"Customer for {plural(round(v), 'month')}",
        ),
    ]


def fit_features() -> list[FeatureDef]:
    """How the account's usage and dealings point at the product: signal features, requests, touches, deals."""
    sig = (USAGE, CAT_FEATURES, VERSIONS)
    touches = [
        FeatureDef(
            f"touches_{action}_90d",
            "fit",
            "90d",
            ("c360.touches",),
            f"marketing touches for the product with action '{action}' in the last 90 days (holdout rows excluded)",
            zero_if_null(f"tch.{action}_90d"),
            "BIGINT",
            reason=_touches(action),
        )
        for action in TOUCHES.column("action").allowed or ()
    ]
    return [
        FeatureDef(
            "signal_events_30d",
            "fit",
            "30d",
            sig,
            "events on the primary features that signal the product, last 30 days",
            zero_if_null("sig.events_30d"),
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'use')} of features linked to {c.product} in the last 30 days",
        ),
        FeatureDef(
            "signal_events_90d",
            "fit",
            "90d",
            sig,
            "events on the primary features that signal the product, last 90 days",
            zero_if_null("sig.events_90d"),
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'use')} of features linked to {c.product} in the last 90 days",
        ),
        FeatureDef(
            "signal_users_30d",
            "fit",
            "30d",
            sig,
            "distinct users of the product's signal features, last 30 days",
            zero_if_null("sig.users_30d"),
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'user')} of features linked to {c.product} in the last 30 days",
        ),
        FeatureDef(
            "signal_features_used_30d",
            "fit",
            "30d",
            sig,
            "distinct signal features of the product used in the last 30 days",
            zero_if_null("sig.features_30d"),
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'feature')} linked to {c.product} used in the last 30 days",
        ),
        FeatureDef(
            "signal_events_share_30d",
            "fit",
            "30d",
            sig,
            "share of the account's 30-day events that fall on the product's signal features",
            f"{zero_if_null('sig.events_30d')} / nullif(a.events_30d, 0)",
            "DOUBLE",
            reason=lambda v, c: f"{pct(v)} of usage on features linked to {c.product} (last 30 days)",
        ),
        FeatureDef(
            "feature_requests_90d",
            "fit",
            "90d",
            ("c360.tickets",),
            "feature-request tickets naming the product, created in the last 90 days",
            zero_if_null("req.requests_90d"),
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'feature request')} for {c.product} in the last 90 days",
        ),
        FeatureDef(
            "feature_requests_365d",
            "fit",
            "365d",
            ("c360.tickets",),
            "feature-request tickets naming the product, created in the last 365 days",
            zero_if_null("req.requests_365d"),
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'feature request')} for {c.product} in the last 365 days",
        ),
        *touches,
        FeatureDef(
            "opportunity_open",
            "fit",
            "at T",
            ("c360.opportunities",),
            "1 when an opportunity for the product is open at T (created before T, not closed before T)",
            zero_if_null("opp.open_now"),
            "INTEGER",
            reason=lambda v, c: f"Open sales opportunity for {c.product}" if v >= 1 else None,
        ),
        FeatureDef(
            "opportunities_lost_365d",
            "fit",
            "365d",
            ("c360.opportunities",),
            "opportunities for the product closed lost in the last 365 days",
            zero_if_null("opp.lost_365d"),
            "BIGINT",
            reason=lambda v, c: (
                f"{plural(v, 'lost opportunity', 'lost opportunities')} for {c.product} in the last year"
            ),
        ),
        FeatureDef(
            "trial_active",
            "fit",
            "at T",
            (SUBS,),
            "1 when a trial item of the product is active on the as-of date",
            zero_if_null("tri.active_now"),
            "INTEGER",
            reason=lambda v, c: f"Trial of {c.product} running now" if v >= 1 else None,
        ),
        FeatureDef(
            "trials_total",
            "fit",
            "history to T",
            (SUBS,),
            "trial items of the product started on or before the as-of date",
            zero_if_null("tri.trials"),
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'trial')} of {c.product} so far",
        ),
    ]
