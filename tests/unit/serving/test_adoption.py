"""Adoption path: growth weights, weighted pairwise precedence, next product, mining from a warehouse."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from serving.adoption import (
    PATH_COLUMNS,
    AdoptionError,
    adoption_order,
    growth_weight,
    mine_adoption_path,
    next_products,
    render_markdown,
)
from xsell.settings import AdoptionSettings


def history(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["account_id", "product", "first_start"])
    frame["first_start"] = pd.to_datetime(frame["first_start"])
    return frame


def test_growth_weight_is_the_clipped_mrr_multiple() -> None:
    start = pd.Series([100.0, 100.0, 100.0, 0.0])
    now = pd.Series([300.0, 5000.0, 0.0, 50.0])
    assert growth_weight(start, now, cap=10.0).tolist() == [3.0, 10.0, 0.1, 10.0]


def test_growth_weight_of_unknown_mrr_is_neutral() -> None:
    # given accounts whose MRR at the start or now is unknown (nulled at ingestion), then their weight is 1
    start = pd.Series([float("nan"), 100.0, float("nan")])
    now = pd.Series([300.0, float("nan"), float("nan")])
    assert growth_weight(start, now, cap=10.0).tolist() == [1.0, 1.0, 1.0]


def test_order_follows_the_accounts_that_grew_most() -> None:
    # given two accounts that bought y before x and grew 10x, and three that bought x before y and did not grow
    rows = [("g1", "base", "2020-01-01"), ("g1", "y", "2020-03-01"), ("g1", "x", "2020-06-01")]
    rows += [("g2", "base", "2020-01-01"), ("g2", "y", "2020-02-01"), ("g2", "x", "2020-05-01")]
    for k in range(3):
        rows += [(f"s{k}", "base", "2020-01-01"), (f"s{k}", "x", "2020-02-01"), (f"s{k}", "y", "2020-04-01")]
    weights = pd.Series({"g1": 10.0, "g2": 10.0, "s0": 1.0, "s1": 1.0, "s2": 1.0})
    # when the order is mined
    weighted = adoption_order(history(rows), weights, "base", ["x", "y", "z"])
    unweighted = adoption_order(history(rows), pd.Series(dtype=float), "base", ["x", "y", "z"])
    # then growth weighting puts y first, while a head count would put x first; z (never adopted) comes last
    assert weighted["product"].tolist() == ["y", "x", "z"]
    assert unweighted["product"].tolist() == ["x", "y", "z"]
    assert list(weighted.columns) == list(PATH_COLUMNS) and weighted["step"].tolist() == [1, 2, 3]
    z = weighted.set_index("product").loc["z"]
    assert z["adopters"] == 0 and z["precedence"] == 0.0
    y = weighted.set_index("product").loc["y"]
    assert y["first_choice_share"] == pytest.approx(20 / 23)
    assert y["median_months_after_primary"] == pytest.approx((59 + 31 + 3 * 91) / 5 / 30.4375, rel=0.3)


def test_adopting_one_product_only_counts_for_it() -> None:
    rows = [("a", "x", "2020-01-01"), ("b", "x", "2020-01-01"), ("c", "y", "2020-01-01")]
    table = adoption_order(history(rows), pd.Series(dtype=float), "base", ["x", "y"])
    assert table["product"].tolist() == ["x", "y"]
    assert table.set_index("product")["precedence"].to_dict() == {"x": 2 / 3, "y": 1 / 3}


def test_next_product_is_the_first_path_product_among_the_accounts_rows() -> None:
    rows = pd.DataFrame({"account_id": ["a", "a", "b", "c"], "product": ["z", "y", "z", "w"]})
    nxt = next_products(rows, ["x", "y", "z"])
    assert nxt.tolist() == ["y", "y", "z", "w"]


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA c360")
    con.execute(
        "CREATE TABLE c360.products AS SELECT * FROM (VALUES ('base', 'primary'), ('x', 'adjacent'), "
        "('y', 'adjacent')) t(product, kind)"
    )
    con.execute(
        """CREATE TABLE c360.subscriptions AS SELECT * FROM (VALUES
        ('a', 'base', 100.0, false, DATE '2020-01-01', NULL),
        ('a', 'y', 900.0, false, DATE '2020-03-01', NULL),
        ('a', 'x', 100.0, false, DATE '2020-05-01', NULL),
        ('b', 'base', 100.0, false, DATE '2020-01-01', NULL),
        ('b', 'x', 10.0, false, DATE '2020-02-01', NULL),
        ('b', 'y', 10.0, true, DATE '2020-03-01', NULL),
        ('b', 'y', 10.0, false, DATE '2021-03-01', NULL)
        ) t(account_id, product, mrr, is_trial, start_date, end_date)"""
    )
    con.execute(
        """CREATE TABLE c360.ownership AS SELECT account_id, product, start_date, end_date
           FROM c360.subscriptions WHERE NOT is_trial"""
    )
    return con


def test_mined_from_the_history_known_at_the_cutoff() -> None:
    con = _warehouse()
    # at the end of 2020 b's y (bought 2021) is unknown: a (grew 11x) put y first, b put x first
    table = mine_adoption_path(con, date(2020, 12, 31), AdoptionSettings())
    assert table["product"].tolist() == ["y", "x"]
    assert table.set_index("product")["adopters"].to_dict() == {"y": 1, "x": 2}
    assert "| 1 | y |" in render_markdown(table, "base", date(2020, 12, 31))


def test_no_catalogue_is_a_clear_error() -> None:
    with pytest.raises(AdoptionError, match=r"c360\.products"):
        mine_adoption_path(duckdb.connect(), date(2020, 1, 1), AdoptionSettings())
