"""Settings of batch scoring (`serving/`): tiers and their gates, the adoption path, shadow scoring."""

from __future__ import annotations

from pydantic import Field

from xsell.settings.base import Section


class TierGates(Section):
    """Domain readiness gates of the `ready_now` tier, on the snapshot's feature columns."""

    min_feature_share: float = Field(0.7, ge=0, le=1)  # deep primary adoption: share of the tier's features (90d)
    min_active_users: int = Field(3, ge=0)  # distinct active users in the last 30 days
    min_tenure_months: float = Field(6.0, ge=0)
    min_nps: float | None = Field(7.0, ge=0, le=10)  # healthy: latest NPS at least this (no response passes)
    max_overdue_invoices: int = Field(0, ge=0)
    max_urgent_tickets_90d: int = Field(1, ge=0)
    require_adoption_step: bool = False  # the product must be the account's next step on the adoption path


class TierSettings(Section):
    """Tiers `ready_now` / `building` / `not_ready`: gates plus propensity cut-offs chosen on the holdout."""

    gates: TierGates = TierGates()
    ready_lift: float = Field(2.0, gt=0)  # ready_now: gated rows above the cut-off convert >= lift x base rate
    building_lift: float = Field(1.2, gt=0)  # building: rows above the cut-off convert >= lift x base rate
    min_tier_rows: int = Field(20, ge=1)  # a cut-off must leave at least this many holdout rows above it
    min_positives: int = Field(5, ge=1)  # fewer holdout positives in a product: the pooled cut-offs are used
    fallback_ready_share: float = Field(0.1, gt=0, lt=1)  # no cut-off meets the lift: top share per product
    fallback_building_share: float = Field(0.3, gt=0, lt=1)


class AdoptionSettings(Section):
    """Adoption path mined from the ownership history."""

    max_growth_weight: float = Field(10.0, ge=1)  # an account's weight is its MRR growth multiple, capped here


class ShadowSettings(Section):
    """Batch shadow scoring of the challenger beside the champion."""

    enabled: bool = True
    experiment_suffix: str = "-shadow"  # MLflow experiment of the comparisons: <registry.experiment><suffix>
    top_share: float = Field(0.1, gt=0, lt=1)  # top-decile overlap: share of rows counted as the top
    psi_bins: int = Field(10, ge=2)


class ServingSettings(Section):
    """Batch scoring output: tiers, adoption path, shadow scoring."""

    tiers: TierSettings = TierSettings()
    adoption: AdoptionSettings = AdoptionSettings()
    shadow: ShadowSettings = ShadowSettings()
