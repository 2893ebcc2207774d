"""What the scoring API serves: the champion, its tier policy, the latest feature snapshot, loaded together.

`load_state` resolves the `champion` and `challenger` aliases, loads the champion (its fitted model, not the generic
pyfunc: the pyfunc adds a schema pass and a second encoding per call), its tier policy, and, from the warehouse
(opened read-only and closed at once), the latest materialised feature snapshot, the adoption path at its date and
the catalogue's list prices. With `api.precompute` the whole snapshot is scored once, so an account-id request is a
lookup; the rows are the same as `xsell score` would publish for that date (rank included). The challenger's
snapshot scores are computed at load too, so the shadow worker only looks them up for account-id requests.
A `ServingState` is complete or not built at all: a reload builds a new one beside the one serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from deploy.api.schemas import payload_row_model
from features.build import SnapshotReader
from features.store import list_snapshots, warehouse
from registry.errors import RegistryError
from registry.models import LoadedModel, ModelVersionInfo, alias_uri, load_model, resolve_version
from serving.adoption import mine_adoption_path
from serving.batch import list_prices
from serving.model_artifacts import load_tier_policy
from serving.publish import REASON_COLUMNS, publish_rows
from serving.scoring import ScoringError
from serving.tiers import GATE_FEATURES, TierPolicy, quantile_policy
from xsell.cores import available_cores, cap_threads
from xsell.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """One feature snapshot in memory: rows (numeric columns as float64) and where each account's rows are."""

    as_of: date
    rows: pd.DataFrame
    positions: dict[str, np.ndarray]  # canonical account id -> row positions
    spelling: dict[str, str]  # case-folded id -> canonical id

    @classmethod
    def from_rows(cls, as_of: date, rows: pd.DataFrame) -> Snapshot:
        """Index a snapshot's rows by account (nullable integers become float64, which the model reads faster)."""
        plain = rows.reset_index(drop=True)
        for column in plain.columns:
            if isinstance(plain[column].dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_numeric_dtype(
                plain[column].dtype
            ):
                plain[column] = plain[column].to_numpy(dtype="float64", na_value=np.nan)
        codes, ids = pd.factorize(plain["account_id"], sort=False)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(ids) + 1))
        positions = {str(a): order[bounds[i] : bounds[i + 1]] for i, a in enumerate(ids)}
        return cls(as_of, plain, positions, {a.casefold(): a for a in positions})

    def locate(self, account_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """(canonical ids found, ids not in the snapshot as given); matching ignores case and outer spaces."""
        found: list[str] = []
        unknown: list[str] = []
        for account_id in account_ids:
            canonical = self.spelling.get(account_id.strip().casefold())
            (found if canonical is not None else unknown).append(canonical or account_id)
        return found, unknown


@dataclass(frozen=True)
class ServingState:
    """Everything one request needs, loaded together and replaced together."""

    champion: LoadedModel
    challenger: LoadedModel | None  # None when absent or the same version as the champion
    policy: TierPolicy
    policy_source: str  # "model" (logged with it) or "top_share" (none logged: top shares of the snapshot)
    adoption_order: tuple[str, ...]
    list_mrr: dict[str, float]
    snapshot: Snapshot | None
    row_model: type[BaseModel]  # validates one payload feature row
    precomputed: dict[str, list[dict[str, Any]]] | None  # account id -> its published rows (api.precompute)
    champion_propensity: np.ndarray | None  # per snapshot row, when precomputed
    challenger_propensity: np.ndarray | None = None  # per snapshot row, when precomputed and a challenger differs
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    seconds: float = 0.0

    def describe(self) -> dict[str, Any]:
        """Champion, challenger and snapshot as plain JSON values."""
        snapshot = None
        if self.snapshot is not None:
            snapshot = {
                "as_of": self.snapshot.as_of.isoformat(),
                "rows": len(self.snapshot.rows),
                "accounts": len(self.snapshot.positions),
            }
        return {
            "champion": {**_model_info(self.champion), "tier_policy": self.policy_source},
            "challenger": None if self.challenger is None else _model_info(self.challenger),
            "snapshot": snapshot,
            "loaded_at": self.loaded_at.isoformat(timespec="seconds"),
            "load_seconds": round(self.seconds, 2),
            "precomputed": self.precomputed is not None,
        }


def _model_info(model: LoadedModel) -> dict[str, Any]:
    return {"name": model.name, "version": int(model.version), "run_id": model.run_id, "uri": model.uri}


def _serving_threads(loaded: LoadedModel, threads: int) -> LoadedModel:
    """The loaded model with its LightGBM prediction threads set for serving (few rows: 1 is fastest)."""
    if hasattr(loaded.model, "num_threads"):
        loaded.model.num_threads = threads
    return loaded


def score_and_publish(
    state: ServingState, rows: pd.DataFrame, *, rank: bool = False
) -> tuple[pd.DataFrame, np.ndarray]:
    """Champion scores of feature rows as published rows (`serving.publish.PUBLIC_COLUMNS`), and the propensities."""
    model = state.champion.model
    rows = rows.reset_index(drop=True)
    propensity = np.asarray(model.predict_proba(rows), dtype=float)
    reasons = model.reason_codes(rows, top=len(REASON_COLUMNS)).reset_index(drop=True)
    scored = pd.concat([rows[["account_id", "product", "as_of", *GATE_FEATURES.values()]], reasons], axis=1).assign(
        propensity=propensity
    )
    published = publish_rows(
        scored,
        state.policy,
        state.adoption_order,
        state.list_mrr,
        model_name=state.champion.name,
        model_version=state.champion.version,
        rank=rank,
    )
    return published, propensity


def published_records(published: pd.DataFrame) -> list[dict[str, Any]]:
    """Published rows as JSON-ready objects: keys, propensity, tier, rank, expected value, next product, reasons."""
    records = []
    columns = ["account_id", "product", "as_of", "propensity", "tier", "rank", "expected_value", "next_product"]
    reasons = published[list(REASON_COLUMNS)].to_numpy(dtype=object)
    row: Any
    for i, row in enumerate(published[columns].itertuples(index=False)):
        records.append(
            {
                "account_id": str(row.account_id),
                "product": str(row.product),
                "as_of": row.as_of.isoformat() if hasattr(row.as_of, "isoformat") else str(row.as_of),
                "propensity": None if pd.isna(row.propensity) else float(row.propensity),
                "tier": str(row.tier),
                "rank": None if pd.isna(row.rank) else int(row.rank),
                "expected_value": None if pd.isna(row.expected_value) else float(row.expected_value),
                "next_product": None if pd.isna(row.next_product) else str(row.next_product),
                "reasons": [str(r) for r in reasons[i] if isinstance(r, str)],
            }
        )
    return records


def _latest_snapshot(settings: Settings) -> tuple[Snapshot | None, tuple[str, ...], dict[str, float]]:
    """The latest materialised snapshot (None when there is none), the adoption path at its date and the list
    prices, read from the warehouse opened read-only and closed before returning."""
    with warehouse(settings, read_only=True) as con:
        reader = SnapshotReader(con, settings)
        records = list_snapshots(con)
        snapshot = None
        if records.empty:
            cutoff = reader.bounds.end
        else:
            cutoff = pd.Timestamp(records["as_of"].max()).date()
            snapshot = Snapshot.from_rows(cutoff, reader.read(cutoff))
        order = tuple(mine_adoption_path(con, cutoff, settings.serving.adoption)["product"])
        prices = list_prices(con)
    return snapshot, order, prices


def alias_versions(settings: Settings) -> tuple[ModelVersionInfo, ModelVersionInfo | None]:
    """The registered versions the champion and challenger aliases name now (challenger None when unset)."""
    champion = resolve_version(alias_uri(settings), settings)
    try:
        challenger = resolve_version(alias_uri(settings, settings.registry.challenger_alias), settings)
    except RegistryError:
        challenger = None
    return champion, challenger


def load_state(settings: Settings, previous: ServingState | None = None, *, force: bool = False) -> ServingState:
    """A complete serving state for the current aliases; parts of `previous` whose version did not change are
    reused unless `force` (which also rereads the snapshot)."""
    started = time.perf_counter()
    threads = cap_threads(settings.api.num_threads, available_cores(), what="api.num_threads")
    champion_info, challenger_info = alias_versions(settings)
    if previous is not None and not force and previous.champion.version == champion_info.version:
        base = previous
    else:
        champion = _serving_threads(load_model(champion_info.uri, settings), threads)
        base = _champion_state(settings, champion)
    challenger = None
    if challenger_info is not None and challenger_info.version != champion_info.version:
        known = [m for m in (previous.challenger, previous.champion) if m is not None] if previous else []
        reuse = [m for m in known if m.version == challenger_info.version and not force]
        challenger = reuse[0] if reuse else _serving_threads(load_model(challenger_info.uri, settings), threads)
    challenger_propensity = _challenger_scores(settings, base, challenger, previous)
    seconds = time.perf_counter() - started
    log.info(
        "serving state loaded",
        extra={
            "champion_version": base.champion.version,
            "challenger_version": None if challenger is None else challenger.version,
            "snapshot_as_of": None if base.snapshot is None else base.snapshot.as_of.isoformat(),
            "seconds": round(seconds, 2),
        },
    )
    return replace(
        base,
        challenger=challenger,
        challenger_propensity=challenger_propensity,
        loaded_at=datetime.now(UTC),
        seconds=seconds,
    )


def _challenger_scores(
    settings: Settings, base: ServingState, challenger: LoadedModel | None, previous: ServingState | None
) -> np.ndarray | None:
    """With `api.precompute`, the challenger's scores of the snapshot rows (reused when neither changed), so the
    shadow worker only looks them up for account-id requests."""
    if challenger is None or base.snapshot is None or not settings.api.precompute:
        return None
    if (
        previous is not None
        and previous.challenger is challenger
        and previous.snapshot is base.snapshot
        and previous.challenger_propensity is not None
    ):
        return previous.challenger_propensity
    return np.asarray(challenger.model.predict_proba(base.snapshot.rows), dtype=float)


def _champion_state(settings: Settings, champion: LoadedModel) -> ServingState:
    """The state of a newly loaded champion (no challenger yet): snapshot, adoption path, prices, tier policy
    (top shares of the snapshot's scores when the model logged none) and, with `api.precompute`, the published
    rows of every snapshot account."""
    snapshot, order, prices = _latest_snapshot(settings)
    products = [p for p in champion.model.products_ if p in prices]
    if not products:
        raise ScoringError(f"{champion.name} v{champion.version} scores no product with a list price in the catalogue")
    policy, source = load_tier_policy(champion.run_id, settings), "model"
    if policy is None:
        if snapshot is None:
            raise ScoringError(
                f"{champion.name} v{champion.version} has no tier policy and no feature snapshot is materialised to "
                "derive one from: run `xsell features` first"
            )
        log.warning("%s v%s has no tier policy: top-share cut-offs of the snapshot", champion.name, champion.version)
        scores = snapshot.rows[["product"]].assign(propensity=champion.model.predict_proba(snapshot.rows))
        policy, source = quantile_policy(scores, settings.serving.tiers), "top_share"
    state = ServingState(
        champion=champion,
        challenger=None,
        policy=policy,
        policy_source=source,
        adoption_order=order,
        list_mrr=prices,
        snapshot=snapshot,
        row_model=payload_row_model(champion, products),
        precomputed=None,
        champion_propensity=None,
    )
    if snapshot is None or not settings.api.precompute:
        return state
    published, propensity = score_and_publish(state, snapshot.rows, rank=True)
    records = published_records(published)
    precomputed = {account: [records[i] for i in rows] for account, rows in snapshot.positions.items()}
    return replace(state, precomputed=precomputed, champion_propensity=propensity)
