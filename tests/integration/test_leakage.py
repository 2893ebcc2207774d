"""Leakage guards: features at T depend only on what was known at T; labels only on what came after.

On a generated export, for several random as-of dates D (T = D + 1 day, exclusive):

1. the export cut at T (`truncate_export`: later rows deleted, later events rolled back) consolidated on its own
   gives exactly the features the full export gives at D, and no labels (its data ends at D);
2. changing rows after T in the full export (usage doubled, NPS scores, ticket priorities and ratings, payment
   and close dates, stages, end dates, head counts, touch actions) and adding a purchase after D leaves every
   feature at D unchanged, while the label of the purchased pair flips.

Account ids are compared case-insensitively: consolidation spells each id as its most frequent CRM spelling,
and a cut export that holds fewer versions can elect a differently cased spelling of the same id.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from features.build import build_snapshot
from features.catalog import FEATURES, feature_names
from features.store import connect_warehouse
from ingest.asof import truncate_export
from ingest.contract import TABLES_BY_NAME, TableSpec
from ingest.files import find_parts, inspect_part
from ingest.pipeline import consolidate_raw
from ingest.stage import typed_expr
from synth import generate_raw
from xsell.duck import quote_ident, quote_str
from xsell.settings import Settings, load_settings

ACCOUNTS, START, END, SEED = 180, "2025-01", "2026-06", 20261123
CUTS = 3


def _settings(home: Path, **overrides: object) -> Settings:
    base = {"ingest.duckdb_memory_limit": "1GB", "ingest.gate.enabled": False}
    return load_settings(home=home, **{**base, **overrides})  # type: ignore[arg-type]


def _snapshot(settings: Settings, as_of: date) -> pd.DataFrame:
    con = connect_warehouse(settings, read_only=True)
    try:
        frame = build_snapshot(con, as_of, settings)
    finally:
        con.close()
    frame["key"] = frame["account_id"].str.upper()
    return frame.set_index(["key", "product"]).sort_index()


def _assert_same_features(expected: pd.DataFrame, actual: pd.DataFrame, what: str) -> None:
    assert expected.index.equals(actual.index), f"{what}: eligible pairs differ"
    for f in FEATURES:
        a, b = expected[f.name], actual[f.name]
        if f.categorical:
            same = (a == b) | (a.isna() & b.isna())
        else:
            x, y = a.astype("float64"), b.astype("float64")
            same = pd.Series(np.isclose(x, y, rtol=1e-9, atol=1e-9), index=a.index) | (x.isna() & y.isna())
        assert same.all(), f"{what}: {f.name} differs on {int((~same).sum())} rows, e.g. {a[~same].index[0]}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Settings, list[date]]:
    """A generated export, its full consolidation, and random as-of dates (the first one labelled)."""
    root = tmp_path_factory.mktemp("leakage")
    gen = load_settings(**{"generator.accounts": ACCOUNTS, "generator.start": START, "generator.end": END})
    raw = root / "raw"
    generate_raw(raw, gen.generator, SEED)
    full = _settings(root / "full")
    consolidate_raw(raw, full)
    con = connect_warehouse(full, read_only=True)
    try:
        first, last = con.execute(
            "SELECT min(date), (SELECT max(data_end) FROM meta.load_runs) FROM c360.usage_daily"
        ).fetchall()[0]
    finally:
        con.close()
    rng = np.random.default_rng(SEED)
    low = first + timedelta(days=60)
    labelled_until = last - timedelta(days=full.features.horizon_days)
    days = [low + timedelta(days=int(rng.integers(0, (labelled_until - low).days)))]
    days += [low + timedelta(days=int(d)) for d in rng.integers(0, (last - low).days + 1, CUTS - 1)]
    return root, raw, full, days


def test_features_at_t_equal_those_of_the_export_cut_at_t(world: tuple[Path, Path, Settings, list[date]]) -> None:
    root, raw, full, days = world
    horizon = full.features.horizon_days
    for as_of in days:
        # given the export as it was known at the end of D, consolidated on its own (its data end is D)
        cut = truncate_export(raw, root / f"cut-{as_of}", as_of)
        known = _settings(root / f"home-{as_of}", **{"ingest.export_time": f"{as_of}T23:59:59.999999"})
        consolidate_raw(cut, known)
        # when both build the snapshot of D
        expected, actual = _snapshot(full, as_of), _snapshot(known, as_of)
        # then every feature is equal; the cut export cannot label (no data after D), the full one can
        assert len(expected) > 50, f"{as_of}: too few rows to mean anything"
        _assert_same_features(expected, actual, f"cut at {as_of}")
        assert actual["label"].isna().all()
        last = date.fromisoformat(str(full_export_day(full)))
        if as_of + timedelta(days=horizon) <= last:
            assert expected["label"].notna().all()
        shutil.rmtree(cut)
        shutil.rmtree(known.home)


def full_export_day(settings: Settings) -> date:
    """The data end of a consolidated warehouse (date of its export time)."""
    con = connect_warehouse(settings, read_only=True)
    try:
        return con.execute("SELECT max(data_end) FROM meta.load_runs").fetchall()[0][0]
    finally:
        con.close()


# ---- perturbing rows after T ----------------------------------------------------------------------

Resolve = Callable[[str], str]


def _rewrite(
    raw: Path, table: str, where: Callable[[Resolve], str], changes: dict[str, Callable[[Resolve], str]]
) -> int:
    """Rewrite every part of `table` in place: on rows where `where` holds, set each column to its new SQL."""
    spec: TableSpec = TABLES_BY_NAME[table]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    changed = 0
    for path in find_parts(raw, spec):
        part = inspect_part(con, raw, path, spec)

        def resolve(name: str, part=part) -> str:
            ident = quote_ident(part.columns[name])
            return typed_expr(spec.column(name), ident, part.types[name])

        cond = f"coalesce({where(resolve)}, false)"
        replace = ", ".join(
            f"CASE WHEN {cond} THEN CAST({sql(resolve)} AS {part.types[c]}) ELSE {quote_ident(part.columns[c])} END"
            f" AS {quote_ident(part.columns[c])}"
            for c, sql in changes.items()
        )
        changed += int(con.execute(f"SELECT count(*) FROM {part.scan_sql()} WHERE {cond}").fetchall()[0][0])
        tmp = path.with_name("tmp-" + path.name)
        if part.format == "parquet":
            options = "FORMAT parquet"
        else:
            options = "FORMAT csv, HEADER true" + (", COMPRESSION gzip" if path.name.endswith(".gz") else "")
        con.execute(f"COPY (SELECT * REPLACE ({replace}) FROM {part.scan_sql()}) TO {quote_str(tmp)} ({options})")
        tmp.replace(path)
    con.close()
    return changed


def _perturb_after(raw: Path, as_of: date) -> dict[str, int]:
    """Change rows dated, ingested or closed after T; return how many rows each change touched."""
    t = datetime.combine(as_of + timedelta(days=1), time())
    ts, d = f"TIMESTAMP '{t:%Y-%m-%d %H:%M:%S}'", f"DATE '{as_of}'"
    return {
        "usage doubled": _rewrite(
            raw,
            "product/usage_daily",
            lambda c: f"{c('date')} > {d} OR {c('ingested_at')} >= {ts}",
            {"event_count": lambda c: f"{c('event_count')} * 2"},
        ),
        "nps reversed": _rewrite(
            raw, "survey/nps", lambda c: f"{c('submitted_at')} >= {ts}", {"score": lambda c: f"10 - {c('score')}"}
        ),
        "tickets urgent": _rewrite(
            raw, "support/tickets", lambda c: f"{c('created_at')} >= {ts}", {"priority": lambda c: "'urgent'"}
        ),
        "ratings bad": _rewrite(
            raw, "support/tickets", lambda c: f"{c('solved_at')} >= {ts}", {"satisfaction": lambda c: "'bad'"}
        ),
        "payments later": _rewrite(
            raw,
            "billing/invoices",
            lambda c: f"{c('paid_at')} >= {ts}",
            {"paid_at": lambda c: f"{c('paid_at')} + INTERVAL 3 DAY"},
        ),
        "stages flipped": _rewrite(
            raw,
            "crm/opportunities",
            lambda c: f"{c('closed_at')} >= {ts}",
            {"stage": lambda c: f"CASE {c('stage')} WHEN 'closed_won' THEN 'closed_lost' ELSE 'closed_won' END"},
        ),
        "items end later": _rewrite(
            raw,
            "billing/subscriptions",
            lambda c: f"{c('end_date')} > {d}",
            {"end_date": lambda c: f"{c('end_date')} + INTERVAL 15 DAY"},
        ),
        "head counts tripled": _rewrite(
            raw,
            "crm/accounts",
            lambda c: f"{c('updated_at')} >= {ts}",
            {"employee_count": lambda c: f"{c('employee_count')} * 3"},
        ),
        "touches attended": _rewrite(
            raw, "marketing/touches", lambda c: f"{c('occurred_at')} >= {ts}", {"action": lambda c: "'attended'"}
        ),
    }


def _add_purchase(raw: Path, full: Settings, account_id: str, product: str, start: date) -> None:
    """Append a subscription part: `account_id` buys `product` on `start`."""
    con = connect_warehouse(full, read_only=True)
    try:
        customer = con.execute(
            "SELECT billing_customer_id FROM c360.account_versions WHERE account_id = ? AND billing_customer_id"
            " IS NOT NULL ORDER BY updated_at LIMIT 1",
            [account_id],
        ).fetchall()[0][0]
    finally:
        con.close()
    row = {
        "subscription_item_id": "si_leakage_probe",
        "customer_id": customer,
        "product": product,
        "tier": None,
        "seats": 5,
        "mrr": 100.0,
        "is_trial": "false",
        "start_date": start.isoformat(),
        "end_date": None,
    }
    pd.DataFrame([row]).to_csv(raw / "billing/subscriptions/leakage_probe.csv", index=False)


def test_rows_after_t_change_labels_but_no_feature(world: tuple[Path, Path, Settings, list[date]]) -> None:
    root, raw, full, days = world
    as_of = days[0]  # labelled
    before = _snapshot(full, as_of)
    # given a pair that did not convert within the horizon
    unconverted = before[before["label"] == 0]
    account_id, product = unconverted["account_id"].iloc[0], unconverted.index[0][1]
    # when every kind of row after T is changed and that account buys the product ten days after D
    perturbed = root / "perturbed"
    shutil.copytree(raw, perturbed)
    touched = _perturb_after(perturbed, as_of)
    assert all(n > 0 for n in touched.values()), touched  # every perturbation hit some rows
    _add_purchase(perturbed, full, account_id, product, as_of + timedelta(days=10))
    changed = _settings(root / "perturbed-home")
    consolidate_raw(perturbed, changed)
    after = _snapshot(changed, as_of)
    # then the features at D are unchanged
    _assert_same_features(before, after, f"perturbed after {as_of}")
    # and the labels changed exactly where the new purchase falls in the horizon
    flipped = before["label"] != after["label"]
    assert flipped.sum() == 1
    assert after.loc[(account_id.upper(), product), "label"] == 1
    # while a later snapshot does see the changes (the perturbation was not vacuous)
    later = as_of + timedelta(days=45)
    moved = _snapshot(full, later)["events_30d"].sum() != _snapshot(changed, later)["events_30d"].sum()
    assert moved


def test_every_catalog_feature_is_compared() -> None:
    # the guards above iterate the catalog: a feature added there is covered without touching this file
    assert [f.name for f in FEATURES] == feature_names()
