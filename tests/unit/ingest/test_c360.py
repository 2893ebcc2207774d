"""ingest.c360: outputs written from classified rows (ownership intervals, id columns)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from ingest.c360 import C360, id_columns, write_ownership
from ingest.contract import ACCOUNTS, SUBSCRIPTIONS, USAGE


def test_ownership_merges_overlapping_items_and_ignores_trials() -> None:
    # given subscription items of one account: two overlapping, one after a gap, one open, one trial
    con = duckdb.connect()
    con.execute(f"CREATE SCHEMA {C360}")
    con.execute(
        f"""CREATE TABLE {C360}.subscriptions AS SELECT * FROM (VALUES
        ('A', 'insights', DATE '2024-01-01', DATE '2024-06-01', false),
        ('A', 'insights', DATE '2024-05-01', DATE '2024-09-01', false),
        ('A', 'insights', DATE '2025-01-01', NULL, false),
        ('A', 'security', DATE '2024-01-01', DATE '2024-02-01', true))
        t(account_id, product, start_date, end_date, is_trial)"""
    )
    # when ownership is written
    write_ownership(con)
    # then overlapping items are one interval, the gap splits them, the open one stays open, the trial is no ownership
    rows = con.execute(f"SELECT account_id, product, start_date, end_date FROM {C360}.ownership").fetchall()
    assert rows == [
        ("A", "insights", date(2024, 1, 1), date(2024, 9, 1)),
        ("A", "insights", date(2025, 1, 1), None),
    ]


def test_ownership_needs_the_subscriptions_table() -> None:
    con = duckdb.connect()
    con.execute(f"CREATE SCHEMA {C360}")
    with pytest.raises(duckdb.CatalogException, match="subscriptions"):
        write_ownership(con)


def test_id_columns_name_each_id_and_its_kind() -> None:
    assert id_columns(ACCOUNTS)[0] == ("account_id", "account")
    assert ("customer_id", "customer") in id_columns(SUBSCRIPTIONS)
    assert ("workspace_id", "workspace") in id_columns(USAGE)
