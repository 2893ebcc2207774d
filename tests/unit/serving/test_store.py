"""serving.store: `serving.scores.model_version` is an INTEGER; a warehouse that stored it as text reads the same
and is migrated in place by its first write, once."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from factories import make_settings, published_rows

from ingest.pipeline import open_warehouse
from serving import store
from serving.publish import PUBLIC_COLUMNS
from xsell.settings import Settings

MAY, JUNE = date(2025, 5, 31), date(2025, 6, 30)


def _column_type(settings: Settings) -> str:
    con = open_warehouse(settings, read_only=True)
    try:
        return str(
            con.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = 'serving' "
                "AND table_name = 'scores' AND column_name = 'model_version'"
            ).fetchall()[0][0]
        )
    finally:
        con.close()


def _old_warehouse(tmp_path: Path) -> Settings:
    """A warehouse whose serving.scores was created with model_version VARCHAR (before issue 14), one date in it."""
    settings = make_settings(tmp_path / "home")
    settings.home.mkdir(parents=True)
    con = open_warehouse(settings)
    try:
        con.execute("CREATE SCHEMA serving")
        types = {c: "VARCHAR" for c in PUBLIC_COLUMNS} | {"as_of": "DATE", "propensity": "DOUBLE", "rank": "BIGINT"}
        types |= {"expected_value": "DOUBLE", "run_id": "VARCHAR", "scored_at": "TIMESTAMP"}
        con.execute(f"CREATE TABLE {store.SCORES} ({', '.join(f'{c} {t}' for c, t in types.items())})")
        old = published_rows(MAY, "3").assign(run_id="r0", scored_at=datetime(2025, 6, 1))
        con.register("old", old)
        con.execute(f"INSERT INTO {store.SCORES} BY NAME SELECT * FROM old")
    finally:
        con.close()
    return settings


def test_scores_store_model_version_as_an_integer(tmp_path: Path) -> None:
    # given a new warehouse, when rows published with a text version are stored
    settings = make_settings(tmp_path / "home")
    settings.home.mkdir(parents=True)
    con = open_warehouse(settings)
    try:
        store.replace_scores(con, published_rows(JUNE, "7"), JUNE, "r", datetime(2025, 7, 1))
        stored = store.published_scores(con, JUNE)
    finally:
        con.close()
    # then the column is INTEGER and reads back as numbers
    assert _column_type(settings) == "INTEGER"
    assert stored["model_version"].tolist() == [7, 7] and pd.api.types.is_integer_dtype(stored["model_version"])


def test_a_text_model_version_reads_as_an_integer_and_is_migrated_by_the_first_write(tmp_path: Path) -> None:
    settings = _old_warehouse(tmp_path)
    # when the old warehouse is read (read-only: nothing can be migrated), the version still reads as a number
    con = open_warehouse(settings, read_only=True)
    try:
        assert store.published_scores(con, MAY)["model_version"].tolist() == [3, 3]
    finally:
        con.close()
    assert _column_type(settings) == "VARCHAR"
    # when the next scoring run writes, the column becomes INTEGER with the old rows kept; again is a no-op
    con = open_warehouse(settings)
    try:
        store.replace_scores(con, published_rows(JUNE, "4"), JUNE, "r1", datetime(2025, 7, 1))
        store.ensure_tables(con)
        versions = con.execute(f"SELECT as_of, model_version FROM {store.SCORES} ORDER BY as_of, account_id").fetchall()
    finally:
        con.close()
    assert _column_type(settings) == "INTEGER"
    assert versions == [(MAY, 3), (MAY, 3), (JUNE, 4), (JUNE, 4)]


def test_a_version_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    settings.home.mkdir(parents=True)
    con = open_warehouse(settings)
    try:
        with pytest.raises(ValueError, match="v7"):
            store.replace_scores(con, published_rows(JUNE, "v7"), JUNE, "r", datetime(2025, 7, 1))
        assert store.published_scores(con, JUNE).empty
    finally:
        con.close()
