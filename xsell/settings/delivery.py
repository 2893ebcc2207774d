"""Settings of delivery and operations: the scoring API, compute backend, schedules, home lock, team services."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from xsell.settings.base import Section


class ApiSettings(Section):
    """The scoring API (`xsell serve`): address, reload polling, shadow scoring, request limits, admin token."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    reload_poll_seconds: float = Field(30.0, ge=0)  # poll the champion/challenger aliases this often (0: never)
    shadow: bool = True  # score the challenger off the request path and log it (never returned)
    shadow_queue_size: int = Field(10_000, ge=1)  # requests waiting for the shadow worker; more are dropped
    shadow_batch_rows: int = Field(512, ge=1)  # the shadow worker scores up to this many rows at a time
    shadow_flush_seconds: float = Field(0.25, ge=0)  # ... or what arrived within this time, whichever first
    max_accounts: int = Field(100, ge=1)  # account ids per request
    max_rows: int = Field(500, ge=1)  # feature rows per request
    max_body_bytes: int = Field(1_048_576, ge=1024)  # larger request bodies are answered 413 unread (chunked too)
    precompute: bool = True  # score the whole snapshot at (re)load; account-id requests then only look up
    num_threads: int = Field(1, ge=1)  # LightGBM threads per prediction (1: lowest latency for a few rows)
    admin_token: str | None = Field(None, repr=False)  # admin endpoints need it (env or HOME/secrets/api_admin_token)


class ComputeSettings(Section):
    """Where feature snapshots and batch-scoring chunks run: in this process, or on a Dask cluster."""

    backend: Literal["local", "dask"] = "local"  # local: one task at a time in the flow's process (the default)
    dask_address: str | None = None  # dask: an existing scheduler (tcp://host:8786); None: a LocalCluster per flow run
    n_workers: int = Field(2, ge=1)  # LocalCluster only: workers...
    threads_per_worker: int = Field(1, ge=1)  # ... and threads each
    memory_limit: str = "auto"  # LocalCluster only: per worker ("4GB"; "auto": the machine's memory / workers)
    processes: bool = False  # LocalCluster only: workers as processes (their task runs need a Prefect server's API)
    connect_timeout_seconds: float = Field(10.0, gt=0)  # how long to wait for `dask_address` to answer
    scoring_chunk_rows: int = Field(5000, ge=1)  # batch scoring: whole accounts per chunk, up to this many rows

    @field_validator("dask_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"(tcp|tls)://[^\s:/]+:\d{1,5}", value):
            raise ValueError(f"expected a scheduler address such as 'tcp://10.0.0.5:8786', got {value!r}")
        return value


_CRON_FIELD = r"[0-9A-Za-z*/,?LW#-]+"


class ScheduleSettings(Section):
    """`xsell deploy`: cron schedules (5 fields, in `timezone`) of the Prefect deployments and what their runs need."""

    daily: str = "0 6 * * *"  # consolidate `raw_dir`, then score the data end (champion + shadow)
    weekly: str = "0 7 * * 1"  # monitor the data end (and act on the decision when `monitoring.act`)
    monthly: str = "0 8 1 * *"  # retrain as of the data end (a new challenger, shadowed by the daily scoring)
    timezone: str = "UTC"
    raw_dir: Path | None = None  # raw export folder the daily run consolidates (or `xsell deploy --raw DIR`)
    scores_dir: Path | None = None  # where the daily scores go (default HOME/scores)
    retrain_trials: int | None = Field(None, ge=1)  # Optuna trials of the monthly retrain (default training.trials)

    @field_validator("daily", "weekly", "monthly")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(re.fullmatch(_CRON_FIELD, f) for f in fields):
            raise ValueError(f"expected a 5-field cron string such as '0 6 * * *', got {value!r}")
        return " ".join(fields)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone such as 'Europe/Stockholm', got {value!r}") from None
        return value


class RuntimeSettings(Section):
    """How commands share a home: one writer at a time (HOME/xsell.lock, see xsell/homelock.py)."""

    lock_timeout: float | None = Field(3600.0, ge=0)  # seconds a writer waits for the home; null: no limit


class ServicesSettings(Section):
    """Team-mode servers that `xsell services start` runs on loopback, state under HOME/services (see deploy/team/services.py).

    Switching a command to team mode is environment only (`HOME/services/team.env`): `MLFLOW_TRACKING_URI` and
    `MLFLOW_TRACKING_USERNAME/PASSWORD`, `PREFECT_API_URL`, `XSELL_TRAINING__OPTUNA_STORAGE`.
    """

    host: str = "127.0.0.1"
    postgres_port: int = Field(5433, ge=1, le=65535)  # not 5432: a Debian-installed cluster may hold it
    mlflow_port: int = Field(5000, ge=1, le=65535)
    prefect_port: int = Field(4200, ge=1, le=65535)
    postgres_bin: Path | None = None  # folder of initdb/pg_ctl; default the newest /usr/lib/postgresql/*/bin, else PATH
    db_user: str = "xsell"  # PostgreSQL role owning the mlflow, mlflow_auth, optuna and prefect databases
    mlflow_admin: str = "admin"  # MLflow basic-auth admin, its password generated at first start
    mlflow_workers: int = Field(1, ge=1)
    start_timeout_seconds: float = Field(180.0, gt=0)  # per service, until its port answers healthy
    stop_timeout_seconds: float = Field(30.0, gt=0)  # then the process group is killed

    @field_validator("host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        if value != "localhost" and not ipaddress.ip_address(value).is_loopback:
            raise ValueError(f"services listen on loopback only (127.0.0.1 or localhost), got {value!r}")
        return value
