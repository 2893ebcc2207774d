"""The contract tables besides usage, rendered from the world with their defects injected and split into the
files a real export holds (per year, formats and timestamp styles alternating as in the sample export)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ingest.contract import ACCOUNTS, INVOICES, NPS, OPPORTUNITIES, SUBSCRIPTIONS, TICKETS, TOUCHES, TableSpec
from synth import crm, tables
from synth.catalog import CatalogPlan
from synth.defects import DefectSpec, impossible_score, inject_table, negative, unknown_label
from synth.ids import new_ids
from synth.manifest import TableCounts
from synth.randomness import stream
from synth.timeline import DAY, Timeline
from synth.world import World
from xsell.settings import GeneratorSettings

#: timestamp rendering per table, imitating the sample export
TS_STYLE = {
    ACCOUNTS.name: "Z",
    OPPORTUNITIES.name: "Z",
    INVOICES.name: "naive",
    TICKETS.name: "+00:00",
    TOUCHES.name: "Z",
}
#: NPS files carry the survey tool's local offset, which changed over the years
NPS_STYLES = ("+10:00", "-05:00", "+00:00")


@dataclass
class Part:
    """One file of one table, ready to write."""

    spec: TableSpec
    relpath: str
    frame: pd.DataFrame
    ts_style: str


def render_tables(
    world: World,
    catalog: CatalogPlan,
    timeline: Timeline,
    settings: GeneratorSettings,
    seed: int,
    export_ts: int,
    taken: set[str],
) -> tuple[list[Part], dict[str, TableCounts]]:
    """Every table but usage and the catalogue as file parts, defects injected; with each table's counts."""
    rates = settings.defects
    parts: list[Part] = []
    counts: dict[str, TableCounts] = {}

    def orphan_accounts(kind: str, name: str) -> Callable[[int], np.ndarray]:
        def make(n: int) -> np.ndarray:
            pool = new_ids(stream(seed, f"orphans.{name}"), kind, max(3, n // 3 + 1), taken)
            return pool[stream(seed, f"orphans.pick.{name}").integers(0, len(pool), n)]

        return make

    def keys(kind: str, name: str) -> Callable[[int], np.ndarray]:
        return lambda n: new_ids(stream(seed, f"keys.{name}"), kind, n, taken)

    def ticket_keys(n_clean: int) -> Callable[[int], np.ndarray]:
        return lambda n: tables.ticket_ids(n_clean, n)

    # crm/accounts: quarterly extracts
    extracts = crm.account_extracts(world, timeline, settings, export_ts, seed)
    counts[ACCOUNTS.name] = extracts.counts
    for k, day in enumerate(extracts.extract_days):
        date = str(np.datetime64(day, "D"))
        suffix = ".csv" if k % 2 == 0 else ".csv.gz"
        frame = extracts.frame[extracts.frame["_part"] == k]
        parts.append(Part(ACCOUNTS, f"{ACCOUNTS.name}/accounts_extract_{date}{suffix}", frame, "Z"))

    plans: list[tuple[TableSpec, pd.DataFrame, DefectSpec, str, str | None, str | None]] = [
        (
            OPPORTUNITIES,
            crm.opportunities(world, catalog, export_ts, seed, taken),
            DefectSpec(
                id_columns=("account_id",),
                orphan_column="account_id",
                key_column="opportunity_id",
                values=(("type", unknown_label),),
            ),
            "opportunity",
            "account",
            "created_at",
        ),
        (
            SUBSCRIPTIONS,
            tables.subscriptions(world, catalog, export_ts // DAY, seed, taken),
            DefectSpec(
                id_columns=("customer_id",),
                orphan_column="customer_id",
                key_column="subscription_item_id",
                # in place: the item (who owns what, from when) must survive its impossible seats or mrr
                values=(("seats", negative), ("mrr", negative)),
            ),
            "subscription_item",
            "customer",
            "start_date",
        ),
        (
            INVOICES,
            tables.invoices(world, timeline, export_ts, seed, taken),
            DefectSpec(
                id_columns=("customer_id",),
                orphan_column="customer_id",
                key_column="invoice_id",
                values=(("status", unknown_label),),
            ),
            "invoice",
            "customer",
            "issued_at",
        ),
        (
            TICKETS,
            tables.tickets(world, catalog, timeline, export_ts, seed),
            DefectSpec(
                id_columns=("account_id",),
                orphan_column="account_id",
                key_column="ticket_id",
                future_columns=("created_at", "solved_at"),
                values=(("priority", unknown_label), ("category", unknown_label)),
            ),
            "ticket",
            "account",
            "created_at",
        ),
        (
            NPS,
            tables.nps(world, timeline, export_ts, seed, taken),
            DefectSpec(
                id_columns=("account_id",),
                orphan_column="account_id",
                key_column="response_id",
                invalid=impossible_score,
                future_columns=("submitted_at",),
            ),
            "response",
            "account",
            "submitted_at",
        ),
        (
            TOUCHES,
            tables.touches(world, catalog, export_ts, seed, taken),
            DefectSpec(
                id_columns=("account_id",),
                orphan_column="account_id",
                key_column="touch_id",
                future_columns=("occurred_at",),
                values=(("channel", unknown_label), ("action", unknown_label)),
            ),
            "touch",
            "account",
            "occurred_at",
        ),
    ]
    for spec, frame, defect_spec, key_kind, orphan_kind, sort_col in plans:
        new_keys = ticket_keys(len(frame)) if key_kind == "ticket" else keys(key_kind, spec.name)
        frame, table_counts = inject_table(
            frame,
            defect_spec,
            rates,
            stream(seed, f"defects.{spec.name}"),
            export_ts=export_ts,
            new_keys=new_keys,
            orphan_ids=orphan_accounts(orphan_kind, spec.name) if orphan_kind else None,
        )
        counts[spec.name] = table_counts
        parts.extend(_split_parts(spec, frame, sort_col, int(settings.end[:4])))
    return parts, counts


def _split_parts(spec: TableSpec, frame: pd.DataFrame, sort_col: str | None, end_year: int) -> list[Part]:
    """Split a table into its files: one per `_part` value (year), formats alternating as in the sample."""
    folder = spec.name
    stem = spec.name.rsplit("/", 1)[1]
    if spec is SUBSCRIPTIONS:
        ordered = frame.sort_values(sort_col, kind="stable") if sort_col else frame
        return [Part(spec, f"{folder}/subscription_items.csv.gz", ordered, "Z")]
    # a table without rows still gets one (header-only) file, so every contract folder exists
    values = sorted(frame["_part"].unique().tolist()) or [end_year]
    out = []
    for i, value in enumerate(values):
        part = frame[frame["_part"] == value]
        if sort_col:
            part = part.sort_values(sort_col, kind="stable")
        suffix = ".csv" if i % 2 == 0 else ".csv.gz"
        if spec is TOUCHES and i == len(values) - 1 and i > 0:
            suffix = ".parquet"
        style = NPS_STYLES[i % len(NPS_STYLES)] if spec is NPS else TS_STYLE.get(spec.name, "Z")
        out.append(Part(spec, f"{folder}/{stem}_{value}{suffix}", part, style))
    return out
