"""The pyfunc's input boundary: rows typed for the signature, and the signature itself (no MLflow store)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from registry.model_input import (
    PROPENSITY_COLUMN,
    build_signature,
    signature_columns,
    string_columns,
    to_model_input,
)
from tests.unit.registry.factories import CATEGORICAL, FEATURES, INPUTS, STRINGS


def test_to_model_input_types_strings_and_floats_and_drops_keys(feature_rows: pd.DataFrame) -> None:
    # given feature rows with keys, integer counts, a pandas category column and missing strings
    rows = feature_rows.head(20).copy()
    rows["segment"] = rows["segment"].astype("category")
    rows.loc[rows.index[0], "primary_tier"] = None
    # when typed for the model
    typed = to_model_input(rows, FEATURES, CATEGORICAL)
    # then only features remain, in order: strings (None kept) and float64
    assert list(typed.columns) == list(FEATURES)
    assert typed["segment"].dtype == object and typed["segment"].tolist() == rows["segment"].astype(str).tolist()
    assert typed["primary_tier"].iloc[0] is None
    assert all(typed[c].dtype == "float64" for c in FEATURES if c not in CATEGORICAL)
    assert typed["seats"].tolist() == rows["seats"].astype(float).tolist()


def test_to_model_input_accepts_nullable_integers_and_booleans() -> None:
    frame = pd.DataFrame(
        {
            "seats": pd.array([1, None], dtype="Int64"),
            "trial": pd.array([True, None], dtype="boolean"),
            "segment": pd.array(["smb", None], dtype="string"),
        }
    )
    typed = to_model_input(frame, ["seats", "trial", "segment"], ["segment"])
    assert typed["seats"].dtype == "float64" and np.isnan(typed["seats"].iloc[1])
    assert typed["trial"].tolist()[0] == 1.0 and np.isnan(typed["trial"].iloc[1])
    assert typed["segment"].tolist() == ["smb", None]


def test_to_model_input_names_missing_columns(feature_rows: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="seats"):
        to_model_input(feature_rows.drop(columns=["seats"]), FEATURES, CATEGORICAL)


def test_to_model_input_refuses_text_in_a_numeric_feature() -> None:
    frame = pd.DataFrame({"seats": ["12", "many"]})
    with pytest.raises(ValueError, match="seats"):
        to_model_input(frame, ["seats"], [])


def test_signature_has_strings_for_categoricals_doubles_otherwise_and_a_reasons_param(
    feature_rows: pd.DataFrame,
) -> None:
    # given the raw example (ints, strings, the product column), typed
    raw = feature_rows[list(INPUTS)].head(3)
    strings = string_columns(raw, CATEGORICAL)
    assert strings == list(STRINGS)  # the product is a string input although not a categorical feature
    signature = build_signature(to_model_input(raw, INPUTS, strings), strings)
    types = {spec.name: spec.type.name for spec in signature.inputs.inputs}
    assert types == {name: "string" if name in STRINGS else "double" for name in INPUTS}
    assert signature_columns(signature) == (list(INPUTS), list(STRINGS))
    assert signature.outputs.input_names() == [PROPENSITY_COLUMN]
    assert signature.params is not None and signature.params.params[0].name == "reasons"
