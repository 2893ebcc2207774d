"""Account population: creation over time, firmographics, latent traits and ids."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synth.catalog import CatalogPlan
from synth.ids import new_ids
from synth.randomness import stream
from synth.timeline import Timeline
from xsell.settings import GeneratorSettings

SEGMENTS = ("smb", "mid_market", "enterprise")
INDUSTRIES = (
    "education", "logistics", "software", "retail", "manufacturing",
    "finance", "media", "public_sector", "healthcare", "professional_services",
)  # fmt: skip
COUNTRIES = ("US", "GB", "CA", "FR", "DE", "NL", "ES", "IT", "AU", "IN", "SE", "JP", "BR")
COUNTRY_WEIGHTS = np.array([32, 11, 7.5, 6.8, 6.3, 5.9, 4.8, 4.3, 3.8, 3.7, 3.3, 2.8, 2.8])

#: accounts are created at 09:00 UTC on their creation day
ACCOUNT_HOUR = 9 * 3600
HISTORY_SHARE = 0.55  # accounts created before the period
BASE_SEGMENT_WEIGHTS = np.array([0.55, 0.33, 0.12])
COVARIATE_SEGMENT_WEIGHTS = np.array([0.85, 0.13, 0.02])


@dataclass
class Accounts:
    """Static latent traits and ids of every CRM account (index order = creation order)."""

    account_id: np.ndarray
    name: np.ndarray
    created_day: np.ndarray
    segment: np.ndarray
    industry: np.ndarray
    country: np.ndarray  # index into COUNTRIES, -1 unknown
    emp0: np.ndarray
    growth: np.ndarray
    health_base: np.ndarray
    need: np.ndarray  # (n, J)
    customer_id: np.ndarray
    workspace_id: np.ndarray
    revenue_per_employee: np.ndarray
    has_revenue: np.ndarray
    #: first day the account started a trial or subscription (when billing/workspace ids appear)
    first_start_day: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n(self) -> int:
        """Number of accounts."""
        return len(self.account_id)


NAME_WORDS = (
    "Vertex", "Green", "Silver", "Harbor", "Prime", "Bright", "Quiet", "Clear", "Pioneer", "Blue",
    "North", "Summit", "Atlas", "Nova", "Iron", "Swift", "Cedar", "Golden", "Delta", "Echo",
)  # fmt: skip
NAME_NOUNS = (
    "Systems", "Health", "Partners", "Labs", "Dynamics", "Capital", "Bridge", "Foods", "Logistics",
    "Media", "Works", "Analytics", "Retail", "Energy", "Solutions", "Group", "Studio", "Networks",
)  # fmt: skip
NAME_SUFFIXES = ("Inc", "LLC", "Ltd", "GmbH", "AB", "Corp", "Pty Ltd", "SA", "BV", "")


def draw_accounts(
    settings: GeneratorSettings, catalog: CatalogPlan, timeline: Timeline, seed: int, covariate: bool
) -> Accounts:
    """Draw every account's creation day, firmographics and latent traits (sorted by creation)."""
    rng = stream(seed, "accounts")
    n = settings.accounts
    history = rng.random(n) < HISTORY_SHARE
    pf = timeline.period_first
    month = np.where(
        history,
        rng.integers(0, pf, n),
        rng.integers(pf, timeline.n_months, n),
    )
    lo, hi = timeline.month_days[month], timeline.month_days[month + 1]
    created_day = lo + np.floor(rng.random(n) * (hi - lo)).astype(np.int64)
    # the last day stays free so every account exists before the export
    created_day = np.minimum(created_day, timeline.last_day - 1)
    order = np.argsort(created_day, kind="stable")
    created_day = created_day[order]
    drifted = np.zeros(n, dtype=bool)
    if covariate and timeline.drift_month is not None:
        drifted = created_day >= timeline.month_days[timeline.drift_month]
    u = rng.random(n)
    segment = np.where(
        drifted,
        np.searchsorted(np.cumsum(COVARIATE_SEGMENT_WEIGHTS), u * COVARIATE_SEGMENT_WEIGHTS.sum()),
        np.searchsorted(np.cumsum(BASE_SEGMENT_WEIGHTS), u * BASE_SEGMENT_WEIGHTS.sum()),
    ).astype(np.int64)
    segment = np.minimum(segment, 2)
    median = np.array([35.0, 300.0, 2500.0])[segment]
    spread = np.array([0.6, 0.5, 0.7])[segment]
    emp = np.exp(np.log(median) + rng.normal(0, 1, n) * spread)
    emp = np.where(drifted, emp * 0.6, emp)
    low, high = np.array([3, 100, 1000])[segment], np.array([99, 999, 50000])[segment]
    emp0 = np.clip(emp, low, high)
    if covariate:
        emp0 = np.where(drifted, np.clip(emp, 2, high), emp0)
    industry = rng.integers(0, len(INDUSTRIES), n)
    country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS / COUNTRY_WEIGHTS.sum())
    country = np.where(rng.random(n) < 0.05, -1, country)
    j = catalog.n_adjacent
    # need for each adjacent product: personal + industry and segment tilts derived from the catalogue
    industry_tilt = rng.normal(0, 0.35, (len(INDUSTRIES), j))
    tier_gate = catalog.adjacent_min_tier.astype(float) / max(1, len(catalog.tiers) - 1)
    need = rng.normal(0, 1, (n, j)) + industry_tilt[industry] + 0.4 * np.outer(segment - 1, tier_gate)
    taken: set[str] = set()
    names = np.char.add(
        np.char.add(np.array(NAME_WORDS)[rng.integers(0, len(NAME_WORDS), n)], " "),
        np.array(NAME_NOUNS)[rng.integers(0, len(NAME_NOUNS), n)],
    )
    suffix = np.array(NAME_SUFFIXES)[rng.integers(0, len(NAME_SUFFIXES), n)]
    names = np.where(suffix == "", names, np.char.add(np.char.add(names, " "), suffix)).astype(object)
    return Accounts(
        account_id=new_ids(rng, "account", n, taken),
        name=names,
        created_day=created_day,
        segment=segment,
        industry=industry,
        country=country,
        emp0=emp0,
        growth=rng.normal(0.006, 0.012, n),
        health_base=rng.normal(0, 1, n),
        need=need,
        customer_id=new_ids(rng, "customer", n, taken),
        workspace_id=new_ids(rng, "workspace", n, taken),
        revenue_per_employee=np.exp(rng.normal(np.log(90_000), 0.4, n)),
        has_revenue=rng.random(n) < 0.7,
    )
