"""Adoption path: the order in which accounts historically adopted the adjacent products.

Mined from the ownership history known at a cut-off date (`c360.ownership`, first non-trial start per account x
product), weighted to the accounts that grew most: an account's weight is its MRR at the cut-off over its MRR on
the day of its first purchase, capped at `serving.adoption.max_growth_weight` (and floored at its inverse, so a
churned account still counts a little). Products are ordered by weighted pairwise precedence: for two products A
and B, an account that adopted A before B (or A and never B) is a vote for A first; a product's precedence is the
weighted share of its comparisons it wins. The first product on the path an account is eligible for and does not
own is its `next_product`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from features.families import date_sql
from serving.scoring import ScoringError
from xsell import progress
from xsell.settings import AdoptionSettings

log = logging.getLogger(__name__)

#: Columns of the adoption-path table (one row per adjacent product, in path order).
PATH_COLUMNS: tuple[str, ...] = (
    "step",
    "product",
    "precedence",
    "adopters",
    "weighted_adopters",
    "first_choice_share",
    "median_months_after_primary",
)


class AdoptionError(ScoringError):
    """The warehouse cannot give an adoption path (no catalogue or ownership); the message says why."""


def adjacent_products(con: duckdb.DuckDBPyConnection) -> tuple[str, list[str]]:
    """The catalogue's primary product and its adjacent products (sorted)."""
    try:
        rows = con.execute("SELECT product, kind FROM c360.products ORDER BY product").fetchall()
    except duckdb.CatalogException:
        raise AdoptionError("the warehouse holds no catalogue (c360.products): run `xsell consolidate` first") from None
    primary = [p for p, kind in rows if kind == "primary"]
    if len(primary) != 1:
        raise AdoptionError(f"c360.products must name exactly one primary product, found {primary}")
    return primary[0], [p for p, kind in rows if kind == "adjacent"]


def ownership_history(con: duckdb.DuckDBPyConnection, cutoff: date) -> pd.DataFrame:
    """First non-trial start of every product each account owned by `cutoff`: account_id, product, first_start."""
    sql = f"""SELECT account_id, product, min(start_date) AS first_start FROM c360.ownership
              WHERE start_date <= {date_sql(cutoff)} GROUP BY account_id, product ORDER BY account_id, product"""
    try:
        frame = con.execute(sql).df()
    except duckdb.CatalogException:
        raise AdoptionError("the warehouse holds no ownership history (c360.ownership)") from None
    frame["first_start"] = pd.to_datetime(frame["first_start"])
    return frame


def growth_weights(con: duckdb.DuckDBPyConnection, cutoff: date, cfg: AdoptionSettings) -> pd.Series:
    """Per account: MRR at `cutoff` over MRR on its first purchase day, clipped to [1/cap, cap]."""
    d = date_sql(cutoff)
    sql = f"""WITH items AS (
                SELECT account_id, mrr, start_date, end_date FROM c360.subscriptions
                WHERE NOT is_trial AND start_date <= {d}),
              firsts AS (SELECT account_id, min(start_date) AS d0 FROM items GROUP BY account_id)
              SELECT f.account_id,
                     sum(CASE WHEN i.start_date <= f.d0 AND coalesce(i.end_date > f.d0, true)
                         THEN i.mrr ELSE 0 END) AS mrr_start,
                     sum(CASE WHEN coalesce(i.end_date > {d}, true) THEN i.mrr ELSE 0 END) AS mrr_now
              FROM firsts f JOIN items i USING (account_id) GROUP BY f.account_id"""
    frame = con.execute(sql).df()
    return growth_weight(frame["mrr_start"], frame["mrr_now"], cfg.max_growth_weight).set_axis(frame["account_id"])


def growth_weight(mrr_start: pd.Series, mrr_now: pd.Series, cap: float) -> pd.Series:
    """Growth multiple `mrr_now / mrr_start` clipped to [1/cap, cap] (no starting MRR: the cap; unknown MRR: 1)."""
    start = mrr_start.to_numpy(dtype=float)
    now = mrr_now.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(start > 0, now / np.where(start > 0, start, 1.0), cap)
    ratio = np.where(np.isnan(start) | np.isnan(now), 1.0, ratio)  # nulled (unknown) MRR: no growth known
    return pd.Series(np.clip(ratio, 1.0 / cap, cap), index=mrr_start.index, name="weight")


def adoption_order(history: pd.DataFrame, weights: pd.Series, primary: str, products: Sequence[str]) -> pd.DataFrame:
    """The adoption-path table (`PATH_COLUMNS`) from first starts and account weights (pure).

    `history`: account_id, product, first_start; `weights`: account_id -> weight (missing accounts weigh 1).
    Every product of `products` appears, those nobody adopted last (precedence 0).
    """
    products = list(products)
    adj = history[history["product"].isin(products)]
    starts = adj.pivot_table(index="account_id", columns="product", values="first_start", aggfunc="min")
    starts = starts.reindex(columns=products)
    w = weights.reindex(starts.index).fillna(1.0).to_numpy(dtype=float)
    owned = starts.notna().to_numpy()
    t = starts.apply(pd.to_datetime).to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
    t[~owned] = np.nan
    wins = np.zeros(len(products))
    comparisons = np.zeros(len(products))
    for i in range(len(products)):
        for j in range(len(products)):
            if i == j:
                continue
            both = owned[:, i] & owned[:, j]
            only_i = owned[:, i] & ~owned[:, j]
            earlier = both & (t[:, i] < t[:, j])
            tied = both & (t[:, i] == t[:, j])
            wins[i] += (w * (earlier + 0.5 * tied + only_i)).sum()
            comparisons[i] += (w * (owned[:, i] | owned[:, j])).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        precedence = np.where(comparisons > 0, wins / np.where(comparisons > 0, comparisons, 1), 0.0)
    first_t = np.where(owned, t, np.inf).min(axis=1) if len(products) else np.array([])
    is_first = owned & (t == first_t[:, None])
    total_w = w[owned.any(axis=1)].sum() if len(products) else 0.0
    primary_start = (
        history[history["product"] == primary].groupby("account_id")["first_start"].min().reindex(starts.index)
    )
    rows = []
    for k, product in enumerate(products):
        months = (pd.to_datetime(starts[product]) - primary_start).dt.days / 30.4375
        rows.append(
            {
                "product": product,
                "precedence": float(precedence[k]),
                "adopters": int(owned[:, k].sum()),
                "weighted_adopters": float(w[owned[:, k]].sum()),
                "first_choice_share": float(w[is_first[:, k]].sum() / total_w) if total_w else 0.0,
                "median_months_after_primary": float(months.median()) if months.notna().any() else float("nan"),
            }
        )
    table = pd.DataFrame(rows, columns=[c for c in PATH_COLUMNS if c != "step"])
    table = table.sort_values(["precedence", "weighted_adopters", "product"], ascending=[False, False, True])
    table.insert(0, "step", range(1, len(table) + 1))
    return table.reset_index(drop=True)[list(PATH_COLUMNS)]


def mine_adoption_path(con: duckdb.DuckDBPyConnection, cutoff: date, cfg: AdoptionSettings) -> pd.DataFrame:
    """The adoption-path table from the ownership history known at `cutoff`, weighted by MRR growth."""
    with progress.step("adoption", f"mining the adoption path as of {cutoff}"):
        primary, products = adjacent_products(con)
        history = ownership_history(con, cutoff)
        table = adoption_order(history, growth_weights(con, cutoff, cfg), primary, products)
    log.info("adoption path mined", extra={"cutoff": cutoff.isoformat(), "order": ",".join(table["product"])})
    return table


def next_products(rows: pd.DataFrame, order: Sequence[str]) -> pd.Series:
    """Per row (account_id, product): the first product on the path among the account's rows (its eligible,
    unowned products); products off the path come after it, alphabetically."""
    position = {p: i for i, p in enumerate(order)}
    rank = rows["product"].map(lambda p: (position.get(p, len(position)), p))
    first = rows.assign(_rank=rank).sort_values("_rank").groupby("account_id", sort=False)["product"].first()
    return rows["account_id"].map(first).rename("next_product")


def render_markdown(table: pd.DataFrame, primary: str, cutoff: date) -> str:
    """The adoption-path table as a markdown page."""
    lines = [
        f"# Adoption path (ownership history to {cutoff.isoformat()})",
        "",
        f"Accounts start with `{primary}`; the adjacent products follow in this order. Precedence: growth-weighted"
        " share of pairwise comparisons a product wins (adopted before the other, or adopted and the other never).",
        "",
        "| step | product | precedence | adopters | weighted adopters | first choice | median months after primary |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in table.to_dict("records"):
        months = "" if pd.isna(r["median_months_after_primary"]) else f"{r['median_months_after_primary']:.1f}"
        lines.append(
            f"| {r['step']} | {r['product']} | {r['precedence']:.3f} | {r['adopters']:,} "
            f"| {r['weighted_adopters']:,.1f} | {r['first_choice_share']:.1%} | {months} |"
        )
    return "\n".join(lines) + "\n"
