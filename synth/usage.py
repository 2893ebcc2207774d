"""Daily product usage, one month at a time: workspace x user x feature x day rows, vectorised.

Active users (at most the seats) use the features their tier includes; how many features an account
uses is its adoption depth, which features it uses follows feature popularity plus the account's need
for the adjacent product a feature signals, so heavy use of signal features reveals need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.catalog import CatalogPlan
from synth.ids import user_ids
from synth.randomness import sigmoid, stream
from synth.timeline import DAY, Timeline
from synth.world import World
from xsell.settings import GeneratorSettings

WEEKEND_ACCEPT = 0.2
NEXT_DAY_SHARE = 0.34
COVARIATE_INTENSITY = 0.6
COVARIATE_ACTIVITY = 0.7
MS_PER_DAY = DAY * 1000


@dataclass
class UsageMonth:
    """Clean usage rows of one month (before defects)."""

    label: str
    day: np.ndarray
    account: np.ndarray
    user: np.ndarray
    feature: np.ndarray
    count: np.ndarray
    ingested_ms: np.ndarray


class UsageRenderer:
    """Renders usage months from the world's monthly snapshots."""

    def __init__(
        self,
        world: World,
        catalog: CatalogPlan,
        timeline: Timeline,
        settings: GeneratorSettings,
        seed: int,
        export_ms: int,
    ) -> None:
        self.world = world
        self.cat = catalog
        self.tl = timeline
        self.settings = settings
        self.seed = seed
        self.export_ms = export_ms
        rng = stream(seed, "usage.features")
        f = catalog.n_features
        position = np.zeros(f)
        for t in range(len(catalog.tiers)):
            in_tier = np.flatnonzero(catalog.feature_tier == t)
            position[in_tier] = np.arange(in_tier.size)
        self.popularity = 2.0 - 0.6 * catalog.feature_tier - 0.08 * position + rng.normal(0, 0.2, f)
        need = world.accounts.need
        signal = catalog.feature_signal
        n = world.accounts.n
        signal_need = np.zeros((n, f))
        if need.shape[1]:
            signal_need = np.where(signal >= 0, need[:, np.maximum(signal, 0)], 0.0)
        #: which features an account reaches for first (fixed per account, plus monthly noise)
        self.score = self.popularity[None, :] + 1.5 * signal_need + rng.normal(0, 0.7, (n, f))
        #: how intensely an account uses each feature it uses
        self.weight = np.exp(0.5 * self.popularity)[None, :] * np.exp(0.6 * signal_need)
        self.user_salt = int(stream(seed, "usage.users").integers(0, 2**40))
        self.scale = 1.0
        self.scale = self._calibrate()

    def _drifted(self, m: int) -> bool:
        return self.settings.drift_kind == "covariate" and self.tl.drift_month is not None and m >= self.tl.drift_month

    def _plan(self, p: int, rng: np.random.Generator, drift: bool = True) -> dict[str, np.ndarray]:
        """Per active account: used features, active users, expected rows."""
        w = self.world
        m = self.tl.period_first + p
        lo, hi = w.active_lo[p], w.active_hi[p]
        active = np.flatnonzero(hi > lo)
        tier = w.tier[p, active].astype(np.int64)
        depth = w.depth[p, active].astype(float)
        health = w.health[p, active].astype(float)
        seats = np.maximum(w.seats[p, active].astype(np.int64), 1)
        available = self.cat.feature_tier[None, :] <= tier[:, None]
        n_avail = available.sum(axis=1)
        k = np.clip(np.round(depth * n_avail), 1, n_avail).astype(np.int64)
        score = self.score[active] + rng.normal(0, 0.3, (active.size, self.cat.n_features))
        score = np.where(available, score, -np.inf)
        order = np.argsort(-score, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(self.cat.n_features)[None, :], axis=1)
        used = rank < k[:, None]
        act = sigmoid(-0.3 + 2.5 * (depth - 0.5) + 0.3 * health)
        intensity = 1.0
        if drift and self._drifted(m):
            act = act * COVARIATE_ACTIVITY
            intensity = COVARIATE_INTENSITY
        users = np.clip(rng.binomial(seats, act), 1, seats)
        dim = int(self.tl.month_days[m + 1] - self.tl.month_days[m])
        days = hi[active] - lo[active]
        expected = self.scale * users**0.7 * k**0.9 * (days / dim) * intensity
        return {
            "active": active,
            "lo": lo[active],
            "days": days,
            "used": used,
            "users": users,
            "expected": expected,
            "intensity": np.full(active.size, intensity),
        }

    def _calibrate(self) -> float:
        """Scale so active account-months average `usage_rows_per_account_month` rows over the period.

        Rows are generated for the middle month only (rows saturate for small accounts, so a few
        fixed-point steps); the other months enter through their expected volume at unit scale.
        """
        target = self.settings.usage_rows_per_account_month
        middle = len(self.tl.period_months) // 2
        self.scale = 1.0
        per_month = []
        for p in range(len(self.tl.period_months)):
            plan = self._plan(p, stream(self.seed, f"usage.calibration.{p}"), drift=False)
            per_month.append((plan["expected"].sum(), plan["active"].size))
        active = sum(n for _, n in per_month)
        if active == 0 or per_month[middle][1] == 0:
            return target
        overall = sum(e for e, _ in per_month) / active
        target_middle = target * (per_month[middle][0] / per_month[middle][1]) / max(overall, 1e-12)
        rng = stream(self.seed, "usage.calibration")
        self.scale = target_middle / max(per_month[middle][0] / per_month[middle][1], 1e-12)
        for _ in range(4):
            plan = self._plan(middle, stream(self.seed, f"usage.calibration.{middle}"), drift=False)
            realised = self._rows(plan, middle, rng).day.size / plan["active"].size
            self.scale *= target_middle / max(realised, 1e-9)
        return self.scale

    def month(self, p: int) -> UsageMonth:
        """Clean rows of period month p (ingested no later than the export time)."""
        rng = stream(self.seed, f"usage.month.{p}")
        return self._rows(self._plan(p, rng), p, rng)

    def _rows(self, plan: dict[str, np.ndarray], p: int, rng: np.random.Generator) -> UsageMonth:
        label = self.tl.month_label(self.tl.period_first + p)
        used, users, days = plan["used"], plan["users"], plan["days"]
        k = used.sum(axis=1)
        capacity = users * k * np.maximum(days, 1) * (5 + 2 * WEEKEND_ACCEPT) / 7
        want = np.minimum(rng.poisson(plan["expected"]), 0.9 * capacity)
        draws = np.ceil(-capacity * np.log1p(-want / capacity) * 7 / (5 + 2 * WEEKEND_ACCEPT)).astype(np.int64)
        row_acct = np.repeat(np.arange(plan["active"].size), draws)
        total = row_acct.size
        day = plan["lo"][row_acct] + np.floor(rng.random(total) * days[row_acct]).astype(np.int64)
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
        keep = (weekday < 5) | (rng.random(total) < WEEKEND_ACCEPT)
        row_acct, day = row_acct[keep], day[keep]
        total = row_acct.size
        user = np.floor(users[row_acct] * rng.random(total) ** 1.6).astype(np.int64)
        weight = np.where(used, self.weight[plan["active"]], 0.0)
        cum = np.cumsum(weight, axis=1)
        cum = cum / cum[:, -1:]
        # one categorical draw per row: search the accounts' cumulative weights laid end to end
        f = self.cat.n_features
        flat = (cum + np.arange(cum.shape[0])[:, None]).ravel()
        pos = np.searchsorted(flat, row_acct + rng.random(total) * (1 - 1e-12), side="right")
        feature = np.minimum(pos - row_acct * f, f - 1)
        d0 = int(self.tl.month_days[self.tl.period_first + p])
        key = ((row_acct * (1 << 14) + user) * 64 + feature) * 32 + (day - d0)
        key = np.unique(key)
        day = d0 + key % 32
        feature = (key // 32) % 64
        user = (key // (32 * 64)) % (1 << 14)
        row_acct = key // (32 * 64 * (1 << 14))
        total = key.size
        lam = rng.gamma(1.5, 2.4, total) * plan["intensity"][row_acct]
        count = 1 + rng.poisson(lam)
        late = rng.random(total) < self.settings.defects.late_usage
        lag = np.where(late, rng.integers(3, 11, total), (rng.random(total) < NEXT_DAY_SHARE).astype(np.int64))
        ingested = (day + lag) * MS_PER_DAY + rng.integers(0, MS_PER_DAY, total)
        keep = ingested <= self.export_ms
        order = np.lexsort((key[keep], ingested[keep]))
        return UsageMonth(
            label=label,
            day=day[keep][order],
            account=plan["active"][row_acct[keep][order]],
            user=user[keep][order],
            feature=feature[keep][order],
            count=count[keep][order].astype(np.int64),
            ingested_ms=ingested[keep][order],
        )

    def user_id(self, account: np.ndarray, user: np.ndarray) -> np.ndarray:
        """`usr_...` ids of (account index, user index) pairs (bytes)."""
        return user_ids(account, user, self.user_salt)
