"""Tuning drivers: the coordinator (`tune`) and a worker (`tune_worker`) of one study.

The coordinator creates or loads the study (`training.study`), tops up its trial budget, then runs the slots itself
in `n_jobs` threads or has worker processes run them (`launch_workers`, see `training.worker`) and waits, failing
and replacing the trials of dead workers; a worker joins an existing study and runs slots until none is left. Both
score trials with the same `training.objective.CVObjective` over the same fold datasets.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import optuna
import pandas as pd
from optuna.trial import TrialState

from training.errors import TrainingError
from training.objective import CVObjective, CVScore
from training.study import (
    FINISHED,
    check_shared_storage,
    create_study,
    fail_dead_trials,
    make_storage,
    open_trials,
    plan_trial_budget,
    redact_url,
    run_trial_slots,
)
from xsell import progress
from xsell.faults import fault_point

log = logging.getLogger(__name__)

__all__ = ["TuningOutcome", "WorkerPool", "trials_frame", "tune", "tune_worker"]


@dataclass
class TuningOutcome:
    """What the study found and what this process ran."""

    study_name: str
    storage: str  # redacted URL (no password)
    direction: str
    best_number: int
    best_params: dict[str, Any]  # the tuned booster parameters (trial.params)
    best_value: float
    score: CVScore  # the best parameters on every fold, with out-of-fold raw scores
    trials: pd.DataFrame
    trials_run: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


class WorkerPool(Protocol):
    """Worker processes started by the coordinator for one study (see `training.worker`)."""

    def running(self) -> bool:
        """True while any worker process runs."""
        ...

    def failures(self) -> list[str]:
        """One line per worker that exited with an error (its log's last lines)."""
        ...

    def stop(self) -> None:
        """End every worker still running."""
        ...


def tune(
    objective: CVObjective,
    *,
    storage: str,
    study_name: str,
    seed: int,
    trials: int,
    timeout: float | None,
    n_jobs: int,
    launch_workers: Callable[[str], WorkerPool] | None = None,
) -> TuningOutcome:
    """Run the study until it holds `trials` finished trials (or `timeout` seconds pass); return the best.

    This process coordinates: it tops up the trial budget, then either runs the slots itself (`n_jobs` threads) or,
    with `launch_workers`, has worker processes run them and waits; trials that other workers (`xsell tune-worker`)
    still run are awaited, a dead worker's trial is failed after the grace period and run again here.
    """
    started = time.perf_counter()
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own log lines report the trials
    try:
        return _tune(objective, storage, study_name, seed, trials, timeout, n_jobs, started, launch_workers)
    finally:
        optuna.logging.set_verbosity(verbosity)


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, duration_s, rounds, fold_values, params_*."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.WAITING:  # an unclaimed slot, not a trial yet
            continue
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else math.nan
        )
        row = {
            "number": t.number,
            "state": t.state.name,
            "value": t.value if t.value is not None else math.nan,
            "duration_s": duration,
            "rounds": t.user_attrs.get("rounds"),
            "fold_values": t.user_attrs.get("fold_values"),
            "worker": t.user_attrs.get("worker"),
        }
        row.update({f"params_{k}": v for k, v in t.params.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _progress(study: optuna.Study) -> Callable[[optuna.trial.FrozenTrial], None]:
    def report(trial: optuna.trial.FrozenTrial) -> None:
        try:
            best: float | None = study.best_value
        except ValueError:  # no completed trial yet
            best = None
        log.info(
            "trial finished",
            extra={"trial": trial.number, "state": trial.state.name, "value": trial.value, "best": best},
        )
        progress.advance("train.tuning")
        fault_point("train.tuning")

    return report


def _tune(
    objective: CVObjective,
    storage: str,
    study_name: str,
    seed: int,
    trials: int,
    timeout: float | None,
    n_jobs: int,
    started: float,
    launch_workers: Callable[[str], WorkerPool] | None,
) -> TuningOutcome:
    store = make_storage(storage)
    study = create_study(store, study_name, direction=objective.direction, seed=seed)
    fail_dead_trials(study)  # trials left RUNNING by a run that died: failed, then replaced (same slot) by the budget
    finished = sum(1 for t in study.get_trials(deepcopy=False) if t.state in FINISHED)
    added = plan_trial_budget(study, trials)
    waiting, _ = open_trials(study)
    log.info(
        "tuning",
        extra={"study": study_name, "finished_before": finished, "to_run": waiting, "added": added, "n_jobs": n_jobs},
    )
    deadline = time.monotonic() + timeout if timeout is not None else None
    pool = launch_workers(study_name) if launch_workers is not None and waiting else None
    ran, reported = 0, False
    try:
        while True:
            if pool is None or not pool.running():
                if pool is not None and not reported:
                    for failure in pool.failures():  # their trials are failed and run again here
                        log.warning("a tuning worker failed", extra={"study": study_name, "detail": failure})
                    reported = True
                ran += run_trial_slots(
                    study, store, objective, n_jobs=n_jobs, deadline=deadline, on_finished=_progress(study)
                )
            waiting, running = open_trials(study)
            if not waiting and not running:
                break
            if deadline is not None and time.monotonic() >= deadline:
                log.warning(
                    "tuning timeout: trials left to other workers", extra={"waiting": waiting, "running": running}
                )
                break
            fail_dead_trials(study)
            plan_trial_budget(study, trials)
            time.sleep(1.0)
    finally:
        if pool is not None:
            pool.stop()
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        raise TrainingError(f"study {study_name} holds no completed trial: raise the trials or the timeout")
    best = study.best_trial
    if objective.best is not None and objective.best[0] == best.number:
        score = objective.best[1]
    else:  # the best trial ran elsewhere (a shared study, a worker, or an earlier run): score its parameters again
        log.info("re-scoring the best trial's parameters on every fold", extra={"trial": best.number})
        params = {k: v for k, v in best.params.items()}
        score = objective.evaluate(params)
    return TuningOutcome(
        study_name=study_name,
        storage=redact_url(storage),
        direction=objective.direction,
        best_number=best.number,
        best_params=dict(best.params),
        best_value=float(best.value),  # type: ignore[arg-type]
        score=score,
        trials=trials_frame(study),
        trials_run=ran,
        seconds=time.perf_counter() - started,
    )


def tune_worker(
    objective: CVObjective,
    *,
    storage: str,
    study_name: str,
    seed: int,
    worker: int,
    n_jobs: int,
    timeout: float | None = None,
) -> int:
    """Join the coordinator's study and run its WAITING slots until none is left; return how many trials ran here.

    Never creates a trial or a study (TrainingError when the study does not exist); `worker` (>= 1) offsets the
    sampler seed.
    """
    check_shared_storage(storage)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        store = make_storage(storage)
        study = create_study(store, study_name, direction=objective.direction, seed=seed, worker=worker, load_only=True)
        if study.direction.name.lower() != objective.direction:
            raise TrainingError(
                f"study {study_name} {study.direction.name.lower()}s, this worker {objective.direction}s"
            )
        deadline = time.monotonic() + timeout if timeout is not None else None
        ran = run_trial_slots(study, store, objective, n_jobs=n_jobs, deadline=deadline, on_finished=_progress(study))
        log.info("tuning worker done", extra={"study": study_name, "worker": worker, "trials_run": ran})
        return ran
    finally:
        optuna.logging.set_verbosity(verbosity)
