"""The study protocol (training.study): the trial budget of a shared study: slots planned once, claimed once, failed trials replaced (SQLite, threads).

Worker processes on PostgreSQL are exercised in tests/e2e/test_distributed_tuning.py.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from tests.unit.training.test_tuning import _objective
from training import study as protocol
from training.errors import TrainingError
from training.objective import DEFAULT_TRIAL, suggest_params
from training.study import check_shared_storage, create_study, make_storage, plan_trial_budget, run_trial_slots
from training.tuning import tune, tune_worker


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'optuna.db'}"


def _quick(trial: optuna.Trial) -> float:
    value = trial.suggest_float("x", 0.0, 1.0)
    time.sleep(0.02)  # long enough for the other worker to claim slots meanwhile
    if value < 0.2:
        raise optuna.TrialPruned()
    return value


def test_two_workers_run_every_slot_exactly_once(tmp_path: Path) -> None:
    # given a study whose coordinator planned 12 slots
    study = create_study(make_storage(_url(tmp_path)), "b", direction="maximize", seed=1)
    assert plan_trial_budget(study, 12) == 12
    # when two workers, each with its own storage connection, drain it at the same time
    ran = [0, 0]

    def work(i: int) -> None:
        store = make_storage(_url(tmp_path))
        joined = create_study(store, "b", direction="maximize", seed=1, worker=i + 1, load_only=True)
        ran[i] = run_trial_slots(joined, store, _quick)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then the 12 trials ran once each, shared between both workers, and none was created beyond the budget
    trials = study.get_trials(deepcopy=False)
    assert sum(ran) == 12 and min(ran) > 0, ran
    assert sorted(t.number for t in trials) == list(range(12))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert all(t.user_attrs.get("worker") for t in trials)
    # and a rerun of the same budget adds and runs nothing
    assert plan_trial_budget(study, 12) == 0
    assert run_trial_slots(study, make_storage(_url(tmp_path)), _quick) == 0


def test_the_budget_replaces_failed_trials_only(tmp_path: Path) -> None:
    store = make_storage(_url(tmp_path))
    study = create_study(store, "f", direction="maximize", seed=1)
    plan_trial_budget(study, 3)

    def broken(trial: optuna.Trial) -> float:
        raise RuntimeError("boom")

    # a failing objective fails its trial and stops the worker with the error
    with pytest.raises(RuntimeError, match="boom"):
        run_trial_slots(study, store, broken)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states.count(TrialState.FAIL) == 1 and states.count(TrialState.WAITING) == 2
    # the next plan replaces the failed trial with a new slot, so 3 trials still run
    assert plan_trial_budget(study, 3) == 1
    assert run_trial_slots(study, store, _quick) == 3
    assert plan_trial_budget(study, 5) == 2  # a larger target adds the difference


def test_a_dead_workers_trial_is_failed_and_run_again(
    frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(protocol, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(protocol, "GRACE_SECONDS", 2)
    # given a study where a worker claimed a slot, beat once, and died
    store = make_storage(_url(tmp_path))
    study = create_study(store, "d", direction="maximize", seed=7)
    plan_trial_budget(study, 3)
    claimed = protocol._claim_slot(store, store.get_study_id_from_name("d"))
    assert claimed is not None
    store.record_heartbeat(claimed)
    time.sleep(2.5)
    # when the coordinator tunes the study
    outcome = tune(_objective(frame), storage=_url(tmp_path), study_name="d", seed=7, trials=3, timeout=None, n_jobs=1)
    # then the dead trial is failed, replaced, and the study holds exactly 3 finished trials
    trials = study.get_trials(deepcopy=False)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t._trial_id for t in failed] == [claimed]
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 3 == outcome.trials_run
    assert len(outcome.trials) == 4  # the failed trial is listed, never counted


def test_workers_need_a_database_server_and_an_existing_study(frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="SQLite cannot lock"):
        check_shared_storage(_url(tmp_path))
    with pytest.raises(TrainingError, match="SQLite cannot lock"):
        tune_worker(_objective(frame), storage=_url(tmp_path), study_name="x", seed=1, worker=1, n_jobs=1)
    with pytest.raises(TrainingError, match="no study 'missing'"):
        create_study(make_storage(_url(tmp_path)), "missing", direction="maximize", seed=1, load_only=True)
    check_shared_storage("postgresql://u:p@127.0.0.1:5433/optuna")  # a server is accepted


def test_a_fresh_study_starts_from_the_default_trial(tmp_path: Path) -> None:
    # given a fresh study with a budget of 3 trials over the real search space
    store = make_storage(_url(tmp_path))
    study = create_study(store, "d", direction="maximize", seed=1)
    plan_trial_budget(study, 3)
    seen: list[dict[str, object]] = []

    def record(trial: optuna.Trial) -> float:
        seen.append(suggest_params(trial, max_pos_weight=30.0))
        return 0.5

    # when its slots run in a worker (its own storage and study object, as in `xsell tune-worker`: nothing cached)
    worker_store = make_storage(_url(tmp_path))
    worker = create_study(worker_store, "d", direction="maximize", seed=1, worker=1, load_only=True)
    assert run_trial_slots(worker, worker_store, record) == 3
    # then the first trial is the default, the others are the sampler's own
    assert seen[0] == DEFAULT_TRIAL and all(s != DEFAULT_TRIAL for s in seen[1:])
    assert [t.user_attrs.get("default", False) for t in study.get_trials(deepcopy=False)] == [True, False, False]
    # and a later top-up of the same study (a rerun with more trials) adds no second default
    assert plan_trial_budget(study, 5) == 2
    run_trial_slots(study, store, record)
    assert sum(s == DEFAULT_TRIAL for s in seen) == 1


class _Stop(Exception):
    """Stands for the process dying between two trials."""


def _shaped(trial: optuna.Trial) -> float:
    """A cheap objective over the real search space with a clear optimum, so TPE's history steers later trials."""
    p = suggest_params(trial, max_pos_weight=30.0)
    return -abs(math.log(p["learning_rate"] / 0.03)) - abs(p["num_leaves"] - 12) / 12 - p["feature_fraction"]


def _by_slot(study: optuna.Study) -> list[tuple[int, dict[str, object], float | None]]:
    """(ordinal, params, value) of every trial that did not fail, in slot order."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.FAIL]
    return sorted((protocol.slot_ordinal(t), t.params, t.value) for t in trials)


def _uninterrupted(tmp_path: Path, trials: int) -> optuna.Study:
    store = make_storage(f"sqlite:///{tmp_path / 'whole.db'}")
    study = create_study(store, "s", direction="maximize", seed=11)
    plan_trial_budget(study, trials)
    assert run_trial_slots(study, store, _shaped) == trials
    return study


def _interrupted(tmp_path: Path, trials: int, stop_after: int) -> tuple[str, optuna.storages.BaseStorage]:
    """The study of `trials` slots, stopped (as a killed process would stop) after `stop_after` finished trials."""
    url = _url(tmp_path)
    store = make_storage(url)
    study = create_study(store, "s", direction="maximize", seed=11)
    plan_trial_budget(study, trials)
    finished: list[int] = []

    def count(trial: optuna.trial.FrozenTrial) -> None:
        finished.append(trial.number)
        if len(finished) == stop_after:
            raise _Stop

    with pytest.raises(_Stop):
        run_trial_slots(study, store, _shaped, on_finished=count)
    return url, store


def _resume(url: str, trials: int) -> tuple[optuna.Study, int]:
    """What a rerun does: a new process (new storage and sampler) fails dead trials, replans the budget, runs."""
    store = make_storage(url)
    study = create_study(store, "s", direction="maximize", seed=11)
    protocol.fail_dead_trials(study)
    plan_trial_budget(study, trials)
    return study, run_trial_slots(study, store, _shaped)


def _claim_as(store: optuna.storages.BaseStorage, study: str, pid: int) -> int:
    """Claim the study's next slot as process `pid` of this host would (WAITING -> RUNNING, worker recorded)."""
    claimed = protocol._claim_slot(store, store.get_study_id_from_name(study))
    assert claimed is not None
    store.set_trial_user_attr(claimed, "worker", f"{socket.gethostname()}:{pid}")
    return claimed


def test_a_study_resumed_between_trials_runs_the_uninterrupted_trials(tmp_path: Path) -> None:
    # given the uninterrupted study of 12 trials (past TPE's 10 random startup trials, so history matters)
    whole = _uninterrupted(tmp_path, 12)
    # when the same study stops after 6 finished trials and a new process resumes it
    url, _ = _interrupted(tmp_path, 12, 6)
    resumed, ran = _resume(url, 12)
    # then only the 6 missing trials ran, with the parameters and values of the uninterrupted run, and the best agrees
    assert ran == 6
    assert _by_slot(resumed) == _by_slot(whole)
    assert resumed.best_params == whole.best_params and resumed.best_trial.number == whole.best_trial.number


def test_a_trial_killed_while_running_is_run_again_in_its_turn(tmp_path: Path) -> None:
    # given the uninterrupted study, and the same study whose 11th trial was left RUNNING by a killed process
    whole = _uninterrupted(tmp_path, 12)
    url, store = _interrupted(tmp_path, 12, 10)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _claim_as(store, "s", dead.pid)
    # when a new process resumes it (at once: no grace period to wait, the worker is gone from this host)
    resumed, ran = _resume(url, 12)
    # then the killed trial is failed and its slot runs again before the later slots, as in the uninterrupted run
    states = [t.state for t in resumed.get_trials(deepcopy=False)]
    assert states.count(TrialState.FAIL) == 1 and ran == 2
    assert _by_slot(resumed) == _by_slot(whole)
    assert resumed.best_params == whole.best_params


def test_a_default_trial_killed_while_running_is_planned_again(tmp_path: Path) -> None:
    # given a study whose first trial (the default) was claimed by a worker that is gone
    store = make_storage(_url(tmp_path))
    study = create_study(store, "d", direction="maximize", seed=1)
    plan_trial_budget(study, 2)
    _claim_as(store, "d", 2**22 + 1)  # above the kernel's pid_max: no such process
    # when the budget is planned again
    protocol.fail_dead_trials(study)
    assert plan_trial_budget(study, 2) == 1
    # then the replacement is the default trial again, and it is claimed first
    claimed = protocol._claim_slot(store, store.get_study_id_from_name("d"))
    trial = store.get_trial(claimed)  # type: ignore[arg-type]
    assert trial.user_attrs.get("default") and protocol.slot_ordinal(trial) == 0 and trial.number == 2


def test_a_live_workers_trial_is_not_failed_early(tmp_path: Path) -> None:
    store = make_storage(_url(tmp_path))
    study = create_study(store, "l", direction="maximize", seed=1)
    plan_trial_budget(study, 1)
    _claim_as(store, "l", os.getpid())
    protocol.fail_dead_trials(study)
    assert [t.state for t in study.get_trials(deepcopy=False)] == [TrialState.RUNNING]


def test_a_fresh_study_samples_as_a_seeded_tpe_sampler(tmp_path: Path) -> None:
    # given the same budget run by the study protocol and by a plain Optuna study with a seeded multivariate TPE
    ours = _uninterrupted(tmp_path, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        plain = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=11, multivariate=True)
        )
    plain.enqueue_trial(DEFAULT_TRIAL)
    plain.optimize(_shaped, n_trials=12)
    # then the trials are the same: saving the sampler's state changes nothing of an uninterrupted search
    assert [t.params for t in ours.get_trials()] == [t.params for t in plain.get_trials()]
