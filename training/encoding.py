"""Model-input encoding inside the fitted model: plain DataFrames in, a float matrix out.

Categorical string columns are mapped to integer codes learned at fit (sorted categories; missing and unseen values
become NaN, which LightGBM treats as missing); numeric columns, nullable `Int64` and booleans included, become
float64 with NA as NaN. No pandas `category` dtype is produced or required, so the model boundary sees plain types.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from training.errors import TrainingError

__all__ = ["TableEncoder", "infer_categorical", "to_float"]


def infer_categorical(frame: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """Columns holding strings (object, string or category dtype): encoded as categories."""
    out = []
    for c in columns:
        dtype = frame[c].dtype
        if isinstance(dtype, pd.CategoricalDtype) or ptypes.is_string_dtype(dtype) or ptypes.is_object_dtype(dtype):
            out.append(c)
    return out


def to_float(series: pd.Series) -> np.ndarray:
    """A numeric, nullable-integer or boolean column as float64, NA -> NaN."""
    if ptypes.is_bool_dtype(series.dtype) or isinstance(series.dtype, pd.BooleanDtype):
        return series.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    if ptypes.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


class TableEncoder:
    """Learns the categories of the categorical columns and turns frames into float matrices.

    Follows scikit-learn conventions: `__init__` stores the column lists, `fit` learns `categories_`.
    """

    def __init__(self, columns: list[str], categorical: list[str]) -> None:
        self.columns = columns
        self.categorical = categorical

    def fit(self, frame: pd.DataFrame) -> TableEncoder:
        """Learn the sorted categories of each categorical column from `frame`."""
        self._check(frame)
        self.categories_: dict[str, list[str]] = {}
        for c in self.categorical:
            values = frame[c].dropna()
            self.categories_[c] = sorted({str(v) for v in values})
        self.codes_ = {c: {v: i for i, v in enumerate(cats)} for c, cats in self.categories_.items()}
        return self

    def _check(self, frame: pd.DataFrame) -> None:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise TrainingError(f"input rows lack the model's columns: {missing}")

    def transform(self, frame: pd.DataFrame, columns: list[str] | None = None) -> np.ndarray:
        """Float matrix of `columns` (default: all), in that order; categories as codes, unknown/missing as NaN."""
        wanted = columns if columns is not None else self.columns
        self._check(frame)
        out = np.empty((len(frame), len(wanted)), dtype="float64")
        for j, c in enumerate(wanted):
            if c in self.codes_:
                values = frame[c]
                present = values.notna().to_numpy()
                column = np.full(len(frame), np.nan)
                column[present] = values[present].astype(str).map(self.codes_[c]).to_numpy(dtype="float64")
                out[:, j] = column
            else:
                try:
                    out[:, j] = to_float(frame[c])
                except (TypeError, ValueError) as exc:
                    raise TrainingError(f"column {c!r} is neither numeric nor declared categorical: {exc}") from None
        return out

    def decode(self, column: str, codes: np.ndarray) -> list[str | None]:
        """Category strings of `codes` (NaN -> None)."""
        cats = self.categories_[column]
        return [None if np.isnan(x) else cats[int(x)] for x in codes]
