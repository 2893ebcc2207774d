"""The primary product's lifecycle, month by month: starts (sales-led or trial), trials resolved, adoption depth,
churn, tier upgrades and yearly renewals, each leaving its items and opportunities in the state's logs."""

from __future__ import annotations

import numpy as np

from synth.randomness import sigmoid
from synth.timeline import DAY, NULL
from synth.world_state import (
    LOST,
    NEW_BUSINESS,
    PRIMARY,
    RENEWAL,
    RETRY_HAZARD,
    START_HAZARD,
    TRIAL_SEATS,
    UPSELL,
    WON,
    SimState,
    day_in,
    record_opportunity,
    time_of_day,
)


def primary_starts(s: SimState, m: int, d0: int, d1: int, exists: np.ndarray) -> None:
    """Accounts that start the primary this month: sales-led straight to paid, product-led through a trial."""
    rng = s.rng
    hazard = np.where(s.state == 0, START_HAZARD, np.where(s.state == 4, RETRY_HAZARD, 0.0))
    starting = exists & s.adopter & (rng.random(s.n) < hazard)
    idx = np.flatnonzero(starting)
    if idx.size == 0:
        return
    day = day_in(s, np.maximum(d0, s.acc.created_day[idx]), d1, idx.size)
    s.first_start[idx] = np.where(s.first_start[idx] == NULL, day, s.first_start[idx])
    s.run_start[idx] = day
    s.run_end[idx] = np.iinfo(np.int64).max
    tier = s.paid_tier_pref[idx]
    direct = rng.random(idx.size) < 0.2 + 0.12 * s.acc.segment[idx]
    # sales-led: straight to a paid subscription, with a won new-business opportunity
    d_idx, d_day = idx[direct], day[direct]
    _start_paid(s, d_idx, d_day, tier[direct])
    created = np.maximum(d_day - rng.integers(10, 60, d_idx.size), s.acc.created_day[d_idx])
    record_opportunity(s, d_idx, PRIMARY, NEW_BUSINESS, WON, created, d_day, 12 * s.core_mrr[d_idx])
    # product-led: a trial first; its outcome is drawn now and resolved when it ends
    t_idx, t_day, t_tier = idx[~direct], day[~direct], tier[~direct]
    length = rng.integers(14, 31, t_idx.size)
    s.items.append(
        account=t_idx, product=PRIMARY, tier=t_tier, seats=TRIAL_SEATS, mrr=0.0, is_trial=True,
        start_day=t_day, end_day=t_day + length,
    )  # fmt: skip
    s.state[t_idx] = 1
    s.tier[t_idx] = t_tier
    s.seats[t_idx] = TRIAL_SEATS
    s.trial_end[t_idx] = t_day + length
    s.trial_paid[t_idx] = rng.random(t_idx.size) < sigmoid(1.0 + 0.6 * s.health[t_idx])
    with_opp = rng.random(t_idx.size) < 0.75
    o_idx = t_idx[with_opp]
    created = t_day[with_opp] + rng.integers(0, 7, o_idx.size)
    outcome = np.where(s.trial_paid[o_idx], WON, LOST)
    amount = 12 * _core_price(s, o_idx, t_tier[with_opp], _paid_seats(s, o_idx, m))
    record_opportunity(s, o_idx, PRIMARY, NEW_BUSINESS, outcome, created, s.trial_end[o_idx], amount)


def resolve_trials(s: SimState, d0: int, d1: int) -> None:
    """Trials ending this month: paid from their end day, or the account lapses."""
    ending = (s.state == 1) & (s.trial_end < d1)
    win = np.flatnonzero(ending & s.trial_paid)
    lose = np.flatnonzero(ending & ~s.trial_paid)
    _start_paid(s, win, s.trial_end[win], s.tier[win])
    s.state[lose] = 4
    s.run_end[lose] = s.trial_end[lose]


def _paid_seats(s: SimState, idx: np.ndarray, m: int) -> np.ndarray:
    """Seats a paid subscription of these accounts would have this month (a share of their employees)."""
    emp = s.employees[m, idx]
    return np.clip(np.round(emp * s.seat_share[idx]), 3, 5000).astype(np.int64)


def _core_price(s: SimState, idx: np.ndarray, tier: np.ndarray, seats: np.ndarray) -> np.ndarray:
    """Monthly price of the primary at these tiers and seats, with noise."""
    base = s.cat.primary.list_price_mrr * 0.3 * 3.0 ** tier.astype(float)
    noise = s.rng.uniform(0.85, 1.15, idx.size)
    return np.round(base * (seats / 10.0) ** 0.7 * noise, 2)


def _start_paid(s: SimState, idx: np.ndarray, day: np.ndarray, tier: np.ndarray) -> None:
    """Start paid primary subscriptions on the given days and tiers."""
    if idx.size == 0:
        return
    m = s.tl.month_of_days(day)
    seats = np.clip(np.round(s.employees[m, idx] * s.seat_share[idx]), 3, 5000).astype(np.int64)
    mrr = _core_price(s, idx, tier, seats)
    items = s.items.append(
        account=idx, product=PRIMARY, tier=tier, seats=seats, mrr=mrr, is_trial=False,
        start_day=day, end_day=NULL,
    )  # fmt: skip
    s.state[idx] = 2
    s.tier[idx] = tier
    s.seats[idx] = seats
    s.core_mrr[idx] = mrr
    s.core_item[idx] = items
    s.paid_start[idx] = day


def update_depth(s: SimState, d0: int) -> None:
    """Adoption depth of the primary: grows with tenure and health, with an AR(1) wobble."""
    active = (s.state == 1) | (s.state == 2)
    tenure = np.maximum(0, d0 - s.run_start) / 30.4
    s.ar = 0.7 * s.ar + s.rng.normal(0, 0.25, s.n)
    e = s.e0 + s.slope * np.log1p(np.where(active, tenure, 0)) + 0.35 * s.health + s.ar
    s.depth = np.where(active, sigmoid(e), 0.0)


def primary_churn(s: SimState, m: int, d0: int, d1: int, paid: np.ndarray) -> np.ndarray:
    """Paid accounts that churn this month (ending their adjacent products too); returns the churn mask."""
    rng = s.rng
    hazard = sigmoid(-5.0 - 0.8 * s.health - 2.5 * (s.depth - 0.5))
    churn = paid & (rng.random(s.n) < hazard)
    idx = np.flatnonzero(churn)
    if idx.size == 0:
        return churn
    day = day_in(s, d0, d1, idx.size)
    s.items.set("end_day", s.core_item[idx], day)
    s.state[idx] = 3
    s.run_end[idx] = day
    for j in range(s.j):
        owned = idx[s.adj_state[idx, j] == 2]
        s.items.set("end_day", s.adj_item[owned, j], day[s.adj_state[idx, j] == 2])
        s.adj_state[owned, j] = 3
    pending = (s.renewal_opp[idx] >= 0) & (s.renewal_day[idx] > day)
    rid = s.renewal_opp[idx][pending]
    s.opps.set("outcome", rid, LOST)
    s.opps.set("closed_ts", rid, day[pending] * DAY + time_of_day(s, rid.size))
    s.renewal_opp[idx] = -1
    # most other churns still leave a lost renewal (or save) opportunity behind
    late = ~pending & (s.rng.random(idx.size) < 0.6)
    created = day[late] - s.rng.integers(20, 60, int(late.sum()))
    record_opportunity(s, idx[late], PRIMARY, RENEWAL, LOST, created, day[late], 12 * s.core_mrr[idx[late]])
    s.core_mrr[idx] = 0
    return churn


def upgrades(s: SimState, m: int, d0: int, d1: int, paid: np.ndarray) -> None:
    """Paid accounts that move up one tier this month, with a won upsell opportunity."""
    rng = s.rng
    can = paid & (s.tier < s.n_tiers - 1)
    hazard = sigmoid(-4.8 + 4.0 * (s.depth - 0.55) + 0.3 * s.health + 0.2 * s.acc.segment)
    idx = np.flatnonzero(can & (rng.random(s.n) < hazard))
    if idx.size == 0:
        return
    day = day_in(s, d0, d1, idx.size)
    s.items.set("end_day", s.core_item[idx], day)
    old_mrr = s.core_mrr[idx]
    tier = s.tier[idx] + 1
    seats = np.maximum(s.seats[idx], _paid_seats(s, idx, m))
    mrr = np.maximum(_core_price(s, idx, tier, seats), old_mrr + 1)
    items = s.items.append(
        account=idx, product=PRIMARY, tier=tier, seats=seats, mrr=mrr, is_trial=False,
        start_day=day, end_day=NULL,
    )  # fmt: skip
    s.core_item[idx] = items
    s.tier[idx] = tier
    s.seats[idx] = seats
    s.core_mrr[idx] = mrr
    created = day - rng.integers(15, 45, idx.size)
    record_opportunity(s, idx, PRIMARY, UPSELL, WON, created, day, 12 * (mrr - old_mrr))


def renewals(s: SimState, m: int, d0: int, d1: int) -> None:
    """Open a renewal opportunity 45 days before each yearly anniversary of a paid run."""
    paid = np.flatnonzero(s.state == 2)
    if paid.size == 0:
        return
    start = s.paid_start[paid]
    created_lo, created_hi = d0, d1
    # anniversary A (whole years after start) with A - 45 in [d0, d1)
    years = np.floor((d0 + 45 - start) / 365.25).astype(np.int64) + 1
    anniv = start + np.round(years * 365.25).astype(np.int64)
    created = anniv - 45
    due = (years >= 1) & (created >= created_lo) & (created < created_hi)
    idx, anniv, created = paid[due], anniv[due], created[due]
    if idx.size == 0:
        return
    opp = record_opportunity(s, idx, PRIMARY, RENEWAL, WON, created, anniv, 12 * s.core_mrr[idx])
    s.renewal_opp[idx] = opp
    s.renewal_day[idx] = anniv
