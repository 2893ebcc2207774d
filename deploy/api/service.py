"""The scoring service: the current serving state, its reloads, and the shadow worker beside it.

`ScoringService` holds the current `ServingState` (`deploy.api.state`) and swaps it in one assignment: a reload builds
a complete new state beside the old one (which keeps serving), and a failed reload is logged and recorded, never half
applied. A watcher thread polls the aliases every `api.reload_poll_seconds`; the shadow worker
(`deploy.api.shadow_log`) scores the challenger off the request path. Each request gets an id
(`new_request_id`) that its shadow log lines carry.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from deploy.api.shadow_log import ShadowJob, ShadowWorker
from deploy.api.state import ServingState, alias_versions, load_state, published_records, score_and_publish
from serving.scoring import ScoringError
from xsell.settings import Settings

log = logging.getLogger(__name__)


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
        champion, challenger = alias_versions(self.settings)
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
            published, propensity = score_and_publish(state, state.snapshot.rows.take(positions))
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
        published, propensity = score_and_publish(state, rows)
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
