"""CRM tables: slowly changing account versions assembled into quarterly extracts, and opportunities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.accounts import ACCOUNT_HOUR, COUNTRIES, INDUSTRIES, SEGMENTS
from synth.catalog import CatalogPlan
from synth.defects import DefectSpec, inject_table
from synth.ids import new_ids
from synth.manifest import TableCounts
from synth.randomness import stream
from synth.timeline import DAY, NULL, Timeline, extract_days, year_of
from synth.world import World
from synth.world_state import OPP_TYPES, PRIMARY, WON
from xsell.settings import GeneratorSettings

#: mean days between attribute updates of an account
UPDATE_EVERY_DAYS = 150
COVARIATE_EMPLOYEE_FACTOR = 0.65


@dataclass
class Extracts:
    """Account extract rows (internal form) with the extract each row belongs to."""

    frame: pd.DataFrame
    extract_days: list[int]
    counts: TableCounts


def account_versions(
    world: World, timeline: Timeline, settings: GeneratorSettings, export_ts: int, seed: int
) -> pd.DataFrame:
    """Every version of every account, one row per (account, updated_at), sorted by account then time."""
    rng = stream(seed, "crm.versions")
    acc = world.accounts
    n = acc.n
    created_ts = acc.created_day * DAY + ACCOUNT_HOUR
    first_ts = created_ts + rng.integers(3600, 12 * 3600, n)
    # when the account's billing and workspace ids appear (trial or subscription start)
    started = acc.first_start_day != NULL
    billing_ts = np.where(started, acc.first_start_day * DAY + rng.integers(6 * 3600, 20 * 3600, n), NULL)
    billing_ts = np.where(started, np.maximum(billing_ts, first_ts + 60), NULL)
    # industry missing at first for some accounts, filled in later for most of them
    industry_missing = rng.random(n) < 0.22
    fill_ts = np.where(
        industry_missing & (rng.random(n) < 0.65),
        first_ts + rng.integers(20, 200, n) * DAY,
        np.iinfo(np.int64).max,
    )
    fill_ts = np.where(industry_missing, fill_ts, np.iinfo(np.int64).min)

    events = [(np.arange(n), first_ts)]
    span = np.maximum(export_ts - first_ts, 0)
    k = rng.poisson(span / (UPDATE_EVERY_DAYS * DAY))
    who = np.repeat(np.arange(n), k)
    events.append((who, first_ts[who] + (rng.random(who.size) * span[who]).astype(np.int64) + 1))
    events.append((np.flatnonzero(started), billing_ts[started]))
    filled = np.flatnonzero(industry_missing & (fill_ts < export_ts))
    events.append((filled, fill_ts[filled]))
    drift_ts = None
    if settings.drift_kind == "covariate" and timeline.drift_month is not None:
        drift_ts = int(timeline.month_days[timeline.drift_month]) * DAY
        existing = np.flatnonzero((created_ts < drift_ts) & (rng.random(n) < 0.7))
        events.append((existing, drift_ts + rng.integers(0, 60 * DAY, existing.size)))
    account = np.concatenate([e[0] for e in events])
    ts = np.concatenate([e[1] for e in events]).astype(np.int64)
    order = np.lexsort((ts, account))
    account, ts = account[order], ts[order]
    # strictly increasing times within an account
    for _ in range(10):
        same = (account[1:] == account[:-1]) & (ts[1:] <= ts[:-1])
        if not same.any():
            break
        ts[1:][same] = ts[:-1][same] + 1
    keep = ts <= export_ts
    account, ts = account[keep], ts[keep]
    v = account.size

    month = timeline.month_of_days(ts // DAY)
    latent = world.employees[month, account].astype(float)
    reported = np.maximum(1, np.round(latent * (1 + rng.normal(0, 0.03, v))))
    if drift_ts is not None:
        reported = np.where(ts >= drift_ts, np.maximum(1, np.round(reported * COVARIATE_EMPLOYEE_FACTOR)), reported)
    employee = pd.array(reported.astype(np.int64), dtype="Int64")
    employee[rng.random(v) < 0.04] = pd.NA
    segment_idx = np.where(latent < 100, 0, np.where(latent < 1000, 1, 2))
    if drift_ts is not None:
        segment_idx = np.where(
            (ts >= drift_ts) & (acc.created_day[account] * DAY >= drift_ts), acc.segment[account], segment_idx
        )
    segment = np.array(SEGMENTS, dtype=object)[segment_idx]
    segment[rng.random(v) < 0.04] = None
    industry = np.array(INDUSTRIES, dtype=object)[acc.industry[account]]
    industry[ts < fill_ts[account]] = None
    revenue = np.round(latent * acc.revenue_per_employee[account], -3)
    revenue = np.where(acc.has_revenue[account] & (rng.random(v) >= 0.06), revenue, np.nan)
    country = np.array((*COUNTRIES, None), dtype=object)[acc.country[account]]
    has_billing = (billing_ts[account] != NULL) & (ts >= billing_ts[account])
    return pd.DataFrame(
        {
            "account_id": acc.account_id[account],
            "account_name": acc.name[account],
            "industry": industry,
            "employee_count": employee,
            "annual_revenue": revenue,
            "country": country,
            "segment": segment,
            "created_at": created_ts[account],
            "billing_customer_id": np.where(has_billing, acc.customer_id[account], None),
            "workspace_id": np.where(has_billing, acc.workspace_id[account], None),
            "updated_at": ts,
            "_account": account,
        }
    )


def account_extracts(
    world: World,
    timeline: Timeline,
    settings: GeneratorSettings,
    export_ts: int,
    seed: int,
) -> Extracts:
    """Quarterly extracts: the first holds all history; each later one the current version of every
    account plus the versions written since the previous extract. Defects: employee_count typos (at
    version level, kept with the count nulled), id whitespace/case on rows that occur once, copies."""
    rng = stream(seed, "crm.extracts")
    versions = account_versions(world, timeline, settings, export_ts, seed)
    v = len(versions)
    # employee_count typos: 0 or the negated count, on whole versions (they repeat like any version)
    has_count = np.flatnonzero(versions["employee_count"].notna().to_numpy())
    typo = np.sort(rng.choice(has_count, min(len(has_count), round(settings.defects.invalid * v)), replace=False))
    counts_col = versions["employee_count"].to_numpy(dtype=object)
    zero = rng.random(typo.size) < 0.35
    counts_col[typo] = np.where(zero, 0, -np.asarray(counts_col[typo], dtype=np.int64))
    versions["employee_count"] = pd.array(counts_col, dtype="Int64")
    is_typo = np.zeros(v, dtype=bool)
    is_typo[typo] = True

    days = extract_days(timeline)
    cutoffs = [min(d * DAY + DAY - 1, export_ts) for d in days]
    account = versions["_account"].to_numpy()
    ts = versions["updated_at"].to_numpy()
    last_of_account = np.r_[account[1:] != account[:-1], True]
    rows: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    previous = None
    for k, cut in enumerate(cutoffs):
        written = ts <= cut
        next_later = np.r_[ts[1:] > cut, True]
        current = written & (last_of_account | next_later)
        chosen = written if previous is None else (current | (written & (ts > previous)))
        idx = np.flatnonzero(chosen)
        rows.append(idx)
        parts.append(np.full(idx.size, k))
        previous = cut
    row_version = np.concatenate(rows)
    occurrences = np.bincount(row_version, minlength=v)
    frame = versions.iloc[row_version].reset_index(drop=True)
    frame["_part"] = np.concatenate(parts)
    frame["_version"] = row_version
    single = occurrences[row_version] == 1
    clean = ~is_typo[row_version]
    frame, counts = inject_table(
        frame,
        DefectSpec(id_columns=("account_id", "billing_customer_id", "workspace_id")),
        settings.defects,
        rng,
        export_ts=export_ts,
        corruptible=single & clean,
        duplicable=clean,
    )
    counts.duplicates += int((occurrences - 1)[occurrences > 0].sum())
    counts.extra["nulled_employee_count"] = int(typo.size)
    frame = frame.sort_values(["_part", "_account", "updated_at"], kind="stable").reset_index(drop=True)
    return Extracts(frame=frame, extract_days=days, counts=counts)


def opportunities(world: World, catalog: CatalogPlan, export_ts: int, seed: int, taken: set[str]) -> pd.DataFrame:
    """Sales opportunities as known at the export: closings after the export are still open."""
    rng = stream(seed, "crm.opportunities")
    opp = world.opportunities
    keep = opp["created_ts"] <= export_ts
    account = opp["account"][keep]
    created = opp["created_ts"][keep]
    closed = opp["closed_ts"][keep]
    outcome = opp["outcome"][keep]
    still_open = closed > export_ts
    stage = np.where(still_open, "open", np.where(outcome == WON, "closed_won", "closed_lost")).astype(object)
    products = np.array([catalog.primary.product, *catalog.adjacent_names], dtype=object)
    product = products[np.where(opp["product"][keep] == PRIMARY, 0, opp["product"][keep] + 1)]
    amount = np.where(rng.random(account.size) < 0.1, np.nan, opp["amount"][keep])
    frame = pd.DataFrame(
        {
            "opportunity_id": new_ids(rng, "opportunity", account.size, taken),
            "account_id": world.accounts.account_id[account],
            "product": product,
            "type": np.array(OPP_TYPES, dtype=object)[opp["type"][keep]],
            "stage": stage,
            "created_at": created,
            "closed_at": np.where(still_open, NULL, closed),
            "amount": amount,
        }
    )
    frame["_part"] = year_of(created)
    return frame.sort_values("created_at", kind="stable").reset_index(drop=True)
