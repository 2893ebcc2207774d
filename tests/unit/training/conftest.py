"""Small synthetic snapshot frames and fast training settings for the training tests.

`snapshot_frame` builds labelled rows in the shape `load_training_frame` returns (keys, then features with the
catalog's dtypes: nullable Int64 counts, float shares, string categories), with a learnable signal: conversion
depends on adoption, use-case signal, NPS and the product. `fast_settings` keeps every study tiny and offline
(Optuna SQLite under tmp_path, one worker, few rounds).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.calendar import snapshot_dates
from tests.factories import make_settings
from xsell.settings import Settings

PRODUCTS = ("prod_a", "prod_b")
SEGMENTS = ("smb", "mid_market", "enterprise")
INDUSTRIES = ("retail", "software", "media", "finance")
TIERS = ("starter", "professional", "enterprise")


def snapshot_frame(
    accounts: int = 120,
    months: int = 14,
    seed: int = 0,
    products: tuple[str, ...] = PRODUCTS,
    start: str = "2024-01",
) -> pd.DataFrame:
    """Labelled snapshot rows: every account x product at each month end, ~10% positives with a real signal."""
    rng = np.random.default_rng(seed)
    year, month = (int(x) for x in start.split("-"))
    last = year * 12 + month - 1 + months - 1
    dates = snapshot_dates(start, f"{last // 12:04d}-{last % 12 + 1:02d}")
    depth = rng.normal(size=accounts)  # latent adoption depth of each account, drifting a little each month
    need = rng.normal(size=(accounts, len(products)))
    segment = rng.choice(SEGMENTS, accounts)
    industry = rng.choice(INDUSTRIES, accounts)
    tier = rng.choice(TIERS, accounts)
    rows = []
    for m, day in enumerate(dates):
        depth_m = depth + 0.1 * m / months + rng.normal(scale=0.3, size=accounts)
        for j, product in enumerate(products):
            share = 1 / (1 + np.exp(-depth_m))
            signal = rng.poisson(np.exp(1.5 + need[:, j]))
            nps = np.clip(np.round(7 + 1.5 * depth_m + rng.normal(size=accounts)), 0, 10)
            logit = -3.0 + 1.6 * depth_m + 0.9 * need[:, j] + 0.25 * (nps - 7) + 0.4 * j + (segment == "enterprise")
            label = (rng.random(accounts) < 1 / (1 + np.exp(-logit))).astype(int)
            frame = pd.DataFrame(
                {
                    "account_id": [f"acc{i:04d}" for i in range(accounts)],
                    "product": product,
                    "as_of": day,
                    "label": label,
                    "feature_share_30d": share,
                    "feature_share_30d_cohort_pct": pd.Series(share).rank(pct=True).to_numpy(),
                    "seat_activation_30d": np.clip(share + rng.normal(scale=0.1, size=accounts), 0, 1.2),
                    "events_30d": rng.poisson(200 * share),
                    "signal_events_30d": signal,
                    "feature_requests_90d": rng.poisson(0.3 + 0.3 * np.clip(need[:, j], 0, None)),
                    "nps_mean_180d": np.where(rng.random(accounts) < 0.2, np.nan, nps),
                    "tenure_months": rng.uniform(1, 40, accounts),
                    "tickets_90d": rng.poisson(2, accounts),
                    "employee_growth_180d": rng.normal(0.02, 0.1, accounts),
                    "months_to_renewal": rng.uniform(0, 12, accounts),
                    "segment": segment,
                    "industry": np.where(rng.random(accounts) < 0.05, None, industry),
                    "primary_tier": tier,
                }
            )
            rows.append(frame)
    out = pd.concat(rows, ignore_index=True)
    for column in ("events_30d", "signal_events_30d", "feature_requests_90d", "tickets_90d"):
        values = out[column].astype("Int64")
        values[rng.random(len(out)) < 0.03] = pd.NA  # nullable integers with NA, as the snapshot reader returns
        out[column] = values
    for column in ("segment", "industry", "primary_tier"):
        out[column] = out[column].astype(object)
    return out


JOBS = ("admin.", "blue-collar", "technician", "services", "management", "retired", "student", "unemployed")


def marketing_table(rows: int = 33_000, seed: int = 0, dated: bool = False, days: int = 900) -> pd.DataFrame:
    """A marketing-response table in time order, like the public bank-marketing one: ~11% positives, a few numeric
    and categorical features with signal, an interest rate drifting down over time, and a time column `t` that is
    the row order (0..rows-1) or, `dated`, the contact's day (ISO text over `days` days, busier at the start)."""
    rng = np.random.default_rng(seed)
    order = np.arange(rows)
    day = np.sort(np.floor(days * rng.beta(0.8, 1.3, rows)).astype(int))
    phase = day / days if dated else order / rows
    age = np.clip(np.round(rng.normal(40, 11, rows)), 18, 95).astype(int)
    job = rng.choice(JOBS, rows, p=[0.25, 0.22, 0.17, 0.1, 0.1, 0.07, 0.05, 0.04])
    contact = rng.choice(["cellular", "telephone"], rows, p=[0.63, 0.37])
    campaign = 1 + rng.poisson(1.5, rows)
    previous = rng.poisson(0.25, rows)
    poutcome = np.where(previous == 0, "nonexistent", rng.choice(["failure", "success"], rows, p=[0.7, 0.3]))
    euribor = np.round(np.clip(4.9 - 4.0 * phase + rng.normal(0, 0.25, rows), 0.6, 5.1), 3)
    logit = (
        -2.7
        + 0.6 * (contact == "cellular")
        + 2.0 * (poutcome == "success")
        - 0.3 * (poutcome == "failure")
        + 0.9 * np.isin(job, ["student", "retired"])
        - 0.15 * (campaign - 1)
        - 0.35 * (euribor - 3.0)
        + 0.025 * np.abs(age - 40)
        - 0.2 * (job == "blue-collar")
    )
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    when = (pd.Timestamp("2008-05-05") + pd.to_timedelta(day, unit="D")).strftime("%Y-%m-%d")
    return pd.DataFrame(
        {
            "t": np.asarray(when, dtype=object) if dated else order,
            "age": age,
            "job": job.astype(object),
            "contact": contact.astype(object),
            "campaign": campaign,
            "previous": previous,
            "poutcome": poutcome.astype(object),
            "euribor3m": euribor,
            "y": y,
        }
    )


FAST: dict[str, Any] = {
    "features.horizon_days": 30,
    "training.trials": 4,
    "training.cv_folds": 2,
    "training.holdout_snapshots": 2,
    "training.n_jobs": 1,
    "training.num_threads": 1,
    "training.max_rounds": 60,
    "training.early_stopping_rounds": 10,
}


def fast_settings(home: Path, **overrides: Any) -> Settings:
    """Settings homed in `home` (Optuna study there too) for tiny, deterministic studies."""
    return make_settings(home, **(FAST | overrides))


@pytest.fixture
def training_settings(tmp_path: Path, clean_env: None) -> Settings:
    """Fast training settings homed in tmp_path."""
    return fast_settings(tmp_path / "home")


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    """A shared synthetic snapshot frame (tests must not modify it: copy first)."""
    return snapshot_frame()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Any:
    """One tiny pooled training run shared by the result tests (4 trials)."""
    from training.pipeline import train_propensity

    settings = fast_settings(tmp_path_factory.mktemp("trained") / "home")
    return train_propensity(frame, settings)


def first_of(dates: list[date]) -> date:
    """The earliest of some dates (helper for readable assertions)."""
    return min(dates)
