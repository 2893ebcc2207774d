"""Small raw exports that follow the data contract, with opt-in defects whose effect on the counts is exact.

`write_raw(root)` writes a clean export of four accounts (alpha, bravo, charlie, delta): every table of
the contract, no defect, so every count but `rows_read`/`rows_kept` is zero. Each keyword option adds
one documented defect; `BASE_COUNTS` gives the clean row count of each table, so a test can state the
exact count it expects. Rows are plain dicts (built by the `*_row` factories), turned into pandas frames
and written as CSV (optionally gzipped) or Parquet.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ingest.consolidate import ConsolidationResult, consolidate, find_export_time
from ingest.contract import TABLES, TABLES_BY_NAME, table_folder
from ingest.stage import StagedTable, stage_table
from serving.publish import PUBLIC_COLUMNS
from xsell.duck import connect
from xsell.settings import Settings, load_settings

Row = dict[str, Any]

#: The export's "now": the latest usage `ingested_at` of the clean export (UTC, naive).
EXPORT_TIME = pd.Timestamp("2026-03-31 23:00:00")

KEYS = ("alpha", "bravo", "charlie", "delta")
#: CRM account ids (18 characters, as the CRM spells them).
ACCOUNT = {
    "alpha": "001ALPHA0000000001",
    "bravo": "001BRAVO0000000002",
    "charlie": "001CHRLI0000000003",
    "delta": "001DELTA0000000004",
}
CUSTOMER = {k: f"cus_{k[:5]}{i:07d}" for i, k in enumerate(KEYS, start=1)}
#: delta has no workspace: it never used the product.
WORKSPACE: dict[str, str | None] = {
    "alpha": "ws_alpha000001",
    "bravo": "ws_bravo000002",
    "charlie": "ws_chrli000003",
    "delta": None,
}

UNKNOWN_ACCOUNT = "001UNKNW0000000099"
UNKNOWN_CUSTOMER = "cus_unknw0000099"
UNKNOWN_WORKSPACE = "ws_unknw000099"

#: Usage days of the clean export (one row per workspace x feature x day).
USAGE_DAYS = ("2026-03-29", "2026-03-30", "2026-03-31")
USAGE_FEATURES = ("projects", "reports")


# ---- one-row factories: realistic defaults, any column overridable -------------------------------


def product_row(**over: Any) -> Row:
    """One catalogue product (an adjacent product without prerequisite by default)."""
    return {
        "product": "analytics",
        "kind": "adjacent",
        "prerequisite": None,
        "min_core_tier": None,
        "list_price_mrr": 400.0,
        **over,
    }


def feature_row(**over: Any) -> Row:
    """One primary-product feature."""
    return {"feature": "projects", "min_tier": "starter", "signals_product": None, **over}


def account_row(key: str = "alpha", **over: Any) -> Row:
    """One CRM account version of account `key` (first version, mid-2025)."""
    return {
        "account_id": ACCOUNT.get(key, key),
        "account_name": f"{key.title()} Systems AB",
        "industry": "software",
        "employee_count": 50,
        "annual_revenue": 2_500_000.0,
        "country": "SE",
        "segment": "smb",
        "created_at": "2023-11-07T09:00:00Z",
        "billing_customer_id": CUSTOMER.get(key),
        "workspace_id": WORKSPACE.get(key),
        "updated_at": "2025-06-30T10:00:00Z",
        **over,
    }


def opportunity_row(key: str = "alpha", **over: Any) -> Row:
    """One sales opportunity of account `key`."""
    return {
        "opportunity_id": f"006{key.upper()[:5]}000000001",
        "account_id": ACCOUNT.get(key, key),
        "product": "analytics",
        "type": "cross_sell",
        "stage": "open",
        "created_at": "2025-09-01T08:00:00Z",
        "closed_at": None,
        "amount": 4800.0,
        **over,
    }


def subscription_row(key: str = "alpha", **over: Any) -> Row:
    """One subscription item of account `key`'s billing customer (an open core item by default)."""
    return {
        "subscription_item_id": f"si_{key}_core",
        "customer_id": CUSTOMER.get(key, key),
        "product": "core",
        "tier": "professional",
        "seats": 10,
        "mrr": 350.0,
        "is_trial": "false",
        "start_date": "2024-01-01",
        "end_date": None,
        **over,
    }


def invoice_row(key: str = "alpha", **over: Any) -> Row:
    """One invoice of account `key`'s billing customer (timestamps without offset, as billing writes them)."""
    return {
        "invoice_id": f"in_{key}_0001",
        "customer_id": CUSTOMER.get(key, key),
        "issued_at": "2026-01-19T05:51:37",
        "amount": 350.0,
        "status": "paid",
        "paid_at": "2026-02-16T03:52:04",
        **over,
    }


def usage_row(key: str = "alpha", **over: Any) -> Row:
    """One usage row of account `key`'s workspace (ingested the evening of its day)."""
    day = over.pop("date", USAGE_DAYS[0])
    return {
        "date": day,
        "workspace_id": WORKSPACE.get(key, key),
        "user_id": f"usr_{key}_1",
        "feature": "projects",
        "event_count": 5,
        "ingested_at": f"{day}T23:00:00Z",
        **over,
    }


def ticket_row(key: str = "alpha", **over: Any) -> Row:
    """One support ticket of account `key`."""
    return {
        "ticket_id": f"TCK-{key}-1",
        "account_id": ACCOUNT.get(key, key),
        "created_at": "2025-05-01T10:35:03+00:00",
        "solved_at": "2025-05-02T07:30:07+00:00",
        "priority": "normal",
        "category": "how_to",
        "satisfaction": "good",
        "requested_product": None,
        **over,
    }


def nps_row(key: str = "alpha", **over: Any) -> Row:
    """One NPS response of account `key` (submitted from Australia: +10:00)."""
    return {
        "response_id": f"resp_{key}_1",
        "account_id": ACCOUNT.get(key, key),
        "submitted_at": "2026-01-01T18:53:03+10:00",
        "score": 8,
        **over,
    }


def touch_row(key: str = "alpha", **over: Any) -> Row:
    """One marketing touch of account `key`."""
    return {
        "touch_id": f"tch_{key}_1",
        "account_id": ACCOUNT.get(key, key),
        "occurred_at": "2026-01-15T06:21:24Z",
        "channel": "email",
        "campaign_id": "NL-202601",
        "product": "analytics",
        "action": "sent",
        "holdout": "false",
        **over,
    }


# ---- the clean export --------------------------------------------------------------------------


def base_parts() -> dict[str, dict[str, list[Row]]]:
    """The clean export: table -> file name (without suffix) -> rows."""
    accounts_v1 = [account_row(k) for k in KEYS]
    accounts_v1[1]["billing_customer_id"] = None  # bravo got its billing id later (v2)
    accounts_v2 = [
        account_row(
            "alpha",
            employee_count=60,
            segment="mid_market",
            updated_at="2026-01-15T09:00:00+01:00",  # 08:00 UTC
        ),
        account_row("bravo", account_name="Bravo Systems Group", updated_at="2026-02-01T12:00:00"),
    ]
    usage = [
        usage_row(k, date=day, feature=feature, event_count=3 + i)
        for k in ("alpha", "bravo", "charlie")
        for day in USAGE_DAYS
        for i, feature in enumerate(USAGE_FEATURES)
    ]
    tickets = [ticket_row(k) for k in KEYS]
    tickets_2026 = [
        ticket_row(k, ticket_id=f"TCK-{k}-2", created_at="2026-02-03T09:00:00Z", solved_at=None, satisfaction=None)
        for k in KEYS
    ]
    return {
        "catalog/products": {
            "products": [
                product_row(product="core", kind="primary", list_price_mrr=350.0),
                product_row(product="analytics"),
                product_row(product="automation", prerequisite="analytics", list_price_mrr=600.0),
                product_row(product="security", min_core_tier="enterprise", list_price_mrr=900.0),
            ]
        },
        "catalog/features": {
            "features": [
                feature_row(feature="projects"),
                feature_row(feature="reports", min_tier="professional", signals_product="analytics"),
                feature_row(feature="webhooks", min_tier="professional", signals_product="automation"),
                feature_row(feature="sso", min_tier="enterprise", signals_product="security"),
            ]
        },
        "crm/accounts": {"accounts_extract_2025-12-31": accounts_v1, "accounts_extract_2026-03-31": accounts_v2},
        "crm/opportunities": {"opportunities_2025": [opportunity_row(k) for k in KEYS]},
        "billing/subscriptions": {
            "subscription_items": [
                subscription_row("alpha"),
                subscription_row("bravo", tier="starter", seats=5, mrr=120.0, start_date="2025-03-01"),
                subscription_row("charlie", tier="enterprise", seats=40, mrr=2100.0, start_date="2024-06-01"),
                subscription_row("delta", tier="starter", start_date="2024-09-01", end_date="2025-09-01"),
            ]
        },
        "billing/invoices": {"invoices_2026": [invoice_row(k) for k in KEYS]},
        "product/usage_daily": {"usage_2026-03": usage},
        "support/tickets": {"tickets_2025": tickets, "tickets_2026": tickets_2026},
        "survey/nps": {"nps_2026": [nps_row(k) for k in KEYS]},
        "marketing/touches": {
            "touches_2026": [touch_row(k, holdout="true" if k == "delta" else "false") for k in KEYS]
        },
    }


#: Rows of each table in the clean export.
BASE_COUNTS: dict[str, int] = {t: sum(len(rows) for rows in parts.values()) for t, parts in base_parts().items()}


# ---- writing -----------------------------------------------------------------------------------


def typed_frame(table: str, rows: Sequence[Row]) -> pd.DataFrame:
    """Rows as a frame with real column types (what a Parquet exporter would write): tz-aware UTC timestamps."""
    frame = pd.DataFrame(list(rows))
    spec = TABLES_BY_NAME[table]
    for col in spec.columns:
        if col.name not in frame:
            continue
        values = frame[col.name]
        if col.type == "timestamp":
            # microseconds, as real exporters write (the sample export too); see test_stage for nanoseconds
            frame[col.name] = pd.to_datetime(values, utc=True, format="ISO8601").dt.as_unit("us")
        elif col.type == "date":
            frame[col.name] = pd.to_datetime(values, format="ISO8601").dt.date
        elif col.type == "int":
            frame[col.name] = pd.array(values, dtype="Int64")
        elif col.type == "float":
            frame[col.name] = values.astype("float64")
        elif col.type == "bool":
            frame[col.name] = values.map(lambda v: None if v is None else str(v).lower() == "true").astype("boolean")
        else:
            frame[col.name] = values.astype("string")
    return frame


def write_part(folder: Path, stem: str, table: str, rows: Sequence[Row], fmt: str = "csv") -> Path:
    """Write one part of `table` as `<stem>.csv`, `<stem>.csv.gz` or `<stem>.parquet` (fmt: csv, csv.gz, parquet)."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        path = folder / f"{stem}.parquet"
        typed_frame(table, rows).to_parquet(path, index=False)
        return path
    text = pd.DataFrame(list(rows), dtype=object).to_csv(index=False, lineterminator="\n")
    if fmt == "csv.gz":
        path = folder / f"{stem}.csv.gz"
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path = folder / f"{stem}.csv"
        path.write_text(text, encoding="utf-8")
    return path


def bulk_usage(n: int, seed: int = 7) -> pd.DataFrame:
    """`n` clean, distinct usage rows over the known workspaces in Jan-Mar 2026 (vectorised, for size)."""
    rng = np.random.default_rng(seed)
    workspaces = np.array([w for w in WORKSPACE.values() if w is not None])
    days = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 89, n), unit="D")
    return pd.DataFrame(
        {
            "date": days.date,
            "workspace_id": workspaces[rng.integers(0, len(workspaces), n)],
            "user_id": [f"usr_bulk_{i:08d}" for i in range(n)],
            "feature": np.array(USAGE_FEATURES)[rng.integers(0, len(USAGE_FEATURES), n)],
            "event_count": rng.integers(1, 50, n).astype("int64"),
            "ingested_at": (days + pd.Timedelta(hours=20)).tz_localize("UTC").as_unit("us"),
        }
    )


def write_raw(
    root: Path,
    *,
    duplicates: int = 0,
    id_variants: bool = False,
    orphans: bool = False,
    invalid: bool = False,
    impossible_values: bool = False,
    future: bool = False,
    employee_count_typos: bool = False,
    unknown_column: bool = False,
    gz_part: bool = False,
    parquet_part: bool = False,
    drop_column: tuple[str, str] | None = None,
    extra_rows: Mapping[str, Sequence[Row]] | None = None,
    usage_rows: int = 0,
) -> Path:
    """Write a contract-following RAW folder under `root` and return it.

    Clean by default (`BASE_COUNTS` rows, no defect). Options and their exact effect:

    - `duplicates=n`: n extra exact copies of the first ticket (`TCK-alpha-1`) and of the first usage row
      -> `duplicates == n` in support/tickets and product/usage_daily.
    - `id_variants`: two more copies of `TCK-alpha-1`, one with its account id padded by spaces and a tab,
      one with it lower-cased -> tickets `duplicates += 2`, `ids_whitespace += 1`, `ids_case += 1`.
    - `orphans`: one ticket of an unknown account, one subscription item of an unknown customer, one usage
      row of an unknown workspace -> `orphans == 1` in each of the three tables.
    - `invalid`: an unusable defining field: subscription start_date `2025-02-30`, usage date `2026-03-32`,
      NPS score 11, ticket solved_at `soon` -> `invalid == 1` in each of the four tables.
    - `impossible_values`: an unusable value field: subscription seats -1 (`si_bad_seats`), usage
      event_count 0 (`usr_alpha_zero`), ticket priority `critical` (`TCK-critical`) -> each row kept
      (`rows_kept += 1`), the value NULL and counted (`nulled_values[column] == 1`).
    - `future`: a usage row dated after the day it was ingested, a ticket created after the export time
      -> `future_dated == 1` in each of the two tables.
    - `employee_count_typos`: charlie's version has employee_count 0, delta's -5 -> both kept, with
      employee_count NULL (`nulled_values["employee_count"] == 2`).
    - `unknown_column`: crm/accounts' first extract carries an extra column `legacy_score`.
    - `gz_part`: crm/accounts' second extract is written as `.csv.gz`.
    - `parquet_part`: support/tickets' second part (`tickets_2026`) is written as typed `.parquet`.
    - `drop_column=(table, column)`: that column is missing from the table's first part.
    - `extra_rows={table: rows}`: rows appended as one more part, e.g. `support/tickets/tickets_extra.csv`
      (into the table's own file for the catalogue tables, whose folder is shared).
    - `usage_rows=n`: n more clean, distinct usage rows in a part `usage_bulk.parquet` (for size).
    """
    parts = base_parts()
    formats: dict[tuple[str, str], str] = {("product/usage_daily", "usage_2026-03"): "parquet"}

    def add(table: str, rows: Sequence[Row], stem: str | None = None) -> None:
        target = stem or next(iter(parts[table]))
        parts[table].setdefault(target, []).extend(rows)

    first_ticket = parts["support/tickets"]["tickets_2025"][0]
    first_usage = parts["product/usage_daily"]["usage_2026-03"][0]
    if duplicates:
        add("support/tickets", [dict(first_ticket) for _ in range(duplicates)], "tickets_dupes")
        add("product/usage_daily", [dict(first_usage) for _ in range(duplicates)])
    if id_variants:
        account_id = first_ticket["account_id"]
        add(
            "support/tickets",
            [first_ticket | {"account_id": f"  {account_id}\t"}, first_ticket | {"account_id": account_id.lower()}],
            "tickets_variants",
        )
    if orphans:
        add("support/tickets", [ticket_row(UNKNOWN_ACCOUNT, ticket_id="TCK-orphan-1")], "tickets_orphans")
        add("billing/subscriptions", [subscription_row(UNKNOWN_CUSTOMER, subscription_item_id="si_orphan")])
        add("product/usage_daily", [usage_row(UNKNOWN_WORKSPACE)])
    if invalid:
        add(
            "billing/subscriptions",
            [subscription_row("alpha", subscription_item_id="si_bad_start", start_date="2025-02-30")],
        )
        add(
            "product/usage_daily", [usage_row("alpha", user_id="usr_alpha_baddate", date="2026-03-32")], "usage_invalid"
        )
        add("survey/nps", [nps_row("alpha", response_id="resp_alpha_11", score=11)])
        add("support/tickets", [ticket_row("bravo", ticket_id="TCK-bad-solved", solved_at="soon")], "tickets_invalid")
    if impossible_values:
        add("billing/subscriptions", [subscription_row("alpha", subscription_item_id="si_bad_seats", seats=-1)])
        add("product/usage_daily", [usage_row("alpha", user_id="usr_alpha_zero", event_count=0)])
        add("support/tickets", [ticket_row("bravo", ticket_id="TCK-critical", priority="critical")], "tickets_values")
    if future:
        add(
            "product/usage_daily",
            [usage_row("alpha", date="2026-04-02", user_id="usr_alpha_skew", ingested_at="2026-03-31T10:00:00Z")],
        )
        add(
            "support/tickets",
            [ticket_row("charlie", ticket_id="TCK-future", created_at="2026-04-10T09:00:00Z", solved_at=None)],
            "tickets_future",
        )
    if employee_count_typos:
        for row in parts["crm/accounts"]["accounts_extract_2025-12-31"]:
            if row["account_id"] == ACCOUNT["charlie"]:
                row["employee_count"] = 0
            if row["account_id"] == ACCOUNT["delta"]:
                row["employee_count"] = -5
    if unknown_column:
        for row in parts["crm/accounts"]["accounts_extract_2025-12-31"]:
            row["legacy_score"] = 0.5
    if gz_part:
        formats[("crm/accounts", "accounts_extract_2026-03-31")] = "csv.gz"
    if parquet_part:
        formats[("support/tickets", "tickets_2026")] = "parquet"
    for table, rows in (extra_rows or {}).items():
        stem = None if TABLES_BY_NAME[table].file_stem else f"{table.rsplit('/', 1)[-1]}_extra"
        add(table, [dict(r) for r in rows], stem)
    if drop_column is not None:
        table, column = drop_column
        for row in next(iter(parts[table].values())):
            row.pop(column, None)

    for table, files in parts.items():
        folder = root / table_folder(TABLES_BY_NAME[table])
        for stem, rows in files.items():
            write_part(folder, stem, table, rows, formats.get((table, stem), "csv"))
    if usage_rows:
        bulk_usage(usage_rows).to_parquet(root / "product/usage_daily/usage_bulk.parquet", index=False)
    return root


def make_settings(home: Path, **overrides: Any) -> Settings:
    """Settings whose home (warehouse, reports, scratch) is `home`; dotted keys override, e.g.
    `make_settings(home, **{"ingest.gate.max_orphan_share": 0.0})`."""
    defaults = {"ingest.duckdb_memory_limit": "1GB", "ingest.duckdb_threads": 2}
    return load_settings(home=home, **(defaults | overrides))


def consolidate_in_memory(
    raw_dir: Path, work_dir: Path, export_time: str | None = None, late_after_days: int = 1
) -> tuple[duckdb.DuckDBPyConnection, dict[str, StagedTable], ConsolidationResult]:
    """Stage every table of `raw_dir` under `work_dir` and consolidate them on one in-memory DuckDB.

    Faster than `consolidate_raw` (no warehouse file, no report); the caller closes the connection.
    """
    con = connect(memory_limit="1GB", threads=2)
    staged = {spec.name: stage_table(con, raw_dir, spec, work_dir / spec.slug) for spec in TABLES}
    result = consolidate(con, staged, find_export_time(con, staged, export_time), late_after_days)
    return con, staged, result


def run_xsell(*args: str, home: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run the real `xsell` entry point in a subprocess (progress off), as a person would."""
    return subprocess.run(
        [sys.executable, "-c", "from flows.cli import run; run()", "--home", str(home), "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_raw_parts(raw: Path, spec: Any, na_values: list[str] | None = None) -> pd.DataFrame:
    """Every part of a raw table read directly with pandas (independent of the ingestion code), contract columns only.

    CSV values stay strings as written (`na_values` decides which become missing); parquet keeps its own types.
    """
    from ingest.contract import table_folder

    frames = []
    for path in sorted((raw / table_folder(spec)).iterdir()):
        if spec.file_stem and not path.name.startswith(spec.file_stem + "."):
            continue
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=na_values or [])
        frames.append(frame[list(spec.column_names)])
    return pd.concat(frames, ignore_index=True)


@contextmanager
def quiet_env() -> Iterator[None]:
    """Inside, the shell's XSELL_* and MLflow URI variables are unset and MLflow is quiet; all restored on exit."""
    import os

    import pytest

    from tests.unit.registry.factories import QUIET
    from xsell.settings import ENV_PREFIX

    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
            patch.delenv(name)
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            patch.delenv(name, raising=False)
        for key, value in QUIET.items():
            patch.setenv(key, value)
        yield


@contextmanager
def generated_home(root: Path, **overrides: Any) -> Iterator[Settings]:
    """Settings homed at `root/home` whose warehouse holds a consolidated generated export (200 accounts,
    2024-01..2025-12, seed 7; dotted `overrides` on top); inside, the shell's XSELL_* and MLflow URI variables
    are unset and MLflow is quiet."""
    from ingest.pipeline import consolidate_raw
    from synth import generate_raw

    with quiet_env():
        defaults = {
            "generator.accounts": 200,
            "generator.start": "2024-01",
            "generator.end": "2025-12",
            "ingest.gate.enabled": False,
            "ingest.duckdb_memory_limit": "1GB",
        }
        settings = load_settings(home=root / "home", **(defaults | overrides))
        generate_raw(root / "raw", settings.generator, seed=7)
        consolidate_raw(root / "raw", settings)
        yield settings


def published_rows(as_of: date, version: str = "1") -> pd.DataFrame:
    """Two published rows as `publish_rows` makes them (model_version as text, as in the output files)."""
    rows = pd.DataFrame({c: [None, None] for c in PUBLIC_COLUMNS})
    return rows.assign(
        account_id=["a", "b"],
        product=["x", "x"],
        as_of=as_of,
        propensity=[0.4, 0.1],
        tier=["ready_now", "not_ready"],
        rank=[1, 2],
        expected_value=[1.0, 2.0],
        model_name="m",
        model_version=version,
    )
