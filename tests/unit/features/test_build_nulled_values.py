"""Snapshots over values nulled at ingestion: ownership still counts, sums stay defined, no owned product is offered."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from features.build import build_snapshot
from features.store import connect_warehouse
from ingest.pipeline import consolidate_raw
from tests.factories import ACCOUNT, subscription_row, usage_row, write_raw
from tests.unit.features.conftest import SCENARIO
from xsell.settings import load_settings

ALPHA, BRAVO, DELTA = (ACCOUNT[k] for k in ("alpha", "bravo", "delta"))

NULLED = {
    "billing/subscriptions": [
        # bravo bought analytics with a typo in its seats and an unreadable mrr: it owns analytics all the same
        subscription_row(
            "bravo",
            subscription_item_id="si_bravo_an",
            product="analytics",
            tier=None,
            seats=-21,
            mrr="?",
            start_date="2025-10-01",
        ),
        # delta came back on a primary item whose seats are negative: it is a customer with unknown seats
        subscription_row("delta", subscription_item_id="si_delta_back", seats=-1, start_date="2025-10-01"),
    ],
    # alpha used a feature on 2026-03-30 with an impossible count of 0: the use is kept
    "product/usage_daily": [usage_row("alpha", user_id="usr_alpha_zero", date="2026-03-30", event_count=0)],
}


def _snapshot(tmp_path: Path, extra: dict[str, list[dict]]) -> pd.DataFrame:
    rows = {t: [*SCENARIO.get(t, []), *extra.get(t, [])] for t in {*SCENARIO, *extra}}
    raw = write_raw(tmp_path / "raw", extra_rows=rows)
    settings = load_settings(
        home=tmp_path / "home", **{"ingest.duckdb_memory_limit": "1GB", "ingest.gate.enabled": False}
    )
    consolidate_raw(raw, settings)
    con = connect_warehouse(settings, read_only=True)
    try:
        return build_snapshot(con, date(2026, 3, 31), settings)
    finally:
        con.close()


def test_nulled_values_keep_ownership_and_sums(tmp_path: Path) -> None:
    # given the scenario plus items and usage whose values are nulled at ingestion
    clean = _snapshot(tmp_path / "clean", {})
    snap = _snapshot(tmp_path / "nulled", NULLED)
    pairs = set(zip(snap["account_id"], snap["product"], strict=True))

    # then bravo, owning analytics, is never offered it; delta is a primary customer again, seats unknown
    assert (BRAVO, "analytics") not in pairs
    assert (BRAVO, "automation") in pairs
    delta = snap[snap["account_id"] == DELTA]
    assert len(delta) > 0 and delta["seats"].isna().all() and delta["seat_activation_30d"].isna().all()
    assert (delta["mrr"] == 350.0).all()
    # and bravo's revenue sums what is known (its unreadable mrr adds nothing, the sum is no NULL)
    bravo = snap[snap["account_id"] == BRAVO].iloc[0]
    bravo_clean = clean[clean["account_id"] == BRAVO].iloc[0]
    assert bravo["mrr"] == bravo_clean["mrr"] and bravo["products_owned"] == bravo_clean["products_owned"] + 1
    # and alpha's use with a nulled count counts as one event (the contract's floor) by one more user-day
    alpha, alpha_clean = (f[f["account_id"] == ALPHA].iloc[0] for f in (snap, clean))
    assert alpha["events_30d"] == alpha_clean["events_30d"] + 1
