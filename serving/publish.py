"""Published scores: model output rows turned into what sales and CS act on.

`publish_rows` adds tier, rank, expected value and next product to scored rows (the public columns of
`xsell score`); `crm_records` groups them into one upsert object per account; `entered_ready_now` lists the
account x product pairs that entered `ready_now` since the previous published run. All pure functions: the batch
run (`serving.batch`) and the scoring API call the same code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serving.adoption import next_products
from serving.scoring import ScoringError
from serving.tiers import READY, TierPolicy, assign_tiers, gate_frame
from xsell.fileio import atomic_path

#: The public columns of `xsell score`, in order.
PUBLIC_COLUMNS: tuple[str, ...] = (
    "account_id",
    "product",
    "as_of",
    "propensity",
    "tier",
    "rank",
    "expected_value",
    "reason_1",
    "reason_2",
    "reason_3",
    "next_product",
    "model_name",
    "model_version",
)
REASON_COLUMNS: tuple[str, ...] = ("reason_1", "reason_2", "reason_3")
#: Columns of the alert list.
ALERT_COLUMNS: tuple[str, ...] = (
    "account_id",
    "product",
    "as_of",
    "propensity",
    "rank",
    "expected_value",
    "reason_1",
    "next_product",
    "previous_tier",
    "previous_as_of",
)


def publish_rows(
    scored: pd.DataFrame,
    policy: TierPolicy,
    adoption_order: Sequence[str],
    list_mrr: Mapping[str, float],
    *,
    model_name: str,
    model_version: int | str,
    rank: bool = True,
) -> pd.DataFrame:
    """Published rows (`PUBLIC_COLUMNS`) from model output rows.

    publish_rows(scored, policy, adoption_order, list_mrr, *, model_name, model_version, rank=True) -> DataFrame

    - `scored`: one row per eligible account x product: `account_id, product, as_of, propensity`, optional
      `reason_1..3` (None when absent), and the gates' feature columns (`serving.tiers.GATE_FEATURES`), e.g. a
      snapshot's feature rows with the model's `predict(rows, reasons=True)` columns beside them.
    - `policy`: the champion's `TierPolicy` (`serving.model_artifacts.load_tier_policy`).
    - `adoption_order`: adjacent products in adoption-path order (`serving.adoption.mine_adoption_path(...)
      ["product"]`); `next_product` is the first of them among the account's rows in `scored`, so pass every
      eligible row of an account.
    - `list_mrr`: product -> list MRR (the warehouse catalogue); `expected_value = propensity x list MRR` (to the cent).
    - `rank`: 1 = highest propensity within the product over the rows given (ties broken by account id); the
      scoring API, which sees a handful of accounts, passes `rank=False` and gets an empty (NA) rank.

    ScoringError names a missing column or a product without a list price.
    """
    missing = [c for c in ("account_id", "product", "as_of", "propensity") if c not in scored.columns]
    if missing:
        raise ScoringError(f"scored rows lack column(s): {', '.join(missing)}")
    unpriced = sorted(set(scored["product"]) - set(list_mrr))
    if unpriced:
        raise ScoringError(f"no list MRR in the catalogue for product(s): {', '.join(map(str, unpriced))}")
    rows = scored.reset_index(drop=True)
    nxt = next_products(rows, adoption_order)
    gates = gate_frame(rows, policy.gate_settings(), nxt)
    out = rows[["account_id", "product", "as_of"]].copy()
    out["propensity"] = rows["propensity"].astype(float)
    out["tier"] = assign_tiers(rows["product"], out["propensity"], gates["gates_passed"], policy)
    if rank:
        order = out.sort_values(["product", "propensity", "account_id"], ascending=[True, False, True])
        out["rank"] = pd.Series(order.groupby("product").cumcount() + 1, index=order.index).astype("Int64")
    else:
        out["rank"] = pd.array([pd.NA] * len(out), dtype="Int64")
    out["expected_value"] = (out["propensity"] * rows["product"].map(list_mrr).astype(float)).round(2)
    for column in REASON_COLUMNS:
        out[column] = rows[column] if column in rows.columns else None
    out["next_product"] = nxt
    out["model_name"] = model_name
    out["model_version"] = str(model_version)
    return out[list(PUBLIC_COLUMNS)]


def _plain(value: Any) -> Any:
    """A JSON-able scalar: NaN/NA as None, numpy numbers as Python numbers, dates as ISO text."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return _plain(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def crm_records(published: pd.DataFrame) -> list[dict[str, Any]]:
    """One upsert object per account (keyed by `account_id`), accounts in id order: as_of, model, next_product
    and per-product `{propensity, tier, rank, expected_value, reasons}`."""
    records = []
    for account_id, part in published.sort_values(["account_id", "product"]).groupby("account_id", sort=True):
        first = part.iloc[0]
        scores = {
            str(r.product): {
                "propensity": _plain(r.propensity),
                "tier": r.tier,
                "rank": _plain(r.rank),
                "expected_value": _plain(r.expected_value),
                "reasons": [_plain(getattr(r, c)) for c in REASON_COLUMNS if _plain(getattr(r, c)) is not None],
            }
            for r in part.itertuples(index=False)
        }
        records.append(
            {
                "account_id": account_id,
                "as_of": _plain(first["as_of"]),
                "model_name": first["model_name"],
                "model_version": first["model_version"],
                "next_product": _plain(first["next_product"]),
                "scores": scores,
            }
        )
    return records


def write_crm(records: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Write CRM upsert records as JSON lines, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
    return path


def entered_ready_now(published: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Rows now `ready_now` that were not in the previous published run (another tier, or not scored): the
    alert list (`ALERT_COLUMNS`), by product then rank. `previous`: account_id, product, tier, as_of (None or
    empty on the first run: every `ready_now` row alerts)."""
    ready = published[published["tier"] == READY]
    if previous is None or previous.empty:
        before = pd.DataFrame({"account_id": [], "product": [], "previous_tier": [], "previous_as_of": []})
    else:
        before = previous.rename(columns={"tier": "previous_tier", "as_of": "previous_as_of"})[
            ["account_id", "product", "previous_tier", "previous_as_of"]
        ]
    merged = ready.merge(
        before.astype({"account_id": object, "product": object}), on=["account_id", "product"], how="left"
    )
    alerts = merged[merged["previous_tier"] != READY]
    return alerts.sort_values(["product", "rank", "account_id"])[list(ALERT_COLUMNS)].reset_index(drop=True)


def sidecar_paths(out: Path) -> tuple[Path, Path]:
    """`<stem>.crm.jsonl` and `<stem>.alerts.csv` beside the scoring output file."""
    return out.with_name(f"{out.stem}.crm.jsonl"), out.with_name(f"{out.stem}.alerts.csv")
