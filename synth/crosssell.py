"""Cross-sell, month by month: which eligible accounts buy an adjacent product (a hazard calibrated to a target
rate, with the prerequisite, readiness thresholds, uplift and concept drift), trials and lost deals, and churn."""

from __future__ import annotations

import numpy as np

from synth.marketing import current_uplift
from synth.randomness import sigmoid
from synth.timeline import NULL
from synth.world_state import (
    CONCEPT_GROWTH,
    CONCEPT_ONBOARDING,
    CONCEPT_SMB,
    CROSS_SELL,
    LOST,
    MASTERY_DEPTH,
    MASTERY_UPLIFT,
    MIN_CALIBRATION,
    RAMP_MONTHS,
    RAMP_PENALTY,
    RENEWAL_UPLIFT,
    RENEWAL_WINDOW_DAYS,
    WITHOUT_PREREQUISITE,
    WON,
    SimState,
    day_in,
    record_opportunity,
)


def adjacent_order(s: SimState) -> list[int]:
    """Adjacent products with prerequisites after the products they need."""
    order: list[int] = []
    pre = s.cat.adjacent_prerequisite
    while len(order) < s.j:
        for j in range(s.j):
            if j not in order and (pre[j] < 0 or int(pre[j]) in order):
                order.append(j)
    return order


def _conversion_logit(s: SimState, m: int, j: int, idx: np.ndarray, tier: np.ndarray) -> np.ndarray:
    """Conversion logit (before calibration) of accounts idx for adjacent product j in month m."""
    acc = s.acc
    ready = 0.25 * s.growth_z[idx] + 0.2 * acc.segment[idx] + 0.2 * (tier[idx] - s.cat.adjacent_min_tier[j])
    uplift = current_uplift(s, idx, j, m)
    drifted = s.concept and j == 0 and s.tl.drift_month is not None and m >= s.tl.drift_month
    paid_days = int(s.tl.month_days[m]) - s.paid_start[idx]
    if drifted:
        # concept drift: the product is repositioned as an onboarding add-on for young, growing small teams.
        # What drove it stops mattering (adoption depth and mastery, the need x health interaction, the renewal
        # window, tier and the enterprise lean); the first paid months now lift it instead of damping it, and
        # headcount growth and the smb segment drive it. A champion trained before still ranks by the old
        # drivers, so its realised ranking of this product falls once the labels mature.
        return (
            CONCEPT_GROWTH * s.growth_z[idx]
            + CONCEPT_SMB * (acc.segment[idx] == 0)
            + np.where(paid_days < RAMP_MONTHS * 30.4, CONCEPT_ONBOARDING, 0.0)
            + 0.4 * acc.need[idx, j]
            + uplift
            + s.random_effect[idx, j]
        )
    # buying is threshold-driven, as in the domain's readiness gates: a jump once the primary is adopted deeply
    # (mastery), a damped appetite while the primary is still ramping (first months), a need that turns into a
    # purchase mostly in a healthy relationship (an interaction, not a sum), and budget talks that open in the
    # weeks before a yearly renewal (not monotone in the time to renewal)
    depth = s.depth[idx]
    to_renewal = 365.25 - np.mod(paid_days, 365.25)
    return (
        0.45 * (depth - 0.5) / 0.2
        + MASTERY_UPLIFT * sigmoid((depth - MASTERY_DEPTH) / 0.04)
        + 1.0 * acc.need[idx, j] * sigmoid(2.0 * s.health[idx])
        + 0.2 * s.health[idx]
        + np.where(paid_days < RAMP_MONTHS * 30.4, RAMP_PENALTY, 0.0)
        + np.where((paid_days > 300) & (to_renewal <= RENEWAL_WINDOW_DAYS), RENEWAL_UPLIFT, 0.0)
        + ready
        + uplift
        + s.random_effect[idx, j]
    )


def adjacent_conversions(
    s: SimState,
    m: int,
    j: int,
    d0: int,
    d1: int,
    paid: np.ndarray,
    tier_start: np.ndarray,
    owned_start: np.ndarray,
) -> None:
    """Eligible accounts that buy adjacent product j this month, and the trials and lost deals of the rest."""
    rng = s.rng
    cat = s.cat
    eligible = paid & (tier_start >= cat.adjacent_min_tier[j]) & ~s.converted[:, j]
    idx = np.flatnonzero(eligible)
    if idx.size == 0:
        return
    pre = int(cat.adjacent_prerequisite[j])
    prereq_ok = np.ones(idx.size, dtype=bool) if pre < 0 else owned_start[idx, pre]
    lin = _conversion_logit(s, m, j, idx, tier_start)
    # calibrate on enough prerequisite-holders; with too few, keep the last offset
    if prereq_ok.sum() >= MIN_CALIBRATION:
        s.offset[j] = calibrate_offset(lin[prereq_ok], float(s.target_hazard[j]))
    offset = s.offset[j]
    hazard = sigmoid(lin + offset + np.where(prereq_ok, 0.0, WITHOUT_PREREQUISITE))
    if m >= s.tl.period_first:
        s.trace.append(month=m, product=j, eligible=idx, hazard=hazard)
    convert = rng.random(idx.size) < hazard
    c_idx = idx[convert]
    day = day_in(s, d0, d1, c_idx.size)
    seats = s.seats[c_idx]
    price = cat.adjacent[j].list_price_mrr
    mrr = np.round(price * (seats / 15.0) ** 0.3 * rng.uniform(0.9, 1.1, c_idx.size), 2)
    # sometimes a trial first (never before the primary subscription started)
    with_trial = rng.random(c_idx.size) < 0.4
    trial_start = np.maximum(day - rng.integers(14, 31, c_idx.size), s.paid_start[c_idx] + 1)
    with_trial &= trial_start < day
    s.items.append(
        account=c_idx[with_trial], product=j, tier=-1, seats=seats[with_trial], mrr=0.0, is_trial=True,
        start_day=trial_start[with_trial], end_day=day[with_trial],
    )  # fmt: skip
    items = s.items.append(
        account=c_idx, product=j, tier=-1, seats=seats, mrr=mrr, is_trial=False,
        start_day=day, end_day=NULL,
    )  # fmt: skip
    s.adj_item[c_idx, j] = items
    s.adj_start[c_idx, j] = day
    s.adj_state[c_idx, j] = 2
    s.converted[c_idx, j] = True
    s.conv_log.append(account=c_idx, product=j, day=day)
    # often a won cross-sell opportunity precedes the purchase
    sales = rng.random(c_idx.size) < 0.7
    created = day[sales] - rng.integers(15, 61, int(sales.sum()))
    record_opportunity(s, c_idx[sales], j, CROSS_SELL, WON, created, day[sales], 12 * mrr[sales])
    # accounts that did not convert: some failed trials and lost opportunities
    rest, h_rest = idx[~convert], hazard[~convert]
    fail = rng.random(rest.size) < 0.3 * h_rest
    f_idx = rest[fail]
    start = day_in(s, d0, d1, f_idx.size)
    s.items.append(
        account=f_idx, product=j, tier=-1, seats=s.seats[f_idx], mrr=0.0, is_trial=True,
        start_day=start, end_day=start + rng.integers(14, 31, f_idx.size),
    )  # fmt: skip
    lost = rng.random(rest.size) < 0.6 * h_rest + 0.002
    l_idx = rest[lost]
    created = day_in(s, d0, d1, l_idx.size)
    amount = 12 * price * rng.uniform(0.8, 1.3, l_idx.size)
    record_opportunity(s, l_idx, j, CROSS_SELL, LOST, created, created + rng.integers(20, 75, l_idx.size), amount)


def adjacent_churn(s: SimState, d0: int, d1: int, paid: np.ndarray) -> None:
    """Owned adjacent products that end this month."""
    hazard = sigmoid(-5.2 - 0.6 * s.health)
    for j in range(s.j):
        owned = paid & (s.adj_state[:, j] == 2) & (s.adj_start[:, j] < d0)
        idx = np.flatnonzero(owned & (s.rng.random(s.n) < hazard))
        if idx.size == 0:
            continue
        day = day_in(s, d0, d1, idx.size)
        s.items.set("end_day", s.adj_item[idx, j], day)
        s.adj_state[idx, j] = 3


def calibrate_offset(lin: np.ndarray, target: float) -> float:
    """Offset c with mean(sigmoid(lin + c)) == target (bisection); 0 when lin is empty."""
    if lin.size == 0:
        return 0.0
    lo, hi = -20.0, 10.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if sigmoid(lin + mid).mean() > target:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2
