"""The study protocol: a persistent Optuna study, its trial budget of slots, claims, heartbeats and resumption.

The study lives in `settings.optuna_uri` under a name derived from the model name and the data hash, loaded if it
exists, so several workers (threads here, or processes elsewhere) can share it; `trials` is the number of finished
trials the study should hold.

Trial budget: the coordinating process tops the study up with WAITING trial slots so that it holds exactly `trials`
trials that did not fail, and every process (the coordinator, or worker processes started by it or by
`xsell tune-worker` elsewhere) only runs slots it claimed atomically (WAITING -> RUNNING in the database); nobody
creates a trial beyond the budget, so N trials are run exactly once, however many workers share the study. A running
trial records a heartbeat: one whose worker died is failed by the coordinator after the grace period (at once when
the worker ran on the coordinator's host and its process is gone) and replaced by a new slot, so no trial is lost.

Resuming: every slot has an ordinal (its place in the budget; a replacement takes the failed trial's), slots are
claimed in ordinal order, and the sampler's random state is saved with every finished trial and restored by the
coordinator that loads the study (`ResumableSampler`). A rerun after a crash therefore runs the same trials, with
the same parameters, as the uninterrupted run would have, when one thread runs the trials (`n_jobs=1`, no worker
processes). With several threads or workers the order in which
trials finish is timing, and TPE's later suggestions depend on it: such studies are not reproducible trial by trial.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from training.errors import TrainingError
from training.objective import DEFAULT_TRIAL

log = logging.getLogger(__name__)

__all__ = [
    "FINISHED",
    "ResumableSampler",
    "check_shared_storage",
    "create_study",
    "fail_dead_trials",
    "make_pruner",
    "make_storage",
    "open_trials",
    "plan_trial_budget",
    "redact_url",
    "run_trial_slots",
    "slot_ordinal",
]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: Trials that count against the budget: claimed or waiting slots and finished trials (not failed ones).
BUDGETED = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
WORKER_SEED_STRIDE = 10_007  # sampler seed offset between worker processes, so they do not replay one random start
HEARTBEAT_SECONDS = 10  # a running trial touches the database this often ...
GRACE_SECONDS = 60  # ... and is failed (then replaced) when it has not for this long: its worker died


def redact_url(url: str) -> str:
    """A database URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def make_pruner(startup_trials: int = 5) -> optuna.pruners.BasePruner:
    """The median pruner every study uses; never at a trial's first look (too few rounds to judge)."""
    return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=1)


def make_storage(url: str) -> optuna.storages.RDBStorage:
    """The study database (any SQLAlchemy URL) with trial heartbeats, so a dead worker's trial can be failed."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS)


def slot_ordinal(trial: optuna.trial.FrozenTrial) -> int:
    """The trial's place in the budget (0 = the default trial); a trial planned before ordinals existed: its number."""
    return int(trial.user_attrs.get("ordinal", trial.number))


SAMPLER_STATE = "xsell:sampler_state"  # trial system attribute: the sampler's random state after the trial


def _encode(state: tuple[Any, ...]) -> list[Any]:
    name, keys, pos, has_gauss, cached = state
    return [name, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)]


def _decode(saved: list[Any]) -> tuple[Any, ...]:
    name, keys, pos, has_gauss, cached = saved
    return (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)


class ResumableSampler(optuna.samplers.TPESampler):
    """Multivariate TPE whose random state is saved with every finished trial and restored when a study resumes.

    A fresh study samples exactly as a seeded `TPESampler` does. When the coordinator loads a study that already
    holds finished trials, the random state saved by the last one to finish is restored, so the next trial draws
    what it would have drawn had the process not stopped: with one thread (`n_jobs=1`, no worker processes) a
    resumed study holds the uninterrupted study's trials. With several threads or workers the order in which
    trials finish is timing, and TPE's later suggestions depend on it: such studies are not reproducible.
    """

    def __init__(self, seed: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            super().__init__(seed=seed, multivariate=True)

    def _generators(self) -> list[np.random.RandomState]:
        return [self._rng.rng, self._random_sampler._rng.rng]

    def state(self) -> list[list[Any]]:
        """The random state of the sampler's generators, as JSON-able lists."""
        return [_encode(g.get_state()) for g in self._generators()]

    def restore(self, state: list[list[Any]]) -> None:
        """Continue from a saved `state`."""
        for generator, saved in zip(self._generators(), state, strict=True):
            generator.set_state(_decode(saved))

    def after_trial(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        super().after_trial(study, trial, state, values)
        study._storage.set_trial_system_attr(trial._trial_id, SAMPLER_STATE, self.state())


def _resume_sampler(study: optuna.Study, sampler: ResumableSampler) -> bool:
    """Restore the state saved by the study's last finished trial; False when none saved one."""
    saved = [t for t in study.get_trials(deepcopy=False, states=FINISHED) if SAMPLER_STATE in t.system_attrs]
    if not saved:
        return False
    last = max(saved, key=lambda t: (t.datetime_complete or t.datetime_start, t.number))
    sampler.restore(last.system_attrs[SAMPLER_STATE])
    return True


def create_study(
    storage: str | optuna.storages.BaseStorage,
    name: str,
    *,
    direction: str,
    seed: int,
    startup_trials: int = 5,
    worker: int = 0,
    load_only: bool = False,
) -> optuna.Study:
    """Create or load the named study, with a seeded, resumable TPE sampler and a median pruner.

    The coordinator (`worker` 0) of a study that holds finished trials continues the sampler's random stream from
    the last of them (`ResumableSampler`); a worker process (`worker` >= 1) seeds its own with `seed`, offset by
    the worker and the trials already there, so workers joining a shared study do not replay the same random start.
    `load_only`: the study must exist (a worker never creates one); TrainingError names the study otherwise.
    """
    if isinstance(storage, str) and storage.startswith("sqlite:///"):
        Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    pruner = make_pruner(startup_trials)
    offset = worker * WORKER_SEED_STRIDE
    if load_only:
        try:
            study = optuna.load_study(study_name=name, storage=storage, pruner=pruner)
        except KeyError:
            raise TrainingError(
                f"no study {name!r} in {redact_url(str(getattr(storage, 'url', storage)))}: start the coordinator "
                "(`xsell train --workers N`) first; it creates the study and its trial budget"
            ) from None
    else:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction=direction,  # type: ignore[arg-type]
            sampler=ResumableSampler(seed + offset),
            pruner=pruner,
            load_if_exists=True,
        )
    existing = sum(1 for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING)
    if existing or load_only:
        sampler = ResumableSampler(seed + offset)
        if worker or not _resume_sampler(study, sampler):  # a worker, or a study from before saved states
            sampler = ResumableSampler(seed + offset + existing)
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    return study


def check_shared_storage(url: str) -> None:
    """TrainingError unless `url` is a database server that worker processes can share (not SQLite)."""
    if url.startswith("sqlite"):
        raise TrainingError(
            f"tuning worker processes need a database server as training.optuna_storage (PostgreSQL), not "
            f"{redact_url(url)}: SQLite cannot lock a trial row across processes (`xsell services start` runs one)"
        )


def plan_trial_budget(study: optuna.Study, trials: int) -> int:
    """Add WAITING slots until the study holds `trials` trials that did not fail; return how many were added.

    Called by the one coordinating process of a study (slots replace failed trials, so a rerun with the same
    target after a crash runs only what is missing). Every slot has an ordinal, its place in the budget: a slot
    replacing a failed trial takes the smallest free ordinal (the failed trial's), which fixes its turn (slots are
    claimed in ordinal order). Ordinal 0 is `DEFAULT_TRIAL`.
    """
    budgeted = [t for t in study.get_trials(deepcopy=False) if t.state in BUDGETED]
    missing = max(0, trials - len(budgeted))
    taken = {slot_ordinal(t) for t in budgeted}
    free = (i for i in itertools.count() if i not in taken)
    for ordinal in itertools.islice(free, missing):
        if ordinal == 0:
            study.enqueue_trial(DEFAULT_TRIAL, user_attrs={"slot": True, "ordinal": 0, "default": True})
        else:
            study.enqueue_trial({}, user_attrs={"slot": True, "ordinal": ordinal})
    return missing


_CLAIM_LOCK = threading.Lock()  # SQLite has no row locks: threads of one process claim one at a time


def _claim_slot(storage: optuna.storages.BaseStorage, study_id: int) -> int | None:
    """Atomically claim one WAITING trial (WAITING -> RUNNING under a row lock); None when none is left."""
    with _CLAIM_LOCK:
        return _claim_unlocked(storage, study_id)


def _claim_unlocked(storage: optuna.storages.BaseStorage, study_id: int) -> int | None:
    waiting = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,))
    for frozen in sorted(waiting, key=lambda t: (slot_ordinal(t), t.number)):
        try:
            if storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
                return frozen._trial_id
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


@contextmanager
def _heartbeat(storage: optuna.storages.BaseStorage, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat every HEARTBEAT_SECONDS while it runs."""
    record = getattr(storage, "record_heartbeat", None)
    if record is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                record(trial_id)
            except Exception:  # a missed beat is retried; the grace period covers several
                log.warning("could not record a trial heartbeat", extra={"trial_id": trial_id}, exc_info=True)

    record(trial_id)
    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _run_slot(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    study_id: int,
    objective: Callable[[optuna.Trial], float],
    on_finished: Callable[[optuna.trial.FrozenTrial], None],
) -> bool:
    """Claim and run one slot; False when no slot was left."""
    trial_id = _claim_slot(storage, study_id)
    if trial_id is None:
        return False
    # the study's own (cached) storage learns of the claimed trial: a trial with fixed parameters (the default trial)
    # reads nothing through it before writing its first parameter, which a cache that never saw the trial refuses
    study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    trial = optuna.Trial(study, trial_id)
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    with _heartbeat(storage, trial_id):
        try:
            value = objective(trial)
        except optuna.TrialPruned:
            frozen = study.tell(trial, state=TrialState.PRUNED)
        except BaseException:
            study.tell(trial, state=TrialState.FAIL)
            raise
        else:
            frozen = study.tell(trial, value)
    on_finished(frozen)
    return True


def run_trial_slots(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    objective: Callable[[optuna.Trial], float],
    *,
    n_jobs: int = 1,
    deadline: float | None = None,
    on_finished: Callable[[optuna.trial.FrozenTrial], None] = lambda trial: None,
) -> int:
    """Run the study's WAITING slots in `n_jobs` threads until none is left or `deadline` (monotonic) passes.

    Never creates a trial. Returns how many trials this call ran; the first error of a thread is raised.
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    counts = [0] * n_jobs
    errors: list[BaseException] = []

    def loop(slot: int) -> None:
        try:
            while not errors and (deadline is None or time.monotonic() < deadline):
                if not _run_slot(study, storage, study_id, objective, on_finished):
                    return
                counts[slot] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(i,), name=f"tuning-{i}") for i in range(n_jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(counts)


def open_trials(study: optuna.Study) -> tuple[int, int]:
    """(waiting, running) trials of the study now."""
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return states.count(TrialState.WAITING), states.count(TrialState.RUNNING)


def fail_dead_trials(study: optuna.Study) -> None:
    """Fail the running trials whose worker died: at once when it ran on this host, else after the grace period."""
    dead = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if _worker_died_here(t)]
    for trial in dead:
        if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
            log.warning("failed a trial whose worker died", extra={"trial": trial.number, "worker": _worker(trial)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _worker(trial: optuna.trial.FrozenTrial) -> str:
    return str(trial.user_attrs.get("worker", ""))


def _worker_died_here(trial: optuna.trial.FrozenTrial) -> bool:
    """True when the trial's worker ran on this host and its process no longer exists (e.g. killed with -9)."""
    host, _, pid = _worker(trial).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
