"""Settings of the generator (`synth/`): size, period, catalogue, defects and drift of a synthetic export."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from xsell.settings.base import Section


class ProductSpec(Section):
    """One catalogue product as the generator writes it."""

    product: str
    kind: Literal["primary", "adjacent"] = "adjacent"
    prerequisite: str | None = None
    min_core_tier: str | None = None
    list_price_mrr: float = 0.0


class FeatureSpec(Section):
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


class DefectRates(Section):
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


class GeneratorSettings(Section):
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
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
            raise ValueError(f"expected YYYY-MM, got {value!r}")
        return value
