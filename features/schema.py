"""The snapshot frame's schema: its key columns and the catalogue's feature columns with their pandas types, once.

Every snapshot handed out as pandas (built, or read from `features.snapshot_rows`) is validated against
`SNAPSHOT_SCHEMA`: the columns in order (`KEY_COLUMNS`, then every catalogue feature), the keys never null, the label
0/1 or null (horizon not yet matured), each feature in the pandas type of its SQL type. Checks are vectorised type
checks only, so validating costs milliseconds per snapshot.
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


def validate_snapshot(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """`frame` when it fits the snapshot schema; else a FeatureError naming `source` and the first failing column."""
    try:
        return SNAPSHOT_SCHEMA.validate(frame)
    except SchemaErrors as exc:
        raise FeatureError(f"{source}: {_reason(exc.schema_errors[0])}") from None
    except SchemaError as exc:
        raise FeatureError(f"{source}: {_reason(exc)}") from None


def _reason(exc: SchemaError) -> str:
    """One line: the column and what is wrong with it (without pandera's list of every column)."""
    text = str(exc).splitlines()[0].split(". Columns in dataframe")[0]
    return f"column {exc.schema.name!r}: {text}" if isinstance(exc.schema, pa.Column) else text
