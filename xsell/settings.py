"""One typed, frozen settings tree: defaults in code, optional YAML file, XSELL_* env vars, CLI options."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from xsell.errors import XsellError
from xsell.faults import FAULT_ENV
from xsell.reaper import TOKEN_ENV

ENV_PREFIX = "XSELL_"
CONFIG_ENV = "XSELL_CONFIG"
#: Folders under home that hold state: orchestrator, trackers, team services, secrets, replays, the API's logs.
STATE_FOLDERS = ("prefect", "config", "mlruns", "services", "secrets", "simulation", "serving")
#: Files and folders under HOME/reports that a command writes (and replaces) as a whole.
REPORT_WRITERS = (
    "data_quality",
    "monitoring",
    "promotion",
    "adoption_path",
    "simulation",
    "site",
    "index.html",
    "feature_catalog.md",
)


class SettingsError(XsellError, ValueError):
    """Raised when configuration is invalid; the message names the offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProductSpec(_Section):
    """One catalogue product as the generator writes it."""

    product: str
    kind: Literal["primary", "adjacent"] = "adjacent"
    prerequisite: str | None = None
    min_core_tier: str | None = None
    list_price_mrr: float = 0.0


class FeatureSpec(_Section):
    """One feature of the primary product as the generator writes it."""

    feature: str
    min_tier: str
    signals_product: str | None = None


def _default_products() -> tuple[ProductSpec, ...]:
    return (
        ProductSpec(product="core", kind="primary", list_price_mrr=350.0),
        ProductSpec(product="analytics", list_price_mrr=400.0),
        ProductSpec(product="automation", prerequisite="analytics", list_price_mrr=600.0),
        ProductSpec(product="security", min_core_tier="enterprise", list_price_mrr=900.0),
    )


def _default_features() -> tuple[FeatureSpec, ...]:
    rows = [
        ("projects", "starter", None),
        ("tasks", "starter", None),
        ("comments", "starter", None),
        ("file_sharing", "starter", None),
        ("search", "starter", None),
        ("notifications", "starter", None),
        ("calendar", "starter", None),
        ("mobile_app", "starter", None),
        ("reports", "professional", "analytics"),
        ("dashboards", "professional", "analytics"),
        ("data_export", "professional", "analytics"),
        ("custom_fields", "professional", None),
        ("templates", "professional", None),
        ("integrations", "professional", None),
        ("webhooks", "professional", "automation"),
        ("api_tokens", "enterprise", None),
        ("rules_engine", "enterprise", "automation"),
        ("audit_log", "enterprise", "security"),
        ("sso", "enterprise", "security"),
        ("permissions_admin", "enterprise", None),
    ]
    return tuple(FeatureSpec(feature=f, min_tier=t, signals_product=s) for f, t, s in rows)


class DefectRates(_Section):
    """Share of rows (per table) that the generator corrupts with each defect class of the contract."""

    duplicate: float = Field(0.01, ge=0, le=0.5)
    id_whitespace: float = Field(0.005, ge=0, le=0.5)
    id_case: float = Field(0.005, ge=0, le=0.5)
    orphan: float = Field(0.005, ge=0, le=0.5)
    invalid: float = Field(0.002, ge=0, le=0.5)
    #: rows whose one value field (not a key or date) is made impossible in place: kept, the value nulled
    impossible_value: float = Field(0.002, ge=0, le=0.5)
    future_dated: float = Field(0.002, ge=0, le=0.5)
    late_usage: float = Field(0.02, ge=0, le=1.0)
    unknown_column_files: int = Field(1, ge=0)


class GeneratorSettings(_Section):
    """Synthetic export: size, period, catalogue, defects and optional drift."""

    accounts: int = Field(2000, ge=10)
    start: str = "2024-01"
    end: str = "2026-06"
    catalog_products: tuple[ProductSpec, ...] = Field(default_factory=_default_products)
    catalog_features: tuple[FeatureSpec, ...] = Field(default_factory=_default_features)
    defects: DefectRates = DefectRates()
    usage_rows_per_account_month: float = Field(90.0, gt=0)
    drift_at: str | None = None
    drift_kind: Literal["covariate", "concept"] | None = None

    @field_validator("start", "end", "drift_at")
    @classmethod
    def _month(cls, value: str | None) -> str | None:
        if value is None:
            return value
        import re

        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
            raise ValueError(f"expected YYYY-MM, got {value!r}")
        return value


class QualityGate(_Section):
    """Data-quality gate: the consolidation fails when a table exceeds any of these shares."""

    enabled: bool = True
    max_orphan_share: float = Field(0.05, ge=0, le=1)
    max_invalid_share: float = Field(0.05, ge=0, le=1)
    max_future_share: float = Field(0.05, ge=0, le=1)
    max_duplicate_share: float = Field(1.0, ge=0, le=1)  # overlapping CRM extracts repeat rows by design


class IngestSettings(_Section):
    """Reading the raw contract and consolidating it into the warehouse."""

    gate: QualityGate = QualityGate()
    export_time: str | None = None  # ISO timestamp; default: latest usage ingested_at
    late_after_days: int = Field(1, ge=0)
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = Field(2, ge=1)
    io_retries: int = Field(2, ge=0)  # Prefect retries of the I/O tasks (reading raw files, loading)


class FeatureSettings(_Section):
    """Point-in-time feature snapshots: as-of grid, label horizon, eligibility gate and cohort bands."""

    horizon_days: int = Field(default=90, ge=1)
    cadence: Literal["month_end", "week_end"] = "month_end"
    require_prerequisite: bool = False
    tenure_bands_months: tuple[int, ...] = (6, 12, 24, 36)
    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)
    data_end: str | None = None  # YYYY-MM-DD; default: the date of the latest load's export time

    @field_validator("tenure_bands_months")
    @classmethod
    def _bands(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(b <= 0 for b in value) or list(value) != sorted(set(value)):
            raise ValueError(f"expected increasing positive month edges, got {value!r}")
        return value

    @field_validator("data_end")
    @classmethod
    def _day(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from datetime import date

        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected YYYY-MM-DD, got {value!r}") from None
        return value


class TrainingSettings(_Section):
    """Time-based CV, Optuna tuning, LightGBM fitting and calibration."""

    trials: int = Field(50, ge=1)
    timeout_seconds: float | None = Field(None, gt=0)
    cv_folds: int = Field(3, ge=1)
    holdout_snapshots: int = Field(3, ge=1)  # most recent fully labelled snapshots kept out of tuning
    purge_days: int | None = Field(None, ge=0)  # gap before each validation snapshot; default: the label horizon
    model_layout: Literal["pooled", "per_product"] = "pooled"  # one model (product as a feature) or one per product
    objective_metric: Literal["pr_auc", "log_loss"] = "pr_auc"
    objective_average: Literal["per_product", "pooled"] = "per_product"  # PR-AUC per product's list, then the mean
    calibration: Literal["auto", "isotonic", "platt"] = "auto"  # auto: the lower ECE on out-of-time predictions
    refit_on_holdout: bool = True  # after evaluation, refit with the holdout included (same params and rounds)
    n_jobs: int = Field(2, ge=1)  # Optuna workers in this process
    workers: int = Field(1, ge=1)  # tuning worker processes on one shared study (>1 needs optuna_storage on a server)
    num_threads: int = Field(1, ge=1)  # LightGBM threads per trial (n_jobs x num_threads <= cores)
    optuna_storage: str | None = None  # database URL; default: sqlite under home
    max_rounds: int = Field(600, ge=10)
    early_stopping_rounds: int = Field(40, ge=1)
    prune_every_rounds: int = Field(50, ge=0)  # boosting rounds between in-fold reports to the pruner (0: fold ends)
    n_seeds: int = Field(5, ge=1)  # boosters per part with different seeds, averaged (variance reduction)


class GateSettings(_Section):
    """Promotion gates: what a challenger must show against the champion, re-scored on the same recent labelled
    snapshots, before it may serve.

    `mode`: `disabled` (no gates: `promote` moves the alias, shadow runs never promote), `dry_run` (gates are
    evaluated and recorded, never block: `promote` proceeds, shadow runs only record the verdict), `enabled`
    (a failing gate refuses `promote` unless forced; shadow runs promote a challenger that passes).
    """

    mode: Literal["disabled", "dry_run", "enabled"] = "enabled"
    min_relative_gain: float = Field(0.01, ge=-1)  # challenger PR-AUC >= champion PR-AUC x (1 + this)
    ece_tolerance: float = Field(0.01, ge=0)  # challenger ECE <= champion ECE + this
    product_tolerance: float = Field(0.05, ge=0, le=1)  # per product: PR-AUC may drop by at most this share
    parity_metric: Literal["roc_auc", "top_decile_rate"] = "roc_auc"  # compared between segments
    parity_tolerance: float = Field(0.15, ge=0)  # challenger's largest gap between segments
    segment_column: str = "segment"
    min_segment_rows: int = Field(50, ge=1)  # segments (and products) with fewer rows, or one class, are skipped
    min_shadow_runs: int = Field(2, ge=0)  # distinct as-of dates the challenger was shadow-scored on
    eval_snapshots: int = Field(3, ge=1)  # most recent fully labelled snapshots both models are scored on


class AccessSettings(_Section):
    """Who may move the champion through xsell, and what a champion move made in the MLflow UI counts as."""

    # user names (MLflow users in team mode; registry.actor / the OS user in embedded mode) or `role:NAME` (members
    # of an MLflow role); None: anyone may promote or roll back, and UI moves are honoured
    champion_movers: tuple[str, ...] | None = None
    ui_moves_allowed: bool = False  # with champion_movers set: MLflow records no author of an alias move
    ui_move_policy: Literal["report", "revert"] = "report"  # an unauthorised UI move: record it, or also undo it


class RegistrySettings(_Section):
    """MLflow tracking and the model registry (the tracking URI itself comes only from MLFLOW_TRACKING_URI)."""

    model_name: str = "xsell-propensity"
    experiment: str = "xsell"
    champion_alias: str = "champion"
    challenger_alias: str = "challenger"
    previous_champion_alias: str = "previous_champion"  # where `rollback` goes back to
    actor: str | None = None  # who is recorded in the audit trail (default: the OS user)
    gates: GateSettings = GateSettings()
    access: AccessSettings = AccessSettings()


class TierGates(_Section):
    """Domain readiness gates of the `ready_now` tier, on the snapshot's feature columns."""

    min_feature_share: float = Field(0.7, ge=0, le=1)  # deep primary adoption: share of the tier's features (90d)
    min_active_users: int = Field(3, ge=0)  # distinct active users in the last 30 days
    min_tenure_months: float = Field(6.0, ge=0)
    min_nps: float | None = Field(7.0, ge=0, le=10)  # healthy: latest NPS at least this (no response passes)
    max_overdue_invoices: int = Field(0, ge=0)
    max_urgent_tickets_90d: int = Field(1, ge=0)
    require_adoption_step: bool = False  # the product must be the account's next step on the adoption path


class TierSettings(_Section):
    """Tiers `ready_now` / `building` / `not_ready`: gates plus propensity cut-offs chosen on the holdout."""

    gates: TierGates = TierGates()
    ready_lift: float = Field(2.0, gt=0)  # ready_now: gated rows above the cut-off convert >= lift x base rate
    building_lift: float = Field(1.2, gt=0)  # building: rows above the cut-off convert >= lift x base rate
    min_tier_rows: int = Field(20, ge=1)  # a cut-off must leave at least this many holdout rows above it
    min_positives: int = Field(5, ge=1)  # fewer holdout positives in a product: the pooled cut-offs are used
    fallback_ready_share: float = Field(0.1, gt=0, lt=1)  # no cut-off meets the lift: top share per product
    fallback_building_share: float = Field(0.3, gt=0, lt=1)


class AdoptionSettings(_Section):
    """Adoption path mined from the ownership history."""

    max_growth_weight: float = Field(10.0, ge=1)  # an account's weight is its MRR growth multiple, capped here


class ShadowSettings(_Section):
    """Batch shadow scoring of the challenger beside the champion."""

    enabled: bool = True
    experiment_suffix: str = "-shadow"  # MLflow experiment of the comparisons: <registry.experiment><suffix>
    top_share: float = Field(0.1, gt=0, lt=1)  # top-decile overlap: share of rows counted as the top
    psi_bins: int = Field(10, ge=2)


class ServingSettings(_Section):
    """Batch scoring output: tiers, adoption path, shadow scoring."""

    tiers: TierSettings = TierSettings()
    adoption: AdoptionSettings = AdoptionSettings()
    shadow: ShadowSettings = ShadowSettings()


DistanceMethod = Literal["wasserstein", "psi", "jensenshannon", "hellinger"]
CategoricalDistance = Literal["psi", "jensenshannon", "hellinger"]


class DriftSettings(_Section):
    """Feature and prediction drift: a distance per column type (stays meaningful on large samples, unlike a
    p-value), a column drifts when its distance reaches the threshold."""

    num_method: DistanceMethod = "wasserstein"  # numeric features: Wasserstein distance normed by the reference std
    num_threshold: float = Field(0.2, gt=0)  # 0.2 reference standard deviations
    cat_method: CategoricalDistance = "jensenshannon"  # categorical features
    cat_threshold: float = Field(0.1, gt=0)
    prediction_method: DistanceMethod = "wasserstein"  # the champion's propensities, reference vs current
    prediction_threshold: float = Field(0.2, gt=0)
    reference_snapshots: int | None = Field(6, ge=1)  # last N snapshots of the champion's training window (None: all)
    max_rows: int = Field(20_000, ge=100)  # reference and current rows sampled down to this (seeded)
    exclude: tuple[str, ...] = ("months_to_fiscal_year_start",)  # calendar features: move by design


class PolicySettings(_Section):
    """What a monitoring check decides: `rollback`, `retrain` or `none`."""

    drift_share: float = Field(0.2, gt=0, le=1)  # a check is drifted when this share of features drifted...
    prediction_drift: bool = True  # ...or (when true) the champion's propensities drifted
    persist_checks: int = Field(2, ge=1)  # retrain when N of ...
    window_checks: int = Field(3, ge=1)  # ... the last M checks of the same champion (since its last retrain) drifted
    min_roc_auc: float | None = Field(0.6, ge=0, le=1)  # retrain when realised ROC-AUC falls below this
    max_pr_auc_drop: float | None = Field(0.3, ge=0, le=1)  # ... or realised PR-AUC < holdout PR-AUC x (1 - this)
    rollback_margin: float = Field(0.05, ge=0, le=1)  # rollback when PR-AUC < previous champion's x (1 - this)
    min_positives: int = Field(20, ge=1)  # realised metrics on fewer positives are reported, never acted on
    max_roc_auc_decay: float | None = Field(0.06, ge=0, le=1)  # ... or realised ROC-AUC fell this much below the
    # champion's first realised ROC-AUC (its own baseline on live data: concept drift shows as decay)
    max_product_roc_auc_decay: float | None = Field(0.06, ge=0, le=1)  # ... or one product's realised ROC-AUC fell
    # this much below its first out-of-sample realised ROC-AUC (a concept drift of one product shows there first)
    max_product_roc_auc_drop: float | None = Field(None, ge=0, le=1)  # ... or a product's realised ROC-AUC is below
    # its holdout ROC-AUC less this (off by default: per-product holdouts of a small book are too noisy)
    bootstrap_resamples: int = Field(200, ge=0)  # row resamples behind the realised metrics' intervals (0: none)
    confidence: float = Field(0.9, gt=0, lt=1)  # interval coverage: a floor or rollback acts only when the whole
    # interval is past its bar (realised PR-AUC on a few dozen positives moves a lot by chance alone)

    @model_validator(mode="after")
    def _window(self) -> PolicySettings:
        if self.persist_checks > self.window_checks:
            raise ValueError(f"persist_checks ({self.persist_checks}) exceeds window_checks ({self.window_checks})")
        return self


class MonitoringSettings(_Section):
    """`xsell monitor`: drift of the champion's inputs and outputs, realised performance, decision policy."""

    drift: DriftSettings = DriftSettings()
    policy: PolicySettings = PolicySettings()
    performance_snapshots: int = Field(3, ge=1)  # most recent snapshots with matured labels after the training data
    act: bool = True  # `xsell monitor` carries out its decision (retrain / rollback), audited; --no-act only decides


class ApiSettings(_Section):
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


class ComputeSettings(_Section):
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
        import re

        if value is not None and not re.fullmatch(r"(tcp|tls)://[^\s:/]+:\d{1,5}", value):
            raise ValueError(f"expected a scheduler address such as 'tcp://10.0.0.5:8786', got {value!r}")
        return value


_CRON_FIELD = r"[0-9A-Za-z*/,?LW#-]+"


class ScheduleSettings(_Section):
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
        import re

        fields = value.split()
        if len(fields) != 5 or not all(re.fullmatch(_CRON_FIELD, f) for f in fields):
            raise ValueError(f"expected a 5-field cron string such as '0 6 * * *', got {value!r}")
        return " ".join(fields)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone such as 'Europe/Stockholm', got {value!r}") from None
        return value


class RuntimeSettings(_Section):
    """How commands share a home: one writer at a time (HOME/xsell.lock, see xsell/homelock.py)."""

    lock_timeout: float | None = Field(3600.0, ge=0)  # seconds a writer waits for the home; null: no limit


class ServicesSettings(_Section):
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
        import ipaddress

        if value != "localhost" and not ipaddress.ip_address(value).is_loopback:
            raise ValueError(f"services listen on loopback only (127.0.0.1 or localhost), got {value!r}")
        return value


class Settings(BaseSettings):
    """The whole platform configuration; one instance per process, passed down explicitly."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True)

    home: Path = Path(".xsell")
    seed: int = 42
    log_level: str = "INFO"
    log_json: bool = False
    progress: bool = True
    generator: GeneratorSettings = GeneratorSettings()
    ingest: IngestSettings = IngestSettings()
    features: FeatureSettings = FeatureSettings()
    training: TrainingSettings = TrainingSettings()
    registry: RegistrySettings = RegistrySettings()
    serving: ServingSettings = ServingSettings()
    api: ApiSettings = ApiSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    schedules: ScheduleSettings = ScheduleSettings()
    compute: ComputeSettings = ComputeSettings()
    services: ServicesSettings = ServicesSettings()
    runtime: RuntimeSettings = RuntimeSettings()

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        levels = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        if value.upper() not in levels:
            raise ValueError(f"expected one of {', '.join(levels)}, got {value!r}")
        return value.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    # ---- derived locations: all state lives under home --------------------------------
    @property
    def warehouse_path(self) -> Path:
        """The embedded DuckDB warehouse."""
        return self.home / "warehouse.duckdb"

    @property
    def reports_dir(self) -> Path:
        """Root of every human-readable report."""
        return self.home / "reports"

    @property
    def mlflow_uri(self) -> str:
        """Tracking URI: MLFLOW_TRACKING_URI when set (team mode), else SQLite under home."""
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        """Artifact root of the embedded MLflow store."""
        return self.home / "mlflow-artifacts"

    @property
    def optuna_uri(self) -> str:
        """Optuna storage: the configured database URL, else SQLite under home."""
        return self.training.optuna_storage or f"sqlite:///{(self.home / 'optuna.db').resolve()}"

    @property
    def tmp_dir(self) -> Path:
        """Scratch space (DuckDB spill, staging); safe to delete between runs."""
        return self.home / "tmp"

    @property
    def state_paths(self) -> tuple[Path, ...]:
        """Every file and folder under home that a command owns: no output a user names may land on or in one."""
        home = self.home
        databases = (self.warehouse_path, home / "mlflow.db", home / "optuna.db")
        sidecars = tuple(
            db.with_name(db.name + end) for db in databases for end in (".wal", "-wal", "-journal", "-shm")
        )
        folders = (*(home / name for name in STATE_FOLDERS), self.mlflow_artifacts_dir, self.tmp_dir)
        reports = tuple(self.reports_dir / name for name in REPORT_WRITERS)
        return (*databases, *sidecars, home / "xsell.lock", *folders, *reports)


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by XSELL_CONFIG (or passed as _config_file) as the lowest-priority source."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = os.environ.get(CONFIG_ENV)
        self._data: dict[str, Any] = _read_yaml(Path(path)) if path else {}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise SettingsError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid YAML: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {path} is not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path} must hold a mapping at the top level")
    for section, key, env in _SECRET_KEYS:
        if isinstance(data.get(section), dict) and data[section].get(key) is not None:
            raise SettingsError(
                f"config file {path}: {section}.{key} is a secret and is not read from a config file; set {env} "
                f"or write HOME/secrets/{section}_{key} (mode 0600)"
            )
    return data


def _yaml_problem(exc: Exception) -> str:
    """A YAML parser error in one line: what and where."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


#: Settings that hold secrets: from the environment (or a 0600 file under home), never from the YAML file.
_SECRET_KEYS = (("api", "admin_token", "XSELL_API__ADMIN_TOKEN"),)


#: XSELL_* variables that are read but are not settings: the config file, the fault point tests name, and the
#: token that marks the processes an xsell command started (for its watchdog).
NON_SETTING_ENV = (CONFIG_ENV, FAULT_ENV, TOKEN_ENV)


def check_environment(environ: dict[str, str] | os._Environ[str]) -> None:
    """Refuse an XSELL_* variable that names no setting (XSELL_TRAINING__TRIALS names training.trials)."""
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NON_SETTING_ENV:
            continue
        model: Any = Settings
        parts = upper.removeprefix(ENV_PREFIX).lower().split("__")
        for depth, part in enumerate(parts):
            fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else None
            if fields is None:
                raise SettingsError(
                    f"unknown environment variable {name}: {'.'.join(parts[:depth])} has no sub-settings"
                )
            if part not in fields:
                known = ".".join(parts[:depth]) or "the top level"
                raise SettingsError(
                    f"unknown environment variable {name}: no setting {'.'.join(parts[: depth + 1])!r} "
                    f"(under {known}: {', '.join(sorted(fields))})"
                )
            model = fields[part].annotation


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults < YAML file < XSELL_* env < explicit overrides (CLI options)."""
    check_environment(os.environ)
    previous = os.environ.get(CONFIG_ENV)
    try:
        if config_file is not None:
            os.environ[CONFIG_ENV] = str(config_file)
        clean = {k: v for k, v in overrides.items() if v is not None}
        return Settings(**_nest(clean))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from None
    finally:
        if config_file is not None:
            if previous is None:
                os.environ.pop(CONFIG_ENV, None)
            else:
                os.environ[CONFIG_ENV] = previous


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Turn {'generator.accounts': 5} into {'generator': {'accounts': 5}}."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested
