"""A really trained home and `xsell serve` on loopback, shared by the scoring API's integration and e2e tests.

`trained_home(root, **overrides)`: `factories.generated_home` (200 generated accounts, consolidated) trained on
once per seed with tiny trials, each version logged with its tier policy: v1 the champion, v2 the challenger.
`served_api(settings, env)`: `xsell serve` of that home started as a process on a free loopback port, its output in
`serve_log(settings)`; yields the base URL once `/health` answers, and stops the process (SIGTERM, then SIGKILL) on
the way out.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from factories import generated_home

from features.store import connect_warehouse
from registry.log_training import log_training
from serving.model_artifacts import serving_artifacts
from training.dataset import load_training_frame
from training.pipeline import train_propensity
from xsell.settings import Settings

#: Tiny training: a few seconds per version on 200 accounts.
TINY_TRAINING: dict[str, Any] = {
    "training.trials": 2,
    "training.n_jobs": 1,
    "training.num_threads": 2,
    "training.n_seeds": 2,
    "serving.tiers.min_tier_rows": 5,
    "serving.tiers.min_positives": 3,
}


@contextmanager
def trained_home(root: Path, seeds: tuple[int, ...] = (1, 2), **overrides: Any) -> Iterator[Settings]:
    """A generated home with one registered version per seed (v1 champion, v2 challenger), tier policies logged."""
    with generated_home(root, **(TINY_TRAINING | overrides)) as settings:
        con = connect_warehouse(settings)
        try:
            frame = load_training_frame(con, settings)
        finally:
            con.close()
        for seed in seeds:
            seeded = settings.model_copy(update={"seed": seed})
            result = train_propensity(frame, seeded)
            log_training(
                result, seeded, reason=f"api seed {seed}", trial_runs=False, extra=serving_artifacts(result, seeded)
            )
        yield settings


def free_port() -> int:
    """A loopback port free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_log(settings: Settings) -> Path:
    """Where `served_api` writes the server's output (beside the home)."""
    return settings.home.parent / "serve.log"


@contextmanager
def served_api(settings: Settings, env: Mapping[str, str] | None = None, timeout: float = 240) -> Iterator[str]:
    """`xsell serve` of `settings.home` on a free loopback port (extra `env` on top of this process's); its URL."""
    port = free_port()
    command = [sys.executable, "-c", "from flows.cli import run; run()", "--home", str(settings.home), "serve"]
    log = serve_log(settings)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port)], env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, f"xsell serve did not answer /health within {timeout:.0f} s"
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
