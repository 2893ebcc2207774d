"""Benchmark plumbing: the environment a flow-running child starts with, and the bench's settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.measure import backend_env, bench_settings


def test_backend_env_carries_the_homes_prefect_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given no Prefect variables set, when a child's environment is built, then Prefect's state is the bench home's
    monkeypatch.setenv("PREFECT_HOME", "recorded, so that teardown restores the variable")
    monkeypatch.delenv("PREFECT_HOME")
    env = backend_env(tmp_path)
    assert env["PREFECT_HOME"] == str(tmp_path.resolve() / "prefect")
    assert env and not env.keys() & os.environ.keys()  # only what the caller has not set


def test_backend_env_leaves_what_the_caller_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given PREFECT_HOME set by the caller, when a child's environment is built, then it does not override it
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "mine"))
    assert "PREFECT_HOME" not in backend_env(tmp_path)


def test_bench_settings_get_a_fresh_study_storage_each_time(tmp_path: Path) -> None:
    # given one home, when settings are made twice, then each has its own Optuna storage and the overrides
    first, second = bench_settings(str(tmp_path), seed=7), bench_settings(str(tmp_path))
    assert first.training.optuna_storage != second.training.optuna_storage
    assert first.training.optuna_storage.startswith("sqlite:///") and first.seed == 7
