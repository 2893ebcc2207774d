"""Month-by-month simulation: primary-product lifecycle, adoption, campaigns and cross-sell conversions.

Everything is simulated month by month, vectorised over accounts. The world holds latent state
(health, need, adoption depth) and event logs; `tables.py`, `crm.py` and `usage.py` render the
contract tables from it. Product and feature names never appear here: products are indices into
the catalogue plan (primary = -1, adjacent = 0..J-1) and tiers are indices into its tier list.

This module runs the monthly loop over the stages, in the order their random draws must keep:
`synth.primary` (the primary's lifecycle), `synth.marketing` (campaigns and their uplift) and
`synth.crosssell` (adjacent-product conversions and churn), all over one `synth.world_state.SimState`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.accounts import Accounts
from synth.catalog import CatalogPlan
from synth.crosssell import adjacent_churn, adjacent_conversions, adjacent_order
from synth.marketing import run_campaigns
from synth.primary import primary_churn, primary_starts, renewals, resolve_trials, update_depth, upgrades
from synth.timeline import NULL, Timeline
from synth.world_state import TRIAL_SEATS, Campaign, SimState
from xsell.settings import GeneratorSettings


@dataclass
class World:
    """The simulated world: accounts, monthly snapshots of the period, and event logs."""

    accounts: Accounts
    #: latent employee count per (simulated month, account)
    employees: np.ndarray
    #: period snapshots, shape (period months, accounts): active day range [lo, hi) of the primary
    active_lo: np.ndarray
    active_hi: np.ndarray
    paid: np.ndarray
    tier: np.ndarray
    seats: np.ndarray
    depth: np.ndarray
    health: np.ndarray
    #: (period months, accounts, J): owns the adjacent product at month end
    owns: np.ndarray
    items: dict[str, np.ndarray]
    opportunities: dict[str, np.ndarray]
    touches: dict[str, np.ndarray]
    campaigns: list[Campaign]
    #: account, product, day of every cross-sell conversion (first paid item of an adjacent product)
    conversions: dict[str, np.ndarray]
    #: per adjacent product, the account-month eligibility/hazard trace of the period (for diagnostics)
    hazard_trace: dict[str, np.ndarray]


def simulate_world(settings: GeneratorSettings, catalog: CatalogPlan, timeline: Timeline, seed: int) -> World:
    """Simulate every account month by month from the history start to the period end."""
    s = SimState(settings, catalog, timeline, seed)
    for m in range(s.tl.n_months):
        _month(s, m)
    s.acc.first_start_day = s.first_start
    return World(
        accounts=s.acc,
        employees=s.employees,
        items=s.items.finish(),
        opportunities=s.opps.finish(),
        touches=s.touch_log.finish(),
        campaigns=s.campaigns,
        conversions=s.conv_log.finish(),
        hazard_trace=s.trace.finish(),
        **s.snap,
    )


def _month(s: SimState, m: int) -> None:
    """One simulated month, in the order the draws must keep: latent traits, the primary, marketing, cross-sell."""
    tl, rng = s.tl, s.rng
    d0, d1 = int(tl.month_days[m]), int(tl.month_days[m + 1])
    exists = s.acc.created_day < d1
    # relationship health: AR(1) around each account's base
    s.health = 0.85 * s.health + 0.15 * s.acc.health_base + rng.normal(0, 0.25, s.n)
    # employees: latent growth with a small random walk
    months_alive = np.maximum(0, m - tl.month_of_days(s.acc.created_day))
    s.emp_walk += rng.normal(0, 0.015, s.n) * (months_alive > 0)
    s.employees[m] = s.acc.emp0 * np.exp(s.acc.growth * months_alive + s.emp_walk)

    primary_starts(s, m, d0, d1, exists)
    resolve_trials(s, d0, d1)
    update_depth(s, d0)
    paid_before = (s.state == 2) & (s.paid_start < d0)
    # gates use the state at the month start: tiers and products bought this month count next month
    tier_start = s.tier.copy()
    owned_start = s.adj_state == 2
    churning = primary_churn(s, m, d0, d1, paid_before)
    upgrades(s, m, d0, d1, paid_before & ~churning)
    renewals(s, m, d0, d1)
    if m >= tl.period_first:
        run_campaigns(s, m, d0, d1, exists)
    staying = paid_before & ~churning
    for j in adjacent_order(s):
        adjacent_conversions(s, m, j, d0, d1, staying, tier_start, owned_start)
    adjacent_churn(s, d0, d1, staying)
    if m >= tl.period_first:
        _snapshot(s, m - tl.period_first, d0, d1)


def _snapshot(s: SimState, p: int, d0: int, d1: int) -> None:
    """Record the month-end state of period month `p` (active range, paid, tier, seats, depth, health, owns)."""
    started = s.run_start != NULL
    lo = np.where(started, np.maximum(d0, s.run_start), d1)
    hi = np.where(started, np.minimum(d1, s.run_end), d1)
    hi = np.maximum(lo, hi)
    s.snap["active_lo"][p] = lo
    s.snap["active_hi"][p] = hi
    s.snap["paid"][p] = s.state == 2
    s.snap["tier"][p] = s.tier
    s.snap["seats"][p] = np.where(s.state == 1, TRIAL_SEATS, s.seats)
    s.snap["depth"][p] = s.depth
    s.snap["health"][p] = s.health
    s.snap["owns"][p] = s.adj_state == 2
