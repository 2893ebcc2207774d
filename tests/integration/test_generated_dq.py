"""The data-quality report counts exactly what the generator injected, defect class by defect class."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingest.contract import TABLES
from ingest.pipeline import consolidate_raw
from synth import generate_raw
from xsell.settings import load_settings

DEFECTS = ["duplicates", "invalid", "future_dated", "orphans"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    # given a freshly generated export with raised defect rates, consolidated once
    root = tmp_path_factory.mktemp("gen")
    settings = load_settings(
        home=root / "home",
        **{
            "generator.accounts": 150,
            "generator.start": "2024-01",
            "generator.end": "2025-06",
            "generator.defects.duplicate": 0.03,
            "generator.defects.orphan": 0.02,
            "generator.defects.invalid": 0.01,
            "generator.defects.impossible_value": 0.01,
            "generator.defects.future_dated": 0.01,
        },
    )
    manifest = generate_raw(root / "raw", settings.generator, seed=7).to_dict()
    summary = consolidate_raw(root / "raw", settings)
    report = json.loads(Path(summary.report_json).read_text())
    return manifest, report


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_defect_class_is_counted_exactly(generated: tuple[dict[str, Any], dict[str, Any]], defect: str) -> None:
    manifest, report = generated
    expected = {t: manifest["tables"][t][defect] for t in manifest["tables"]}
    actual = {t: report["tables"][t][defect] for t in report["tables"]}
    assert actual == expected
    assert sum(expected.values()) > 0, f"the generator injected no {defect}: the test would prove nothing"


def test_rows_read_and_kept_match(generated: tuple[dict[str, Any], dict[str, Any]]) -> None:
    manifest, report = generated
    for spec in TABLES:
        assert report["tables"][spec.name]["rows_read"] == manifest["tables"][spec.name]["rows_written"], spec.name
        assert report["tables"][spec.name]["rows_kept"] == manifest["tables"][spec.name]["rows_kept"], spec.name


@pytest.mark.parametrize(("manifest_key", "report_key"), [("id_whitespace", "ids_whitespace"), ("id_case", "ids_case")])
def test_id_defects_are_normalised_and_counted(
    generated: tuple[dict[str, Any], dict[str, Any]], manifest_key: str, report_key: str
) -> None:
    manifest, report = generated
    expected = {t: manifest["tables"][t][manifest_key] for t in manifest["tables"]}
    assert {t: report["tables"][t][report_key] for t in report["tables"]} == expected
    assert sum(expected.values()) > 0


def test_nulled_values_late_rows_and_unknown_columns(
    generated: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    manifest, report = generated
    for name, table in report["tables"].items():
        injected = manifest["tables"][name]
        assert table["nulled_values"] == {c: injected[f"nulled_{c}"] for c in table["nulled_values"]}, name
        assert {k for k in injected if k.startswith("nulled_")} == {f"nulled_{c}" for c in table["nulled_values"]}
    nulled = {f"{t}.{c}": n for t, e in report["tables"].items() for c, n in e["nulled_values"].items()}
    assert min(nulled[k] for k in ("billing/subscriptions.seats", "product/usage_daily.event_count")) > 0
    usage = report["tables"]["product/usage_daily"]
    assert usage["late_rows"] == manifest["tables"]["product/usage_daily"]["late_rows"] > 0
    flagged = {f for t in report["tables"].values() for f in t["unknown_columns"]}
    assert flagged == set(manifest["unknown_column_files"])


def test_ids_match_across_crm_billing_and_usage(generated: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, report = generated
    ids = report["id_matching"]
    assert ids["ids_claimed_by_several_accounts"] == 0
    assert 0 < ids["matched_crm_billing_usage"] <= ids["matched_billing"] <= ids["crm_accounts"]
