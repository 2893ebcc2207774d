"""Materialised snapshots: idempotent per as-of date, transactional, stable schema, read back when current."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from features import store
from features.build import build_snapshot, export_snapshot, is_materialised, materialise_snapshot, read_snapshot
from features.catalog import KEY_COLUMNS, feature_names
from features.errors import FeatureError
from features.families import date_sql
from features.store import ROWS, SNAPSHOTS, connect_warehouse
from tests.unit.features.conftest import with_features
from xsell.settings import Settings

D1, D2 = date(2025, 12, 31), date(2026, 3, 31)


def _counts(con: duckdb.DuckDBPyConnection) -> list[tuple[date, int, int]]:
    return con.execute(f"SELECT as_of, count(*), count(label) FROM {ROWS} GROUP BY 1 ORDER BY 1").fetchall()


def test_materialise_is_idempotent_per_as_of(writable_settings: Settings) -> None:
    con = connect_warehouse(writable_settings)
    try:
        # given two snapshots materialised, when the first is materialised again
        first = materialise_snapshot(con, D1, writable_settings)
        materialise_snapshot(con, D2, writable_settings)
        again = materialise_snapshot(con, D1, writable_settings)
        # then its rows are replaced, not added, and the other snapshot is untouched
        assert _counts(con) == [(D1, 4, 4), (D2, 5, 0)]
        assert con.execute(f"SELECT count(*) FROM {SNAPSHOTS}").fetchall()[0][0] == 2
        assert (first.rows, first.labelled_rows, first.positives) == (again.rows, 4, 1)
        assert again.data_end == D2 and again.horizon_days == 90
        # and the stored rows are the built rows
        stored = read_snapshot(con, D1, writable_settings)
        pd.testing.assert_frame_equal(stored, build_snapshot(con, D1, writable_settings))
        assert list(stored.columns) == [*KEY_COLUMNS, *feature_names()]
    finally:
        con.close()


def test_a_failed_write_keeps_the_previous_rows(writable_settings: Settings) -> None:
    con = connect_warehouse(writable_settings)
    try:
        record = materialise_snapshot(con, D1, writable_settings)
        con.execute(f"CREATE TEMP TABLE previous AS SELECT * FROM {ROWS} WHERE as_of = {date_sql(D1)}")
        failing = "SELECT * FROM previous WHERE error('boom') IS NULL"
        # when a rewrite fails after its delete
        with pytest.raises(duckdb.Error, match="boom"):
            store.write_snapshot(
                con, D1, failing, data_end=D2, horizon_days=90, code_version="x", load_run_id="y", started=0.0
            )
        # then the transaction rolled back: the previous rows and record remain
        assert _counts(con) == [(D1, record.rows, record.labelled_rows)]
        assert store.snapshot_record(con, D1) == record
    finally:
        con.close()


def test_a_changed_feature_set_replaces_the_stale_table(writable_settings: Settings) -> None:
    con = connect_warehouse(writable_settings)
    try:
        con.execute("CREATE SCHEMA features")
        con.execute(f"CREATE TABLE {ROWS} AS SELECT DATE '2025-01-31' AS as_of, 1 AS old_feature")
        materialise_snapshot(con, D2, writable_settings)
        columns = [r[0] for r in con.execute(f"DESCRIBE {ROWS}").fetchall()]
        assert columns == [*KEY_COLUMNS, *feature_names()]
        assert _counts(con) == [(D2, 5, 0)]
    finally:
        con.close()


def test_materialised_rows_are_read_only_when_built_by_the_same_code(writable_settings: Settings) -> None:
    con = connect_warehouse(writable_settings)
    try:
        assert not is_materialised(con, D1, writable_settings)
        materialise_snapshot(con, D1, writable_settings)
        assert is_materialised(con, D1, writable_settings)
        # a different horizon generates different SQL: the stored rows are not reused
        assert not is_materialised(con, D1, with_features(writable_settings, horizon_days=30))
        assert not is_materialised(con, D1, with_features(writable_settings, data_end="2026-02-28"))
    finally:
        con.close()


def test_export_writes_the_snapshot_to_parquet(writable_settings: Settings, tmp_path: Path) -> None:
    con = connect_warehouse(writable_settings)
    try:
        built = build_snapshot(con, D1, writable_settings)
        fresh, stored = tmp_path / "fresh.parquet", tmp_path / "stored.parquet"
        assert export_snapshot(con, D1, writable_settings, fresh) == len(built)
        materialise_snapshot(con, D1, writable_settings)
        assert export_snapshot(con, D1, writable_settings, stored) == len(built)
    finally:
        con.close()
    for path in (fresh, stored):
        frame = pd.read_parquet(path)
        assert list(frame.columns) == list(built.columns)
        assert frame["as_of"].tolist() == built["as_of"].tolist()
        assert frame["label"].tolist() == built["label"].astype(int).tolist()
        pd.testing.assert_series_equal(frame["events_30d"], built["events_30d"], check_dtype=False)


def test_export_outside_the_data_writes_nothing(writable_settings: Settings, tmp_path: Path) -> None:
    con = connect_warehouse(writable_settings, read_only=True)
    try:
        with pytest.raises(FeatureError, match="outside the data"):
            export_snapshot(con, date(2030, 1, 31), writable_settings, tmp_path / "out.parquet")
    finally:
        con.close()
    assert list(tmp_path.glob("*.parquet")) == []


def test_records_and_listing(writable_settings: Settings) -> None:
    con = connect_warehouse(writable_settings)
    try:
        assert store.snapshot_record(con, D1) is None
        assert store.list_snapshots(con).empty
        record = materialise_snapshot(con, D1, writable_settings)
        listing = store.list_snapshots(con)
        assert listing["as_of"].dt.date.tolist() == [D1]
        assert record.to_dict()["as_of"] == "2025-12-31"
    finally:
        con.close()


def test_connect_without_a_warehouse_is_a_feature_error(tmp_path: Path, scenario_settings: Settings) -> None:
    settings = scenario_settings.model_copy(update={"home": tmp_path / "empty"})
    with pytest.raises(FeatureError, match="consolidate"):
        connect_warehouse(settings)


def test_warehouse_closes_the_connection_when_the_block_ends(writable_settings: Settings) -> None:
    # when a block reads the warehouse read-only, then raises
    with pytest.raises(RuntimeError, match="inside"), store.warehouse(writable_settings, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM meta.load_runs").fetchall()[0][0] >= 1
        with pytest.raises(duckdb.Error):  # read-only: no writes
            con.execute("CREATE TABLE main.nope (x INTEGER)")
        raise RuntimeError("inside")
    # then the connection is closed, and a writer can open the warehouse at once
    with pytest.raises(duckdb.ConnectionException):
        con.execute("SELECT 1")
    with store.warehouse(writable_settings) as writer:
        writer.execute("CREATE TABLE main.yes (x INTEGER)")


def test_warehouse_without_a_warehouse_is_a_feature_error(tmp_path: Path, scenario_settings: Settings) -> None:
    settings = scenario_settings.model_copy(update={"home": tmp_path / "empty"})
    with pytest.raises(FeatureError, match="consolidate"), store.warehouse(settings, read_only=True):
        pass
