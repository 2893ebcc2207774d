"""The manifest's defect counts match what the written files actually contain.

The files are read back with pandas and classified here, independently of the generator and of the
ingestion code: duplicate > invalid > future_dated > orphan, ids compared stripped and case-insensitively.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import read_raw_parts

from ingest.contract import ACCOUNTS, TABLES, TableSpec, table_folder
from synth import GenerationManifest, generate_raw
from xsell.settings import DefectRates, GeneratorSettings

RATES = DefectRates(
    duplicate=0.03,
    id_whitespace=0.02,
    id_case=0.02,
    orphan=0.02,
    invalid=0.02,
    impossible_value=0.02,
    future_dated=0.02,
    late_usage=0.05,
)

INVALID = {
    "billing/subscriptions": lambda f: f["end_date"] < f["start_date"],
    "survey/nps": lambda f: (f["score"] < 0) | (f["score"] > 10),
    "crm/opportunities": lambda f: f["closed_at"] < f["created_at"],
    "billing/invoices": lambda f: f["paid_at"] < f["issued_at"],
    "support/tickets": lambda f: f["solved_at"] < f["created_at"],
}
#: impossible numbers per value column (the contract's defects); labels are checked against the allowed values
IMPOSSIBLE = {
    "employee_count": lambda v: v <= 0,
    "annual_revenue": lambda v: v < 0,
    "seats": lambda v: v < 0,
    "mrr": lambda v: v < 0,
    "event_count": lambda v: v < 1,
}


def nulled_mask(spec: TableSpec, column: str, frame: pd.DataFrame) -> pd.Series:
    """Rows whose value in a value column is missing though required, not an allowed label, or impossible."""
    col = spec.column(column)
    values = frame[column]
    mask = values.isna() if not col.nullable else pd.Series(False, index=frame.index)
    if col.allowed is not None:
        text = values.dropna().astype(str).str.strip().str.lower()
        mask |= (~text.isin(col.allowed)).reindex(frame.index, fill_value=False)
    if column in IMPOSSIBLE:
        mask |= IMPOSSIBLE[column](values).fillna(False).astype(bool)
    return mask


MAIN_TS = {
    "crm/opportunities": "created_at",
    "billing/invoices": "issued_at",
    "support/tickets": "created_at",
    "survey/nps": "submitted_at",
    "marketing/touches": "occurred_at",
}


def read_table(raw: Path, spec: TableSpec) -> pd.DataFrame:
    """All parts of a table, typed per the contract (ids left exactly as written)."""
    frame = read_raw_parts(raw, spec, na_values=[""])
    for col in spec.columns:
        if col.type == "timestamp":
            frame[col.name] = pd.to_datetime(frame[col.name], utc=True, format="ISO8601")
        elif col.type == "date":
            frame[col.name] = pd.to_datetime(frame[col.name]).dt.normalize()
        elif col.type == "int":
            frame[col.name] = pd.to_numeric(frame[col.name]).astype("Int64")
        elif col.type == "float":
            frame[col.name] = pd.to_numeric(frame[col.name])
        elif col.type == "bool":
            frame[col.name] = frame[col.name].map({"true": True, "false": False, True: True, False: False})
    return frame


def normalised(values: pd.Series) -> pd.Series:
    return values.where(values.isna(), values.astype(str).str.strip().str.upper())


def id_columns(spec: TableSpec) -> list[str]:
    return [c.name for c in spec.columns if c.id_kind is not None]


def classify(raw: Path, export: pd.Timestamp) -> dict[str, dict[str, int]]:
    """Counts per table computed from the files alone."""
    accounts = read_table(raw, ACCOUNTS)
    known = {
        "account": set(normalised(accounts["account_id"]).dropna()),
        "customer": set(normalised(accounts["billing_customer_id"]).dropna()),
        "workspace": set(normalised(accounts["workspace_id"]).dropna()),
    }
    out = {}
    for spec in TABLES:
        frame = read_table(raw, spec)
        ids = id_columns(spec)
        key = frame.copy()
        for col in ids:
            key[col] = normalised(key[col])
        remaining = pd.Series(True, index=frame.index)
        duplicate = key.astype(str).duplicated(keep="first")
        remaining &= ~duplicate
        invalid = INVALID.get(spec.name, lambda f: pd.Series(False, index=f.index))(frame).fillna(False) & remaining
        remaining &= ~invalid
        if spec.name == "product/usage_daily":
            future = (frame["date"] > frame["ingested_at"].dt.tz_localize(None).dt.normalize()) | (
                frame["ingested_at"] > export
            )
        elif spec.name == "crm/accounts":
            future = (frame["updated_at"] > export) | (frame["created_at"] > export)
        elif spec.name == "billing/subscriptions":
            future = frame["start_date"] > export.tz_localize(None).normalize()
        elif spec.name in MAIN_TS:
            future = frame[MAIN_TS[spec.name]] > export
        else:
            future = pd.Series(False, index=frame.index)
        future = future.fillna(False) & remaining
        remaining &= ~future
        orphan = pd.Series(False, index=frame.index)
        if spec.orphan_key is not None:
            col, kind = spec.orphan_key
            orphan = ~key[col].isin(known[kind]) & remaining
        remaining &= ~orphan
        spaced = pd.Series(False, index=frame.index)
        cased = pd.Series(False, index=frame.index)
        for col in ids:
            kind = spec.column(col).id_kind
            text = frame[col].dropna().astype(str)
            spaced_col = text != text.str.strip()
            # the sample's id shapes: account ids upper case, customer and workspace ids lower case
            stripped = text.str.strip()
            canonical = stripped.str.upper() if kind == "account" else stripped.str.lower()
            cased_col = stripped != canonical
            spaced |= spaced_col.reindex(frame.index, fill_value=False)
            cased |= cased_col.reindex(frame.index, fill_value=False)
        counts = {
            "rows_written": len(frame),
            "duplicates": int(duplicate.sum()),
            "invalid": int(invalid.sum()),
            "future_dated": int(future.sum()),
            "orphans": int(orphan.sum()),
            "rows_kept": int(remaining.sum()),
            "id_whitespace": int((spaced & remaining).sum()),
            "id_case": int((cased & remaining).sum()),
        }
        for column in spec.value_columns:
            counts[f"nulled_{column}"] = int((nulled_mask(spec, column, frame) & remaining).sum())
        if spec.name == "product/usage_daily":
            lag = (frame["ingested_at"].dt.tz_localize(None).dt.normalize() - frame["date"]).dt.days
            counts["late_rows"] = int(((lag > 1) & remaining).sum())
        out[spec.name] = counts
    return out


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "raw"
    generate_raw(out, GeneratorSettings(accounts=150, defects=RATES), seed=7)
    return out


@pytest.fixture(scope="module")
def manifest(raw: Path) -> GenerationManifest:
    return GenerationManifest.read(raw)


@pytest.fixture(scope="module")
def observed(raw: Path, manifest: GenerationManifest) -> dict[str, dict[str, int]]:
    return classify(raw, pd.Timestamp(manifest.export_time))


def test_manifest_counts_are_self_consistent(manifest: GenerationManifest) -> None:
    # given a generated folder's manifest
    # when each table's counts are combined
    # then rows_kept is rows_written minus every removing defect, and every contract table is listed
    assert [t.name for t in TABLES] == list(manifest.tables)
    for counts in manifest.tables.values():
        data = counts.to_dict()
        removed = data["duplicates"] + data["invalid"] + data["future_dated"] + data["orphans"]
        assert data["rows_kept"] == data["rows_written"] - removed
        assert data["rows_kept"] > 0


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_rows_and_defect_counts_match_the_files(
    table: str, manifest: GenerationManifest, observed: dict[str, dict[str, int]]
) -> None:
    # given the manifest and an independent classification of the written files
    expected = manifest.tables[table].to_dict()
    # when the two are compared
    # then every count (rows, duplicates, invalid, future, orphans, id defects, extras) agrees exactly
    assert observed[table] == expected


@pytest.mark.parametrize(
    "defect, tables",
    [
        ("duplicates", ["crm/accounts", "crm/opportunities", "billing/subscriptions", "billing/invoices",
                        "product/usage_daily", "support/tickets", "survey/nps", "marketing/touches"]),
        ("invalid", ["survey/nps"]),
        ("nulled_seats", ["billing/subscriptions"]),
        ("nulled_mrr", ["billing/subscriptions"]),
        ("nulled_event_count", ["product/usage_daily"]),
        ("nulled_employee_count", ["crm/accounts"]),
        ("nulled_type", ["crm/opportunities"]),
        ("nulled_status", ["billing/invoices"]),
        ("nulled_priority", ["support/tickets"]),
        ("nulled_category", ["support/tickets"]),
        ("nulled_channel", ["marketing/touches"]),
        ("nulled_action", ["marketing/touches"]),
        ("future_dated", ["product/usage_daily", "support/tickets", "survey/nps", "marketing/touches"]),
        ("orphans", ["crm/opportunities", "billing/subscriptions", "billing/invoices", "product/usage_daily",
                     "support/tickets", "survey/nps", "marketing/touches"]),
        ("id_whitespace", ["crm/accounts", "billing/invoices", "product/usage_daily", "marketing/touches"]),
        ("id_case", ["crm/accounts", "billing/invoices", "product/usage_daily", "marketing/touches"]),
    ],
)  # fmt: skip
def test_each_defect_class_is_present_where_the_contract_expects_it(
    defect: str, tables: list[str], observed: dict[str, dict[str, int]]
) -> None:
    # given files generated with non-zero defect rates
    # when the files are classified
    # then each defect class actually occurs in each table it is injected into
    for table in tables:
        assert observed[table][defect] > 0, f"{table} has no {defect}"


def test_catalog_and_removing_defects_stay_out_of_tables_that_do_not_get_them(
    observed: dict[str, dict[str, int]],
) -> None:
    # given the classified files
    # when tables that receive no such defect are inspected
    # then they hold none: natural data carries no invalid, future or orphan rows by itself
    for table in ("catalog/products", "catalog/features"):
        assert observed[table]["duplicates"] == observed[table]["invalid"] == 0
    tables = ("crm/accounts", "crm/opportunities", "billing/subscriptions", "billing/invoices", "product/usage_daily")
    for table in (*tables, "support/tickets", "marketing/touches"):
        assert observed[table]["invalid"] == 0
    for table in ("crm/accounts", "crm/opportunities", "billing/subscriptions", "billing/invoices"):
        assert observed[table]["future_dated"] == 0


def test_accounts_carry_employee_count_typos_and_natural_repeats(
    manifest: GenerationManifest, observed: dict[str, dict[str, int]]
) -> None:
    # given the account extracts
    accounts = manifest.tables["crm/accounts"]
    # when their duplicates and typos are counted
    # then unchanged versions repeat across extracts (far more duplicates than injected copies alone)
    assert accounts.duplicates > 0.2 * accounts.rows_written
    assert accounts.extra["nulled_employee_count"] == observed["crm/accounts"]["nulled_employee_count"] > 0


def test_late_usage_rows_arrive_three_to_ten_days_after_use(raw: Path, manifest: GenerationManifest) -> None:
    # given the usage files
    usage = read_table(raw, next(t for t in TABLES if t.name == "product/usage_daily"))
    lag = (usage["ingested_at"].dt.tz_localize(None).dt.normalize() - usage["date"]).dt.days
    # when the ingestion delay of rows is tallied
    counts = lag.value_counts()
    # then most rows arrive the same or the next day and late rows 3-10 days later, none in between
    assert counts.get(0, 0) > counts.get(1, 0) > 0
    assert 2 not in counts.index
    assert set(counts.index[(counts.index > 1)]) <= set(range(3, 11))
    assert manifest.tables["product/usage_daily"].extra["late_rows"] > 0


def test_unknown_column_only_in_listed_files(raw: Path, manifest: GenerationManifest) -> None:
    # given the manifest's list of files carrying an extra column
    listed = set(manifest.unknown_column_files)
    assert len(listed) == RATES.unknown_column_files
    # when every table file's header is read
    for spec in TABLES:
        folder = raw / table_folder(spec)
        for path in sorted(folder.iterdir()):
            if spec.file_stem and not path.name.startswith(spec.file_stem + "."):
                continue
            if path.suffix == ".parquet":
                columns = list(pd.read_parquet(path).columns)
            else:
                columns = list(pd.read_csv(path, nrows=0).columns)
            rel = path.relative_to(raw).as_posix()
            extra = set(columns) - set(spec.column_names)
            # then it has exactly the contract's columns, plus `export_batch` only where listed
            assert set(spec.column_names) <= set(columns), rel
            assert extra == ({"export_batch"} if rel in listed else set()), rel


def test_clean_timestamps_are_not_after_the_export_time(raw: Path, manifest: GenerationManifest) -> None:
    # given the export time (the latest usage ingestion)
    export = pd.Timestamp(manifest.export_time)
    usage = read_table(raw, next(t for t in TABLES if t.name == "product/usage_daily"))
    # when the timestamps of the tables are compared with it
    # then the export time is the latest ingestion, at the end of the period's last day
    assert usage["ingested_at"].max() == export
    assert export.strftime("%Y-%m-%d %H") == "2026-06-30 23"
    subs = read_table(raw, next(t for t in TABLES if t.name == "billing/subscriptions"))
    assert (subs["start_date"] <= export.tz_localize(None)).all()
    assert np.isin(subs["is_trial"].unique(), [True, False]).all()
