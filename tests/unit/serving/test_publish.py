"""Published rows: tiers, rank, expected value, next product; CRM records; alerts of newly ready accounts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from serving.publish import (
    ALERT_COLUMNS,
    PUBLIC_COLUMNS,
    crm_records,
    entered_ready_now,
    publish_rows,
    sidecar_paths,
    write_crm,
)
from serving.scoring import ScoringError
from serving.tiers import Cutoffs, TierPolicy
from xsell.settings import TierGates

AS_OF = date(2025, 6, 30)
POLICY = TierPolicy(gates=TierGates().model_dump(), cutoffs={"x": Cutoffs(0.5, 0.2)}, pooled=Cutoffs(0.6, 0.3))
PRICES = {"x": 400.0, "y": 900.0}


def scored_row(account: str, product: str, propensity: float, **over: object) -> dict[str, object]:
    """One model output row with gate features that pass."""
    return {
        "account_id": account,
        "product": product,
        "as_of": AS_OF,
        "propensity": propensity,
        "reason_1": f"{account} uses {product} signals",
        "reason_2": None,
        "reason_3": None,
        "feature_share_90d": 0.9,
        "active_users_30d": 10,
        "tenure_months": 20.0,
        "nps_latest": 9.0,
        "invoices_overdue": 0,
        "tickets_urgent_90d": 0,
        **over,
    }


def scored() -> pd.DataFrame:
    return pd.DataFrame(
        [
            scored_row("a", "x", 0.7),
            scored_row("a", "y", 0.65),
            scored_row("b", "x", 0.3),
            scored_row("c", "x", 0.9, tenure_months=2.0),
            scored_row("c", "y", 0.1),
        ]
    )


def publish(rows: pd.DataFrame | None = None, **kw: object) -> pd.DataFrame:
    return publish_rows(
        scored() if rows is None else rows, POLICY, ["y", "x"], PRICES, model_name="m", model_version=3, **kw
    )


def test_published_rows_hold_the_public_columns() -> None:
    out = publish().set_index(["account_id", "product"])
    assert list(out.reset_index().columns) == list(PUBLIC_COLUMNS)
    # tiers: a/x passes gates and x's ready cut-off; c/x fails tenure; a/y and c/y use the pooled cut-offs
    assert out["tier"].to_dict() == {
        ("a", "x"): "ready_now",
        ("a", "y"): "ready_now",
        ("b", "x"): "building",
        ("c", "x"): "building",
        ("c", "y"): "not_ready",
    }
    # rank within the product, expected value = propensity x list MRR, next product from the path
    assert out.loc[("c", "x"), "rank"] == 1 and out.loc[("a", "x"), "rank"] == 2 and out.loc[("b", "x"), "rank"] == 3
    assert out.loc[("a", "y"), "expected_value"] == pytest.approx(0.65 * 900)
    assert out.loc[("a", "x"), "next_product"] == "y" and out.loc[("b", "x"), "next_product"] == "x"
    assert (out["model_version"] == "3").all() and out.loc[("a", "x"), "reason_1"] == "a uses x signals"


def test_api_rows_have_no_rank_and_may_lack_reasons() -> None:
    rows = scored().drop(columns=["reason_1", "reason_2", "reason_3"]).head(2)
    out = publish(rows, rank=False)
    assert out["rank"].isna().all() and out["reason_1"].isna().all()
    assert out["tier"].tolist() == ["ready_now", "ready_now"]


def test_unpriced_product_and_missing_column_are_named() -> None:
    with pytest.raises(ScoringError, match="product\\(s\\): z"):
        publish(pd.DataFrame([scored_row("a", "z", 0.5)]))
    with pytest.raises(ScoringError, match="propensity"):
        publish(scored().drop(columns=["propensity"]))


def test_crm_records_one_object_per_account() -> None:
    records = crm_records(publish())
    assert [r["account_id"] for r in records] == ["a", "b", "c"]
    a = records[0]
    assert a["as_of"] == "2025-06-30" and a["model_version"] == "3" and a["next_product"] == "y"
    assert set(a["scores"]) == {"x", "y"}
    assert a["scores"]["x"] == {
        "propensity": 0.7,
        "tier": "ready_now",
        "rank": 2,
        "expected_value": 280.0,
        "reasons": ["a uses x signals"],
    }
    json.dumps(records)  # plain JSON values only


def test_write_crm_writes_json_lines(tmp_path: Path) -> None:
    path = write_crm(crm_records(publish()), tmp_path / "out.crm.jsonl")
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[1])["account_id"] == "b"
    assert sidecar_paths(tmp_path / "scores.parquet") == (
        tmp_path / "scores.crm.jsonl",
        tmp_path / "scores.alerts.csv",
    )


def test_alerts_list_pairs_that_entered_ready_now() -> None:
    published = publish()
    previous = pd.DataFrame(
        {
            "account_id": ["a", "a"],
            "product": ["x", "y"],
            "tier": ["ready_now", "building"],
            "as_of": [date(2025, 5, 31)] * 2,
        }
    )
    alerts = entered_ready_now(published, previous)
    assert list(alerts.columns) == list(ALERT_COLUMNS)
    assert alerts[["account_id", "product", "previous_tier"]].values.tolist() == [["a", "y", "building"]]
    # first run: every ready_now pair alerts
    assert len(entered_ready_now(published, None)) == 2
