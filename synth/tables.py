"""Rendering the world into contract tables (internal form: timestamps as epoch seconds, dates as day numbers).

Each function returns a clean frame (no defects) with the contract's columns plus `_part`, the
file part (usually the year) the row is written to.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth.catalog import CatalogPlan
from synth.ids import new_ids
from synth.randomness import sigmoid, stream
from synth.timeline import DAY, NULL, Timeline, year_of
from synth.world import World
from synth.world_state import CHANNELS, ENGAGED, OPENED, PRIMARY

TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_CATEGORIES = ("billing", "bug", "how_to", "feature_request", "integration", "security")
CATEGORY_WEIGHTS = np.array([0.06, 0.30, 0.26, 0.27, 0.07, 0.04])
FEATURE_REQUEST = TICKET_CATEGORIES.index("feature_request")
NPS_WAVE_MONTHS = (1, 4, 7, 10)


def subscriptions(world: World, catalog: CatalogPlan, export_day: int, seed: int, taken: set[str]) -> pd.DataFrame:
    """Subscription items (one snapshot file): trials, paid items, tier changes, ends."""
    rng = stream(seed, "tables.subscriptions")
    it = world.items
    keep = it["start_day"] <= export_day
    product_idx = it["product"][keep]
    products = np.array([catalog.primary.product, *catalog.adjacent_names], dtype=object)
    tiers = np.array([*catalog.tiers, None], dtype=object)
    tier_idx = np.where(product_idx == PRIMARY, it["tier"][keep], len(catalog.tiers))
    frame = pd.DataFrame(
        {
            "subscription_item_id": new_ids(rng, "subscription_item", int(keep.sum()), taken),
            "customer_id": world.accounts.customer_id[it["account"][keep]],
            "product": products[np.where(product_idx == PRIMARY, 0, product_idx + 1)],
            "tier": tiers[tier_idx],
            "seats": it["seats"][keep],
            "mrr": it["mrr"][keep],
            "is_trial": it["is_trial"][keep],
            "start_day": it["start_day"][keep],
            "end_day": it["end_day"][keep],
        }
    ).rename(columns={"start_day": "start_date", "end_day": "end_date"})
    frame["_part"] = 0
    return frame.sort_values(["start_date"], kind="stable").reset_index(drop=True)


def invoices(world: World, timeline: Timeline, export_ts: int, seed: int, taken: set[str]) -> pd.DataFrame:
    """Monthly invoices per billing customer over the period; payment behaviour follows health."""
    rng = stream(seed, "tables.invoices")
    it = world.items
    paid_items = ~it["is_trial"]
    account = it["account"][paid_items]
    mrr = it["mrr"][paid_items]
    start = it["start_day"][paid_items]
    end = np.where(it["end_day"][paid_items] == NULL, np.iinfo(np.int64).max, it["end_day"][paid_items])
    n = world.accounts.n
    dom = stream(seed, "tables.invoice_day").integers(1, 28, n)
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for p, m in enumerate(timeline.period_months):
        d0 = int(timeline.month_days[m])
        issue_day = d0 + dom[account] - 1
        active = (start <= issue_day) & (end > issue_day)
        amount = np.bincount(account[active], weights=mrr[active], minlength=n)
        who = np.flatnonzero(amount > 0)
        blocks.append((who, np.full(who.size, p), d0 + dom[who] - 1, amount[who]))
    who = np.concatenate([b[0] for b in blocks])
    period = np.concatenate([b[1] for b in blocks])
    day = np.concatenate([b[2] for b in blocks])
    amount = np.round(np.concatenate([b[3] for b in blocks]), 2)
    issued = day * DAY + rng.integers(0, 6 * 3600, who.size)
    health = world.health[period, who].astype(float)
    late = rng.random(who.size) < sigmoid(-1.6 - 1.2 * health)
    lag = np.where(late, np.exp(rng.normal(np.log(30), 0.4, who.size)), np.exp(rng.normal(np.log(5), 0.6, who.size)))
    paid_at = issued + (lag * DAY).astype(np.int64) + rng.integers(0, 3600, who.size)
    bad_debt = rng.random(who.size) < sigmoid(-4.4 - 1.3 * health)
    declared = bad_debt & (issued <= export_ts - 60 * DAY)
    paid = ~bad_debt & (paid_at <= export_ts)
    status = np.where(declared, "uncollectible", np.where(paid, "paid", "open")).astype(object)
    keep = issued <= export_ts
    frame = pd.DataFrame(
        {
            "invoice_id": new_ids(rng, "invoice", int(keep.sum()), taken),
            "customer_id": world.accounts.customer_id[who[keep]],
            "issued_at": issued[keep],
            "amount": amount[keep],
            "status": status[keep],
            "paid_at": np.where(paid, paid_at, NULL)[keep],
        }
    )
    frame["_part"] = year_of(frame["issued_at"].to_numpy())
    return frame.sort_values("issued_at", kind="stable").reset_index(drop=True)


def tickets(world: World, catalog: CatalogPlan, timeline: Timeline, export_ts: int, seed: int) -> pd.DataFrame:
    """Support tickets of active accounts: more and more urgent when health is poor; feature requests
    name adjacent products the account needs and does not own."""
    rng = stream(seed, "tables.tickets")
    acc = world.accounts
    rows: list[dict[str, np.ndarray]] = []
    for p, m in enumerate(timeline.period_months):
        lo, hi = world.active_lo[p], world.active_hi[p]
        dim = int(timeline.month_days[m + 1] - timeline.month_days[m])
        days = hi - lo
        health = world.health[p].astype(float)
        lam = 0.22 * (np.maximum(world.seats[p], 1) / 10.0) ** 0.35 * np.exp(-0.45 * health) * days / dim
        k = rng.poisson(np.where(days > 0, lam, 0.0))
        who = np.repeat(np.arange(acc.n), k)
        day = lo[who] + np.floor(rng.random(who.size) * days[who]).astype(np.int64)
        h = health[who]
        # priority: poor health pushes towards high/urgent
        logits = np.stack([0.4 * h - 0.5, np.zeros_like(h), -0.4 * h - 1.1, -0.6 * h - 2.2], axis=1)
        priority = _categorical(rng, logits)
        # category: feature requests grow with unmet need
        owns = world.owns[p][who]
        unmet = np.where(owns, -np.inf, acc.need[who]) if catalog.n_adjacent else np.zeros((who.size, 0))
        top_need = np.max(unmet, axis=1, initial=-np.inf) if catalog.n_adjacent else np.full(who.size, -np.inf)
        cat_logits = np.tile(np.log(CATEGORY_WEIGHTS), (who.size, 1))
        cat_logits[:, FEATURE_REQUEST] += 0.35 * np.where(np.isfinite(top_need), top_need, -1.0)
        category = _categorical(rng, cat_logits)
        requested = np.full(who.size, -1)
        if catalog.n_adjacent:
            ask = (category == FEATURE_REQUEST) & np.isfinite(top_need) & (rng.random(who.size) < 0.82)
            choice = _categorical(rng, 1.3 * np.where(np.isfinite(unmet), unmet, -50.0))
            requested = np.where(ask, choice, -1)
        created = day * DAY + rng.integers(0, DAY, who.size)
        hours = np.exp(rng.normal(np.log(14), 1.0, who.size)) + 0.1
        solved = created + (hours * 3600).astype(np.int64)
        unsolved = (rng.random(who.size) < 0.03) | (solved > export_ts)
        solved = np.where(unsolved, NULL, solved)
        bad = rng.random(who.size) < sigmoid(-1.3 - 1.0 * h + 0.5 * (priority == 3))
        answered = ~unsolved & (rng.random(who.size) < 0.45)
        satisfaction = np.where(answered, np.where(bad, 2, 1), 0)
        rows.append(
            {
                "account": who,
                "created_at": created,
                "solved_at": solved,
                "priority": priority,
                "category": category,
                "satisfaction": satisfaction,
                "requested": requested,
            }
        )
    cols = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    keep = cols["created_at"] <= export_ts
    cols = {k: v[keep] for k, v in cols.items()}
    order = np.argsort(cols["created_at"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    products = np.array([*catalog.adjacent_names, None], dtype=object)
    frame = pd.DataFrame(
        {
            "ticket_id": ticket_ids(0, order.size),
            "account_id": acc.account_id[cols["account"]],
            "created_at": cols["created_at"],
            "solved_at": cols["solved_at"],
            "priority": np.array(TICKET_PRIORITIES, dtype=object)[cols["priority"]],
            "category": np.array(TICKET_CATEGORIES, dtype=object)[cols["category"]],
            "satisfaction": np.array([None, "good", "bad"], dtype=object)[cols["satisfaction"]],
            "requested_product": products[cols["requested"]],
        }
    )
    frame["_part"] = year_of(frame["created_at"].to_numpy())
    return frame


def ticket_ids(start: int, n: int) -> np.ndarray:
    """Sequential ticket numbers `TCK-1000000`, ... starting after `start` earlier tickets."""
    return np.char.add("TCK-", (1_000_000 + start + np.arange(n)).astype(str)).astype(object)


def nps(world: World, timeline: Timeline, export_ts: int, seed: int, taken: set[str]) -> pd.DataFrame:
    """Quarterly NPS waves among paying accounts; the score follows relationship health."""
    rng = stream(seed, "tables.nps")
    acc = world.accounts
    blocks = []
    for p, m in enumerate(timeline.period_months):
        month_of_year = int(str(timeline.months[m])[5:7])
        if month_of_year not in NPS_WAVE_MONTHS:
            continue
        d0 = int(timeline.month_days[m])
        who = np.flatnonzero(world.paid[p] & (rng.random(acc.n) < 0.6 * 0.55))
        day = d0 + rng.integers(0, 40, who.size)
        submitted = day * DAY + rng.integers(0, DAY, who.size)
        health = world.health[p, who].astype(float)
        score = np.clip(np.round(7.0 + 1.7 * health + rng.normal(0, 1.3, who.size)), 0, 10).astype(np.int64)
        blocks.append((who, submitted, score))
    who = np.concatenate([b[0] for b in blocks]) if blocks else np.zeros(0, dtype=np.int64)
    submitted = np.concatenate([b[1] for b in blocks]) if blocks else np.zeros(0, dtype=np.int64)
    score = np.concatenate([b[2] for b in blocks]) if blocks else np.zeros(0, dtype=np.int64)
    keep = submitted <= export_ts
    frame = pd.DataFrame(
        {
            "response_id": new_ids(rng, "response", int(keep.sum()), taken),
            "account_id": acc.account_id[who[keep]],
            "submitted_at": submitted[keep],
            "score": score[keep],
        }
    )
    frame["_part"] = year_of(frame["submitted_at"].to_numpy())
    return frame.sort_values("submitted_at", kind="stable").reset_index(drop=True)


def touches(world: World, catalog: CatalogPlan, export_ts: int, seed: int, taken: set[str]) -> pd.DataFrame:
    """Campaign and newsletter touches: sent -> opened -> clicked/attended/replied; holdouts get one
    `sent` row with holdout=true and nothing else."""
    rng = stream(seed, "tables.touches")
    t = world.touches
    camp = world.campaigns
    c_idx = t["campaign"]
    send_day = np.array([c.send_day for c in camp], dtype=np.int64)[c_idx]
    channel = np.array([c.channel for c in camp], dtype=np.int64)[c_idx]
    product = np.array([c.product for c in camp], dtype=np.int64)[c_idx]
    campaign_id = np.array([c.campaign_id for c in camp], dtype=object)[c_idx]
    n = c_idx.size
    sent = send_day * DAY + 6 * 3600 + rng.integers(0, 4 * 3600, n)
    opened = sent + (rng.exponential(10, n) * 3600).astype(np.int64) + 60
    email = channel == CHANNELS.index("email")
    strong_at = np.select(
        [
            email,
            channel == CHANNELS.index("webinar"),
            channel == CHANNELS.index("in_app"),
        ],
        [
            opened + rng.integers(60, 1800, n),
            (send_day + 7) * DAY + 16 * 3600 + rng.integers(0, 600, n),
            sent + rng.integers(60, 2 * 3600, n),
        ],
        default=sent + (rng.exponential(2, n) * DAY).astype(np.int64) + 600,
    )
    strong_action = np.array(["clicked", "attended", "clicked", "replied"], dtype=object)[channel]
    level = t["level"]
    has_open = email & (level >= OPENED)
    has_strong = level == ENGAGED
    src = np.concatenate([np.arange(n), np.flatnonzero(has_open), np.flatnonzero(has_strong)])
    when = np.concatenate([sent, opened[has_open], strong_at[has_strong]])
    action = np.concatenate(
        [
            np.full(n, "sent", dtype=object),
            np.full(int(has_open.sum()), "opened", dtype=object),
            strong_action[has_strong],
        ]
    )
    keep = when <= export_ts
    src, when, action = src[keep], when[keep], action[keep]
    order = np.lexsort((src, when))
    src, when, action = src[order], when[order], action[order]
    products = np.array([*catalog.adjacent_names, None], dtype=object)
    frame = pd.DataFrame(
        {
            "touch_id": new_ids(rng, "touch", src.size, taken),
            "account_id": world.accounts.account_id[t["account"][src]],
            "occurred_at": when,
            "channel": np.array(CHANNELS, dtype=object)[channel[src]],
            "campaign_id": campaign_id[src],
            "product": products[product[src]],
            "action": action,
            "holdout": t["holdout"][src],
        }
    )
    frame["_part"] = year_of(when)
    return frame


def _categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One draw per row from softmax(logits) (Gumbel-max)."""
    if logits.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    gumbel = -np.log(-np.log(rng.random(logits.shape)))
    return np.argmax(logits + gumbel, axis=1)
