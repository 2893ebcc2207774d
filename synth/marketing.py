"""Marketing, month by month: the newsletter and the adjacent products' campaigns (with holdouts), and the
conversion uplift a strong or an opened touch leaves for the next months."""

from __future__ import annotations

import numpy as np

from synth.randomness import sigmoid
from synth.world_state import (
    CAMPAIGN_PROB,
    CAMPAIGN_REACH,
    CHANNEL_WEIGHTS,
    CHANNELS,
    ENGAGED,
    ENGAGED_UPLIFT,
    HOLDOUT_SHARE,
    NEWSLETTER_REACH,
    OPENED,
    OPENED_UPLIFT,
    SENT,
    Campaign,
    SimState,
    day_in,
)


def run_campaigns(s: SimState, m: int, d0: int, d1: int, exists: np.ndarray) -> None:
    """This month's newsletter and campaigns: touches logged, uplift set for the treated accounts."""
    rng = s.rng
    label = s.tl.month_label(m).replace("-", "")
    # newsletter: any existing account, no product, no effect on conversion
    send = d0 + 14
    nl = np.flatnonzero(exists & (s.acc.created_day < send) & (rng.random(s.n) < NEWSLETTER_REACH))
    if nl.size:
        s.campaigns.append(Campaign(f"NL-{label}", -1, 0, m, send))
        opened = rng.random(nl.size) < 0.22 + 0.08 * (s.health[nl] > 0)
        clicked = opened & (rng.random(nl.size) < 0.08)
        level = np.where(clicked, ENGAGED, np.where(opened, OPENED, SENT))
        s.touch_log.append(account=nl, campaign=len(s.campaigns) - 1, level=level, holdout=False)
    paid = s.state == 2
    for j in range(s.j):
        if rng.random() >= CAMPAIGN_PROB:
            continue
        candidates = paid & (s.tier >= s.cat.adjacent_min_tier[j]) & (s.adj_state[:, j] != 2)
        targeted = np.flatnonzero(candidates & (rng.random(s.n) < CAMPAIGN_REACH))
        if targeted.size == 0:
            continue
        channel = int(rng.choice(len(CHANNELS), p=CHANNEL_WEIGHTS))
        key = "".join(c if c.isalnum() else "-" for c in s.cat.adjacent[j].product.upper())
        s.campaigns.append(Campaign(f"XS-{key}-{label}", j, channel, m, int(day_in(s, d0, d1 - 5, 1)[0])))
        holdout = rng.random(targeted.size) < HOLDOUT_SHARE
        need = s.acc.need[targeted, j]
        p_act = sigmoid(-0.8 + 0.9 * need + 0.3 * s.health[targeted])
        p_strong = sigmoid(-1.2 + 0.9 * need)
        u1, u2 = rng.random(targeted.size), rng.random(targeted.size)
        if CHANNELS[channel] == "email":
            level = np.where(u1 < p_act, np.where(u2 < p_strong, ENGAGED, OPENED), SENT)
        else:  # webinar/in-app/sales call: a single strong action or nothing
            factor = {"webinar": 0.5, "in_app": 0.6, "sales_call": 0.7}[CHANNELS[channel]]
            level = np.where(u1 < p_act * factor, ENGAGED, SENT)
        level = np.where(holdout, SENT, level)
        s.touch_log.append(account=targeted, campaign=len(s.campaigns) - 1, level=level, holdout=holdout)
        treated = targeted[~holdout]
        lvl = level[~holdout]
        strength = np.where(lvl == ENGAGED, ENGAGED_UPLIFT, np.where(lvl == OPENED, OPENED_UPLIFT, 0.0))
        better = strength >= current_uplift(s, treated, j, m + 1)
        t = treated[better & (strength > 0)]
        s.uplift[t, j] = strength[better & (strength > 0)]
        s.uplift_from[t, j] = m + 1
        s.uplift_until[t, j] = m + 3


def current_uplift(s: SimState, idx: np.ndarray, j: int, m: int) -> np.ndarray:
    """Conversion uplift of accounts idx for product j still live in month m (0 when expired)."""
    live = (s.uplift_from[idx, j] <= m) & (s.uplift_until[idx, j] >= m)
    return np.where(live, s.uplift[idx, j], 0.0)
