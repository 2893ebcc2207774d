"""generate_raw: layout, determinism, atomic replacement, refusals, progress and custom catalogues."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from ingest.contract import TABLES, table_folder
from synth import MANIFEST_NAME, GenerationManifest, GeneratorError, generate_raw
from xsell.settings import FeatureSpec, GeneratorSettings, ProductSpec

SMALL = GeneratorSettings(accounts=60)


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under folder, by relative path."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "raw"
    generate_raw(out, SMALL, seed=11)
    return out


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path: Path, raw: Path) -> None:
    # given a folder generated with seed 11
    # when the same settings are generated again with seed 11 and with seed 12
    again = tmp_path / "again"
    other = tmp_path / "other"
    generate_raw(again, SMALL, seed=11)
    generate_raw(other, SMALL, seed=12)
    # then the first repeat is byte-identical (gzip, parquet and manifest included), the other is not
    assert digest(again) == digest(raw)
    different = {k for k, v in digest(other).items() if digest(raw).get(k) != v}
    assert "product/usage_daily/usage_2025-06.parquet" in different
    assert "generator_manifest.json" in different


def test_layout_follows_the_contract_and_the_sample(raw: Path) -> None:
    # given a generated folder
    files = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file())
    # when its files are listed
    # then every contract table folder has parts, named and formatted like the sample export
    for spec in TABLES:
        assert any(f.startswith(table_folder(spec) + "/") for f in files), spec.name
    assert (raw / MANIFEST_NAME).is_file()
    assert "catalog/products.csv" in files and "catalog/features.csv" in files
    extracts = [f for f in files if f.startswith("crm/accounts/")]
    assert extracts[-1] in (
        "crm/accounts/accounts_extract_2026-06-30.csv",
        "crm/accounts/accounts_extract_2026-06-30.csv.gz",
    )
    assert len(extracts) == 10 and all(
        re.search(r"accounts_extract_\d{4}-\d{2}-\d{2}\.csv(\.gz)?$", f) for f in extracts
    )
    usage = [f for f in files if f.startswith("product/usage_daily/")]
    assert usage == [
        f"product/usage_daily/usage_{m}.parquet" for m in pd.period_range("2024-01", "2026-06", freq="M").astype(str)
    ]
    for folder in ("billing/invoices", "support/tickets", "survey/nps", "marketing/touches", "crm/opportunities"):
        names = [f.rsplit("/", 1)[1] for f in files if f.startswith(folder + "/")]
        assert all(re.fullmatch(r"[a-z]+_\d{4}\.(csv|csv\.gz|parquet)", n) for n in names), names
    suffixes = {f.rsplit("/", 1)[1].split(".", 1)[1] for f in files if f.startswith("marketing/touches/")}
    assert suffixes == {"csv", "csv.gz", "parquet"}
    assert not [p for p in raw.parent.iterdir() if p.name.startswith(".raw.")], "staging folders left behind"


def test_ids_and_timestamps_have_the_sample_shapes(raw: Path) -> None:
    # given the first account extract, one usage month and the NPS files
    accounts = pd.read_csv(raw / "crm/accounts/accounts_extract_2024-03-31.csv", dtype=str)
    usage = pd.read_parquet(raw / "product/usage_daily/usage_2025-03.parquet")
    nps = pd.concat(pd.read_csv(p, dtype=str) for p in sorted((raw / "survey/nps").iterdir()))
    # when their ids and timestamps are matched against the sample's shapes
    ids = accounts["account_id"].str.strip()
    clean = ids[ids.str.fullmatch(r"001[A-Z0-9]{15}")]
    customers = accounts["billing_customer_id"].dropna().str.strip()
    workspaces = usage["workspace_id"].str.strip()
    # then (apart from the few corrupted ids) they look like the sample
    assert len(clean) >= 0.9 * len(ids)
    assert customers.str.lower().str.fullmatch(r"cus_[a-z0-9]{14}").all()
    assert workspaces.str.lower().str.fullmatch(r"ws_[0-9a-f]{12}").all()
    assert usage["user_id"].str.fullmatch(r"usr_[0-9a-f]{10}").all()
    assert accounts["updated_at"].str.endswith("Z").all()
    offsets = set(nps["submitted_at"].str[-6:])
    assert "+10:00" in offsets and len(offsets) >= 2
    assert str(usage["ingested_at"].dt.tz) == "UTC"


def test_manifest_holds_the_documented_keys(raw: Path) -> None:
    # given the manifest JSON
    data = json.loads((raw / MANIFEST_NAME).read_text())
    # when its keys are read
    # then they are exactly the documented ones
    assert list(data) == [
        "seed", "accounts", "start", "end", "export_time", "drift_at", "drift_kind",
        "catalog", "tables", "conversions", "unknown_column_files", "defects",
    ]  # fmt: skip
    assert data["defects"]["impossible_value"] == GeneratorSettings().defects.impossible_value
    assert data["catalog"] == {"primary": "core", "adjacent": ["analytics", "automation", "security"]}
    assert set(data["conversions"]) == {"analytics", "automation", "security"}
    assert data["export_time"].startswith("2026-06-30T23:")
    assert set(data["tables"]["product/usage_daily"]) >= {"late_rows", "rows_kept"}
    assert "nulled_employee_count" in data["tables"]["crm/accounts"]
    assert GenerationManifest.read(raw).to_dict() == data


def test_progress_reports_rising_fractions_up_to_one(tmp_path: Path) -> None:
    # given a progress callback that records its calls
    calls: list[tuple[str, float]] = []
    # when a folder is generated
    settings = GeneratorSettings(accounts=20, start="2025-01", end="2025-06")
    generate_raw(tmp_path / "raw", settings, 3, lambda stage, fraction: calls.append((stage, fraction)))
    # then the fractions never fall, cover the usage months, and end at 1.0 with stage "done"
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions)
    assert 0.0 <= fractions[0] < 0.5 and calls[-1] == ("done", 1.0)
    assert {"world", "usage", "tables"} <= {s for s, _ in calls}
    assert sum(1 for s, _ in calls if s == "usage") == 6


def test_replaces_an_earlier_generator_output(tmp_path: Path) -> None:
    # given an earlier generator output with a stray file in it
    out = tmp_path / "raw"
    settings = GeneratorSettings(accounts=20, start="2025-01", end="2025-06")
    generate_raw(out, settings, seed=1)
    (out / "stray.txt").write_text("old")
    # when the generator writes to the same folder again
    manifest = generate_raw(out, settings, seed=2)
    # then the folder is the new output only, and nothing is left beside it
    assert not (out / "stray.txt").exists()
    assert GenerationManifest.read(out).seed == manifest.seed == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_refuses_to_overwrite_a_folder_that_is_not_a_generator_output(tmp_path: Path) -> None:
    # given a non-empty folder of someone's own data
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.csv").write_text("a,b\n1,2\n")
    # when the generator is pointed at it
    # then it refuses, naming the folder, and leaves the data (and no staging folder) behind
    with pytest.raises(GeneratorError, match="precious"):
        generate_raw(out, GeneratorSettings(accounts=20), seed=1)
    assert (out / "notes.csv").read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious"]


def test_writes_into_an_existing_empty_folder(tmp_path: Path) -> None:
    # given an empty folder
    out = tmp_path / "empty"
    out.mkdir()
    # when the generator writes into it
    generate_raw(out, GeneratorSettings(accounts=20, start="2025-01", end="2025-06"), seed=1)
    # then the output is there
    assert (out / MANIFEST_NAME).is_file()


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            GeneratorSettings(
                catalog_products=(ProductSpec(product="a", kind="primary"), ProductSpec(product="b", kind="primary"))
            ),
            "exactly one product",
        ),
        (
            GeneratorSettings(
                catalog_products=(
                    ProductSpec(product="a", kind="primary"),
                    ProductSpec(product="b", min_core_tier="gold"),
                ),
                catalog_features=(FeatureSpec(feature="f", min_tier="starter"),),
            ),
            "min_core_tier",
        ),
        (GeneratorSettings(drift_at="2025-01"), "drift_kind"),
        (GeneratorSettings(drift_at="2023-01", drift_kind="covariate"), "drift_at"),
        (GeneratorSettings(start="2025-06", end="2025-01"), "generator.end"),
    ],
)
def test_impossible_settings_fail_before_writing(tmp_path: Path, settings: GeneratorSettings, message: str) -> None:
    # given settings the generator cannot honour
    # when it is run
    # then it fails with a message naming the setting, and writes nothing
    with pytest.raises(GeneratorError, match=message):
        generate_raw(tmp_path / "raw", settings, seed=1)
    assert list(tmp_path.iterdir()) == []


def test_a_different_catalogue_drives_every_table(tmp_path: Path) -> None:
    # given a catalogue with other product and feature names and only two tiers
    products = (
        ProductSpec(product="suite", kind="primary", list_price_mrr=100.0),
        ProductSpec(product="insights", list_price_mrr=80.0),
        ProductSpec(product="bots", prerequisite="insights", list_price_mrr=120.0),
        ProductSpec(product="vault", min_core_tier="enterprise", list_price_mrr=300.0),
    )
    features = (
        FeatureSpec(feature="boards", min_tier="starter"),
        FeatureSpec(feature="chat", min_tier="starter"),
        FeatureSpec(feature="charts", min_tier="starter", signals_product="insights"),
        FeatureSpec(feature="flows", min_tier="enterprise", signals_product="bots"),
        FeatureSpec(feature="keys", min_tier="enterprise", signals_product="vault"),
        FeatureSpec(feature="roles", min_tier="enterprise"),
    )
    settings = GeneratorSettings(accounts=120, catalog_products=products, catalog_features=features)
    # when a folder is generated
    manifest = generate_raw(tmp_path / "raw", settings, seed=5)
    raw = tmp_path / "raw"
    # then the catalogue files, products, tiers, features and campaigns all use the configured names
    assert manifest.catalog == {"primary": "suite", "adjacent": ["insights", "bots", "vault"]}
    assert pd.read_csv(raw / "catalog/products.csv")["product"].tolist() == ["suite", "insights", "bots", "vault"]
    subs = pd.read_csv(raw / "billing/subscriptions/subscription_items.csv.gz")
    assert set(subs["product"]) <= {"suite", "insights", "bots", "vault"} and "suite" in set(subs["product"])
    assert set(subs["tier"].dropna()) <= {"starter", "enterprise"}
    usage = pd.concat(pd.read_parquet(p) for p in sorted((raw / "product/usage_daily").iterdir()))
    assert set(usage["feature"]) == {f.feature for f in features}
    touches = pd.concat(
        pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p, dtype=str)
        for p in sorted((raw / "marketing/touches").iterdir())
    )
    assert set(touches["product"].dropna()) <= {"insights", "bots", "vault"}
    assert touches["campaign_id"].str.match(r"^(NL-\d{6}|XS-(INSIGHTS|BOTS|VAULT)-\d{6})$").all()
    assert sum(manifest.conversions.values()) > 0
