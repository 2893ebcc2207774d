"""fault_point: SIGKILL at the named point, nothing anywhere else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from xsell.faults import FAULT_ENV, fault_point

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = "import sys; sys.path.insert(0, sys.argv[1]); from xsell.faults import fault_point; fault_point('a.b'); print('ran on')"


def _run(value: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV} | ({FAULT_ENV: value} if value is not None else {})
    return subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT)], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("value", ["a.b", "x.y, a.b"])
def test_the_named_point_kills_the_process(value: str) -> None:
    result = _run(value)
    assert result.returncode == -signal.SIGKILL
    assert "ran on" not in result.stdout


@pytest.mark.parametrize("value", [None, "", "a.bc", "a"])
def test_other_points_are_no_ops(value: str | None) -> None:
    result = _run(value)
    assert result.returncode == 0
    assert "ran on" in result.stdout


def test_unset_in_this_process_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAULT_ENV, raising=False)
    fault_point("train.logging")  # still alive
