"""The catalog's account features: organisational readiness, relationship health, commercial and cohort-relative.

Ticket priorities and categories come from the raw contract (`ingest.contract`); product and tier names never
appear here (they come from the warehouse catalogue). See `features.definition` for the SQL aliases.
"""

from __future__ import annotations

from features.definition import (
    CAT_PRODUCTS,
    COHORT_BASES,
    SUBS,
    USAGE,
    VERSIONS,
    FeatureDef,
    cohort_name,
    t_minus,
    zero_if_null,
)
from features.phrasing import label, money, num, plural, signed
from ingest.contract import TICKETS


def readiness_features() -> list[FeatureDef]:
    """Whether the organisation is ready to buy: size, growth, revenue, segment, tier and calendar."""
    return [
        FeatureDef(
            "employee_count",
            "readiness",
            "at T",
            (VERSIONS,),
            "latest known employee count (values <= 0 are unknown)",
            "a.employee_count",
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'employee')}",
        ),
        FeatureDef(
            "employee_growth_1y",
            "readiness",
            "365d",
            (VERSIONS,),
            "employee count now over the count known 365 days earlier, minus 1",
            "a.employee_count / nullif(a.employee_count_1y, 0) - 1",
            "DOUBLE",
            reason=lambda v, c: f"Headcount {signed(v, 'grew', 'shrank')} {abs(v) * 100:.0f}% over the last year",
        ),
        FeatureDef(
            "employee_growth_180d",
            "readiness",
            "180d",
            (VERSIONS,),
            "employee count now over the count known 180 days earlier, minus 1",
            "a.employee_count / nullif((SELECT arg_max(v.employee_count, v.updated_at) FROM versions v"
            f" WHERE v.account_id = p.account_id AND v.updated_at < {t_minus(180)}), 0) - 1",
            "DOUBLE",
            reason=lambda v, c: f"Headcount {signed(v, 'grew', 'shrank')} {abs(v) * 100:.0f}% over the last 180 days",
        ),
        FeatureDef(
            "annual_revenue",
            "readiness",
            "at T",
            (VERSIONS,),
            "latest known annual revenue (USD)",
            "a.annual_revenue",
            "DOUBLE",
            reason=lambda v, c: f"Annual revenue {money(v)}",
        ),
        FeatureDef(
            "segment",
            "readiness",
            "at T",
            (VERSIONS,),
            "CRM segment of the account version at T",
            "a.segment",
            "VARCHAR",
            reason=lambda v, c: f"{label(v)} segment",
        ),
        FeatureDef(
            "industry",
            "readiness",
            "at T",
            (VERSIONS,),
            "CRM industry of the account version at T",
            "a.industry",
            "VARCHAR",
            reason=lambda v, c: f"Industry: {label(v)}",
        ),
        FeatureDef(
            "primary_tier",
            "readiness",
            "at T",
            (SUBS,),
            "highest tier among the active non-trial primary-product items",
            "a.tier",
            "VARCHAR",
            reason=lambda v, c: f"On the {label(v)} tier",
        ),
        FeatureDef(
            "months_to_fiscal_year_start",
            "readiness",
            "at T",
            (),
            "whole months until the next fiscal year starts (settings: features.fiscal_year_start_month)",
            "a.months_to_fiscal_year_start",
            "INTEGER",
            reason=lambda v, c: f"{plural(v, 'month')} to the start of its fiscal year",
        ),
        FeatureDef(
            "months_to_renewal",
            "readiness",
            "at T",
            (SUBS,),
            "months until the next yearly anniversary of the latest active primary item",
            "(365.25 - fmod(date_diff('day', a.contract_start, a.as_of), 365.25)) / 30.4375",
            "DOUBLE",
            reason=lambda v, c: f"Renewal in {plural(round(v), 'month')}",
        ),
    ]


def health_features() -> list[FeatureDef]:
    """How the relationship is going: NPS, support tickets and their resolution, invoices."""
    tickets = ("c360.tickets",)
    invoices = ("c360.invoices", VERSIONS)
    by_priority = [
        FeatureDef(
            f"tickets_{value}_90d",
            "health",
            "90d",
            tickets,
            f"tickets of priority '{value}' created in the last 90 days",
            zero_if_null(f"a.tickets_priority_{value}_90d"),
            "BIGINT",
        )
        for value in TICKETS.column("priority").allowed or ()
    ]
    by_category = [
        FeatureDef(
            f"tickets_{value}_90d",
            "health",
            "90d",
            tickets,
            f"tickets of category '{value}' created in the last 90 days",
            zero_if_null(f"a.tickets_category_{value}_90d"),
            "BIGINT",
        )
        for value in TICKETS.column("category").allowed or ()
    ]
    return [
        FeatureDef(
            "nps_latest",
            "health",
            "history to T",
            ("c360.nps",),
            "score of the latest NPS response",
            "a.nps_latest",
            "DOUBLE",
            reason=lambda v, c: f"NPS {num(v)} (latest)",
        ),
        FeatureDef(
            "nps_mean_365d",
            "health",
            "365d",
            ("c360.nps",),
            "mean NPS score over the last 365 days",
            "a.nps_mean_365d",
            "DOUBLE",
            reason=lambda v, c: f"Mean NPS {num(v)} over the last 365 days",
        ),
        FeatureDef(
            "nps_mean_180d",
            "health",
            "180d",
            ("c360.nps",),
            "mean NPS score over the last 180 days",
            "(SELECT avg(n.score) FROM c360.nps n WHERE n.account_id = p.account_id"
            f" AND n.submitted_at < {t_minus(0)} AND n.submitted_at >= {t_minus(180)})",
            "DOUBLE",
            reason=lambda v, c: f"Mean NPS {num(v)} over the last 180 days",
        ),
        FeatureDef(
            "nps_trend",
            "health",
            "history to T",
            ("c360.nps",),
            "latest NPS score minus the one before it",
            "a.nps_latest - a.nps_previous",
            "DOUBLE",
            reason=lambda v, c: f"NPS {signed(v, 'up', 'down')} {plural(abs(v), 'point')} on the previous response",
        ),
        FeatureDef(
            "nps_responses_365d",
            "health",
            "365d",
            ("c360.nps",),
            "NPS responses in the last 365 days",
            zero_if_null("a.nps_responses_365d"),
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'NPS response')} in the last year",
        ),
        FeatureDef(
            "tickets_90d",
            "health",
            "90d",
            tickets,
            "support tickets created in the last 90 days",
            zero_if_null("a.tickets_90d"),
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'support ticket')} in the last 90 days",
        ),
        *by_priority,
        *by_category,
        FeatureDef(
            "tickets_open",
            "health",
            "at T",
            tickets,
            "tickets created before T and not solved before T",
            zero_if_null("a.tickets_open"),
            "BIGINT",
            reason=lambda v, c: f"{plural(v, 'open support ticket')}",
        ),
        FeatureDef(
            "hours_to_solve_median_180d",
            "health",
            "180d",
            tickets,
            "median hours from creation to solution of tickets solved in the last 180 days",
            "a.hours_to_solve_median_180d",
            "DOUBLE",
        ),
        FeatureDef(
            "bad_satisfaction_180d",
            "health",
            "180d",
            tickets,
            "tickets solved in the last 180 days rated 'bad'",
            zero_if_null("a.bad_180d"),
            "BIGINT",
        ),
        FeatureDef(
            "bad_satisfaction_share_180d",
            "health",
            "180d",
            tickets,
            "share of rated tickets solved in the last 180 days rated 'bad'",
            "a.bad_180d / nullif(a.rated_180d, 0)",
            "DOUBLE",
        ),
        FeatureDef(
            "invoices_overdue",
            "health",
            "at T",
            invoices,
            "invoices unpaid at T, issued more than 30 days before T, not yet declared uncollectible",
            zero_if_null("a.invoices_overdue"),
            "BIGINT",
        ),
        FeatureDef(
            "invoices_uncollectible_365d",
            "health",
            "365d",
            invoices,
            "invoices issued in the last 365 days known uncollectible at T (declared 60 days after issue)",
            zero_if_null("a.invoices_uncollectible_365d"),
            "BIGINT",
        ),
        FeatureDef(
            "invoices_paid_late_365d",
            "health",
            "365d",
            invoices,
            "invoices issued in the last 365 days and paid before T more than 30 days after issue",
            zero_if_null("a.invoices_paid_late_365d"),
            "BIGINT",
        ),
        FeatureDef(
            "days_to_pay_mean_365d",
            "health",
            "365d",
            invoices,
            "mean days from issue to payment of invoices issued in the last 365 days and paid before T",
            "a.days_to_pay_mean_365d",
            "DOUBLE",
        ),
    ]


def commercial_features() -> list[FeatureDef]:
    """What the account spends and owns: MRR, products owned and churned, prerequisite, last purchase."""
    return [
        FeatureDef(
            "mrr",
            "commercial",
            "at T",
            (SUBS,),
            "monthly recurring revenue of all active non-trial items",
            zero_if_null("a.mrr"),
            "DOUBLE",
            reason=lambda v, c: f"MRR {money(v)}",
        ),
        FeatureDef(
            "primary_mrr",
            "commercial",
            "at T",
            (SUBS,),
            "monthly recurring revenue of the active primary items",
            zero_if_null("a.primary_mrr"),
            "DOUBLE",
            reason=lambda v, c: f"MRR of the primary product {money(v)}",
        ),
        FeatureDef(
            "products_owned",
            "commercial",
            "at T",
            (SUBS,),
            "products owned on the as-of date, primary included",
            zero_if_null("a.products_owned"),
            "BIGINT",
            reason=lambda v, c: f"Owns {plural(v, 'product')}",
        ),
        FeatureDef(
            "products_churned",
            "commercial",
            "history to T",
            (SUBS,),
            "products bought before and no longer owned on the as-of date",
            zero_if_null("a.products_churned"),
            "BIGINT",
        ),
        FeatureDef(
            "prerequisite_owned",
            "commercial",
            "at T",
            (SUBS, CAT_PRODUCTS),
            "1 when the product's prerequisite is owned on the as-of date (1 when it has none)",
            "CASE WHEN p.prerequisite IS NULL OR pre.account_id IS NOT NULL THEN 1 ELSE 0 END",
            "INTEGER",
            reason=lambda v, c: f"No prerequisite missing for {c.product}" if v >= 1 else None,
        ),
        FeatureDef(
            "months_since_last_purchase",
            "commercial",
            "history to T",
            (SUBS,),
            "months since the latest non-trial item (any product) started",
            "date_diff('day', a.last_purchase, a.as_of) / 30.4375",
            "DOUBLE",
            reason=lambda v, c: f"Last purchase {plural(round(v), 'month')} ago",
        ),
    ]


def cohort_features() -> list[FeatureDef]:
    """Adoption ranked within its cohort (segment x tenure band): one percentile per `COHORT_BASES` feature."""
    return [
        FeatureDef(
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
