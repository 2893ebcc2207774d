"""Month-by-month simulation: primary-product lifecycle, adoption, campaigns and cross-sell conversions.

Everything is simulated month by month, vectorised over accounts. The world holds latent state
(health, need, adoption depth) and event logs; `tables.py`, `crm.py` and `usage.py` render the
contract tables from it. Product and feature names never appear here: products are indices into
the catalogue plan (primary = -1, adjacent = 0..J-1) and tiers are indices into its tier list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.accounts import ACCOUNT_HOUR, Accounts, draw_accounts
from synth.catalog import CatalogPlan
from synth.randomness import sigmoid, stream
from synth.timeline import DAY, NULL, Timeline
from xsell.settings import GeneratorSettings

PRIMARY = -1
#: opportunity types and outcomes as small ints
OPP_TYPES = ("new_business", "cross_sell", "upsell", "renewal")
NEW_BUSINESS, CROSS_SELL, UPSELL, RENEWAL = range(4)
LOST, WON = 0, 1
CHANNELS = ("email", "webinar", "in_app", "sales_call")
CHANNEL_WEIGHTS = np.array([0.55, 0.2, 0.18, 0.07])
#: engagement of a campaign touch: only sent, opened, or a strong action (clicked/attended/replied)
SENT, OPENED, ENGAGED = 0, 1, 2

# ---- knobs of the world (monthly rates unless stated) --------------------------------------
ADOPTER_SHARE = 0.88  # accounts that ever start the primary product
START_HAZARD = 0.30
RETRY_HAZARD = 0.04
TRIAL_SEATS = 5
BASE_CONVERSION_HAZARD = 0.013  # mean monthly conversion hazard among eligible accounts
CAMPAIGN_PROB = 0.55  # chance an adjacent product runs a campaign in a month
CAMPAIGN_REACH = 0.5  # share of candidate accounts a campaign targets
HOLDOUT_SHARE = 0.10
NEWSLETTER_REACH = 0.35
ENGAGED_UPLIFT = 0.8  # added to the conversion logit for 3 months after a strong action
OPENED_UPLIFT = 0.25
WITHOUT_PREREQUISITE = -4.0  # logit penalty when the prerequisite is not owned
MASTERY_DEPTH = 0.62  # primary adoption depth beyond which an account is ready to expand
MASTERY_UPLIFT = 1.6  # added to the conversion logit past that depth
RAMP_MONTHS = 6  # months after the first paid day during which an account is still ramping
RAMP_PENALTY = -1.0  # added to the conversion logit while ramping
RENEWAL_WINDOW_DAYS = 75  # days before a yearly renewal in which expansion is discussed
RENEWAL_UPLIFT = 0.9  # added to the conversion logit within that window
# concept drift of the first adjacent product: its conversion logit after the drift month
CONCEPT_GROWTH = 1.0  # x the account's standardised headcount growth
CONCEPT_SMB = 0.8  # added for smb accounts
CONCEPT_ONBOARDING = 0.8  # added in the first paid months (the ramp that used to damp it)
MIN_CALIBRATION = 50  # eligible accounts needed to recalibrate a product's conversion offset


class Log:
    """A growing columnar event log: append blocks of arrays, set fields by row index later."""

    def __init__(self, **dtypes: type) -> None:
        self._dtypes = dtypes
        self._blocks: dict[str, list[np.ndarray]] = {k: [] for k in dtypes}
        self._n = 0
        self._updates: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in dtypes}
        self.columns: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return self._n

    def append(self, **cols: np.ndarray | int | float) -> np.ndarray:
        """Append rows (scalars broadcast); returns their row indices."""
        size = max((np.size(v) for v in cols.values() if np.ndim(v) > 0), default=0)
        if size == 0:
            return np.zeros(0, dtype=np.int64)
        for key, dtype in self._dtypes.items():
            value = cols[key]
            self._blocks[key].append(np.broadcast_to(np.asarray(value, dtype=dtype), (size,)).copy())
        idx = np.arange(self._n, self._n + size)
        self._n += size
        return idx

    def set(self, key: str, idx: np.ndarray, values: np.ndarray | int) -> None:
        """Overwrite a field of earlier rows (applied in order at `finish`)."""
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size:
            self._updates[key].append((idx, np.broadcast_to(np.asarray(values), idx.shape).copy()))

    def finish(self) -> dict[str, np.ndarray]:
        """Concatenate blocks and apply updates; returns the columns."""
        for key, dtype in self._dtypes.items():
            blocks = self._blocks[key]
            col = np.concatenate(blocks) if blocks else np.zeros(0, dtype=dtype)
            for idx, values in self._updates[key]:
                col[idx] = values
            self.columns[key] = col
        return self.columns


@dataclass
class Campaign:
    """One marketing campaign (or newsletter when product is -1)."""

    campaign_id: str
    product: int
    channel: int
    month: int
    send_day: int


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
    return _Simulation(settings, catalog, timeline, seed).run()


class _Simulation:
    def __init__(self, settings: GeneratorSettings, catalog: CatalogPlan, timeline: Timeline, seed: int) -> None:
        self.settings = settings
        self.cat = catalog
        self.tl = timeline
        self.seed = seed
        self.rng = stream(seed, "world")
        self.covariate = settings.drift_kind == "covariate"
        self.concept = settings.drift_kind == "concept"
        self.acc = draw_accounts(settings, catalog, timeline, seed, self.covariate)
        n, j = self.acc.n, catalog.n_adjacent
        self.n, self.j = n, j
        n_tiers = len(catalog.tiers)
        self.n_tiers = n_tiers
        rng = stream(seed, "traits")
        # adoption: depth = sigmoid(e0 + slope*log(1+tenure) + 0.35*health + ar)
        self.e0 = rng.normal(-1.2, 0.7, n)
        self.slope = rng.uniform(0.2, 0.6, n)
        self.ar = np.zeros(n)
        self.adopter = rng.random(n) < ADOPTER_SHARE
        self.seat_share = rng.uniform(0.08, 0.45, n)
        self.random_effect = rng.normal(0.0, 0.4, (n, j))
        self.growth_z = (self.acc.growth - self.acc.growth.mean()) / (self.acc.growth.std() + 1e-9)
        self.target_hazard = BASE_CONVERSION_HAZARD * rng.uniform(0.8, 1.25, j)
        # logit offsets per product, recalibrated monthly; start near the target for a logit spread of ~1.5
        self.offset = np.log(self.target_hazard / (1 - self.target_hazard)) - 1.5
        self.paid_tier_pref = np.clip(
            np.round(self.acc.segment * (n_tiers - 1) / 2 + rng.normal(0, 0.7, n)), 0, n_tiers - 1
        ).astype(np.int64)
        # state
        self.health = self.acc.health_base.copy()
        self.state = np.zeros(n, dtype=np.int8)  # 0 prospect, 1 trial, 2 paid, 3 churned, 4 lapsed
        self.run_start = np.full(n, NULL, dtype=np.int64)
        self.run_end = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        self.first_start = np.full(n, NULL, dtype=np.int64)
        self.trial_end = np.full(n, NULL, dtype=np.int64)
        self.trial_paid = np.zeros(n, dtype=bool)
        self.paid_start = np.full(n, NULL, dtype=np.int64)
        self.tier = np.zeros(n, dtype=np.int64)
        self.seats = np.zeros(n, dtype=np.int64)
        self.core_mrr = np.zeros(n)
        self.core_item = np.full(n, -1, dtype=np.int64)
        self.renewal_opp = np.full(n, -1, dtype=np.int64)
        self.renewal_day = np.full(n, NULL, dtype=np.int64)
        self.depth = np.zeros(n)
        self.adj_state = np.zeros((n, j), dtype=np.int8)  # 0 none, 2 owned, 3 ended
        self.adj_item = np.full((n, j), -1, dtype=np.int64)
        self.adj_start = np.full((n, j), NULL, dtype=np.int64)
        self.converted = np.zeros((n, j), dtype=bool)
        self.uplift = np.zeros((n, j))
        self.uplift_from = np.zeros((n, j), dtype=np.int64)
        self.uplift_until = np.full((n, j), -1, dtype=np.int64)
        self.employees = np.zeros((timeline.n_months, n), dtype=np.float32)
        self.emp_walk = np.zeros(n)
        p = len(timeline.period_months)
        self.snap = {
            "active_lo": np.zeros((p, n), dtype=np.int64),
            "active_hi": np.zeros((p, n), dtype=np.int64),
            "paid": np.zeros((p, n), dtype=bool),
            "tier": np.zeros((p, n), dtype=np.int8),
            "seats": np.zeros((p, n), dtype=np.int32),
            "depth": np.zeros((p, n), dtype=np.float32),
            "health": np.zeros((p, n), dtype=np.float32),
            "owns": np.zeros((p, n, j), dtype=bool),
        }
        self.items = Log(
            account=np.int64, product=np.int64, tier=np.int64, seats=np.int64, mrr=np.float64,
            is_trial=bool, start_day=np.int64, end_day=np.int64,
        )  # fmt: skip
        self.opps = Log(
            account=np.int64, product=np.int64, type=np.int64, outcome=np.int64,
            created_ts=np.int64, closed_ts=np.int64, amount=np.float64,
        )  # fmt: skip
        self.touch_log = Log(account=np.int64, campaign=np.int64, level=np.int64, holdout=bool)
        self.conv_log = Log(account=np.int64, product=np.int64, day=np.int64)
        self.trace = Log(month=np.int64, product=np.int64, eligible=np.int64, hazard=np.float64)
        self.campaigns: list[Campaign] = []

    # ------------------------------------------------------------------------------------
    def run(self) -> World:
        for m in range(self.tl.n_months):
            self._month(m)
        self.acc.first_start_day = self.first_start
        return World(
            accounts=self.acc,
            employees=self.employees,
            items=self.items.finish(),
            opportunities=self.opps.finish(),
            touches=self.touch_log.finish(),
            campaigns=self.campaigns,
            conversions=self.conv_log.finish(),
            hazard_trace=self.trace.finish(),
            **self.snap,
        )

    def _month(self, m: int) -> None:
        tl, rng = self.tl, self.rng
        d0, d1 = int(tl.month_days[m]), int(tl.month_days[m + 1])
        exists = self.acc.created_day < d1
        # relationship health: AR(1) around each account's base
        self.health = 0.85 * self.health + 0.15 * self.acc.health_base + rng.normal(0, 0.25, self.n)
        # employees: latent growth with a small random walk
        months_alive = np.maximum(0, m - tl.month_of_days(self.acc.created_day))
        self.emp_walk += rng.normal(0, 0.015, self.n) * (months_alive > 0)
        self.employees[m] = self.acc.emp0 * np.exp(self.acc.growth * months_alive + self.emp_walk)

        self._primary_starts(m, d0, d1, exists)
        self._resolve_trials(d0, d1)
        self._update_depth(d0)
        paid_before = (self.state == 2) & (self.paid_start < d0)
        # gates use the state at the month start: tiers and products bought this month count next month
        tier_start = self.tier.copy()
        owned_start = self.adj_state == 2
        churning = self._primary_churn(m, d0, d1, paid_before)
        self._upgrades(m, d0, d1, paid_before & ~churning)
        self._renewals(m, d0, d1)
        if m >= tl.period_first:
            self._campaigns(m, d0, d1, exists)
        staying = paid_before & ~churning
        for j in self._adjacent_order():
            self._adjacent(m, j, d0, d1, staying, tier_start, owned_start)
        self._adjacent_churn(d0, d1, staying)
        if m >= tl.period_first:
            self._snapshot(m - tl.period_first, d0, d1)

    def _adjacent_order(self) -> list[int]:
        """Adjacent products with prerequisites after the products they need."""
        order: list[int] = []
        pre = self.cat.adjacent_prerequisite
        while len(order) < self.j:
            for j in range(self.j):
                if j not in order and (pre[j] < 0 or int(pre[j]) in order):
                    order.append(j)
        return order

    def _day_in(self, lo: np.ndarray | int, hi: np.ndarray | int, size: int) -> np.ndarray:
        lo = np.asarray(lo, dtype=np.int64)
        hi = np.asarray(hi, dtype=np.int64)
        return lo + np.floor(self.rng.random(size) * np.maximum(hi - lo, 1)).astype(np.int64)

    def _time_of_day(self, size: int, start_h: float = 7.0, end_h: float = 20.0) -> np.ndarray:
        return (self.rng.uniform(start_h, end_h, size) * 3600).astype(np.int64)

    # ---- primary product -------------------------------------------------------------------
    def _primary_starts(self, m: int, d0: int, d1: int, exists: np.ndarray) -> None:
        rng = self.rng
        hazard = np.where(self.state == 0, START_HAZARD, np.where(self.state == 4, RETRY_HAZARD, 0.0))
        starting = exists & self.adopter & (rng.random(self.n) < hazard)
        idx = np.flatnonzero(starting)
        if idx.size == 0:
            return
        day = self._day_in(np.maximum(d0, self.acc.created_day[idx]), d1, idx.size)
        self.first_start[idx] = np.where(self.first_start[idx] == NULL, day, self.first_start[idx])
        self.run_start[idx] = day
        self.run_end[idx] = np.iinfo(np.int64).max
        tier = self.paid_tier_pref[idx]
        direct = rng.random(idx.size) < 0.2 + 0.12 * self.acc.segment[idx]
        # sales-led: straight to a paid subscription, with a won new-business opportunity
        d_idx, d_day = idx[direct], day[direct]
        self._start_paid(d_idx, d_day, tier[direct])
        created = np.maximum(d_day - rng.integers(10, 60, d_idx.size), self.acc.created_day[d_idx])
        self._opp(d_idx, PRIMARY, NEW_BUSINESS, WON, created, d_day, 12 * self.core_mrr[d_idx])
        # product-led: a trial first; its outcome is drawn now and resolved when it ends
        t_idx, t_day, t_tier = idx[~direct], day[~direct], tier[~direct]
        length = rng.integers(14, 31, t_idx.size)
        self.items.append(
            account=t_idx, product=PRIMARY, tier=t_tier, seats=TRIAL_SEATS, mrr=0.0, is_trial=True,
            start_day=t_day, end_day=t_day + length,
        )  # fmt: skip
        self.state[t_idx] = 1
        self.tier[t_idx] = t_tier
        self.seats[t_idx] = TRIAL_SEATS
        self.trial_end[t_idx] = t_day + length
        self.trial_paid[t_idx] = rng.random(t_idx.size) < sigmoid(1.0 + 0.6 * self.health[t_idx])
        with_opp = rng.random(t_idx.size) < 0.75
        o_idx = t_idx[with_opp]
        created = t_day[with_opp] + rng.integers(0, 7, o_idx.size)
        outcome = np.where(self.trial_paid[o_idx], WON, LOST)
        amount = 12 * self._core_price(o_idx, t_tier[with_opp], self._paid_seats(o_idx, m))
        self._opp(o_idx, PRIMARY, NEW_BUSINESS, outcome, created, self.trial_end[o_idx], amount)

    def _resolve_trials(self, d0: int, d1: int) -> None:
        ending = (self.state == 1) & (self.trial_end < d1)
        win = np.flatnonzero(ending & self.trial_paid)
        lose = np.flatnonzero(ending & ~self.trial_paid)
        self._start_paid(win, self.trial_end[win], self.tier[win])
        self.state[lose] = 4
        self.run_end[lose] = self.trial_end[lose]

    def _paid_seats(self, idx: np.ndarray, m: int) -> np.ndarray:
        emp = self.employees[m, idx]
        return np.clip(np.round(emp * self.seat_share[idx]), 3, 5000).astype(np.int64)

    def _core_price(self, idx: np.ndarray, tier: np.ndarray, seats: np.ndarray) -> np.ndarray:
        base = self.cat.primary.list_price_mrr * 0.3 * 3.0 ** tier.astype(float)
        noise = self.rng.uniform(0.85, 1.15, idx.size)
        return np.round(base * (seats / 10.0) ** 0.7 * noise, 2)

    def _start_paid(self, idx: np.ndarray, day: np.ndarray, tier: np.ndarray) -> None:
        if idx.size == 0:
            return
        m = self.tl.month_of_days(day)
        seats = np.clip(np.round(self.employees[m, idx] * self.seat_share[idx]), 3, 5000).astype(np.int64)
        mrr = self._core_price(idx, tier, seats)
        items = self.items.append(
            account=idx, product=PRIMARY, tier=tier, seats=seats, mrr=mrr, is_trial=False,
            start_day=day, end_day=NULL,
        )  # fmt: skip
        self.state[idx] = 2
        self.tier[idx] = tier
        self.seats[idx] = seats
        self.core_mrr[idx] = mrr
        self.core_item[idx] = items
        self.paid_start[idx] = day

    def _update_depth(self, d0: int) -> None:
        active = (self.state == 1) | (self.state == 2)
        tenure = np.maximum(0, d0 - self.run_start) / 30.4
        self.ar = 0.7 * self.ar + self.rng.normal(0, 0.25, self.n)
        e = self.e0 + self.slope * np.log1p(np.where(active, tenure, 0)) + 0.35 * self.health + self.ar
        self.depth = np.where(active, sigmoid(e), 0.0)

    def _primary_churn(self, m: int, d0: int, d1: int, paid: np.ndarray) -> np.ndarray:
        rng = self.rng
        hazard = sigmoid(-5.0 - 0.8 * self.health - 2.5 * (self.depth - 0.5))
        churn = paid & (rng.random(self.n) < hazard)
        idx = np.flatnonzero(churn)
        if idx.size == 0:
            return churn
        day = self._day_in(d0, d1, idx.size)
        self.items.set("end_day", self.core_item[idx], day)
        self.state[idx] = 3
        self.run_end[idx] = day
        for j in range(self.j):
            owned = idx[self.adj_state[idx, j] == 2]
            self.items.set("end_day", self.adj_item[owned, j], day[self.adj_state[idx, j] == 2])
            self.adj_state[owned, j] = 3
        pending = (self.renewal_opp[idx] >= 0) & (self.renewal_day[idx] > day)
        rid = self.renewal_opp[idx][pending]
        self.opps.set("outcome", rid, LOST)
        self.opps.set("closed_ts", rid, day[pending] * DAY + self._time_of_day(rid.size))
        self.renewal_opp[idx] = -1
        # most other churns still leave a lost renewal (or save) opportunity behind
        late = ~pending & (self.rng.random(idx.size) < 0.6)
        created = day[late] - self.rng.integers(20, 60, int(late.sum()))
        self._opp(idx[late], PRIMARY, RENEWAL, LOST, created, day[late], 12 * self.core_mrr[idx[late]])
        self.core_mrr[idx] = 0
        return churn

    def _upgrades(self, m: int, d0: int, d1: int, paid: np.ndarray) -> None:
        rng = self.rng
        can = paid & (self.tier < self.n_tiers - 1)
        hazard = sigmoid(-4.8 + 4.0 * (self.depth - 0.55) + 0.3 * self.health + 0.2 * self.acc.segment)
        idx = np.flatnonzero(can & (rng.random(self.n) < hazard))
        if idx.size == 0:
            return
        day = self._day_in(d0, d1, idx.size)
        self.items.set("end_day", self.core_item[idx], day)
        old_mrr = self.core_mrr[idx]
        tier = self.tier[idx] + 1
        seats = np.maximum(self.seats[idx], self._paid_seats(idx, m))
        mrr = np.maximum(self._core_price(idx, tier, seats), old_mrr + 1)
        items = self.items.append(
            account=idx, product=PRIMARY, tier=tier, seats=seats, mrr=mrr, is_trial=False,
            start_day=day, end_day=NULL,
        )  # fmt: skip
        self.core_item[idx] = items
        self.tier[idx] = tier
        self.seats[idx] = seats
        self.core_mrr[idx] = mrr
        created = day - rng.integers(15, 45, idx.size)
        self._opp(idx, PRIMARY, UPSELL, WON, created, day, 12 * (mrr - old_mrr))

    def _renewals(self, m: int, d0: int, d1: int) -> None:
        """Open a renewal opportunity 45 days before each yearly anniversary of a paid run."""
        paid = np.flatnonzero(self.state == 2)
        if paid.size == 0:
            return
        start = self.paid_start[paid]
        created_lo, created_hi = d0, d1
        # anniversary A (whole years after start) with A - 45 in [d0, d1)
        years = np.floor((d0 + 45 - start) / 365.25).astype(np.int64) + 1
        anniv = start + np.round(years * 365.25).astype(np.int64)
        created = anniv - 45
        due = (years >= 1) & (created >= created_lo) & (created < created_hi)
        idx, anniv, created = paid[due], anniv[due], created[due]
        if idx.size == 0:
            return
        opp = self._opp(idx, PRIMARY, RENEWAL, WON, created, anniv, 12 * self.core_mrr[idx])
        self.renewal_opp[idx] = opp
        self.renewal_day[idx] = anniv

    def _opp(
        self,
        idx: np.ndarray,
        product: int,
        kind: int,
        outcome: np.ndarray | int,
        created_day: np.ndarray,
        closed_day: np.ndarray,
        amount: np.ndarray,
    ) -> np.ndarray:
        if idx.size == 0:
            return np.zeros(0, dtype=np.int64)
        created_day = np.maximum(created_day, self.acc.created_day[idx])
        # never before the account itself was created (09:00 on its creation day)
        created = np.maximum(
            created_day * DAY + self._time_of_day(idx.size), self.acc.created_day[idx] * DAY + ACCOUNT_HOUR + 3600
        )
        closed = np.maximum(closed_day * DAY + self._time_of_day(idx.size), created + 3600)
        amount = np.round(np.maximum(amount, 50.0), -1)
        return self.opps.append(
            account=idx, product=product, type=kind, outcome=outcome, created_ts=created,
            closed_ts=closed, amount=amount,
        )  # fmt: skip

    # ---- marketing -------------------------------------------------------------------------
    def _campaigns(self, m: int, d0: int, d1: int, exists: np.ndarray) -> None:
        rng = self.rng
        label = self.tl.month_label(m).replace("-", "")
        # newsletter: any existing account, no product, no effect on conversion
        send = d0 + 14
        nl = np.flatnonzero(exists & (self.acc.created_day < send) & (rng.random(self.n) < NEWSLETTER_REACH))
        if nl.size:
            self.campaigns.append(Campaign(f"NL-{label}", -1, 0, m, send))
            opened = rng.random(nl.size) < 0.22 + 0.08 * (self.health[nl] > 0)
            clicked = opened & (rng.random(nl.size) < 0.08)
            level = np.where(clicked, ENGAGED, np.where(opened, OPENED, SENT))
            self.touch_log.append(account=nl, campaign=len(self.campaigns) - 1, level=level, holdout=False)
        paid = self.state == 2
        for j in range(self.j):
            if rng.random() >= CAMPAIGN_PROB:
                continue
            candidates = paid & (self.tier >= self.cat.adjacent_min_tier[j]) & (self.adj_state[:, j] != 2)
            targeted = np.flatnonzero(candidates & (rng.random(self.n) < CAMPAIGN_REACH))
            if targeted.size == 0:
                continue
            channel = int(rng.choice(len(CHANNELS), p=CHANNEL_WEIGHTS))
            key = "".join(c if c.isalnum() else "-" for c in self.cat.adjacent[j].product.upper())
            self.campaigns.append(Campaign(f"XS-{key}-{label}", j, channel, m, int(self._day_in(d0, d1 - 5, 1)[0])))
            holdout = rng.random(targeted.size) < HOLDOUT_SHARE
            need = self.acc.need[targeted, j]
            p_act = sigmoid(-0.8 + 0.9 * need + 0.3 * self.health[targeted])
            p_strong = sigmoid(-1.2 + 0.9 * need)
            u1, u2 = rng.random(targeted.size), rng.random(targeted.size)
            if CHANNELS[channel] == "email":
                level = np.where(u1 < p_act, np.where(u2 < p_strong, ENGAGED, OPENED), SENT)
            else:  # webinar/in-app/sales call: a single strong action or nothing
                factor = {"webinar": 0.5, "in_app": 0.6, "sales_call": 0.7}[CHANNELS[channel]]
                level = np.where(u1 < p_act * factor, ENGAGED, SENT)
            level = np.where(holdout, SENT, level)
            self.touch_log.append(account=targeted, campaign=len(self.campaigns) - 1, level=level, holdout=holdout)
            treated = targeted[~holdout]
            lvl = level[~holdout]
            strength = np.where(lvl == ENGAGED, ENGAGED_UPLIFT, np.where(lvl == OPENED, OPENED_UPLIFT, 0.0))
            better = strength >= self._current_uplift(treated, j, m + 1)
            t = treated[better & (strength > 0)]
            self.uplift[t, j] = strength[better & (strength > 0)]
            self.uplift_from[t, j] = m + 1
            self.uplift_until[t, j] = m + 3

    def _current_uplift(self, idx: np.ndarray, j: int, m: int) -> np.ndarray:
        live = (self.uplift_from[idx, j] <= m) & (self.uplift_until[idx, j] >= m)
        return np.where(live, self.uplift[idx, j], 0.0)

    # ---- adjacent products -----------------------------------------------------------------
    def _linear(self, m: int, j: int, idx: np.ndarray, tier: np.ndarray) -> np.ndarray:
        """Conversion logit (before calibration) of accounts idx for adjacent product j in month m."""
        acc = self.acc
        ready = 0.25 * self.growth_z[idx] + 0.2 * acc.segment[idx] + 0.2 * (tier[idx] - self.cat.adjacent_min_tier[j])
        uplift = self._current_uplift(idx, j, m)
        drifted = self.concept and j == 0 and self.tl.drift_month is not None and m >= self.tl.drift_month
        paid_days = int(self.tl.month_days[m]) - self.paid_start[idx]
        if drifted:
            # concept drift: the product is repositioned as an onboarding add-on for young, growing small teams.
            # What drove it stops mattering (adoption depth and mastery, the need x health interaction, the renewal
            # window, tier and the enterprise lean); the first paid months now lift it instead of damping it, and
            # headcount growth and the smb segment drive it. A champion trained before still ranks by the old
            # drivers, so its realised ranking of this product falls once the labels mature.
            return (
                CONCEPT_GROWTH * self.growth_z[idx]
                + CONCEPT_SMB * (acc.segment[idx] == 0)
                + np.where(paid_days < RAMP_MONTHS * 30.4, CONCEPT_ONBOARDING, 0.0)
                + 0.4 * acc.need[idx, j]
                + uplift
                + self.random_effect[idx, j]
            )
        # buying is threshold-driven, as in the domain's readiness gates: a jump once the primary is adopted deeply
        # (mastery), a damped appetite while the primary is still ramping (first months), a need that turns into a
        # purchase mostly in a healthy relationship (an interaction, not a sum), and budget talks that open in the
        # weeks before a yearly renewal (not monotone in the time to renewal)
        depth = self.depth[idx]
        to_renewal = 365.25 - np.mod(paid_days, 365.25)
        return (
            0.45 * (depth - 0.5) / 0.2
            + MASTERY_UPLIFT * sigmoid((depth - MASTERY_DEPTH) / 0.04)
            + 1.0 * acc.need[idx, j] * sigmoid(2.0 * self.health[idx])
            + 0.2 * self.health[idx]
            + np.where(paid_days < RAMP_MONTHS * 30.4, RAMP_PENALTY, 0.0)
            + np.where((paid_days > 300) & (to_renewal <= RENEWAL_WINDOW_DAYS), RENEWAL_UPLIFT, 0.0)
            + ready
            + uplift
            + self.random_effect[idx, j]
        )

    def _adjacent(
        self,
        m: int,
        j: int,
        d0: int,
        d1: int,
        paid: np.ndarray,
        tier_start: np.ndarray,
        owned_start: np.ndarray,
    ) -> None:
        rng = self.rng
        cat = self.cat
        eligible = paid & (tier_start >= cat.adjacent_min_tier[j]) & ~self.converted[:, j]
        idx = np.flatnonzero(eligible)
        if idx.size == 0:
            return
        pre = int(cat.adjacent_prerequisite[j])
        prereq_ok = np.ones(idx.size, dtype=bool) if pre < 0 else owned_start[idx, pre]
        lin = self._linear(m, j, idx, tier_start)
        # calibrate on enough prerequisite-holders; with too few, keep the last offset
        if prereq_ok.sum() >= MIN_CALIBRATION:
            self.offset[j] = calibrate_offset(lin[prereq_ok], float(self.target_hazard[j]))
        offset = self.offset[j]
        hazard = sigmoid(lin + offset + np.where(prereq_ok, 0.0, WITHOUT_PREREQUISITE))
        if m >= self.tl.period_first:
            self.trace.append(month=m, product=j, eligible=idx, hazard=hazard)
        convert = rng.random(idx.size) < hazard
        c_idx = idx[convert]
        day = self._day_in(d0, d1, c_idx.size)
        seats = self.seats[c_idx]
        price = cat.adjacent[j].list_price_mrr
        mrr = np.round(price * (seats / 15.0) ** 0.3 * rng.uniform(0.9, 1.1, c_idx.size), 2)
        # sometimes a trial first (never before the primary subscription started)
        with_trial = rng.random(c_idx.size) < 0.4
        trial_start = np.maximum(day - rng.integers(14, 31, c_idx.size), self.paid_start[c_idx] + 1)
        with_trial &= trial_start < day
        self.items.append(
            account=c_idx[with_trial], product=j, tier=-1, seats=seats[with_trial], mrr=0.0, is_trial=True,
            start_day=trial_start[with_trial], end_day=day[with_trial],
        )  # fmt: skip
        items = self.items.append(
            account=c_idx, product=j, tier=-1, seats=seats, mrr=mrr, is_trial=False,
            start_day=day, end_day=NULL,
        )  # fmt: skip
        self.adj_item[c_idx, j] = items
        self.adj_start[c_idx, j] = day
        self.adj_state[c_idx, j] = 2
        self.converted[c_idx, j] = True
        self.conv_log.append(account=c_idx, product=j, day=day)
        # often a won cross-sell opportunity precedes the purchase
        sales = rng.random(c_idx.size) < 0.7
        created = day[sales] - rng.integers(15, 61, int(sales.sum()))
        self._opp(c_idx[sales], j, CROSS_SELL, WON, created, day[sales], 12 * mrr[sales])
        # accounts that did not convert: some failed trials and lost opportunities
        rest, h_rest = idx[~convert], hazard[~convert]
        fail = rng.random(rest.size) < 0.3 * h_rest
        f_idx = rest[fail]
        start = self._day_in(d0, d1, f_idx.size)
        self.items.append(
            account=f_idx, product=j, tier=-1, seats=self.seats[f_idx], mrr=0.0, is_trial=True,
            start_day=start, end_day=start + rng.integers(14, 31, f_idx.size),
        )  # fmt: skip
        lost = rng.random(rest.size) < 0.6 * h_rest + 0.002
        l_idx = rest[lost]
        created = self._day_in(d0, d1, l_idx.size)
        amount = 12 * price * rng.uniform(0.8, 1.3, l_idx.size)
        self._opp(l_idx, j, CROSS_SELL, LOST, created, created + rng.integers(20, 75, l_idx.size), amount)

    def _adjacent_churn(self, d0: int, d1: int, paid: np.ndarray) -> None:
        hazard = sigmoid(-5.2 - 0.6 * self.health)
        for j in range(self.j):
            owned = paid & (self.adj_state[:, j] == 2) & (self.adj_start[:, j] < d0)
            idx = np.flatnonzero(owned & (self.rng.random(self.n) < hazard))
            if idx.size == 0:
                continue
            day = self._day_in(d0, d1, idx.size)
            self.items.set("end_day", self.adj_item[idx, j], day)
            self.adj_state[idx, j] = 3

    # ---- snapshots -------------------------------------------------------------------------
    def _snapshot(self, p: int, d0: int, d1: int) -> None:
        started = self.run_start != NULL
        lo = np.where(started, np.maximum(d0, self.run_start), d1)
        hi = np.where(started, np.minimum(d1, self.run_end), d1)
        hi = np.maximum(lo, hi)
        self.snap["active_lo"][p] = lo
        self.snap["active_hi"][p] = hi
        self.snap["paid"][p] = self.state == 2
        self.snap["tier"][p] = self.tier
        self.snap["seats"][p] = np.where(self.state == 1, TRIAL_SEATS, self.seats)
        self.snap["depth"][p] = self.depth
        self.snap["health"][p] = self.health
        self.snap["owns"][p] = self.adj_state == 2


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
