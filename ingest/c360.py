"""The Customer 360 outputs written from classified rows: the c360 tables, the rejected rows and two measures.

`consolidate` (`ingest.consolidate`) classifies every staged row into a work table `_w_<slug>` (`_class` is `kept`,
`duplicate`, `invalid`, `future_dated` or `orphan`); the functions here turn those into `c360.*` (account versions
with validity intervals, current accounts, the unified id map `account_keys`, one table per other contract table
with account ids resolved through that map, merged ownership intervals) and `rejected.<slug>` (set-aside rows with
their reason), and measure null rates and id matching across CRM, billing and usage.
"""

from __future__ import annotations

import duckdb

from ingest.contract import ACCOUNTS, USAGE, IdKind, TableSpec
from ingest.stage import REASON, SOURCE
from xsell.duck import quote_ident

C360 = "c360"
REJECTED = "rejected"
META = "meta"

#: Output table name in the c360 schema for each contract table.
OUTPUT_NAMES: dict[str, str] = {
    "catalog/products": "products",
    "catalog/features": "features",
    "crm/accounts": "account_versions",
    "crm/opportunities": "opportunities",
    "billing/subscriptions": "subscriptions",
    "billing/invoices": "invoices",
    "product/usage_daily": "usage_daily",
    "support/tickets": "tickets",
    "survey/nps": "nps",
    "marketing/touches": "touches",
}

#: Columns each id kind resolves through, for tables that do not carry account_id themselves.
_RESOLVE_BY: dict[IdKind, str] = {"customer": "customer_id", "workspace": "workspace_id"}


def id_columns(spec: TableSpec) -> list[tuple[str, IdKind]]:
    """(column, id kind) of every id column of a table, in contract order."""
    return [(c.name, c.id_kind) for c in spec.columns if c.id_kind is not None]


def write_rejected(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    """`rejected.<slug>`: the table's set-aside rows with what they were set aside as, the reason and copies."""
    cols = ", ".join(quote_ident(c) for c in spec.column_names)
    con.execute(
        f"CREATE OR REPLACE TABLE {REJECTED}.{spec.slug} AS SELECT {cols}, _class AS rejected_as, "
        f"{REASON} AS reason, _n AS copies, {SOURCE} AS source_file FROM _w_{spec.slug} "
        f"WHERE _class <> 'kept' ORDER BY source_file, rejected_as"
    )


def _kept(spec: TableSpec) -> str:
    return f"(SELECT * FROM _w_{spec.slug} WHERE _class = 'kept')"


def write_accounts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Account versions with validity intervals, the current state, and the unified id map; returns the counts of
    conflicting versions (same instant) and of ids claimed by several accounts."""
    # the published column order: employee_count and annual_revenue after the other contract columns
    fixed = ("employee_count", "annual_revenue")
    select = ", ".join(quote_ident(c) for c in (*[c for c in ACCOUNTS.column_names if c not in fixed], *fixed))
    # Every kept version stays. Versions written at the same instant (conflicting extracts) are ordered by
    # source file, later extract last: the earlier one gets an empty validity [t, t) and never serves as of T.
    con.execute(
        f"""CREATE OR REPLACE TABLE {C360}.account_versions AS
        WITH v AS (
            SELECT {select},
                   {SOURCE} AS source_file,
                   row_number() OVER (PARTITION BY account_id ORDER BY updated_at, {SOURCE},
                                      account_name, billing_customer_id, workspace_id) AS version_seq
            FROM {_kept(ACCOUNTS)}
        )
        SELECT *, updated_at AS valid_from,
               lead(updated_at) OVER (PARTITION BY account_id ORDER BY version_seq) AS valid_to
        FROM v ORDER BY account_id, version_seq"""
    )
    conflicting = int(
        con.execute(f"SELECT count(*) FROM {C360}.account_versions WHERE valid_to = valid_from").fetchall()[0][0]
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE {C360}.accounts AS
        SELECT * EXCLUDE (valid_from, valid_to, version_seq) FROM {C360}.account_versions WHERE valid_to IS NULL
        ORDER BY account_id"""
    )
    # unified ids: every billing customer and workspace an account version ever carried
    con.execute(
        f"""CREATE OR REPLACE TABLE {C360}.account_keys AS
        WITH k AS (
            SELECT 'account' AS id_kind, account_id AS id_value, account_id, updated_at, version_seq
            FROM {C360}.account_versions
            UNION ALL SELECT 'customer', billing_customer_id, account_id, updated_at, version_seq
            FROM {C360}.account_versions WHERE billing_customer_id IS NOT NULL
            UNION ALL SELECT 'workspace', workspace_id, account_id, updated_at, version_seq
            FROM {C360}.account_versions WHERE workspace_id IS NOT NULL
        )
        SELECT id_kind, id_value, arg_max(account_id, (updated_at, version_seq)) AS account_id,
               count(DISTINCT account_id) AS n_accounts, min(updated_at) AS first_seen
        FROM k GROUP BY id_kind, id_value ORDER BY id_kind, id_value"""
    )
    conflicts = int(con.execute(f"SELECT count(*) FROM {C360}.account_keys WHERE n_accounts > 1").fetchall()[0][0])
    return {"conflicting_versions": conflicting, "id_conflicts": conflicts}


def write_table(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    """Kept rows of a non-account table, with account_id resolved through the unified id map."""
    out = f"{C360}.{OUTPUT_NAMES[spec.name]}"
    cols = ", ".join(f"t.{quote_ident(c)}" for c in spec.column_names)
    resolve = [kind for _, kind in id_columns(spec) if kind in _RESOLVE_BY]
    order = {
        USAGE.name: "date, account_id",
    }.get(spec.name, ", ".join(quote_ident(c) for c in (spec.key or spec.column_names[:1])))
    if resolve:
        kind = resolve[0]
        con.execute(
            f"""CREATE OR REPLACE TABLE {out} AS
            SELECT k.account_id, {cols}, t.{SOURCE} AS source_file
            FROM {_kept(spec)} t JOIN {C360}.account_keys k
              ON k.id_kind = '{kind}' AND k.id_value = t.{quote_ident(_RESOLVE_BY[kind])}
            ORDER BY {order}"""
        )
    else:
        con.execute(
            f"CREATE OR REPLACE TABLE {out} AS SELECT {cols}, t.{SOURCE} AS source_file "
            f"FROM {_kept(spec)} t ORDER BY {order}"
        )


def write_ownership(con: duckdb.DuckDBPyConnection) -> None:
    """Merged ownership intervals per account x product from non-trial items (end exclusive, NULL open)."""
    con.execute(
        f"""CREATE OR REPLACE TABLE {C360}.ownership AS
        WITH items AS (
            SELECT account_id, product, start_date AS s, coalesce(end_date, DATE '9999-12-31') AS e
            FROM {C360}.subscriptions WHERE NOT is_trial AND coalesce(end_date > start_date, true)
        ), ordered AS (
            SELECT *, max(e) OVER (PARTITION BY account_id, product ORDER BY s, e
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_e
            FROM items
        ), islands AS (
            SELECT *, sum(CASE WHEN prev_e IS NULL OR s > prev_e THEN 1 ELSE 0 END)
                      OVER (PARTITION BY account_id, product ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS island
            FROM ordered
        )
        SELECT account_id, product, min(s) AS start_date, NULLIF(max(e), DATE '9999-12-31') AS end_date
        FROM islands GROUP BY account_id, product, island ORDER BY account_id, product, start_date"""
    )


def null_rates(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> dict[str, float]:
    """Share of the table's kept rows without a value, per contract column."""
    table = f"{C360}.{OUTPUT_NAMES[spec.name]}"
    exprs = ", ".join(f"count({quote_ident(c)})" for c in spec.column_names)
    row = con.execute(f"SELECT count(*), {exprs} FROM {table}").fetchall()[0]
    total = int(row[0])
    if total == 0:
        return {c: 0.0 for c in spec.column_names}
    return {c: round(1 - int(n) / total, 6) for c, n in zip(spec.column_names, row[1:], strict=True)}


def id_matching(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """How many accounts are matched across CRM, billing and usage."""
    q = f"""
    WITH a AS (SELECT DISTINCT account_id FROM {C360}.account_versions),
    b AS (SELECT account_id FROM {C360}.subscriptions UNION SELECT account_id FROM {C360}.invoices),
    u AS (SELECT DISTINCT account_id FROM {C360}.usage_daily)
    SELECT
      (SELECT count(*) FROM a),
      (SELECT count(DISTINCT account_id) FROM {C360}.account_keys WHERE id_kind = 'customer'),
      (SELECT count(DISTINCT account_id) FROM {C360}.account_keys WHERE id_kind = 'workspace'),
      (SELECT count(*) FROM b),
      (SELECT count(*) FROM u),
      (SELECT count(*) FROM a WHERE account_id IN (SELECT account_id FROM b) AND account_id IN (SELECT account_id FROM u)),
      (SELECT count(DISTINCT upper(customer_id)) FROM {REJECTED}.billing_subscriptions WHERE rejected_as = 'orphan'),
      (SELECT count(DISTINCT upper(customer_id)) FROM {REJECTED}.billing_invoices WHERE rejected_as = 'orphan'),
      (SELECT count(DISTINCT upper(workspace_id)) FROM {REJECTED}.product_usage_daily WHERE rejected_as = 'orphan'),
      (SELECT count(*) FROM {C360}.account_keys WHERE n_accounts > 1)
    """
    keys = [
        "crm_accounts",
        "with_billing_id",
        "with_workspace_id",
        "matched_billing",
        "matched_usage",
        "matched_crm_billing_usage",
        "unknown_billing_customers_subscriptions",
        "unknown_billing_customers_invoices",
        "unknown_workspaces",
        "ids_claimed_by_several_accounts",
    ]
    row = con.execute(q).fetchall()[0]
    return {k: int(v) for k, v in zip(keys, row, strict=True)}
