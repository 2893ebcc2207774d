"""The snapshot schema: key and feature columns once, every snapshot frame validated against it."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from features.build import build_snapshot
from features.catalog import FEATURES, KEY_COLUMNS
from features.errors import FeatureError
from features.schema import FEATURE_COLUMNS, ROW_ID_COLUMNS, SNAPSHOT_COLUMNS, SNAPSHOT_SCHEMA, validate_snapshot
from features.store import warehouse
from xsell.settings import Settings

INTEGER_FEATURE = next(f.name for f in FEATURES if f.dtype in ("BIGINT", "INTEGER"))


def test_columns_are_the_keys_then_the_catalogue() -> None:
    assert (*KEY_COLUMNS, *(f.name for f in FEATURES)) == SNAPSHOT_COLUMNS
    assert ROW_ID_COLUMNS == ("account_id", "product", "as_of") and FEATURE_COLUMNS[0] == FEATURES[0].name


@pytest.fixture(scope="module")
def frame(scenario_settings: Settings) -> pd.DataFrame:
    with warehouse(scenario_settings, read_only=True) as con:
        return build_snapshot(con, date(2026, 3, 31), scenario_settings)


def test_a_built_snapshot_fits_the_schema(frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(validate_snapshot(frame, "built"), frame)
    SNAPSHOT_SCHEMA.validate(frame)  # the quick comparison and pandera agree
    assert list(frame.columns) == list(SNAPSHOT_COLUMNS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(label=pd.array([2] * len(f), dtype="Int64")), "column 'label': .*isin"),
        (lambda f: f.assign(account_id=None), "column 'account_id': .*null"),
        (lambda f: f.drop(columns=[FEATURES[0].name]), f"column '{FEATURES[0].name}' not in dataframe$"),
        (lambda f: f[[*reversed(f.columns)]], "column '[a-z_0-9]+' out-of-order"),
        (lambda f: f.assign(extra=1), "column 'extra' not in DataFrameSchema"),
        (lambda f: f.assign(**{INTEGER_FEATURE: 1.5}), f"column '{INTEGER_FEATURE}': .*type Int64"),
    ],
)
def test_a_frame_off_the_schema_is_a_feature_error_naming_the_column(frame: pd.DataFrame, change, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FeatureError, match=f"^snapshot 2026-03-31: {message}"):
        validate_snapshot(change(frame), "snapshot 2026-03-31")
