"""Process environment for the orchestrator, trackers and OpenMP: offline, quiet, state under the xsell home."""

from __future__ import annotations

import os
from pathlib import Path

#: Defaults that keep Prefect, MLflow and Evidently offline and quiet; an explicit env var wins.
QUIET_ENV: dict[str, str] = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "GIT_PYTHON_REFRESH": "quiet",
    "PREFECT_UI_ENABLED": "false",
    # the ephemeral API starts a server subprocess; 20 s (Prefect's default) is too short on a busy 2-core box
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


#: OpenMP threads that wait for work sleep instead of spinning (GNU OpenMP spins ~300,000 times by default). On
#: cores shared with other processes a spinning LightGBM thread burns the time slice its descheduled peer needs to
#: reach the barrier: one 200-round 2-thread fit measured 33 s spinning against 5.6 s passive beside other jobs
#: (bench/contention.py measures the whole training). libgomp reads it once, when loaded: set before LightGBM is
#: imported (the CLI prepares the environment before any command imports it; children inherit it).
THREADING_ENV: dict[str, str] = {"OMP_WAIT_POLICY": "passive"}

#: Below DEBUG, Prefect's temporary server and internal machinery print nothing on the terminal (their tracebacks,
#: e.g. a CancelledError while the server shuts down, would stand beside the command's own one-line error).
SILENT_SERVER_ENV: dict[str, str] = {
    "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
    "PREFECT_INTERNAL_LOGGING_LEVEL": "CRITICAL",
}


def environment_defaults(home: Path, log_level: str = "INFO") -> dict[str, str]:
    """The variables `prepare_environment` sets by default for `home` (pass them to a child process that imports
    Prefect at its top, before it could set them itself)."""
    defaults = {
        **QUIET_ENV,
        **THREADING_ENV,
        **(SILENT_SERVER_ENV if log_level.upper() != "DEBUG" else {}),
    }  # silent wins
    home = home.resolve()
    return {**defaults, "PREFECT_HOME": str(home / "prefect"), "XDG_CONFIG_HOME": str(home / "config")}


def prepare_environment(home: Path, log_level: str = "INFO") -> None:
    """Set quiet/offline defaults and keep Prefect's and Evidently's state under `home`; call before importing them."""
    for key, value in environment_defaults(home, log_level).items():
        os.environ.setdefault(key, value)
    for key in ("PREFECT_HOME", "XDG_CONFIG_HOME"):
        Path(os.environ[key]).mkdir(parents=True, exist_ok=True)
