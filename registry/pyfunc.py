"""The MLflow pyfunc of a fitted propensity model: feature rows in, calibrated probabilities out.

The fitted `training.result.FittedPropensityModel` (preprocessing, LightGBM and calibrator in one object) is
pickled as the model's artifact; `PropensityPyfunc` loads it and returns a frame with a `propensity` column
(and `reason_1..3` on request). The model is logged as "models from code" (`pyfunc_entry.py`), so MLflow
does not pickle this class: loading needs the xsell package installed (as scoring has).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema

from training.result import FittedPropensityModel

#: Output column of calibrated probabilities.
PROPENSITY_COLUMN = "propensity"
#: Key of the pickled fitted model in the pyfunc's artifacts.
MODEL_ARTIFACT = "fitted_model"
#: Number of reason columns returned with `params={"reasons": True}`.
REASON_COUNT = 3


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
    text = set(strings)
    inputs = Schema([ColSpec(DataType.string if name in text else DataType.double, name) for name in example.columns])
    outputs = Schema([ColSpec(DataType.double, PROPENSITY_COLUMN)])
    params = ParamSchema([ParamSpec("reasons", DataType.boolean, False)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def signature_columns(signature: ModelSignature) -> tuple[list[str], list[str]]:
    """(input columns, string columns) of a signature written by `build_signature`."""
    specs = signature.inputs.inputs
    return [spec.name for spec in specs], [spec.name for spec in specs if spec.type == DataType.string]


def save_fitted_model(model: FittedPropensityModel, directory: Path) -> Path:
    """Pickle `model` (cloudpickle) into `directory`; return the file, to pass as the pyfunc artifact."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "fitted_model.pkl"
    with path.open("wb") as handle:
        cloudpickle.dump(model, handle)
    return path


def load_fitted_model(path: str | Path) -> FittedPropensityModel:
    """Unpickle a model written by `save_fitted_model`."""
    with Path(path).open("rb") as handle:
        return cloudpickle.load(handle)  # type: ignore[no-any-return]


def entry_point() -> Path:
    """The "models from code" file MLflow runs to build the pyfunc at load time."""
    return Path(__file__).with_name("pyfunc_entry.py")


class PropensityPyfunc(PythonModel):
    """MLflow pyfunc around a fitted propensity model: `predict` returns calibrated probabilities.

    The input columns and which of them are strings come from the logged model config (`input_columns`,
    `string_columns`, written by `registry.log_training`); built directly, they default to the model's
    `feature_names_` and `categorical_features_`.
    """

    def __init__(
        self,
        model: FittedPropensityModel | None = None,
        input_columns: Sequence[str] | None = None,
        string_columns: Sequence[str] | None = None,
    ) -> None:
        self.model = model
        self.input_columns = list(input_columns) if input_columns is not None else None
        self.string_columns = list(string_columns) if string_columns is not None else None

    def load_context(self, context: Any) -> None:
        """Load the pickled fitted model from the pyfunc's artifacts and the input columns from its config."""
        self.model = load_fitted_model(context.artifacts[MODEL_ARTIFACT])
        config = getattr(context, "model_config", None) or {}
        if config.get("input_columns") is not None:
            self.input_columns = list(config["input_columns"])
        if config.get("string_columns") is not None:
            self.string_columns = list(config["string_columns"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Column `propensity` (float) per input row; with `params={"reasons": True}` also `reason_1..3`."""
        if self.model is None:
            raise RuntimeError("PropensityPyfunc has no fitted model: load it through MLflow")
        model = self.model
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        columns = self.input_columns if self.input_columns is not None else list(model.feature_names_)
        strings = self.string_columns if self.string_columns is not None else list(model.categorical_features_)
        features = to_model_input(frame, columns, strings)
        result = pd.DataFrame(
            {PROPENSITY_COLUMN: pd.Series(model.predict_proba(features), index=features.index, dtype="float64")}
        )
        if params and params.get("reasons"):
            reasons = model.reason_codes(features, top=REASON_COUNT)
            reasons.index = features.index
            result = pd.concat([result, reasons], axis=1)
        return result
