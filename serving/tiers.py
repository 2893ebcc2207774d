"""Tiers `ready_now` / `building` / `not_ready`: domain readiness gates combined with propensity cut-offs.

Gates (thresholds in `serving.tiers.gates`) read the snapshot's feature columns: deep primary adoption (share of
the primary tier's features used in 90 days), active users (30 days), tenure, a healthy relationship (latest NPS
not below the minimum, or no response; no overdue invoice beyond the allowance; few urgent tickets) and,
optionally, the product being the account's next step on the adoption path.

A row is `ready_now` when every gate passes and its propensity reaches the product's ready cut-off; otherwise
`building` when its propensity reaches the building cut-off; otherwise `not_ready`. Cut-offs are chosen on the
training holdout (`choose_policy`): the ready cut-off is the lowest propensity at which gated rows above it convert
at least `ready_lift` x the product's base rate (with at least `min_tier_rows` rows); the building cut-off the
lowest at which the remaining rows above it convert at least `building_lift` x the base rate. A product with too
few holdout positives uses the cut-offs chosen on all products pooled; when no cut-off meets a lift, the top
`fallback_*_share` of propensities is used instead. The gates and cut-offs form a `TierPolicy` (JSON), logged with
each model together with the holdout's tier table, and checked for falling conversion.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from serving.scoring import ScoringError
from xsell.settings import TierGates, TierSettings

log = logging.getLogger(__name__)

READY, BUILDING, NOT_READY = "ready_now", "building", "not_ready"
#: Tiers from the most to the least ready.
TIERS: tuple[str, ...] = (READY, BUILDING, NOT_READY)
#: Feature columns the gates read (all from `features.catalog`).
GATE_FEATURES: dict[str, str] = {
    "feature_share": "feature_share_90d",
    "active_users": "active_users_30d",
    "tenure": "tenure_months",
    "nps": "nps_latest",
    "overdue_invoices": "invoices_overdue",
    "urgent_tickets": "tickets_urgent_90d",
}
#: Columns of the tier table.
TABLE_COLUMNS: tuple[str, ...] = ("product", "tier", "accounts", "rows", "conversions", "conversion_rate")
POLICY_VERSION = 1


class TierError(ScoringError):
    """Tiers cannot be computed (missing feature columns, bad policy file); the message names what is wrong."""


@dataclass(frozen=True)
class Cutoffs:
    """Propensity cut-offs of one product and how they were chosen (`holdout`, `pooled`, `top_share`)."""

    ready_now: float
    building: float
    source: str = "holdout"


@dataclass(frozen=True)
class TierPolicy:
    """Gate thresholds and per-product cut-offs; `pooled` serves products the holdout did not cover."""

    gates: dict[str, Any]
    cutoffs: dict[str, Cutoffs]
    pooled: Cutoffs
    monotonic: bool = True
    chosen_on: dict[str, Any] = field(default_factory=dict)
    version: int = POLICY_VERSION

    def cutoffs_for(self, product: str) -> Cutoffs:
        """The product's cut-offs, the pooled ones for a product the policy does not know."""
        return self.cutoffs.get(product, self.pooled)

    def gate_settings(self) -> TierGates:
        """The gate thresholds as settings (a gate this code does not know is ignored; a missing one defaults)."""
        return TierGates(**{k: v for k, v in self.gates.items() if k in TierGates.model_fields})

    def to_json(self) -> str:
        """JSON text (the `tiers/policy.json` artifact)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str, source: str = "policy") -> TierPolicy:
        """Parse `to_json` output; TierError naming `source` when it is not a policy."""
        try:
            data = json.loads(text)
            return cls(
                gates=dict(data["gates"]),
                cutoffs={p: Cutoffs(**c) for p, c in data["cutoffs"].items()},
                pooled=Cutoffs(**data["pooled"]),
                monotonic=bool(data.get("monotonic", True)),
                chosen_on=dict(data.get("chosen_on", {})),
                version=int(data.get("version", POLICY_VERSION)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise TierError(f"{source}: not a tier policy ({type(exc).__name__}: {exc})") from None


def check_gate_columns(rows: pd.DataFrame, source: str = "feature rows") -> None:
    """TierError naming the first feature column the gates need and `rows` lack."""
    missing = [c for c in GATE_FEATURES.values() if c not in rows.columns]
    if missing:
        raise TierError(f"{source} lack the tier gates' feature column(s): {', '.join(missing)}")


def gate_frame(rows: pd.DataFrame, gates: TierGates, next_product: pd.Series | None = None) -> pd.DataFrame:
    """One boolean column per gate (`gate_*`) and `gates_passed` (all of them), aligned with `rows`.

    Missing values: no feature share or tenure fails; no users, overdue invoices or urgent tickets count as 0;
    no NPS response passes. The adoption-path gate needs `next_product` when `gates.require_adoption_step`.
    """
    check_gate_columns(rows)

    def num(name: str, fill: float = np.nan) -> pd.Series:
        return pd.to_numeric(rows[GATE_FEATURES[name]], errors="coerce").astype(float).fillna(fill)

    out = pd.DataFrame(index=rows.index)
    out["gate_adoption"] = num("feature_share") >= gates.min_feature_share
    out["gate_users"] = num("active_users", 0.0) >= gates.min_active_users
    out["gate_tenure"] = num("tenure") >= gates.min_tenure_months
    nps = num("nps")
    healthy = (num("overdue_invoices", 0.0) <= gates.max_overdue_invoices) & (
        num("urgent_tickets", 0.0) <= gates.max_urgent_tickets_90d
    )
    if gates.min_nps is not None:
        healthy &= nps.isna() | (nps >= gates.min_nps)
    out["gate_health"] = healthy
    if gates.require_adoption_step:
        if next_product is None:
            raise TierError("the adoption-path gate is on (serving.tiers.gates.require_adoption_step): next_product")
        out["gate_path"] = (rows["product"] == next_product).to_numpy()
    out["gates_passed"] = out.all(axis=1)
    return out


def assign_tiers(products: pd.Series, propensity: pd.Series, gates_passed: pd.Series, policy: TierPolicy) -> pd.Series:
    """Tier of each row from its product, propensity and gates under `policy`."""
    ready_cut = products.map(lambda p: policy.cutoffs_for(p).ready_now).to_numpy(dtype=float)
    build_cut = products.map(lambda p: policy.cutoffs_for(p).building).to_numpy(dtype=float)
    p = propensity.to_numpy(dtype=float)
    ready = gates_passed.to_numpy(dtype=bool) & (p >= ready_cut)
    tier = np.where(ready, READY, np.where(p >= build_cut, BUILDING, NOT_READY))
    return pd.Series(tier, index=products.index, name="tier")


def _lowest_cutoff(p: np.ndarray, y: np.ndarray, target: float, min_rows: int) -> float | None:
    """Lowest propensity t such that rows with p >= t hold >= min_rows rows converting >= target; None if none."""
    valid = _valid_cutoffs(p, y, target, min_rows)
    return float(valid[0]) if len(valid) else None


def _valid_cutoffs(p: np.ndarray, y: np.ndarray, target: float, min_rows: int) -> np.ndarray:
    """Every propensity t (ascending) such that rows with p >= t hold >= min_rows rows converting >= target."""
    if len(p) < min_rows or y.sum() == 0:
        return np.array([])
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    rate = np.cumsum(ys) / np.arange(1, len(ys) + 1)
    last_of_tie = np.r_[ps[1:] != ps[:-1], True]  # a cut-off keeps every row tied with it
    ok = last_of_tie & (np.arange(1, len(ps) + 1) >= min_rows) & (rate >= target)
    return np.sort(ps[ok])


def _rate(y: np.ndarray, mask: np.ndarray) -> float:
    return float(y[mask].mean()) if mask.any() else float("nan")


def _falls(*rates: float) -> bool:
    present = [r for r in rates if not np.isnan(r)]
    return all(a > b for a, b in itertools.pairwise(present))


def _top_share(p: np.ndarray, share: float) -> float:
    return float(np.quantile(p, 1 - share)) if len(p) else 1.0


#: At most this many ready cut-offs are tried (quantile-spaced among the valid ones).
MAX_CANDIDATES = 200


def choose_cutoffs(p: np.ndarray, y: np.ndarray, gated: np.ndarray, cfg: TierSettings, base: float) -> Cutoffs:
    """Cut-offs for one set of holdout rows (propensities, 0/1 labels, gates passed); lifts are over `base`.

    The lowest ready cut-off meeting `ready_lift` whose building cut-off (the lowest meeting `building_lift` on
    the other rows) leaves conversion falling ready_now > building > not_ready; the lowest valid pair when none
    does; top-share cut-offs when no ready cut-off meets the lift.
    """
    candidates = _valid_cutoffs(p[gated], y[gated], cfg.ready_lift * base, cfg.min_tier_rows)
    if len(candidates) > MAX_CANDIDATES:
        candidates = np.unique(np.quantile(candidates, np.linspace(0, 1, MAX_CANDIDATES), method="lower"))
    first: Cutoffs | None = None
    for ready in candidates:
        is_ready = gated & (p >= ready)
        rest = ~is_ready
        building = _lowest_cutoff(p[rest], y[rest], cfg.building_lift * base, cfg.min_tier_rows)
        if building is None:
            building = _top_share(p, cfg.fallback_ready_share + cfg.fallback_building_share)
        chosen = Cutoffs(ready_now=float(ready), building=building, source="holdout")
        first = first or chosen
        is_building = rest & (p >= building)
        if _falls(_rate(y, is_ready), _rate(y, is_building), _rate(y, rest & ~is_building)):
            return chosen
    if first is not None:
        return first
    return Cutoffs(
        ready_now=_top_share(p, cfg.fallback_ready_share),
        building=_top_share(p, cfg.fallback_ready_share + cfg.fallback_building_share),
        source="top_share",
    )


def tier_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Accounts (distinct), rows, conversions and conversion rate per product (and `overall`) x tier.

    `rows`: account_id, product, tier, label.
    """
    frames = [rows, rows.assign(product="overall")]
    both = pd.concat(frames, ignore_index=True)
    grid = pd.MultiIndex.from_product([[*sorted(rows["product"].unique()), "overall"], list(TIERS)])
    grouped = both.groupby(["product", "tier"]).agg(
        accounts=("account_id", "nunique"), rows=("label", "size"), conversions=("label", "sum")
    )
    table = grouped.reindex(grid, fill_value=0).rename_axis(["product", "tier"]).reset_index()
    table["conversions"] = table["conversions"].astype(int)
    table["conversion_rate"] = np.where(table["rows"] > 0, table["conversions"] / table["rows"].clip(lower=1), np.nan)
    return table[list(TABLE_COLUMNS)]


def falling_conversion(table: pd.DataFrame) -> dict[str, bool]:
    """Per product (and `overall`): conversion strictly falls ready_now > building > not_ready over the
    non-empty tiers."""
    result = {}
    for product, part in table.groupby("product", sort=True):
        rates = part.set_index("tier").reindex(list(TIERS))
        present = rates[rates["rows"] > 0]["conversion_rate"].to_numpy(dtype=float)
        result[str(product)] = bool(np.all(np.diff(present) < 0))
    return result


def _tiered(holdout: pd.DataFrame, policy: TierPolicy) -> tuple[pd.DataFrame, dict[str, bool]]:
    tiers = assign_tiers(holdout["product"], holdout["propensity"], holdout["gates_passed"], policy)
    table = tier_table(holdout.assign(tier=tiers))
    return table, falling_conversion(table)


def choose_policy(holdout: pd.DataFrame, cfg: TierSettings) -> tuple[TierPolicy, pd.DataFrame]:
    """Cut-offs chosen on holdout rows and the holdout's tier table under them.

    `holdout`: account_id, product, as_of, label, propensity, gates_passed. Lifts are over the overall base rate,
    so a tier means the same conversion level in every product. Per-product cut-offs (pooled ones for a product
    with fewer than `min_positives` positives) are kept unless the pooled cut-offs for every product make
    conversion fall in more of the products and overall (overall first).
    """
    needed = ["account_id", "product", "label", "propensity", "gates_passed"]
    missing = [c for c in needed if c not in holdout.columns]
    if missing:
        raise TierError(f"holdout rows lack column(s): {', '.join(missing)}")
    y_all = holdout["label"].to_numpy(dtype=float)
    p_all = holdout["propensity"].to_numpy(dtype=float)
    g_all = holdout["gates_passed"].to_numpy(dtype=bool)
    base = float(y_all.mean()) if len(y_all) else 0.0
    pooled = choose_cutoffs(p_all, y_all, g_all, cfg, base)
    pooled = Cutoffs(pooled.ready_now, pooled.building, "pooled" if pooled.source == "holdout" else pooled.source)
    per_product: dict[str, Cutoffs] = {}
    for product, part in holdout.groupby("product", sort=True):
        y = part["label"].to_numpy(dtype=float)
        per_product[str(product)] = (
            pooled
            if y.sum() < cfg.min_positives
            else choose_cutoffs(
                part["propensity"].to_numpy(dtype=float), y, part["gates_passed"].to_numpy(dtype=bool), cfg, base
            )
        )
    gates = cfg.gates.model_dump()
    options = []
    for cutoffs in (per_product, dict.fromkeys(per_product, pooled)):
        draft = TierPolicy(gates=gates, cutoffs=cutoffs, pooled=pooled)
        table, falls = _tiered(holdout, draft)
        options.append(((falls.get("overall", True), sum(falls.values())), cutoffs, table, falls))
    best = max(options, key=lambda o: o[0])  # the first (per product) on a tie
    _, cutoffs, table, falls = best
    dates = sorted({str(d) for d in holdout["as_of"]}) if "as_of" in holdout.columns else []
    policy = TierPolicy(
        gates=gates,
        cutoffs=cutoffs,
        pooled=pooled,
        monotonic=falls.get("overall", True),
        chosen_on={
            "rows": len(holdout),
            "positives": int(y_all.sum()),
            "base_rate": base,
            "as_of": dates,
            "gated_share": float(g_all.mean()) if len(g_all) else 0.0,
            "falling_conversion": falls,
            "settings": cfg.model_dump(exclude={"gates"}),
        },
    )
    if not all(falls.values()):
        log.warning(
            "tier conversion does not fall ready_now > building > not_ready on the holdout in: %s",
            ", ".join(p for p, ok in sorted(falls.items()) if not ok),
        )
    return policy, table


def quantile_policy(propensity: pd.DataFrame, cfg: TierSettings) -> TierPolicy:
    """A policy without a holdout: the settings' gates and top-share cut-offs per product of `propensity`
    (columns product, propensity); for a model logged without `tiers/policy.json`."""

    def top(p: np.ndarray) -> Cutoffs:
        return Cutoffs(
            ready_now=_top_share(p, cfg.fallback_ready_share),
            building=_top_share(p, cfg.fallback_ready_share + cfg.fallback_building_share),
            source="top_share",
        )

    cutoffs = {
        str(product): top(part["propensity"].to_numpy(dtype=float))
        for product, part in propensity.groupby("product", sort=True)
    }
    pooled = top(propensity["propensity"].to_numpy(dtype=float))
    return TierPolicy(gates=cfg.gates.model_dump(), cutoffs=cutoffs, pooled=pooled, chosen_on={"rows": 0})


def render_tier_table(table: pd.DataFrame, policy: TierPolicy) -> str:
    """The tier table and cut-offs as a markdown page."""
    lines = ["# Tiers on the holdout", "", "| product | tier | accounts | rows | conversions | conversion rate |"]
    lines.append("|---|---|---:|---:|---:|---:|")
    for r in table.to_dict("records"):
        rate = "" if pd.isna(r["conversion_rate"]) else f"{r['conversion_rate']:.2%}"
        lines.append(
            f"| {r['product']} | {r['tier']} | {r['accounts']:,} | {r['rows']:,} | {r['conversions']:,} | {rate} |"
        )
    lines += ["", "| product | ready_now cut-off | building cut-off | chosen by |", "|---|---:|---:|---|"]
    for product, c in [*sorted(policy.cutoffs.items()), ("(pooled)", policy.pooled)]:
        lines.append(f"| {product} | {c.ready_now:.4f} | {c.building:.4f} | {c.source} |")
    falls = policy.chosen_on.get("falling_conversion", {})
    lines += ["", "Conversion falls ready_now > building > not_ready: " + ", ".join(
        f"{p} {'yes' if ok else 'NO'}" for p, ok in sorted(falls.items())
    )]  # fmt: skip
    lines += ["", "Gates: " + ", ".join(f"{k} = {v}" for k, v in sorted(policy.gates.items()))]
    return "\n".join(lines) + "\n"
