"""Run a function in a child process and measure its wall time and peak resident memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Measurement:
    """Wall time, peak RSS and the child's JSON result."""

    seconds: float
    peak_rss_mb: float
    result: dict[str, Any]


def run_child(module: str, args: list[str], env: dict[str, str] | None = None) -> Measurement:
    """Run `python -m module args...` (which prints one JSON object last) and measure it."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    out_chunks: list[str] = []
    assert proc.stdout is not None and proc.stderr is not None
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out_chunks.append(proc.stdout.read())
    err = proc.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed with exit code {code}:\n{err[-3000:]}")
    lines = [line for line in "".join(out_chunks).splitlines() if line.strip()]
    result = json.loads(lines[-1]) if lines else {}
    return Measurement(seconds=seconds, peak_rss_mb=usage.ru_maxrss / 1024, result=result)
