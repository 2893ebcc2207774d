"""The simulation's state and vocabulary: knobs of the world, event codes, event logs and shared draws.

Products are indices into the catalogue plan (primary = -1, adjacent = 0..J-1) and tiers are indices into its
tier list; product and feature names never appear here. Every draw comes from the one `world` stream of the
state, in the order the monthly loop (`synth.world`) calls the stages: the same seed gives the same world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.accounts import ACCOUNT_HOUR, draw_accounts
from synth.catalog import CatalogPlan
from synth.randomness import stream
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


class SimState:
    """The mutable state of one simulation: latent traits, lifecycle state per account, snapshots and event logs."""

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


def day_in(s: SimState, lo: np.ndarray | int, hi: np.ndarray | int, size: int) -> np.ndarray:
    """A random day in [lo, hi) per row (lo when the range is empty)."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    return lo + np.floor(s.rng.random(size) * np.maximum(hi - lo, 1)).astype(np.int64)


def time_of_day(s: SimState, size: int, start_h: float = 7.0, end_h: float = 20.0) -> np.ndarray:
    """Random seconds after midnight within working hours."""
    return (s.rng.uniform(start_h, end_h, size) * 3600).astype(np.int64)


def record_opportunity(
    s: SimState,
    idx: np.ndarray,
    product: int,
    kind: int,
    outcome: np.ndarray | int,
    created_day: np.ndarray,
    closed_day: np.ndarray,
    amount: np.ndarray,
) -> np.ndarray:
    """Log opportunities (never created before their account), amounts rounded to tens; returns their rows."""
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    created_day = np.maximum(created_day, s.acc.created_day[idx])
    # never before the account itself was created (09:00 on its creation day)
    created = np.maximum(
        created_day * DAY + time_of_day(s, idx.size), s.acc.created_day[idx] * DAY + ACCOUNT_HOUR + 3600
    )
    closed = np.maximum(closed_day * DAY + time_of_day(s, idx.size), created + 3600)
    amount = np.round(np.maximum(amount, 50.0), -1)
    return s.opps.append(
        account=idx, product=product, type=kind, outcome=outcome, created_ts=created,
        closed_ts=closed, amount=amount,
    )  # fmt: skip
