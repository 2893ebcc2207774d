"""ingest.schemas: typed pandera schemas from the contract, and the catalogue's cross-row rules."""

from __future__ import annotations

import pandas as pd
import pytest
from factories import ACCOUNT, feature_row, nps_row, product_row, typed_frame

from ingest.contract import FEATURES, NPS, PRODUCTS, TICKETS
from ingest.errors import ContractError
from ingest.schemas import check_schema_sample, table_schema, validate_catalog, validate_frame

PRODUCTS_FILE = "catalog/products.csv"
FEATURES_FILE = "catalog/features.csv"


def products(*rows: dict) -> pd.DataFrame:
    """A catalogue: core (primary) + analytics, automation (needs analytics), security (enterprise), + rows."""
    base = [
        product_row(product="core", kind="primary", list_price_mrr=350.0),
        product_row(product="analytics"),
        product_row(product="automation", prerequisite="analytics", list_price_mrr=600.0),
        product_row(product="security", min_core_tier="enterprise", list_price_mrr=900.0),
    ]
    return pd.DataFrame([*base, *rows])


def features(*rows: dict) -> pd.DataFrame:
    """Features of each tier, some signalling adjacent products, + rows."""
    base = [
        feature_row(feature="projects"),
        feature_row(feature="reports", min_tier="professional", signals_product="analytics"),
        feature_row(feature="sso", min_tier="enterprise", signals_product="security"),
    ]
    return pd.DataFrame([*base, *rows])


# ---- validate_catalog ---------------------------------------------------------------------------


def test_validate_catalog_accepts_a_consistent_catalogue() -> None:
    # given a catalogue with one primary product and known references, when validated, then nothing is raised
    validate_catalog(products(), features(), PRODUCTS_FILE, FEATURES_FILE)


@pytest.mark.parametrize(
    ("prods", "feats", "file", "column", "text"),
    [
        (
            products(product_row(product="suite", kind="primary")),
            features(),
            PRODUCTS_FILE,
            "kind",
            "exactly one primary",
        ),
        (
            products().assign(kind="adjacent"),
            features(),
            PRODUCTS_FILE,
            "kind",
            "exactly one primary",
        ),
        (products(product_row(product="ai", prerequisite="bots")), features(), PRODUCTS_FILE, "prerequisite", "bots"),
        (
            products(product_row(product="ai", min_core_tier="platinum")),
            features(),
            PRODUCTS_FILE,
            "min_core_tier",
            "platinum",
        ),
        (products(), features(feature_row(feature="ai", min_tier="ultimate")), FEATURES_FILE, "min_tier", "ultimate"),
        (
            products(),
            features(feature_row(feature="kanban", signals_product="core")),
            FEATURES_FILE,
            "signals_product",
            "not adjacent products ['core']",
        ),
        (
            products(),
            features(feature_row(feature="kanban", signals_product="bots")),
            FEATURES_FILE,
            "signals_product",
            "bots",
        ),
    ],
    ids=[
        "two-primaries",
        "no-primary",
        "unknown-prerequisite",
        "unknown-min-core-tier",
        "unknown-feature-tier",
        "signals-the-primary",
        "signals-unknown-product",
    ],
)
def test_validate_catalog_names_file_and_column_of_each_broken_rule(prods, feats, file, column, text) -> None:
    # given a catalogue that breaks one rule, when validated, then the error names the file and the column
    with pytest.raises(ContractError) as info:
        validate_catalog(prods, feats, PRODUCTS_FILE, FEATURES_FILE)
    assert info.value.file == file
    assert info.value.column == column
    assert str(info.value).startswith(f"{file}: column '{column}'")
    assert text in str(info.value)


def test_validate_catalog_refuses_a_duplicated_product_key() -> None:
    # given the same product twice, when validated, then the products file fails its schema on `product`
    with pytest.raises(ContractError, match=PRODUCTS_FILE) as info:
        validate_catalog(products(product_row(product="analytics")), features(), PRODUCTS_FILE, FEATURES_FILE)
    assert info.value.column == "product"


# ---- validate_frame / table_schema ---------------------------------------------------------------


def test_validate_frame_coerces_a_frame_that_follows_the_contract() -> None:
    # given typed NPS rows (as staging produces them, timestamps naive UTC)
    frame = typed_frame(NPS.name, [nps_row(k, response_id=f"r{i}") for i, k in enumerate(ACCOUNT)])
    frame["submitted_at"] = frame["submitted_at"].dt.tz_localize(None)

    # when validated, then it comes back with contract types
    out = validate_frame(NPS, frame, "warehouse table c360.nps")
    assert len(out) == 4
    assert str(out["score"].dtype) == "Int64"
    assert str(out["submitted_at"].dtype).startswith("datetime64")


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"score": [None]}, "score"),  # a required value is missing
        ({"response_id": ["r1", "r1"]}, "response_id"),  # the key repeats
    ],
)
def test_validate_frame_names_the_source_and_the_failing_column(change: dict, column: str) -> None:
    # given an NPS frame breaking the schema
    n = len(next(iter(change.values())))
    frame = pd.DataFrame([nps_row(response_id=f"r{i}", submitted_at=pd.Timestamp("2026-01-01")) for i in range(n)])
    for col, vals in change.items():
        frame[col] = vals

    # when validated, then the error names the source and the column
    with pytest.raises(ContractError, match=r"^warehouse table c360\.nps: fails the survey/nps schema") as info:
        validate_frame(NPS, frame, "warehouse table c360.nps")
    assert info.value.column == column


def test_validate_frame_refuses_a_value_outside_the_allowed_set() -> None:
    # given a product whose kind is neither primary nor adjacent
    frame = products(product_row(product="bundle", kind="bundle"))

    # when validated, then the kind column is named
    with pytest.raises(ContractError) as info:
        validate_frame(PRODUCTS, frame, PRODUCTS_FILE)
    assert info.value.column == "kind"


def test_table_schema_adds_account_id_for_consolidated_tables() -> None:
    # given the tickets spec, when its schema is built for the warehouse, then account_id is required
    assert "account_id" in table_schema(TICKETS, with_account_id=True).columns
    assert table_schema(FEATURES).unique == ["feature"]


def test_check_schema_sample_requires_account_id_outside_the_catalogue() -> None:
    # given NPS output whose account id is missing, when checked, then the error names the column
    frame = pd.DataFrame([nps_row(submitted_at=pd.Timestamp("2026-01-01"), account_id=None)])
    with pytest.raises(ContractError) as info:
        check_schema_sample(NPS, frame, "warehouse table c360.nps")
    assert info.value.column == "account_id"
    # and a valid catalogue frame passes without an account id
    check_schema_sample(FEATURES, features(), "warehouse table c360.features")
