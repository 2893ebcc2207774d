"""The pyfunc boundary: typed inputs, signature, and predictions equal to the fitted model's (no MLflow store)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from registry.model_input import PROPENSITY_COLUMN
from registry.pyfunc import PropensityPyfunc, entry_point, load_fitted_model, save_fitted_model
from tests.unit.registry.factories import INPUTS, STRINGS, TinyPropensityModel


def test_pyfunc_predict_equals_the_fitted_model(tiny_model: TinyPropensityModel, feature_rows: pd.DataFrame) -> None:
    rows = feature_rows.head(50)
    out = PropensityPyfunc(tiny_model, INPUTS, STRINGS).predict(None, rows)
    assert list(out.columns) == [PROPENSITY_COLUMN]
    np.testing.assert_allclose(out[PROPENSITY_COLUMN], tiny_model.predict_proba(rows))


def test_pyfunc_adds_three_reasons_on_request(tiny_model: TinyPropensityModel, feature_rows: pd.DataFrame) -> None:
    rows = feature_rows.head(5)
    out = PropensityPyfunc(tiny_model, INPUTS, STRINGS).predict(None, rows, params={"reasons": True})
    assert list(out.columns) == [PROPENSITY_COLUMN, "reason_1", "reason_2", "reason_3"]
    assert out.index.equals(rows.index)


def test_pyfunc_needs_every_input_column(tiny_model: TinyPropensityModel, feature_rows: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="product"):
        PropensityPyfunc(tiny_model, INPUTS, STRINGS).predict(None, feature_rows.drop(columns=["product"]).head(3))


def test_pyfunc_without_a_model_says_so(feature_rows: pd.DataFrame) -> None:
    with pytest.raises(RuntimeError, match="no fitted model"):
        PropensityPyfunc().predict(None, feature_rows.head(2))


def test_fitted_model_pickle_round_trip(
    tiny_model: TinyPropensityModel, feature_rows: pd.DataFrame, tmp_path: Path
) -> None:
    path = save_fitted_model(tiny_model, tmp_path / "m")
    loaded = load_fitted_model(path)
    np.testing.assert_allclose(
        loaded.predict_proba(feature_rows.head(20)), tiny_model.predict_proba(feature_rows.head(20))
    )


def test_entry_point_builds_the_pyfunc() -> None:
    text = entry_point().read_text()
    assert "set_model(PropensityPyfunc())" in text
