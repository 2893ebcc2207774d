"""Settings of ingestion (`ingest/`) and of the point-in-time features (`features/`) built on its warehouse."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator

from xsell.settings.base import Section


class QualityGate(Section):
    """Data-quality gate: the consolidation fails when a table exceeds any of these shares."""

    enabled: bool = True
    max_orphan_share: float = Field(0.05, ge=0, le=1)
    max_invalid_share: float = Field(0.05, ge=0, le=1)
    max_future_share: float = Field(0.05, ge=0, le=1)
    max_duplicate_share: float = Field(1.0, ge=0, le=1)  # overlapping CRM extracts repeat rows by design


class IngestSettings(Section):
    """Reading the raw contract and consolidating it into the warehouse."""

    gate: QualityGate = QualityGate()
    export_time: str | None = None  # ISO timestamp; default: latest usage ingested_at
    late_after_days: int = Field(1, ge=0)
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = Field(2, ge=1)
    io_retries: int = Field(2, ge=0)  # Prefect retries of the I/O tasks (reading raw files, loading)


class FeatureSettings(Section):
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
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected YYYY-MM-DD, got {value!r}") from None
        return value
