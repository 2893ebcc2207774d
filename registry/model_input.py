"""The pyfunc's input boundary: feature rows typed as the model signature expects, and that signature.

Kept apart from `registry.pyfunc` (which imports MLflow's model classes) so that reading a registered model's
inputs, or typing rows for it, needs no MLflow import; the signature helpers import `mlflow.types` when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mlflow.models import ModelSignature

__all__ = ["PROPENSITY_COLUMN", "build_signature", "signature_columns", "string_columns", "to_model_input"]

#: Output column of calibrated probabilities.
PROPENSITY_COLUMN = "propensity"


def string_columns(example: pd.DataFrame, categorical: Sequence[str]) -> list[str]:
    """Columns of a model-input example that are strings: the model's categorical features and any other
    column holding text (the product column of a pooled model)."""
    declared = set(categorical)
    return [
        c
        for c in example.columns
        if c in declared
        or pd.api.types.is_object_dtype(example[c].dtype)
        or pd.api.types.is_string_dtype(example[c].dtype)
        or isinstance(example[c].dtype, pd.CategoricalDtype)
    ]


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


def _as_float(column: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(column.dtype) or isinstance(column.dtype, pd.BooleanDtype):
        return column.astype("Float64").astype("float64")
    try:
        numeric = pd.to_numeric(column, errors="raise")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"input {name!r} is numeric but holds non-numeric values: {exc}") from None
    if isinstance(numeric.dtype, pd.api.extensions.ExtensionDtype):
        return pd.Series(numeric.to_numpy(dtype="float64", na_value=np.nan), index=column.index)
    return numeric.astype("float64")


def to_model_input(frame: pd.DataFrame, columns: Sequence[str], strings: Sequence[str]) -> pd.DataFrame:
    """The model inputs of `frame`, typed as the pyfunc signature expects: `columns` in order, strings for
    `strings` (missing values as None, pandas `category` decoded), float64 for every other column (nullable
    integers and booleans included, NA as NaN).

    Other columns (keys, label) are dropped; a missing input column raises ValueError naming it.
    """
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"feature rows lack model input columns: {missing}")
    text = set(strings)
    typed: dict[str, pd.Series] = {}
    for name in columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
        if name in text:
            typed[name] = column.astype(object).map(lambda v: None if _missing(v) else str(v))
        else:
            typed[name] = _as_float(column, name)
    return pd.DataFrame(typed, index=frame.index)


def build_signature(example: pd.DataFrame, strings: Sequence[str]) -> ModelSignature:
    """Signature from a typed input example (see `to_model_input`): string columns for `strings`, double for
    the rest, all required; output `propensity` (double); param `reasons` (boolean, False)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema

    text = set(strings)
    inputs = Schema([ColSpec(DataType.string if name in text else DataType.double, name) for name in example.columns])
    outputs = Schema([ColSpec(DataType.double, PROPENSITY_COLUMN)])
    params = ParamSchema([ParamSpec("reasons", DataType.boolean, False)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def signature_columns(signature: ModelSignature) -> tuple[list[str], list[str]]:
    """(input columns, string columns) of a signature written by `build_signature`."""
    from mlflow.types import DataType

    specs = signature.inputs.inputs
    return [spec.name for spec in specs], [spec.name for spec in specs if spec.type == DataType.string]
