"""The feature catalog: one registry that matches the output columns and renders the catalog page."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from features.build import build_snapshot
from features.catalog import (
    FAMILIES,
    FEATURES,
    FEATURES_BY_NAME,
    KEY_COLUMNS,
    categorical_features,
    feature_names,
    render_markdown,
    write_catalog,
)
from features.definition import COHORT_BASES
from features.store import connect_warehouse
from xsell.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[3]


def test_every_output_column_has_a_catalog_entry_and_vice_versa(scenario_settings: Settings) -> None:
    # given the scenario warehouse, when a snapshot is built
    con = connect_warehouse(scenario_settings, read_only=True)
    try:
        frame = build_snapshot(con, date(2026, 3, 31), scenario_settings)
    finally:
        con.close()
    # then its columns are exactly the keys followed by the catalog's features, in catalog order
    assert list(frame.columns) == [*KEY_COLUMNS, *feature_names()]
    assert set(frame.columns) - set(KEY_COLUMNS) == set(FEATURES_BY_NAME)


def test_registry_is_consistent() -> None:
    families = {f for f, _ in FAMILIES}
    assert len({d.name for d in FEATURES}) == len(FEATURES)
    assert {d.family for d in FEATURES} == families  # every family has features, no stray family
    for d in FEATURES:
        assert d.description and d.window and d.expr, d.name
        assert d.dtype in ("DOUBLE", "BIGINT", "INTEGER", "VARCHAR"), d.name
    # cohort ranks are taken over account-level features only (one value per account and snapshot)
    for base in COHORT_BASES:
        assert set(re.findall(r"\b([a-z]+)\.", FEATURES_BY_NAME[base].expr)) == {"a"}, base
    assert categorical_features() == ["segment", "industry", "primary_tier"]


def test_no_product_or_feature_name_is_hard_coded() -> None:
    # given every product and feature name of the default catalogue (the generator's and the sample's)
    settings = load_settings()
    names = {p.product for p in settings.generator.catalog_products} | {
        f.feature for f in settings.generator.catalog_features
    }
    # when reading the feature layer's source, then none of them appears as a string literal
    offenders = []
    for path in sorted((REPO / "features").glob("*.py")):
        text = path.read_text()
        offenders += [f"{path.name}: {n}" for n in names if re.search(rf"['\"]{re.escape(n)}['\"]", text)]
    assert offenders == []


def test_render_markdown_lists_every_feature_under_its_family() -> None:
    page = render_markdown(horizon_days=45)
    for _, title in FAMILIES:
        assert f"## {title}" in page
    for d in FEATURES:
        assert f"| `{d.name}` | {d.dtype.lower()} | {d.window} |" in page
    assert "(D, D + 45 days]" in page


def test_write_catalog_writes_the_page(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "reports", horizon_days=90)
    assert path == tmp_path / "reports" / "feature_catalog.md"
    assert path.read_text().startswith("# Feature catalog")


def test_write_catalog_fails_when_reports_dir_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "reports"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        write_catalog(blocker, horizon_days=90)
