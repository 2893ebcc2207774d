"""Typed pandera schemas generated from the contract spec, plus the catalogue's cross-row rules."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from ingest.contract import FEATURES, PRODUCTS, TIER_ORDER, Column, TableSpec
from ingest.errors import ContractError

_PANDAS_DTYPES = {
    "string": "str",
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "timestamp": "datetime64[ns]",
    "date": "datetime64[ns]",
}


def _column_schema(col: Column, nullable: bool) -> pa.Column:
    checks = [pa.Check.isin(list(col.allowed))] if col.allowed is not None else []
    return pa.Column(_PANDAS_DTYPES[col.type], nullable=nullable, checks=checks, coerce=True)


def table_schema(spec: TableSpec, with_account_id: bool = False) -> pa.DataFrameSchema:
    """The pandera schema of a consolidated table: contract types, nullability, allowed values, unique key.

    A value column may be NULL even when the contract requires it: ingestion nulls unusable values.
    """
    columns = {c.name: _column_schema(c, c.nullable or c.name in spec.value_columns) for c in spec.columns}
    if with_account_id and "account_id" not in columns:
        columns["account_id"] = pa.Column("str", nullable=False, coerce=True)
    return pa.DataFrameSchema(
        columns,
        unique=list(spec.key) if spec.key else None,
        strict=False,
        name=spec.name,
    )


def validate_frame(spec: TableSpec, frame: pd.DataFrame, source: str, with_account_id: bool = False) -> pd.DataFrame:
    """Validate `frame` against the table schema; errors name `source` and the first failing column."""
    try:
        return table_schema(spec, with_account_id).validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        column = str(cases["column"].iloc[0]) if len(cases) else None
        sample = cases.head(3).to_dict("records") if len(cases) else []
        raise ContractError(source, f"fails the {spec.name} schema: {sample}", column=column) from None


def _catalog_error(source: str, column: str, message: str) -> ContractError:
    return ContractError(source, f"column '{column}': {message}", column=column)


def validate_catalog(products: pd.DataFrame, features: pd.DataFrame, products_file: str, features_file: str) -> None:
    """The catalogue's own rules: one primary product, known prerequisites, tiers and signalled products."""
    validate_frame(PRODUCTS, products, products_file)
    validate_frame(FEATURES, features, features_file)
    primaries = products.loc[products["kind"] == "primary", "product"].tolist()
    if len(primaries) != 1:
        raise _catalog_error(products_file, "kind", f"exactly one primary product expected, found {primaries}")
    known = set(products["product"])
    adjacent = set(products.loc[products["kind"] == "adjacent", "product"])
    bad_prereq = sorted(set(products["prerequisite"].dropna()) - known)
    if bad_prereq:
        raise _catalog_error(products_file, "prerequisite", f"unknown products {bad_prereq}")
    tiers = set(TIER_ORDER)
    bad_min = sorted(set(products["min_core_tier"].dropna()) - tiers)
    if bad_min:
        raise _catalog_error(products_file, "min_core_tier", f"unknown tiers {bad_min}; tiers are {list(TIER_ORDER)}")
    bad_tier = sorted(set(features["min_tier"].dropna()) - tiers)
    if bad_tier:
        raise _catalog_error(features_file, "min_tier", f"unknown tiers {bad_tier}; tiers are {list(TIER_ORDER)}")
    bad_signal = sorted(set(features["signals_product"].dropna()) - adjacent)
    if bad_signal:
        raise _catalog_error(features_file, "signals_product", f"not adjacent products {bad_signal}")


def check_schema_sample(spec: TableSpec, frame: pd.DataFrame, source: str) -> None:
    """Post-condition on consolidated output: the kept rows obey the contract schema."""
    try:
        validate_frame(spec, frame, source, with_account_id=spec.name not in {PRODUCTS.name, FEATURES.name})
    except (SchemaError, SchemaErrors) as exc:  # pragma: no cover - validate_frame converts these
        raise ContractError(source, str(exc)) from None
