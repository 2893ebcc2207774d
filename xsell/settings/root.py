"""The whole settings tree: one section per layer, and the state locations derived from `home`."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from xsell.settings.base import ENV_PREFIX
from xsell.settings.delivery import ApiSettings, ComputeSettings, RuntimeSettings, ScheduleSettings, ServicesSettings
from xsell.settings.generator import GeneratorSettings
from xsell.settings.ingest import FeatureSettings, IngestSettings
from xsell.settings.modelling import RegistrySettings, TrainingSettings
from xsell.settings.monitoring import MonitoringSettings
from xsell.settings.serving import ServingSettings
from xsell.settings.yaml_source import YamlSource

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
        return (init_settings, env_settings, YamlSource(settings_cls))

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
