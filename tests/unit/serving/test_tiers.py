"""Tier gates, cut-off choice on a holdout, tier assignment, the tier table and the policy's JSON form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving.tiers import (
    BUILDING,
    NOT_READY,
    READY,
    Cutoffs,
    TierError,
    TierPolicy,
    assign_tiers,
    choose_cutoffs,
    choose_policy,
    falling_conversion,
    gate_frame,
    quantile_policy,
    render_tier_table,
    tier_table,
)
from xsell.settings import TierGates, TierSettings


def gate_row(**over: object) -> dict[str, object]:
    """Feature values of a row that passes every gate."""
    return {
        "account_id": "a1",
        "product": "p1",
        "feature_share_90d": 0.8,
        "active_users_30d": 5,
        "tenure_months": 12.0,
        "nps_latest": 9.0,
        "invoices_overdue": 0,
        "tickets_urgent_90d": 0,
        **over,
    }


def make_holdout(n: int = 4000, seed: int = 0, products: tuple[str, ...] = ("p1", "p2")) -> pd.DataFrame:
    """Holdout rows whose conversion rises with propensity and is higher when the gates pass."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1, 12, n)
    gated = rng.random(n) < 0.3
    rate = np.clip(p * np.where(gated, 1.8, 0.7), 0, 1)
    return pd.DataFrame(
        {
            "account_id": [f"a{i % (n // 2)}" for i in range(n)],
            "product": rng.choice(list(products), n),
            "as_of": pd.Timestamp("2025-01-31").date(),
            "label": (rng.random(n) < rate).astype(int),
            "propensity": p,
            "gates_passed": gated,
        }
    )


def test_gates_pass_and_fail_one_by_one() -> None:
    # given a passing row and one row failing each gate
    rows = pd.DataFrame(
        [
            gate_row(),
            gate_row(feature_share_90d=0.5),
            gate_row(active_users_30d=2),
            gate_row(tenure_months=3.0),
            gate_row(nps_latest=4.0),
            gate_row(invoices_overdue=1),
            gate_row(tickets_urgent_90d=5),
        ]
    )
    # when the gates are evaluated with the defaults
    gates = gate_frame(rows, TierGates())
    # then only the first row passes, each other row fails its own gate
    assert gates["gates_passed"].tolist() == [True] + [False] * 6
    assert not gates.loc[1, "gate_adoption"] and not gates.loc[2, "gate_users"] and not gates.loc[3, "gate_tenure"]
    assert not gates.loc[4:6, "gate_health"].any()


def test_missing_values_follow_the_documented_rules() -> None:
    rows = pd.DataFrame(
        [gate_row(nps_latest=None), gate_row(feature_share_90d=None), gate_row(invoices_overdue=None)]
    ).astype({"nps_latest": float, "feature_share_90d": float, "invoices_overdue": float})
    gates = gate_frame(rows, TierGates())
    # no NPS response passes, no feature share fails, no overdue count counts as zero
    assert gates["gates_passed"].tolist() == [True, False, True]


def test_adoption_step_gate_needs_next_product() -> None:
    rows = pd.DataFrame([gate_row(product="p1"), gate_row(product="p2")])
    gates = TierGates(require_adoption_step=True)
    passed = gate_frame(rows, gates, pd.Series(["p1", "p1"]))["gates_passed"]
    assert passed.tolist() == [True, False]
    with pytest.raises(TierError, match="next_product"):
        gate_frame(rows, gates)


def test_missing_gate_column_is_named() -> None:
    rows = pd.DataFrame([gate_row()]).drop(columns=["tenure_months"])
    with pytest.raises(TierError, match="tenure_months"):
        gate_frame(rows, TierGates())


def test_chosen_cutoffs_make_conversion_fall() -> None:
    # given a holdout where conversion rises with propensity and gates
    holdout = make_holdout()
    # when a policy is chosen on it
    policy, table = choose_policy(holdout, TierSettings())
    # then every product has holdout cut-offs, ready above building, and conversion falls in every product
    assert set(policy.cutoffs) == {"p1", "p2"}
    assert all(c.source == "holdout" for c in policy.cutoffs.values())
    assert policy.monotonic and all(falling_conversion(table).values())
    overall = table[table["product"] == "overall"].set_index("tier")
    assert overall.loc[READY, "conversion_rate"] > overall.loc[BUILDING, "conversion_rate"]
    assert overall.loc[BUILDING, "conversion_rate"] > overall.loc[NOT_READY, "conversion_rate"]
    assert overall["rows"].sum() == len(holdout)
    assert policy.chosen_on["rows"] == len(holdout) and policy.chosen_on["as_of"] == ["2025-01-31"]


def test_ready_cutoff_meets_the_lift() -> None:
    holdout = make_holdout(seed=3)
    cfg = TierSettings(ready_lift=2.5)
    p, y, g = (holdout[c].to_numpy() for c in ("propensity", "label", "gates_passed"))
    cut = choose_cutoffs(p.astype(float), y.astype(float), g.astype(bool), cfg, base=float(y.mean()))
    ready = g & (p >= cut.ready_now)
    assert ready.sum() >= cfg.min_tier_rows
    assert y[ready].mean() >= 2.5 * y.mean()


def test_products_with_few_positives_use_pooled_cutoffs() -> None:
    holdout = make_holdout()
    rare = holdout.assign(product=np.where(np.arange(len(holdout)) < 50, "rare", holdout["product"]))
    rare.loc[rare["product"] == "rare", "label"] = 0
    policy, _ = choose_policy(rare, TierSettings())
    assert policy.cutoffs["rare"] == policy.pooled


def test_unreachable_lift_falls_back_to_top_share() -> None:
    holdout = make_holdout().assign(label=0)
    holdout.loc[:3, "label"] = 1
    cfg = TierSettings(ready_lift=400.0, min_positives=1)
    policy, _ = choose_policy(holdout, cfg)
    assert policy.pooled.source == "top_share"
    share = (holdout["propensity"] >= policy.pooled.ready_now).mean()
    assert share == pytest.approx(cfg.fallback_ready_share, abs=0.01)


def test_holdout_without_gates_column_is_refused() -> None:
    with pytest.raises(TierError, match="gates_passed"):
        choose_policy(make_holdout().drop(columns=["gates_passed"]), TierSettings())


def test_assign_tiers_uses_each_products_cutoffs() -> None:
    policy = TierPolicy(
        gates=TierGates().model_dump(),
        cutoffs={"p1": Cutoffs(0.5, 0.2)},
        pooled=Cutoffs(0.9, 0.8, "pooled"),
    )
    products = pd.Series(["p1", "p1", "p1", "p1", "other"])
    propensity = pd.Series([0.6, 0.6, 0.3, 0.1, 0.85])
    gates = pd.Series([True, False, True, True, True])
    assert assign_tiers(products, propensity, gates, policy).tolist() == [
        READY,
        BUILDING,
        BUILDING,
        NOT_READY,
        BUILDING,
    ]


def test_tier_table_counts_every_tier() -> None:
    rows = pd.DataFrame(
        {
            "account_id": ["a", "a", "b", "c"],
            "product": ["p1", "p1", "p1", "p2"],
            "tier": [READY, READY, NOT_READY, BUILDING],
            "label": [1, 0, 0, 1],
        }
    )
    table = tier_table(rows).set_index(["product", "tier"])
    assert table.loc[("p1", READY), ["accounts", "rows", "conversions"]].tolist() == [1, 2, 1]
    assert table.loc[("p1", READY), "conversion_rate"] == 0.5
    assert table.loc[("p1", BUILDING), "rows"] == 0 and np.isnan(table.loc[("p1", BUILDING), "conversion_rate"])
    assert table.loc[("overall", READY), "rows"] == 2 and len(table) == 9


def test_falling_conversion_flags_a_rise() -> None:
    rows = pd.DataFrame(
        {
            "account_id": list("abcdef"),
            "product": ["p1"] * 6,
            "tier": [READY, READY, BUILDING, BUILDING, NOT_READY, NOT_READY],
            "label": [0, 1, 1, 1, 0, 0],
        }
    )
    assert falling_conversion(tier_table(rows))["p1"] is False


def test_policy_json_round_trip_and_bad_file() -> None:
    policy, table = choose_policy(make_holdout(), TierSettings())
    again = TierPolicy.from_json(policy.to_json())
    assert again == policy
    assert "ready_now" in render_tier_table(table, policy)
    with pytest.raises(TierError, match=r"runs:/x/tiers/policy\.json"):
        TierPolicy.from_json('{"gates": {}}', source="runs:/x/tiers/policy.json")


def test_quantile_policy_takes_top_shares_per_product() -> None:
    frame = pd.DataFrame({"product": ["p1"] * 100, "propensity": np.linspace(0, 1, 100)})
    policy = quantile_policy(frame, TierSettings(fallback_ready_share=0.1, fallback_building_share=0.3))
    assert policy.cutoffs["p1"].ready_now == pytest.approx(0.9)
    assert policy.cutoffs["p1"].building == pytest.approx(0.6)
