"""What the serving layer logs with each trained model, and reads back at scoring.

At training (`serving_artifacts`): the holdout rows of `TrainingResult.holdout` are joined to their snapshot
features in the warehouse, the readiness gates are evaluated on them, propensity cut-offs are chosen
(`serving.tiers.choose_policy`) and the adoption path is mined from the ownership history up to the last holdout
date. Logged in the training run: `tiers/policy.json`, `tiers/tier_table.csv`, `tiers/tier_table.md`,
`adoption/adoption_path.csv` and `adoption/adoption_path.md`; metrics `tiers/<product>/<tier>/conversion_rate`;
tag `tiers.falling_conversion`.

At scoring (`load_tier_policy`): the policy logged in the model's run, or None when it has none.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pandas as pd

from features.build import SnapshotReader
from features.schema import ROW_ID_COLUMNS
from features.store import warehouse
from registry.client import use_tracking_uri
from registry.run_content import ExtraLogs, metric_key
from serving.adoption import adjacent_products, mine_adoption_path, next_products
from serving.adoption import render_markdown as render_path
from serving.tiers import TierPolicy, choose_policy, gate_frame, render_tier_table
from training.result import TrainingResult
from xsell.settings import Settings

log = logging.getLogger(__name__)

POLICY_ARTIFACT = "tiers/policy.json"
TIER_TABLE_ARTIFACT = "tiers/tier_table.csv"
PATH_ARTIFACT = "adoption/adoption_path.csv"


def _as_date(value: Any) -> date:
    return pd.Timestamp(value).date()


def holdout_with_gates(result: TrainingResult, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The holdout rows with `gates_passed` (their features read from the warehouse, the adoption path mined to
    each holdout date), and the adoption path at the last holdout date."""
    holdout = result.holdout.copy()
    holdout["as_of"] = holdout["as_of"].map(_as_date)
    gates = settings.serving.tiers.gates
    parts = []
    path = pd.DataFrame()
    with warehouse(settings, read_only=True) as con:
        reader = SnapshotReader(con, settings)
        primary, _ = adjacent_products(con)
        for day in sorted(holdout["as_of"].unique()):
            rows = reader.read(day)
            keys = holdout[holdout["as_of"] == day][["account_id", "product", "as_of", "label", "propensity"]]
            joined = keys.merge(rows.drop(columns=["label"]), on=list(ROW_ID_COLUMNS), how="inner")
            if len(joined) < len(keys):
                raise ValueError(
                    f"holdout rows of {day} not found in the warehouse snapshot: {len(keys) - len(joined)}"
                )
            path = mine_adoption_path(con, day, settings.serving.adoption)
            nxt = next_products(rows, list(path["product"])).set_axis(rows.index)
            by_key = dict(zip(zip(rows["account_id"], rows["product"], strict=True), nxt, strict=True))
            joined_next = pd.Series(
                [by_key.get(k) for k in zip(joined["account_id"], joined["product"], strict=True)], index=joined.index
            )
            parts.append(pd.concat([joined[list(keys.columns)], gate_frame(joined, gates, joined_next)], axis=1))
        path.attrs["primary"] = primary
    return pd.concat(parts, ignore_index=True), path


def serving_artifacts(result: TrainingResult, settings: Settings) -> ExtraLogs | None:
    """Tier policy, tier table and adoption path of a warehouse-trained model; None for a model whose holdout is
    not keyed by account, product and as-of date (a bring-your-own table) or without a warehouse."""
    holdout = result.holdout
    if holdout.empty or holdout[["account_id", "product", "as_of"]].isna().any().any():
        log.info("no tier policy: the holdout is not keyed by account, product and as-of date")
        return None
    if not settings.warehouse_path.is_file():
        log.info("no tier policy: no warehouse at %s", settings.warehouse_path)
        return None
    rows, path = holdout_with_gates(result, settings)
    policy, table = choose_policy(rows, settings.serving.tiers)
    last = max(rows["as_of"])
    metrics = {
        metric_key("tiers", r["product"], r["tier"], "conversion_rate"): float(r["conversion_rate"])
        for r in table.to_dict("records")
        if r["rows"] > 0
    }
    falls = policy.chosen_on.get("falling_conversion", {})
    return ExtraLogs(
        texts={
            POLICY_ARTIFACT: policy.to_json(),
            TIER_TABLE_ARTIFACT: table.to_csv(index=False),
            "tiers/tier_table.md": render_tier_table(table, policy),
            PATH_ARTIFACT: path.to_csv(index=False),
            "adoption/adoption_path.md": render_path(path, path.attrs.get("primary", ""), last),
        },
        metrics=metrics,
        tags={
            "tiers.falling_conversion": "yes" if policy.monotonic else "no",
            "tiers.not_falling": ",".join(p for p, ok in sorted(falls.items()) if not ok),
            "adoption_path": " > ".join(path["product"]),
        },
    )


def load_tier_policy(run_id: str | None, settings: Settings) -> TierPolicy | None:
    """The tier policy logged in training run `run_id`; None when the run has none."""
    if not run_id:
        return None
    import mlflow
    from mlflow.exceptions import MlflowException

    use_tracking_uri(settings.mlflow_uri)
    try:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/{POLICY_ARTIFACT}")
    except (MlflowException, OSError):
        log.warning("run %s has no %s", run_id, POLICY_ARTIFACT)
        return None
    return TierPolicy.from_json(text, source=f"runs:/{run_id}/{POLICY_ARTIFACT}")
