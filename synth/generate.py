"""`generate_raw`: simulate a world, render every contract table with recorded defects, write a RAW folder."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ingest.contract import FEATURES, PRODUCTS, TABLES, USAGE, table_folder
from synth.catalog import CatalogPlan, plan_catalog
from synth.defects import inject_usage
from synth.ids import new_ids
from synth.manifest import GenerationManifest, TableCounts
from synth.randomness import stream
from synth.table_parts import render_tables
from synth.timeline import DAY, Timeline, build_timeline
from synth.usage import UsageRenderer
from synth.world import World, simulate_world
from synth.writer import (
    PARQUET_OPTIONS,
    check_target,
    staging_dir,
    swap_into_place,
    write_csv,
    write_part,
)
from xsell.settings import GeneratorSettings

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]

#: orphan workspace ids the usage defects draw from
ORPHAN_POOL = 30


def generate_raw(
    out_dir: Path,
    settings: GeneratorSettings,
    seed: int,
    progress: Progress | None = None,
) -> GenerationManifest:
    """Write a synthetic RAW export (all contract tables plus `generator_manifest.json`) to out_dir.

    The folder is built next to out_dir and renamed into place at the end. An existing out_dir is
    replaced only when it is empty or an earlier generator output; otherwise `GeneratorError`.
    Same settings and seed give byte-identical files. `progress(stage, fraction)` reports the
    overall fraction done (0..1) as generation goes.
    """
    out_dir = Path(out_dir)
    report = progress or (lambda stage, fraction: None)
    catalog = plan_catalog(settings)
    timeline = build_timeline(settings)
    check_target(out_dir)
    staging = staging_dir(out_dir)
    try:
        manifest = _generate(staging, settings, seed, catalog, timeline, report)
        manifest.write(staging)
        swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report("done", 1.0)
    log.info("generated %s accounts into %s (export time %s)", settings.accounts, out_dir, manifest.export_time)
    return manifest


def _generate(
    root: Path,
    settings: GeneratorSettings,
    seed: int,
    catalog: CatalogPlan,
    timeline: Timeline,
    report: Progress,
) -> GenerationManifest:
    report("world", 0.0)
    world = simulate_world(settings, catalog, timeline, seed)
    log.debug("world simulated: %d accounts, %d items", world.accounts.n, len(world.items["account"]))
    report("world", 0.1)
    taken: set[str] = set()
    for ids in (world.accounts.account_id, world.accounts.customer_id, world.accounts.workspace_id):
        taken.update(v.upper() for v in ids)
    planned_export_s = timeline.last_day * DAY + 23 * 3600 + 59 * 60 + int(stream(seed, "export").integers(0, 60))
    counts: dict[str, TableCounts] = {}

    usage_counts, export_ms = _write_usage(
        root, world, catalog, timeline, settings, seed, planned_export_s, taken, report
    )
    counts[USAGE.name] = usage_counts
    export_ts = export_ms // 1000
    report("tables", 0.86)

    parts, table_counts = render_tables(world, catalog, timeline, settings, seed, export_ts, taken)
    counts.update(table_counts)
    rng = stream(seed, "unknown_columns")
    candidates = sorted(p.relpath for p in parts)
    n_extra = min(settings.defects.unknown_column_files, len(candidates))
    extra_files = sorted(rng.choice(candidates, n_extra, replace=False).tolist()) if n_extra else []
    for i, part in enumerate(parts):
        path = root / part.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        batch = f"b{i:04d}" if part.relpath in extra_files else None
        write_part(part.frame, part.spec, path, part.ts_style, batch)
        report("tables", 0.86 + 0.13 * (i + 1) / len(parts))
    catalog_counts = _write_catalog(root, settings)
    counts = {**catalog_counts, **counts}
    ordered = {spec.name: counts[spec.name] for spec in TABLES}
    for spec in TABLES:  # every value column is listed, as in the data-quality report's nulled_values
        nulled = {f"nulled_{c}": ordered[spec.name].extra.pop(f"nulled_{c}", 0) for c in spec.value_columns}
        ordered[spec.name].extra = {**nulled, **ordered[spec.name].extra}

    conv = world.conversions
    in_period = (conv["day"] >= timeline.period_start_day) & (conv["day"] <= export_ts // DAY)
    conversions = {
        name: int(((conv["product"] == j) & in_period).sum()) for j, name in enumerate(catalog.adjacent_names)
    }
    return GenerationManifest(
        seed=seed,
        accounts=settings.accounts,
        start=settings.start,
        end=settings.end,
        export_time=_iso_ms(export_ms),
        drift_at=settings.drift_at,
        drift_kind=settings.drift_kind,
        catalog={"primary": catalog.primary.product, "adjacent": list(catalog.adjacent_names)},
        tables=ordered,
        conversions=conversions,
        unknown_column_files=extra_files,
        defects=settings.defects.model_dump(),
    )


def _iso_ms(ms: int) -> str:
    text = str(np.datetime64(int(ms), "ms"))
    return (text[:-4] if text.endswith(".000") else text) + "Z"


def _write_catalog(root: Path, settings: GeneratorSettings) -> dict[str, TableCounts]:
    folder = root / table_folder(PRODUCTS)
    folder.mkdir(parents=True, exist_ok=True)
    products = pd.DataFrame([p.model_dump() for p in settings.catalog_products], columns=list(PRODUCTS.column_names))
    products["list_price_mrr"] = products["list_price_mrr"].astype(float)
    features = pd.DataFrame([f.model_dump() for f in settings.catalog_features], columns=list(FEATURES.column_names))
    write_csv(products, folder / f"{PRODUCTS.file_stem}.csv")
    write_csv(features, folder / f"{FEATURES.file_stem}.csv")
    return {
        PRODUCTS.name: TableCounts(rows_written=len(products)),
        FEATURES.name: TableCounts(rows_written=len(features)),
    }


def _write_usage(
    root: Path,
    world: World,
    catalog: CatalogPlan,
    timeline: Timeline,
    settings: GeneratorSettings,
    seed: int,
    export_s: int,
    taken: set[str],
    report: Progress,
) -> tuple[TableCounts, int]:
    """Write usage month by month (never all in memory); returns counts and the export time (ms)."""
    folder = root / USAGE.name
    folder.mkdir(parents=True, exist_ok=True)
    renderer = UsageRenderer(world, catalog, timeline, settings, seed, export_s * 1000)
    orphan_pool = new_ids(stream(seed, "usage.orphans"), "workspace", ORPHAN_POOL, taken)
    features = np.array([f.feature for f in catalog.features], dtype=object)
    workspaces = world.accounts.workspace_id
    total = TableCounts(extra={"late_rows": 0})
    max_ms = 0
    months = list(timeline.period_months)
    for p, _m in enumerate(months):
        rows = renderer.month(p)
        protect = None
        if p == len(months) - 1 and rows.day.size:
            # the export time is the latest ingestion: pin one clean row to it
            protect = int(np.argmax(rows.ingested_ms))
            rows.ingested_ms[protect] = export_s * 1000
        cols = {
            "day": rows.day,
            "workspace": workspaces[rows.account],
            "user": renderer.user_id(rows.account, rows.user),
            "feature": features[rows.feature],
            "count": rows.count,
            "ingested_ms": rows.ingested_ms,
        }
        if rows.day.size:
            max_ms = max(max_ms, int(rows.ingested_ms.max()))
        cols, injected = inject_usage(cols, settings.defects, stream(seed, f"usage.defects.{p}"), orphan_pool, protect)
        order = np.argsort(cols["ingested_ms"], kind="stable")
        table = pa.table(
            {
                "date": pa.array(cols["day"][order].astype(np.int32), type=pa.int32()).cast(pa.date32()),
                "workspace_id": pa.array(cols["workspace"][order], type=pa.string()),
                "user_id": pa.array(cols["user"][order], type=pa.binary()).cast(pa.string()),
                "feature": pa.array(cols["feature"][order], type=pa.string()),
                "event_count": pa.array(cols["count"][order], type=pa.int64()),
                "ingested_at": pa.array(cols["ingested_ms"][order], type=pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            }
        )
        _write_parquet_table(table, folder / f"usage_{rows.label}.parquet")
        total.add(injected.counts)
        total.extra["late_rows"] += injected.late_rows
        report("usage", 0.1 + 0.75 * (p + 1) / len(months))
    if max_ms == 0:
        max_ms = export_s * 1000
    return total, max_ms


def _write_parquet_table(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path, row_group_size=1_000_000, **PARQUET_OPTIONS)


__all__ = ["generate_raw"]
