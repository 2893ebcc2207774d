"""Labels: did the account buy the product (first non-trial item) within the horizon after D?"""

from __future__ import annotations

from datetime import date, timedelta

from features.calendar import is_labelled
from features.families import date_sql


def conversion_cte() -> str:
    """First non-trial start of each account x product: the cross-sell conversion date (contract)."""
    return """conversions AS (
            SELECT account_id, product, min(start_date) AS first_start
            FROM c360.subscriptions WHERE NOT is_trial GROUP BY account_id, product)"""


def label_expr(as_of: date, horizon_days: int, data_end: date) -> str:
    """SQL of the label column over alias `conv`: 1/0 when labelled, NULL when the horizon passes the data end."""
    if not is_labelled(as_of, horizon_days, data_end):
        return "CAST(NULL AS INTEGER)"
    end = as_of + timedelta(days=horizon_days)
    return (
        f"CAST(coalesce(conv.first_start > {date_sql(as_of)} AND conv.first_start <= {date_sql(end)}, false)"
        " AS INTEGER)"
    )
