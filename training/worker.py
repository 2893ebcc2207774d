"""Tuning worker processes: the coordinator starts them on its study; each runs trial slots until none is left.

`worker_launcher(frame, settings, n)` returns the `launch_workers` hook of `training.tuning.tune`: it writes the
training rows once to `HOME/tmp/tuning/<study>/frame.parquet` and starts `n` processes `python -m training.worker`,
each given its settings (as JSON on stdin, so no secret reaches a command line or a file) and its worker number,
logging to `HOME/tmp/tuning/<study>/worker-<i>.log`. A worker rebuilds the same folds, checks that its rows name the
same study, joins it and exits when no slot is left. It never fits or registers: the coordinator does that once.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from training.engine import run_engine_worker
from training.problem import snapshot_problem
from training.tuning import WorkerPool
from xsell.logs import configure_logging
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["ProcessPool", "main", "worker_launcher"]


class ProcessPool:
    """Worker processes of one study, with their logs."""

    def __init__(self, processes: list[subprocess.Popen[bytes]], logs: list[Path], folder: Path) -> None:
        self.processes = processes
        self.logs = logs
        self.folder = folder

    def running(self) -> bool:
        """True while any worker process runs."""
        return any(p.poll() is None for p in self.processes)

    def failures(self) -> list[str]:
        """One line per worker that exited with an error, with its log's last lines."""
        out = []
        for i, (process, log_path) in enumerate(zip(self.processes, self.logs, strict=True), start=1):
            code = process.poll()
            if code not in (None, 0):
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:]) if log_path.exists() else ""
                out.append(f"worker {i} (pid {process.pid}) exited with {code}; last lines of {log_path}:\n{tail}")
        return out

    def stop(self, timeout: float = 20.0) -> None:
        """Terminate the workers still running (killed after `timeout` seconds); remove the shared frame file."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        (self.folder / "frame.parquet").unlink(missing_ok=True)


def worker_launcher(
    frame: pd.DataFrame,
    settings: Settings,
    workers: int,
    *,
    timeout: float | None = None,
    model_name: str | None = None,
) -> Callable[[str], WorkerPool]:
    """The `launch_workers` hook: `workers` processes on the study, over the labelled snapshot rows of `frame`
    (`model_name`: the coordinator's, default `registry.model_name`)."""

    def launch(study_name: str) -> WorkerPool:
        folder = (settings.tmp_dir / "tuning" / study_name).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        frame_path = folder / "frame.parquet"
        tmp = folder / f".frame.{os.getpid()}.parquet"
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, frame_path)
        processes, logs = [], []
        for i in range(1, workers + 1):
            log_path = folder / f"worker-{i}.log"
            job = {
                "settings": settings.model_dump(mode="json", exclude={"api": {"admin_token"}}),  # not needed here
                "frame": str(frame_path),
                "study": study_name,
                "worker": i,
                "timeout": timeout,
                "model_name": model_name,
            }
            with open(log_path, "ab") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "training.worker"],
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            assert process.stdin is not None
            process.stdin.write(json.dumps(job).encode())
            process.stdin.close()
            processes.append(process)
            logs.append(log_path)
        log.info("started tuning workers", extra={"study": study_name, "workers": workers, "logs": str(folder)})
        return ProcessPool(processes, logs, folder)

    return launch


def run_job(job: dict[str, Any]) -> int:
    """Run one worker job (settings, frame file, study, worker number); return the trials it ran."""
    settings = Settings(**job["settings"])
    problem = snapshot_problem(pd.read_parquet(job["frame"]), settings, job.get("model_name"))
    _, ran = run_engine_worker(
        problem, settings, study_name=job["study"], worker=int(job["worker"]), timeout=job.get("timeout")
    )
    return ran


def main() -> None:
    """Entry point of `python -m training.worker`: a job as JSON on stdin."""
    job = json.loads(sys.stdin.read())
    configure_logging(job["settings"].get("log_level", "INFO"), bool(job["settings"].get("log_json")))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped worker fails its running trial cleanly
    run_job(job)


if __name__ == "__main__":
    main()
