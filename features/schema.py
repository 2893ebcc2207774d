"""The snapshot frame's schema: its key columns and the catalogue's feature columns with their pandas types, once.

Every snapshot handed out as pandas (built, or read from `features.snapshot_rows`) is validated against
`SNAPSHOT_SCHEMA`: the columns in order (`KEY_COLUMNS`, then every catalogue feature), the keys never null, the label
0/1 or null (horizon not yet matured), each feature in the pandas type of its SQL type. `validate_snapshot` first
compares the frame with the schema directly (column order, dtypes, the few value rules: about a millisecond, where a
pandera pass costs ~0.4 ms per column per snapshot), and runs pandera to name what is wrong only when it differs.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from features.catalog import FEATURES, KEY_COLUMNS
from features.errors import FeatureError

__all__ = [
    "FEATURE_COLUMNS",
    "KEY_COLUMNS",
    "PANDAS_DTYPES",
    "ROW_ID_COLUMNS",
    "SNAPSHOT_COLUMNS",
    "SNAPSHOT_SCHEMA",
    "validate_snapshot",
]

#: pandas type of each catalogue SQL type in a snapshot frame (VARCHAR: `str` values or None).
PANDAS_DTYPES: dict[str, str | type] = {"BIGINT": "Int64", "INTEGER": "Int64", "DOUBLE": "float64", "VARCHAR": object}

#: The key columns that identify one snapshot row (the label is the fourth key column).
ROW_ID_COLUMNS: tuple[str, ...] = tuple(c for c in KEY_COLUMNS if c != "label")

#: Feature columns of every snapshot, in catalogue order.
FEATURE_COLUMNS: tuple[str, ...] = tuple(f.name for f in FEATURES)

#: Every column of a snapshot frame, in order.
SNAPSHOT_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, *FEATURE_COLUMNS)

_KEY_TYPES: dict[str, pa.Column] = {
    "account_id": pa.Column(object, nullable=False),
    "product": pa.Column(object, nullable=False),
    "as_of": pa.Column(object, nullable=False),  # datetime.date values
    "label": pa.Column("Int64", nullable=True, checks=pa.Check.isin([0, 1])),
}

SNAPSHOT_SCHEMA = pa.DataFrameSchema(
    {
        **{name: _KEY_TYPES[name] for name in KEY_COLUMNS},
        **{f.name: pa.Column(PANDAS_DTYPES[f.dtype], nullable=True) for f in FEATURES},
    },
    strict=True,
    ordered=True,
    name="snapshot",
)


#: The pandas dtype the schema expects of each column, in order.
_DTYPES: tuple[tuple[str, object], ...] = tuple(
    (name, pd.api.types.pandas_dtype(column.dtype.type)) for name, column in SNAPSHOT_SCHEMA.columns.items()
)


def _fits(frame: pd.DataFrame) -> bool:
    """True when `frame` fits the schema: its columns in order, their dtypes, keys not null, labels 0/1 or null."""
    if tuple(frame.columns) != SNAPSHOT_COLUMNS:
        return False
    if any(frame.dtypes.iloc[i] != dtype for i, (_, dtype) in enumerate(_DTYPES)):
        return False
    keys = [c for c, column in SNAPSHOT_SCHEMA.columns.items() if not column.nullable]
    labels = frame["label"].dropna()
    return not frame[keys].isna().to_numpy().any() and bool(labels.isin([0, 1]).all())


def validate_snapshot(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """`frame` when it fits the snapshot schema; else a FeatureError naming `source` and the first failing column."""
    if _fits(frame):
        return frame
    try:
        return SNAPSHOT_SCHEMA.validate(frame, inplace=True)  # checks only: no copy, nothing coerced
    except SchemaErrors as exc:
        raise FeatureError(f"{source}: {_reason(exc.schema_errors[0])}") from None
    except SchemaError as exc:
        raise FeatureError(f"{source}: {_reason(exc)}") from None


def _reason(exc: SchemaError) -> str:
    """One line: the column and what is wrong with it (without pandera's list of every column)."""
    text = str(exc).splitlines()[0].split(". Columns in dataframe")[0]
    return f"column {exc.schema.name!r}: {text}" if isinstance(exc.schema, pa.Column) else text
