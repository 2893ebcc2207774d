"""load_training_frame on the hand-made scenario warehouse: matured labels only, materialised idempotently."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from features import store
from features.catalog import KEY_COLUMNS, feature_names
from features.store import connect_warehouse
from tests.unit.features.conftest import build_warehouse
from training.dataset import data_hash, labelled_snapshot_dates, load_training_frame
from training.errors import TrainingError
from xsell.settings import Settings

DATA_END = date(2026, 3, 31)  # the scenario export's last day


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_warehouse(tmp_path_factory.mktemp("training-scenario"))


def test_loads_every_matured_snapshot_and_materialises_it(scenario: Settings) -> None:
    con = connect_warehouse(scenario)
    try:
        frame = load_training_frame(con, scenario)
        dates = labelled_snapshot_dates(con, scenario)
        # then every snapshot whose horizon ended by the data end is there, and only those
        assert dates[-1] == date(2025, 12, 31)
        assert all(d + timedelta(days=90) <= DATA_END for d in dates)
        assert set(frame["as_of"]) <= set(dates)
        assert list(frame.columns) == [*KEY_COLUMNS, *feature_names()]
        assert frame["label"].dtype == "int64" and frame["label"].notna().all()
        assert all(store.snapshot_record(con, d) is not None for d in dates)
        # and a second load reuses the materialised rows (nothing rebuilt)
        built = {d: store.snapshot_record(con, d).built_at for d in dates}  # type: ignore[union-attr]
        again = load_training_frame(con, scenario)
        assert {d: store.snapshot_record(con, d).built_at for d in dates} == built  # type: ignore[union-attr]
        pd.testing.assert_frame_equal(again, frame)
    finally:
        con.close()


def test_an_earlier_as_of_keeps_only_labels_known_then(scenario: Settings) -> None:
    con = connect_warehouse(scenario)
    try:
        cutoff = date(2025, 9, 30)
        frame = load_training_frame(con, scenario, as_of=cutoff)
    finally:
        con.close()
    assert max(frame["as_of"]) + timedelta(days=90) <= cutoff


@pytest.mark.parametrize(
    ("as_of", "message"), [(date(2026, 4, 30), "after the data end"), (date(2024, 7, 31), "too short")]
)
def test_as_of_outside_the_labelled_range_is_refused(scenario: Settings, as_of: date, message: str) -> None:
    con = connect_warehouse(scenario)
    try:
        with pytest.raises(TrainingError, match=message):
            load_training_frame(con, scenario, as_of=as_of)
    finally:
        con.close()


def test_data_hash_ignores_row_order_and_sees_values(frame: pd.DataFrame, tmp_path: Path) -> None:
    shuffled = frame.sample(frac=1.0, random_state=1)
    assert data_hash(shuffled) == data_hash(frame)
    changed = frame.copy()
    changed.loc[0, "tenure_months"] += 1
    assert data_hash(changed) != data_hash(frame)
