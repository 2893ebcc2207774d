"""On a generated export with every defect injected, the eligible pairs equal the eligibility rule on the clean world.

The generator's world (simulated again from the same settings and seed: it is deterministic) holds the
true subscription items. The rule (features' pair CTEs, written here independently) at a month end D:
an account is a candidate when it owns the primary product at D (a non-trial item started by D, not
ended by D); a pair is an adjacent product it never bought by D whose `min_core_tier` its highest
active primary tier reaches (and whose prerequisite it owns, when that gate is on).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.build import build_snapshot
from features.calendar import month_end
from features.store import connect_warehouse
from ingest.contract import TIER_ORDER
from ingest.pipeline import consolidate_raw
from synth import generate_raw
from synth.catalog import plan_catalog
from synth.timeline import NULL, build_timeline
from synth.world import simulate_world
from synth.world_state import PRIMARY
from xsell.settings import Settings, load_settings

pytestmark = pytest.mark.slow

Pairs = set[tuple[str, str]]
DEFECTS = {
    "generator.defects.duplicate": 0.03,
    "generator.defects.id_whitespace": 0.02,
    "generator.defects.id_case": 0.02,
    "generator.defects.orphan": 0.02,
    "generator.defects.invalid": 0.01,
    "generator.defects.impossible_value": 0.05,
    "generator.defects.future_dated": 0.01,
}
AS_OF = [month_end(2024, 9), month_end(2024, 12), month_end(2025, 3), month_end(2025, 6)]


def items_frame(settings: Settings, seed: int) -> pd.DataFrame:
    """The clean world's subscription items: account id, product name, tier name, trial flag, start, end."""
    gen = settings.generator
    catalog = plan_catalog(gen)
    world = simulate_world(gen, catalog, build_timeline(gen), seed)
    it = world.items
    products = np.array(catalog.adjacent_names, dtype=object)
    is_primary = it["product"] == PRIMARY
    return pd.DataFrame(
        {
            "account_id": world.accounts.account_id[it["account"]],
            "product": np.where(is_primary, catalog.primary.product, products[np.where(is_primary, 0, it["product"])]),
            "tier": np.where(is_primary, np.array(catalog.tiers, dtype=object)[it["tier"] * is_primary], None),
            "is_trial": it["is_trial"],
            "start_date": pd.to_datetime(it["start_day"], unit="D").date,
            "end_date": [None if d == NULL else pd.Timestamp(d, unit="D").date() for d in it["end_day"]],
        }
    )


def eligible_pairs(items: pd.DataFrame, settings: Settings, as_of: date) -> tuple[Pairs, Pairs]:
    """(eligible pairs, owned pairs) at `as_of` by the contract's ownership and the features' eligibility rule."""
    gen = settings.generator
    primary = next(p.product for p in gen.catalog_products if p.kind == "primary")
    paid = items[~items["is_trial"].astype(bool) & (items["start_date"] <= as_of)]
    active = paid[[e is None or e > as_of for e in paid["end_date"]]]
    owned = set(zip(active["account_id"], active["product"], strict=True))
    purchased = set(zip(paid["account_id"], paid["product"], strict=True))
    primary_active = active[active["product"] == primary]
    rank = primary_active.groupby("account_id")["tier"].agg(lambda t: max(TIER_ORDER.index(x) + 1 for x in t))
    pairs: Pairs = set()
    for spec in gen.catalog_products:
        if spec.kind != "adjacent":
            continue
        need = TIER_ORDER.index(spec.min_core_tier) + 1 if spec.min_core_tier else 0
        for account, tier_rank in rank.items():
            gated = settings.features.require_prerequisite and spec.prerequisite
            if (account, spec.product) in purchased or tier_rank < need:
                continue
            if gated and (account, spec.prerequisite) not in owned:
                continue
            pairs.add((account, spec.product))
    return pairs, owned


def _pairs(frame: pd.DataFrame) -> Pairs:
    return set(zip(frame["account_id"], frame["product"], strict=True))


def _snapshots(settings: Settings, days: Iterable[date]) -> dict[date, Pairs]:
    con = connect_warehouse(settings, read_only=True)
    try:
        return {d: _pairs(build_snapshot(con, d, settings)) for d in days}
    finally:
        con.close()


#: Another catalogue: other names, a prerequisite on another product, a tier-gated product, fewer features.
OTHER_CATALOGUE = {
    "generator.catalog_products": [
        {"product": "suite", "kind": "primary", "list_price_mrr": 100.0},
        {"product": "insights", "list_price_mrr": 80.0},
        {"product": "bots", "prerequisite": "insights", "list_price_mrr": 120.0},
        {"product": "vault", "min_core_tier": "enterprise", "list_price_mrr": 300.0},
    ],
    "generator.catalog_features": [
        {"feature": "boards", "min_tier": "starter"},
        {"feature": "chat", "min_tier": "starter"},
        {"feature": "charts", "min_tier": "starter", "signals_product": "insights"},
        {"feature": "flows", "min_tier": "enterprise", "signals_product": "bots"},
        {"feature": "keys", "min_tier": "enterprise", "signals_product": "vault"},
        {"feature": "roles", "min_tier": "enterprise"},
    ],
}


@pytest.mark.parametrize(("seed", "catalogue"), [(3, {}), (11, {}), (21, OTHER_CATALOGUE)])
def test_eligible_pairs_equal_the_rule_on_the_clean_world(tmp_path: Path, seed: int, catalogue: dict) -> None:
    # given an export generated with every defect class raised, impossible seats and mrr among them
    settings = load_settings(
        home=tmp_path / "home",
        **{
            "generator.accounts": 150,
            "generator.start": "2024-01",
            "generator.end": "2025-06",
            "ingest.gate.enabled": False,
            **DEFECTS,
            **catalogue,
        },
    )
    generate_raw(tmp_path / "raw", settings.generator, seed=seed)
    consolidate_raw(tmp_path / "raw", settings)

    # when snapshots are built at month ends
    snapshots = _snapshots(settings, AS_OF)

    # then at every month end the eligible pairs are exactly the rule on the clean world: 0 missing, 0 extra
    items = items_frame(settings, seed)
    con = connect_warehouse(settings, read_only=True)
    try:
        warehouse = con.execute(
            "SELECT account_id, product, tier, is_trial, start_date, end_date, seats IS NULL OR mrr IS NULL AS nulled "
            "FROM c360.subscriptions"
        ).df()
    finally:
        con.close()
    adjacent = {p.product for p in settings.generator.catalog_products if p.kind == "adjacent"}
    assert {product for pairs in snapshots.values() for _, product in pairs} == adjacent
    for day in AS_OF:
        expected, owned = eligible_pairs(items, settings, day)
        got = snapshots[day]
        assert (sorted(expected - got), sorted(got - expected)) == ([], []), day
        # and no pair offers a product the account owns at the as-of date
        assert got & owned == set(), day
        assert len(expected) > 50

    # and with the prerequisite gate on, the same holds
    gated = settings.model_copy(
        update={"features": settings.features.model_copy(update={"require_prerequisite": True})}
    )
    last = AS_OF[-1]
    assert _snapshots(gated, [last])[last] == eligible_pairs(items, gated, last)[0]

    # and the nulled values mattered: had their items been set aside, the pairs would differ
    nulled = warehouse[warehouse["nulled"]]
    assert len(nulled) > 0
    warehouse["start_date"] = pd.to_datetime(warehouse["start_date"]).dt.date
    warehouse["end_date"] = [None if pd.isna(e) else pd.Timestamp(e).date() for e in warehouse["end_date"]]
    dropped = warehouse[~warehouse["nulled"]]
    assert any(eligible_pairs(dropped, settings, d)[0] != eligible_pairs(items, settings, d)[0] for d in AS_OF)
