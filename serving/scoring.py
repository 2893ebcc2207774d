"""Scoring helpers: a user's own feature table scored by a registered model; reading and writing tables."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from xsell.errors import XsellError
from xsell.fileio import atomic_path

log = logging.getLogger(__name__)

#: File endings `write_table` understands.
TABLE_FORMATS: tuple[str, ...] = (".csv", ".parquet")


class ScoringError(XsellError, ValueError):
    """Scoring cannot run as asked (unknown output format, missing columns); the message says why."""


def predict_table(model: Any, table: pd.DataFrame) -> pd.DataFrame:
    """Score a user's own feature table: `id` (the model's id column, else the row number) and `propensity`."""
    id_column = getattr(model, "id_column_", None)
    if id_column and id_column not in table.columns:
        raise ScoringError(f"the table has no id column {id_column!r} (the model was trained with --id {id_column})")
    missing = [c for c in model.feature_names_ if c not in table.columns]
    if missing:
        raise ScoringError(f"the table lacks the model's input columns: {', '.join(missing[:5])}")
    ids = table[id_column] if id_column else pd.Series(range(len(table)), name="id")
    return pd.DataFrame({"id": ids.to_numpy(), "propensity": model.predict_proba(table)})


def read_table(path: Path) -> pd.DataFrame:
    """Read a user's CSV (optionally .csv.gz) or Parquet table; a file that is not one is named in the error."""
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for a broken file
        raise ScoringError(f"{path}: not a readable table ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    raise ScoringError(f"{path}: a table must be .csv, .csv.gz or .parquet")


def write_table(frame: pd.DataFrame, out: Path) -> Path:
    """Write a frame as CSV or Parquet (by the file ending), atomically."""
    suffix = out.suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise ScoringError(f"{out}: output must end in .csv or .parquet")
    with atomic_path(out) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return out
