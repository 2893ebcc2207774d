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
import pandas as pd
from mlflow.pyfunc import PythonModel

from registry.model_input import PROPENSITY_COLUMN, to_model_input
from training.result import FittedPropensityModel

#: Key of the pickled fitted model in the pyfunc's artifacts.
MODEL_ARTIFACT = "fitted_model"
#: Number of reason columns returned with `params={"reasons": True}`.
REASON_COUNT = 3


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
