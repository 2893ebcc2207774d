"""What the scoring API serves: the champion, its tier policy, the latest feature snapshot, and how they reload.

`load_state` resolves the `champion` and `challenger` aliases, loads the champion (its fitted model, not the generic
pyfunc: the pyfunc adds a schema pass and a second encoding per call), its tier policy, and, from the warehouse
(opened read-only and closed at once), the latest materialised feature snapshot, the adoption path at its date and
the catalogue's list prices. With `api.precompute` the whole snapshot is scored once, so an account-id request is a
lookup; the rows are the same as `xsell score` would publish for that date (rank included). The challenger's
snapshot scores are computed at load too, so the shadow worker only looks them up for account-id requests.

`ScoringService` holds the current `ServingState` and swaps it in one assignment: a reload builds a complete new state
beside the old one (which keeps serving), and a failed reload is logged and recorded, never half applied. A watcher
thread polls the aliases every `api.reload_poll_seconds`; the shadow worker (`deploy.api.shadow_log`) scores the
challenger off the request path.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from deploy.api.shadow_log import ShadowJob, ShadowWorker
from deploy.api.spec import ACCOUNT_ID_MAX_CHARS
from features.schema import KEY_COLUMNS
from serving.publish import REASON_COLUMNS, publish_rows
from serving.scoring import ScoringError
from serving.tiers import GATE_FEATURES, TierPolicy, quantile_policy
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

    champion: Any  # registry.models.LoadedModel
    challenger: Any | None  # registry.models.LoadedModel, None when absent or the same version as the champion
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


def _model_info(model: Any) -> dict[str, Any]:
    return {"name": model.name, "version": int(model.version), "run_id": model.run_id, "uri": model.uri}


def _serving_threads(loaded: Any, threads: int) -> Any:
    """The loaded model with its LightGBM prediction threads set for serving (few rows: 1 is fastest)."""
    if hasattr(loaded.model, "num_threads"):
        loaded.model.num_threads = threads
    return loaded


def _json_number(value: Any) -> Any:
    """A JSON number as a float (so neither `true` nor `"12"` passes as one); too large for a float is infinite."""
    if value is None or isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return float("inf")  # refused as not finite by the field
    raise ValueError(f"Input should be a number, got {type(value).__name__}")


def _iso_date(value: Any) -> Any:
    """A `YYYY-MM-DD` string as a date (no timestamps, no other spellings)."""
    if value is None:
        return value
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("Input should be a date as YYYY-MM-DD")


#: A feature value: a finite JSON number (`NaN`, `Infinity`, `1e400`, `true` and `"12"` are refused naming the field).
FeatureNumber = Annotated[float, BeforeValidator(_json_number), AllowInfNan(False)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def payload_row_model(champion: Any, products: Sequence[str]) -> type[BaseModel]:
    """A pydantic model of one feature row: `account_id`, `product` (one the model scores), optional `as_of` and
    every catalogue feature and model input (optional: absent means missing; numbers finite: `NaN`, `Infinity` and
    `1e400` are refused naming the field); any other key is refused."""
    from features.catalog import FEATURES

    strings = set(champion.string_columns) | {f.name for f in FEATURES if f.dtype == "VARCHAR"}
    names = [*(f.name for f in FEATURES), *(c for c in champion.input_columns if c not in KEY_COLUMNS)]
    fields: dict[str, Any] = {
        "account_id": (str, Field(min_length=1, max_length=ACCOUNT_ID_MAX_CHARS)),
        "product": (Literal[tuple(products)], ...),  # type: ignore[valid-type]
        "as_of": (IsoDate | None, None),
        "label": (FeatureNumber | None, None),
    }
    for name in dict.fromkeys(names):
        fields[name] = (str | None, None) if name in strings else (FeatureNumber | None, None)
    return create_model("FeatureRow", __config__=ConfigDict(extra="forbid"), **fields)


def score_rows(state: ServingState, rows: pd.DataFrame, *, rank: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
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
    from features.build import read_snapshot
    from features.grid import data_bounds
    from features.store import connect_warehouse, list_snapshots
    from serving.adoption import mine_adoption_path
    from serving.batch import list_prices

    con = connect_warehouse(settings, read_only=True)
    try:
        records = list_snapshots(con)
        snapshot = None
        if records.empty:
            cutoff = data_bounds(con, settings).end
        else:
            cutoff = pd.Timestamp(records["as_of"].max()).date()
            snapshot = Snapshot.from_rows(cutoff, read_snapshot(con, cutoff, settings))
        order = tuple(mine_adoption_path(con, cutoff, settings.serving.adoption)["product"])
        prices = list_prices(con)
    finally:
        con.close()
    return snapshot, order, prices


def _versions(settings: Settings) -> tuple[Any, Any | None]:
    """The registered versions the champion and challenger aliases name now (challenger None when unset)."""
    from registry.errors import RegistryError
    from registry.models import alias_uri, resolve_version

    champion = resolve_version(alias_uri(settings), settings)
    try:
        challenger = resolve_version(alias_uri(settings, settings.registry.challenger_alias), settings)
    except RegistryError:
        challenger = None
    return champion, challenger


def load_state(settings: Settings, previous: ServingState | None = None, *, force: bool = False) -> ServingState:
    """A complete serving state for the current aliases; parts of `previous` whose version did not change are
    reused unless `force` (which also rereads the snapshot)."""
    from registry.models import load_model

    started = time.perf_counter()
    threads = settings.api.num_threads
    champion_info, challenger_info = _versions(settings)
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
    settings: Settings, base: ServingState, challenger: Any | None, previous: ServingState | None
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


def _champion_state(settings: Settings, champion: Any) -> ServingState:
    """The state of a newly loaded champion (no challenger yet): snapshot, adoption path, prices, tier policy
    (top shares of the snapshot's scores when the model logged none) and, with `api.precompute`, the published
    rows of every snapshot account."""
    from serving.model_artifacts import load_tier_policy

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
    published, propensity = score_rows(state, snapshot.rows, rank=True)
    records = published_records(published)
    precomputed = {account: [records[i] for i in rows] for account, rows in snapshot.positions.items()}
    return replace(state, precomputed=precomputed, champion_propensity=propensity)


@dataclass
class ReloadOutcome:
    """What one reload did."""

    trigger: str
    reloaded: bool
    error: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {"trigger": self.trigger, "reloaded": self.reloaded, "error": self.error, "at": self.at.isoformat()}


class ScoringService:
    """The current serving state, its reloads (admin call or alias moves seen by a polling thread) and the shadow
    worker."""

    def __init__(self, settings: Settings, state: ServingState) -> None:
        self.settings = settings
        self.state = state
        self.started_at = time.time()
        self.reloads = 0
        self.last_reload: ReloadOutcome | None = None
        self.last_error: ReloadOutcome | None = None
        api = settings.api
        self.shadow = ShadowWorker(
            settings.home / "serving", api.shadow_queue_size, api.shadow_batch_rows, api.shadow_flush_seconds
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @classmethod
    def load(cls, settings: Settings) -> ScoringService:
        """Load the serving state; RegistryError (no champion) or FeatureError (no warehouse) otherwise."""
        return cls(settings, load_state(settings))

    # ---- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the shadow worker (when enabled) and the alias watcher (when polling is on)."""
        if self.settings.api.shadow:
            self.shadow.start()
        poll = self.settings.api.reload_poll_seconds
        if poll > 0 and self._watcher is None:
            self._stop.clear()
            self._watcher = threading.Thread(target=self._watch, args=(poll,), name="xsell-reload", daemon=True)
            self._watcher.start()

    def stop(self) -> None:
        """Stop the watcher and the shadow worker (queued shadow jobs are logged first)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=30)
            self._watcher = None
        self.shadow.stop()

    def _watch(self, poll: float) -> None:
        while not self._stop.wait(poll):
            self.poll_once()

    # ---- reloads ------------------------------------------------------------------------------------------
    def aliases_moved(self) -> bool:
        """True when the champion or challenger alias names another version than the state serving now."""
        champion, challenger = _versions(self.settings)
        state = self.state
        serving_challenger = None if state.challenger is None else state.challenger.version
        wanted_challenger = None
        if challenger is not None and challenger.version != champion.version:
            wanted_challenger = challenger.version
        return champion.version != state.champion.version or wanted_challenger != serving_challenger

    def poll_once(self) -> ReloadOutcome | None:
        """Reload when an alias moved; None when nothing moved or the registry could not be read (logged)."""
        try:
            moved = self.aliases_moved()
        except Exception as exc:  # the registry may be briefly unreachable or locked: try again next time
            log.warning("could not read the aliases: %s", exc)
            return None
        return self.reload("alias_moved") if moved else None

    def reload(self, trigger: str, *, force: bool = False) -> ReloadOutcome:
        """Build a new state and swap it in; on failure the old state keeps serving and the error is recorded."""
        with self._lock:
            try:
                state = load_state(self.settings, self.state, force=force)
            except Exception as exc:
                outcome = ReloadOutcome(trigger, False, f"{type(exc).__name__}: {exc}")
                self.last_error = outcome
                log.exception(
                    "reload failed: still serving the previous state",
                    extra={"trigger": trigger, "champion_version": self.state.champion.version},
                )
                return outcome
            previous = self.state
            self.state = state
            self.reloads += 1
            outcome = ReloadOutcome(trigger, True)
            self.last_reload = outcome
            log.info(
                "serving state swapped",
                extra={
                    "trigger": trigger,
                    "from_version": previous.champion.version,
                    "to_version": state.champion.version,
                },
            )
            return outcome

    # ---- scoring ------------------------------------------------------------------------------------------
    def score_accounts(self, account_ids: Sequence[str]) -> tuple[ServingState, list[dict[str, Any]], list[str]]:
        """Published rows of the snapshot's accounts (state used, rows, ids not in the snapshot); the challenger
        scores them in shadow."""
        state = self.state
        if state.snapshot is None:
            raise ScoringError(
                "no feature snapshot is materialised: score feature rows instead, or run `xsell features`"
            )
        found, unknown = state.snapshot.locate(dict.fromkeys(account_ids))
        found = list(dict.fromkeys(found))
        if not found:
            return state, [], unknown
        positions = np.concatenate([state.snapshot.positions[a] for a in found])
        if state.precomputed is not None and state.champion_propensity is not None:
            rows = [record for account in found for record in state.precomputed[account]]
            propensity = state.champion_propensity[positions]
        else:
            published, propensity = score_rows(state, state.snapshot.rows.take(positions))
            rows = published_records(published)
        self._shadow(state, state.snapshot.rows, positions, propensity, state.challenger_propensity)
        return state, rows, unknown

    def score_payload(
        self, rows: pd.DataFrame, state: ServingState | None = None
    ) -> tuple[ServingState, list[dict[str, Any]]]:
        """Published rows of validated feature rows (the payload path) by `state` (the one that validated them;
        default the current one); the challenger scores them in shadow."""
        state = state or self.state
        rows = rows.reset_index(drop=True)
        published, propensity = score_rows(state, rows)
        self._shadow(state, rows, np.arange(len(rows)), propensity)
        return state, published_records(published)

    def _shadow(
        self,
        state: ServingState,
        source: pd.DataFrame,
        positions: np.ndarray,
        propensity: np.ndarray,
        challenger_scores: np.ndarray | None = None,
    ) -> None:
        if state.challenger is None or not self.settings.api.shadow or not self.shadow.running:
            return
        self.shadow.submit(
            ShadowJob(
                request_id=_request_id.get(),
                source=source,
                positions=positions,
                champion_version=int(state.champion.version),
                champion_propensity=np.asarray(propensity, dtype=float),
                challenger=state.challenger,
                challenger_scores=challenger_scores,
            )
        )

    def describe(self) -> dict[str, Any]:
        """The state served now, reload history and shadow counters."""
        stats = self.shadow.stats
        return {
            **self.state.describe(),
            "reloads": self.reloads,
            "last_reload": None if self.last_reload is None else self.last_reload.to_dict(),
            "last_reload_error": None if self.last_error is None else self.last_error.to_dict(),
            "reload_poll_seconds": self.settings.api.reload_poll_seconds,
            "shadow": {
                "enabled": self.settings.api.shadow and self.state.challenger is not None,
                "running": self.shadow.running,
                "pending": self.shadow.pending,
                "submitted": stats.submitted,
                "dropped": stats.dropped,
                "logged_rows": stats.logged_rows,
                "failed": stats.failed_jobs,
                "log": str(self.shadow.log_path()),
            },
        }


class _RequestId:
    """The id of the request being served in this thread or task (set by the API), for the shadow log."""

    def __init__(self) -> None:
        import contextvars

        self._var: contextvars.ContextVar[str] = contextvars.ContextVar("xsell_request_id", default="")

    def new(self) -> str:
        """A fresh id, set for the current context."""
        value = uuid.uuid4().hex[:16]
        self._var.set(value)
        return value

    def get(self) -> str:
        """The current id (empty outside a request)."""
        return self._var.get()


_request_id = _RequestId()


def new_request_id() -> str:
    """A fresh request id, also used by the shadow log lines of this request."""
    return _request_id.new()
