"""Process environment for the orchestrator and trackers: offline, quiet, state under the xsell home."""

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


#: Below DEBUG, Prefect's temporary server and internal machinery print nothing on the terminal (their tracebacks,
#: e.g. a CancelledError while the server shuts down, would stand beside the command's own one-line error).
SILENT_SERVER_ENV: dict[str, str] = {
    "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
    "PREFECT_INTERNAL_LOGGING_LEVEL": "CRITICAL",
}


def prepare_environment(home: Path, log_level: str = "INFO") -> None:
    """Set quiet/offline defaults and keep Prefect's and Evidently's state under `home`; call before importing them."""
    if log_level.upper() != "DEBUG":
        for key, value in SILENT_SERVER_ENV.items():
            os.environ.setdefault(key, value)
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    home = home.resolve()
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    os.environ.setdefault("XDG_CONFIG_HOME", str(home / "config"))
    for key in ("PREFECT_HOME", "XDG_CONFIG_HOME"):
        Path(os.environ[key]).mkdir(parents=True, exist_ok=True)
