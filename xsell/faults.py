"""Fault injection for tests: `fault_point(name)` kills this process with SIGKILL when XSELL_FAULT_POINT names it.

Placed at stage boundaries of the writing commands (consolidate, features, train, promote, score) so the
fault-injection suite (tests/e2e/test_fault_injection.py) can `kill -9` a run at a known place and check that
nothing is left half-written or running. A no-op (one environment lookup) when the variable is unset.
"""

from __future__ import annotations

import os
import signal

#: Environment variable naming the fault point at which to die (one name, or several separated by commas).
FAULT_ENV = "XSELL_FAULT_POINT"


def fault_point(name: str) -> None:
    """Die at once with SIGKILL (no cleanup, like `kill -9`) when XSELL_FAULT_POINT names `name`."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted and name in (part.strip() for part in wanted.split(",")):
        os.kill(os.getpid(), signal.SIGKILL)
