"""SQL of the feature families: common table expressions over the warehouse, all as of one time T.

Point in time (../shared/data-contract.md, "Point in time"): as-of date D means T = D + 1 day 00:00 UTC,
exclusive. Account state is the latest version with `updated_at < T`; billing customers and workspaces
resolve to accounts only through versions known at T; usage needs `date <= D AND ingested_at < T`;
everything else "created by T" means its timestamp `< T`; fields recording later events (`end_date`,
`paid_at`/uncollectible status, `closed_at`/stage, `solved_at`/satisfaction) count only once before T.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from features.catalog import FEATURES_BY_NAME
from features.definition import COHORT_BASES, TREND_DAYS, cohort_name
from ingest.contract import TICKETS, TIER_ORDER, TOUCHES
from xsell.duck import quote_str

#: Trailing usage windows in days; the widest bounds the usage slice read per snapshot.
USAGE_WINDOWS = (7, 30, 60, 90)
#: Days after issue when an invoice is declared uncollectible (contract); days after which unpaid is overdue.
UNCOLLECTIBLE_AFTER_DAYS = 60
OVERDUE_AFTER_DAYS = 30


@dataclass(frozen=True)
class AsOf:
    """One as-of date D and the literals every window is built from."""

    day: date
    primary: str
    fiscal_year_start_month: int = 1
    tenure_bands_months: tuple[int, ...] = (6, 12, 24, 36)

    @property
    def t(self) -> datetime:
        """T = D + 1 day, 00:00 UTC (naive, like the warehouse), exclusive."""
        return datetime.combine(self.day + timedelta(days=1), time())

    @property
    def d(self) -> str:
        """DATE literal of D."""
        return date_sql(self.day)

    @property
    def ts(self) -> str:
        """TIMESTAMP literal of T."""
        return ts_sql(self.t)

    def day_minus(self, days: int) -> str:
        """DATE literal of D - days (a usage row is within the last n days when `date > day_minus(n)`)."""
        return date_sql(self.day - timedelta(days=days))

    def ts_minus(self, days: int) -> str:
        """TIMESTAMP literal of T - days (an event is within the last n days when `ts >= ts_minus(n)`)."""
        return ts_sql(self.t - timedelta(days=days))

    @property
    def months_to_fiscal_year_start(self) -> int:
        """Whole months from D's month to the next fiscal-year start month (1..12)."""
        return (self.fiscal_year_start_month - self.day.month - 1) % 12 + 1


def date_sql(value: date) -> str:
    """A DuckDB DATE literal."""
    return f"DATE '{value.isoformat()}'"


def ts_sql(value: datetime) -> str:
    """A DuckDB TIMESTAMP literal (naive UTC)."""
    return f"TIMESTAMP '{value.strftime('%Y-%m-%d %H:%M:%S')}'"


def _tiers_values() -> str:
    return ", ".join(f"({quote_str(t)}, {i})" for i, t in enumerate(TIER_ORDER, start=1))


def catalog_ctes() -> list[str]:
    """Tiers, products and features of the warehouse catalogue, with tier ranks."""
    return [
        f"tiers(tier, tier_rank) AS (VALUES {_tiers_values()})",
        """catalog_products AS (
            SELECT p.product, p.kind, p.prerequisite, p.min_core_tier, t.tier_rank AS min_tier_rank
            FROM c360.products p LEFT JOIN tiers t ON t.tier = p.min_core_tier)""",
        """catalog_features AS (
            SELECT f.feature, f.signals_product, t.tier_rank
            FROM c360.features f LEFT JOIN tiers t ON t.tier = f.min_tier)""",
        """tier_features AS (
            SELECT t.tier_rank, count(f.feature) AS n
            FROM tiers t LEFT JOIN catalog_features f ON f.tier_rank <= t.tier_rank GROUP BY t.tier_rank)""",
    ]


def account_state_ctes(at: AsOf) -> list[str]:
    """Account versions known at T, the state at T, headcount history, and id maps known at T."""
    return [
        f"""versions AS (
            SELECT * FROM c360.account_versions WHERE updated_at < {at.ts} AND created_at < {at.ts})""",
        """state AS (
            SELECT account_id, segment, industry FROM versions
            QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY updated_at DESC) = 1)""",
        f"""headcount AS (
            SELECT account_id,
                   arg_max(employee_count, updated_at) AS employee_count,
                   arg_max(employee_count, updated_at) FILTER (WHERE updated_at < {at.ts_minus(365)})
                       AS employee_count_1y,
                   arg_max(annual_revenue, updated_at) AS annual_revenue
            FROM versions GROUP BY account_id)""",
        """customer_keys AS (
            SELECT billing_customer_id AS key, arg_max(account_id, updated_at) AS account_id
            FROM versions WHERE billing_customer_id IS NOT NULL GROUP BY billing_customer_id)""",
        """workspace_keys AS (
            SELECT workspace_id AS key, arg_max(account_id, updated_at) AS account_id
            FROM versions WHERE workspace_id IS NOT NULL GROUP BY workspace_id)""",
    ]


def subscription_ctes(at: AsOf) -> list[str]:
    """Subscription items started by D (end dates after D rolled back), ownership and the primary product."""
    primary = quote_str(at.primary)
    return [
        f"""items AS (
            SELECT k.account_id, s.product, s.tier, s.seats, s.mrr, s.is_trial, s.start_date,
                   coalesce(s.end_date > {at.d}, true) AS active
            FROM c360.subscriptions s JOIN customer_keys k ON k.key = s.customer_id
            WHERE s.start_date <= {at.d})""",
        "owned AS (SELECT DISTINCT account_id, product FROM items WHERE NOT is_trial AND active)",
        "purchased AS (SELECT DISTINCT account_id, product FROM items WHERE NOT is_trial)",
        f"""primary_items AS (
            SELECT i.account_id, max(t.tier_rank) AS tier_rank, sum(i.seats) AS seats,
                   sum(i.mrr) AS primary_mrr, max(i.start_date) AS contract_start
            FROM items i LEFT JOIN tiers t ON t.tier = i.tier
            WHERE i.product = {primary} AND NOT i.is_trial AND i.active
            GROUP BY i.account_id)""",
        f"""commercial AS (
            SELECT account_id,
                   sum(mrr) FILTER (WHERE NOT is_trial AND active) AS mrr,
                   count(DISTINCT product) FILTER (WHERE NOT is_trial AND active) AS products_owned,
                   count(DISTINCT product) FILTER (WHERE NOT is_trial)
                     - count(DISTINCT product) FILTER (WHERE NOT is_trial AND active) AS products_churned,
                   max(start_date) FILTER (WHERE NOT is_trial) AS last_purchase,
                   min(start_date) FILTER (WHERE NOT is_trial AND product = {primary}) AS first_primary
            FROM items GROUP BY account_id)""",
    ]


def usage_ctes(at: AsOf) -> list[str]:
    """The usage slice of the widest window (date-sorted table: a narrow scan) and its aggregates."""
    widest = max(USAGE_WINDOWS)
    start = at.day_minus(widest)  # first day in the window is start + 1
    users = ",\n".join(
        f"count(DISTINCT user_id) FILTER (WHERE date > {at.day_minus(n)}) AS users_{n}d" for n in (7, 30, 90)
    )
    return [
        f"""usage AS MATERIALIZED (
            SELECT k.account_id, u.date, u.user_id, u.feature,
                   coalesce(u.event_count, 1) AS event_count  -- a nulled count: the row proves one event
            FROM c360.usage_daily u JOIN workspace_keys k ON k.key = u.workspace_id
            WHERE u.date > {start} AND u.date <= {at.d} AND u.ingested_at < {at.ts})""",
        f"""usage_account AS (
            SELECT account_id,
                   sum(event_count) FILTER (WHERE date > {at.day_minus(30)}) AS events_30d,
                   sum(event_count) FILTER (WHERE date > {at.day_minus(60)} AND date <= {at.day_minus(30)})
                       AS events_prev_30d,
                   sum(event_count) FILTER (WHERE date > {at.day_minus(TREND_DAYS)}) AS events_90d,
                   {users},
                   count(DISTINCT date) FILTER (WHERE date > {at.day_minus(30)}) AS active_days_30d,
                   count(DISTINCT (date, user_id)) FILTER (WHERE date > {at.day_minus(30)}) AS user_days_30d,
                   sum(event_count * (date_diff('day', {at.day_minus(TREND_DAYS)}, date) - 1 - {(TREND_DAYS - 1) / 2}))
                       FILTER (WHERE date > {at.day_minus(TREND_DAYS)}) AS trend_num,
                   max(date) AS last_use
            FROM usage GROUP BY account_id)""",
        """usage_feature AS (
            SELECT u.account_id, u.feature, max(u.date) AS last_date
            FROM usage u GROUP BY u.account_id, u.feature)""",
        f"""usage_tier AS (
            SELECT p.account_id,
                   count(*) FILTER (WHERE uf.last_date > {at.day_minus(30)}) AS used_30d,
                   count(*) AS used_90d
            FROM primary_items p
            JOIN usage_feature uf ON uf.account_id = p.account_id
            JOIN catalog_features f ON f.feature = uf.feature AND f.tier_rank <= p.tier_rank
            GROUP BY p.account_id)""",
        f"""usage_signal AS (
            SELECT u.account_id, f.signals_product AS product,
                   sum(u.event_count) FILTER (WHERE u.date > {at.day_minus(30)}) AS events_30d,
                   sum(u.event_count) AS events_90d,
                   count(DISTINCT u.user_id) FILTER (WHERE u.date > {at.day_minus(30)}) AS users_30d,
                   count(DISTINCT u.feature) FILTER (WHERE u.date > {at.day_minus(30)}) AS features_30d
            FROM usage u JOIN catalog_features f ON f.feature = u.feature
            WHERE f.signals_product IS NOT NULL
            GROUP BY u.account_id, f.signals_product)""",
    ]


def health_ctes(at: AsOf) -> list[str]:
    """Tickets, NPS and invoices of each account, as known at T."""
    t90, t180, t365 = at.ts_minus(90), at.ts_minus(180), at.ts_minus(365)
    by_value = []
    for column in ("priority", "category"):
        for value in TICKETS.column(column).allowed or ():
            by_value.append(
                f"count(*) FILTER (WHERE created_at >= {t90} AND {column} = {quote_str(value)}) "
                f"AS tickets_{column}_{value}_90d"
            )
    solved = f"solved_at < {at.ts}"
    # a nulled (unknown) status is not uncollectible
    uncollectible = (
        f"coalesce(status = 'uncollectible', false) AND issued_at <= {at.ts_minus(UNCOLLECTIBLE_AFTER_DAYS)} "
        "AND NOT paid_by_t"
    )
    return [
        f"""ticket_stats AS (
            SELECT account_id,
                   count(*) FILTER (WHERE created_at >= {t90}) AS tickets_90d,
                   {", ".join(by_value)},
                   count(*) FILTER (WHERE solved_at IS NULL OR solved_at >= {at.ts}) AS tickets_open,
                   median(date_diff('second', created_at, solved_at) / 3600.0)
                       FILTER (WHERE {solved} AND solved_at >= {t180}) AS hours_to_solve_median_180d,
                   count(*) FILTER (WHERE {solved} AND solved_at >= {t180} AND satisfaction = 'bad') AS bad_180d,
                   count(*) FILTER (WHERE {solved} AND solved_at >= {t180} AND satisfaction IS NOT NULL)
                       AS rated_180d
            FROM c360.tickets WHERE created_at < {at.ts} GROUP BY account_id)""",
        f"""nps_stats AS (
            SELECT account_id,
                   list(score ORDER BY submitted_at DESC, response_id DESC)[1] AS nps_latest,
                   list(score ORDER BY submitted_at DESC, response_id DESC)[2] AS nps_previous,
                   avg(score) FILTER (WHERE submitted_at >= {t365}) AS nps_mean_365d,
                   count(*) FILTER (WHERE submitted_at >= {t365}) AS nps_responses_365d
            FROM c360.nps WHERE submitted_at < {at.ts} GROUP BY account_id)""",
        f"""invoice_rows AS (
            SELECT k.account_id, i.issued_at, i.status, i.paid_at,
                   coalesce(i.paid_at < {at.ts}, false) AS paid_by_t
            FROM c360.invoices i JOIN customer_keys k ON k.key = i.customer_id
            WHERE i.issued_at < {at.ts})""",
        f"""invoice_stats AS (
            SELECT account_id,
                   count(*) FILTER (WHERE NOT paid_by_t AND NOT ({uncollectible})
                                     AND issued_at < {at.ts_minus(OVERDUE_AFTER_DAYS)}) AS invoices_overdue,
                   count(*) FILTER (WHERE {uncollectible} AND issued_at >= {t365}) AS invoices_uncollectible_365d,
                   count(*) FILTER (WHERE paid_by_t AND issued_at >= {t365}
                                     AND paid_at > issued_at + INTERVAL {OVERDUE_AFTER_DAYS} DAY)
                       AS invoices_paid_late_365d,
                   avg(date_diff('second', issued_at, paid_at) / 86400.0)
                       FILTER (WHERE paid_by_t AND issued_at >= {t365}) AS days_to_pay_mean_365d
            FROM invoice_rows GROUP BY account_id)""",
    ]


def _tenure_band(column: str, edges: tuple[int, ...]) -> str:
    if not edges:
        return "0"
    whens = " ".join(f"WHEN {column} < {edge} THEN {i}" for i, edge in enumerate(edges))
    return f"CASE {whens} ELSE {len(edges)} END"


def account_ctes(at: AsOf) -> list[str]:
    """One row per account owning the primary product at D, with every account-level aggregate."""
    tenure = f"date_diff('day', c.first_primary, {at.d}) / 30.4375"
    base = f"""account_base AS (
            SELECT s.account_id, {at.d} AS as_of, s.segment, s.industry,
                   p.tier_rank, t.tier, p.seats, p.primary_mrr, p.contract_start,
                   c.mrr, c.products_owned, c.products_churned, c.last_purchase,
                   {tenure} AS tenure_months,
                   {_tenure_band(tenure, at.tenure_bands_months)} AS tenure_band,
                   {at.months_to_fiscal_year_start} AS months_to_fiscal_year_start,
                   h.employee_count, h.employee_count_1y, h.annual_revenue,
                   ua.* EXCLUDE (account_id),
                   coalesce(ut.used_30d, 0) AS tier_features_used_30d,
                   coalesce(ut.used_90d, 0) AS tier_features_used_90d,
                   tf.n AS tier_features,
                   ts.* EXCLUDE (account_id), ns.* EXCLUDE (account_id), iv.* EXCLUDE (account_id)
            FROM state s
            JOIN primary_items p ON p.account_id = s.account_id
            JOIN commercial c ON c.account_id = s.account_id
            LEFT JOIN tiers t ON t.tier_rank = p.tier_rank
            LEFT JOIN tier_features tf ON tf.tier_rank = p.tier_rank
            LEFT JOIN headcount h ON h.account_id = s.account_id
            LEFT JOIN usage_account ua ON ua.account_id = s.account_id
            LEFT JOIN usage_tier ut ON ut.account_id = s.account_id
            LEFT JOIN ticket_stats ts ON ts.account_id = s.account_id
            LEFT JOIN nps_stats ns ON ns.account_id = s.account_id
            LEFT JOIN invoice_stats iv ON iv.account_id = s.account_id)"""
    ranks = ",\n".join(
        f"percent_rank() OVER (PARTITION BY a.segment, a.tenure_band "
        f"ORDER BY coalesce({FEATURES_BY_NAME[b].expr}, 0)) AS {cohort_name(b)}"
        for b in COHORT_BASES
    )
    return [base, f"accounts AS (SELECT a.*, {ranks} FROM account_base a)"]


def pair_ctes(at: AsOf, require_prerequisite: bool) -> list[str]:
    """Eligible (account, adjacent product) pairs and the product-specific aggregates."""
    t90, t365 = at.ts_minus(90), at.ts_minus(365)
    gate = ""
    if require_prerequisite:
        gate = """AND (p.prerequisite IS NULL OR EXISTS (
                    SELECT 1 FROM owned o WHERE o.account_id = a.account_id AND o.product = p.prerequisite))"""
    actions = ",\n".join(
        f"count(*) FILTER (WHERE action = {quote_str(a)} AND occurred_at >= {t90}) AS {a}_90d"
        for a in TOUCHES.column("action").allowed or ()
    )
    return [
        f"""pairs AS (
            SELECT a.account_id, p.product, p.prerequisite
            FROM accounts a CROSS JOIN catalog_products p
            WHERE p.kind = 'adjacent'
              AND NOT EXISTS (SELECT 1 FROM purchased x WHERE x.account_id = a.account_id AND x.product = p.product)
              AND (p.min_tier_rank IS NULL OR a.tier_rank >= p.min_tier_rank)
              {gate})""",
        f"""requests AS (
            SELECT account_id, requested_product AS product,
                   count(*) FILTER (WHERE created_at >= {t90}) AS requests_90d,
                   count(*) AS requests_365d
            FROM c360.tickets
            WHERE category = 'feature_request' AND requested_product IS NOT NULL
              AND created_at < {at.ts} AND created_at >= {t365}
            GROUP BY account_id, requested_product)""",
        f"""touch_stats AS (
            SELECT account_id, product, {actions}
            FROM c360.touches
            WHERE NOT holdout AND product IS NOT NULL AND occurred_at < {at.ts} AND occurred_at >= {t90}
            GROUP BY account_id, product)""",
        f"""opportunity_stats AS (
            SELECT account_id, product,
                   max(CASE WHEN closed_at IS NULL OR closed_at >= {at.ts} THEN 1 ELSE 0 END) AS open_now,
                   count(*) FILTER (WHERE stage = 'closed_lost' AND closed_at < {at.ts} AND closed_at >= {t365})
                       AS lost_365d
            FROM c360.opportunities WHERE created_at < {at.ts}
            GROUP BY account_id, product)""",
        """trial_stats AS (
            SELECT account_id, product, max(CASE WHEN active THEN 1 ELSE 0 END) AS active_now, count(*) AS trials
            FROM items WHERE is_trial GROUP BY account_id, product)""",
    ]


def pair_joins() -> str:
    """FROM clause of the final SELECT: pairs with their account row and product-specific aggregates."""
    return """FROM pairs p
        JOIN accounts a ON a.account_id = p.account_id
        LEFT JOIN usage_signal sig ON sig.account_id = p.account_id AND sig.product = p.product
        LEFT JOIN requests req ON req.account_id = p.account_id AND req.product = p.product
        LEFT JOIN touch_stats tch ON tch.account_id = p.account_id AND tch.product = p.product
        LEFT JOIN opportunity_stats opp ON opp.account_id = p.account_id AND opp.product = p.product
        LEFT JOIN trial_stats tri ON tri.account_id = p.account_id AND tri.product = p.product
        LEFT JOIN owned pre ON pre.account_id = p.account_id AND pre.product = p.prerequisite"""
