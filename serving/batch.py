"""Batch scoring run behind `xsell score`: publish the champion's scores, then shadow-score the challenger.

`publish_scores`: the model (by default the champion alias, resolved now) scores every eligible account x
product of the snapshot at `as_of` with reason codes; tiers come from the tier policy logged with the model
(`tiers/policy.json`; a model without one gets top-share cut-offs and a warning), `next_product` from the
adoption path mined at `as_of`. Written: FILE (`PUBLIC_COLUMNS`), `<stem>.crm.jsonl`, `<stem>.alerts.csv` (each
atomically), the adoption path under `HOME/reports/adoption_path/`, and `serving.scores` (that as-of date's
rows replaced, one transaction). Reruns give the same files and rows. It is three steps, which the `score` flow runs
apart: `prepare_scoring` (model, snapshot, adoption path, prices), `score_rows` on each of `account_chunks` (any
worker: scoring is row by row, so chunks give the same numbers as one call), `publish_scored` (the single writer).

`shadow_scores`: when the challenger alias exists and names another version than the published one, it scores
the same rows, with the snapshot and the champion's scores the run already holds (nothing read again); see
`serving.shadow`.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.build import SnapshotReader
from features.store import warehouse
from registry.errors import RegistryError
from registry.models import alias_uri, load_model, resolve_version
from serving import store
from serving.adoption import adjacent_products, mine_adoption_path, render_markdown
from serving.model_artifacts import load_tier_policy
from serving.publish import crm_records, entered_ready_now, publish_rows, sidecar_paths, write_crm
from serving.scoring import TABLE_FORMATS, ScoringError, write_table
from serving.shadow import run_shadow
from serving.tiers import TierPolicy, check_gate_columns, quantile_policy
from xsell import progress
from xsell.fileio import write_text_atomic
from xsell.settings import Settings

log = logging.getLogger(__name__)

#: Progress key of the scoring of a snapshot's rows (started once they are read, advanced by each chunk).
SCORE_KEY = "score.rows"


def new_run_id(as_of: date) -> str:
    """Id of one scoring run: `score-<as_of>-<UTC time>-<random>`."""
    return f"score-{as_of.isoformat()}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def list_prices(con: Any) -> dict[str, float]:
    """Product -> list MRR from the warehouse catalogue."""
    return {str(p): float(v) for p, v in con.execute("SELECT product, list_price_mrr FROM c360.products").fetchall()}


def write_adoption_report(settings: Settings, path: pd.DataFrame, primary: str, as_of: date) -> Path:
    """`HOME/reports/adoption_path/latest.md` and `.csv` (and a copy per as-of date); returns the markdown."""
    folder = settings.reports_dir / "adoption_path"
    markdown = render_markdown(path, primary, as_of)
    for stem in ("latest", as_of.isoformat()):
        write_text_atomic(folder / f"{stem}.md", markdown)
        write_text_atomic(folder / f"{stem}.csv", path.to_csv(index=False))
    return folder / "latest.md"


def _policy(loaded: Any, settings: Settings, scored: pd.DataFrame) -> tuple[TierPolicy, str]:
    policy = load_tier_policy(loaded.run_id, settings)
    if policy is not None:
        return policy, "model"
    log.warning("%s version %s has no tier policy: top-share cut-offs of this run", loaded.name, loaded.version)
    return quantile_policy(scored[["product", "propensity"]], settings.serving.tiers), "top_share"


@dataclass(frozen=True)
class ScoringInput:
    """What the driver prepared for one scoring run: the model, the snapshot's rows and what publishing needs."""

    as_of: date
    uri: str
    loaded: Any  # registry.models.LoadedModel
    run_id: str
    rows: pd.DataFrame
    primary: str
    adoption_path: pd.DataFrame
    prices: dict[str, float]
    seconds: dict[str, float]
    prepared_at: float  # time.perf_counter() when preparation ended (this process)


def prepare_scoring(settings: Settings, as_of: date, out: Path, model_uri: str | None = None) -> ScoringInput:
    """Load the model (default: the champion, resolved now) and read the snapshot, adoption path and prices."""
    if out.suffix.lower() not in TABLE_FORMATS:
        raise ScoringError(f"{out}: output must end in .csv or .parquet")
    clock = time.perf_counter()
    uri = model_uri or alias_uri(settings)
    with progress.step("score.model", f"loading the model {uri}"):
        loaded = load_model(uri, settings)
    seconds = {"load_model": time.perf_counter() - clock}
    t0 = time.perf_counter()
    with (
        progress.step("score.read", f"reading snapshot {as_of}, adoption path and prices"),
        warehouse(settings, read_only=True) as con,
    ):
        rows = SnapshotReader(con, settings).read(as_of)
        check_gate_columns(rows, f"snapshot {as_of}")
        primary, _ = adjacent_products(con)
        path = mine_adoption_path(con, as_of, settings.serving.adoption)
        prices = list_prices(con)
    seconds["features"] = time.perf_counter() - t0
    progress.start(SCORE_KEY, f"scoring {len(rows):,} rows", total=len(rows))  # finished by `publish_scored`
    return ScoringInput(
        as_of=as_of,
        uri=uri,
        loaded=loaded,
        run_id=new_run_id(as_of),
        rows=rows,
        primary=primary,
        adoption_path=path,
        prices=prices,
        seconds=seconds,
        prepared_at=time.perf_counter(),
    )


def score_rows(loaded: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with the model's `propensity` and `reason_1..3` beside them (a whole snapshot or one chunk)."""
    scored = pd.concat([rows.reset_index(drop=True), loaded.predict(rows, reasons=True).reset_index(drop=True)], axis=1)
    progress.advance(SCORE_KEY, len(rows))
    return scored


def account_chunks(rows: pd.DataFrame, max_rows: int) -> list[pd.DataFrame]:
    """Consecutive slices of `rows`, each of whole accounts and at most `max_rows` rows (unless one account has more)."""
    if max_rows < 1:
        raise ScoringError(f"chunks need at least one row each, got max_rows={max_rows}")
    accounts = rows["account_id"].to_numpy()
    edges = [0, *(np.flatnonzero(accounts[1:] != accounts[:-1]) + 1).tolist(), len(rows)]
    chunks, begin = [], 0
    for start, end in itertools.pairwise(edges):  # one account: rows start..end
        if end - begin > max_rows and start > begin:
            chunks.append(rows.iloc[begin:start])
            begin = start
    chunks.append(rows.iloc[begin:])
    return chunks


def publish_scored(
    settings: Settings, prepared: ScoringInput, scored: pd.DataFrame | list[pd.DataFrame], out: Path
) -> dict[str, Any]:
    """Tier and publish scored rows (or their chunks, in order): output file, CRM file, alerts, warehouse rows."""
    progress.finish(SCORE_KEY)
    scored = _all_scored(prepared, scored)
    loaded, as_of = prepared.loaded, prepared.as_of
    seconds = dict(prepared.seconds)
    policy, policy_source = _policy(loaded, settings, scored)
    published = publish_rows(
        scored,
        policy,
        list(prepared.adoption_path["product"]),
        prepared.prices,
        model_name=loaded.name,
        model_version=loaded.version,
    )
    published = published.sort_values(["product", "rank"]).reset_index(drop=True)
    seconds["score"] = time.perf_counter() - prepared.prepared_at
    t0 = time.perf_counter()
    with (
        progress.step("score.publish", "publishing scores (output, CRM and alert files, warehouse)"),
        warehouse(settings) as con,
    ):
        previous = store.previous_tiers(con, as_of)
        alerts = entered_ready_now(published, previous)
        crm_path, alerts_path = sidecar_paths(out)
        write_table(published, out)
        write_crm(crm_records(published), crm_path)
        write_table(alerts, alerts_path)
        store.replace_scores(con, published, as_of, prepared.run_id, datetime.now(UTC).replace(tzinfo=None))
    report = write_adoption_report(settings, prepared.adoption_path, prepared.primary, as_of)
    seconds["write"] = time.perf_counter() - t0
    seconds["total"] = sum(seconds.values())
    tiers = Counter(published["tier"])
    summary = {
        "run_id": prepared.run_id,
        "as_of": as_of.isoformat(),
        "out": str(out),
        "crm": str(crm_path),
        "alerts": str(alerts_path),
        "adoption_path": str(report),
        "rows": len(published),
        "accounts": int(published["account_id"].nunique()),
        "tiers": {t: int(tiers.get(t, 0)) for t in ("ready_now", "building", "not_ready")},
        "alert_rows": len(alerts),
        "previous_as_of": None if previous is None else str(previous["as_of"].iloc[0]),
        "model_name": loaded.name,
        "model_version": loaded.version,
        "model_uri": prepared.uri,
        "tier_policy": policy_source,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }
    log.info("published scores", extra={k: v for k, v in summary.items() if not isinstance(v, dict)})
    return summary


def publish_scores(settings: Settings, as_of: date, out: Path, model_uri: str | None = None) -> dict[str, Any]:
    """Score, tier and publish every eligible pair at `as_of` in this process; returns a summary (paths, counts,
    model, run id)."""
    prepared = prepare_scoring(settings, as_of, out, model_uri)
    return publish_scored(settings, prepared, score_rows(prepared.loaded, prepared.rows), out)


def shadow_scores(
    settings: Settings, prepared: ScoringInput, scored: pd.DataFrame | list[pd.DataFrame]
) -> dict[str, Any] | None:
    """Shadow-score the challenger on the rows just published from `prepared` (the champion's `scored` rows, or
    their chunks in order) when it exists and differs from the published version; None (and nothing stored)
    otherwise or when `serving.shadow.enabled` is off."""
    if not settings.serving.shadow.enabled:
        return None
    published_version = int(prepared.loaded.version)
    uri = alias_uri(settings, settings.registry.challenger_alias)
    try:
        info = resolve_version(uri, settings)
    except RegistryError:
        log.info("no challenger to shadow-score (%s)", uri)
        return None
    if info.version == published_version:
        log.info("the challenger is the published model (version %d): no shadow run", info.version)
        return None
    with progress.step("score.shadow", f"shadow-scoring challenger version {info.version}"):
        challenger = load_model(uri, settings)
        champion = _all_scored(prepared, scored)[["account_id", "product", "propensity"]]
        champion = champion.astype({"propensity": float})  # as published
        return run_shadow(
            settings, prepared.as_of, prepared.rows, champion, challenger, published_version, prepared.run_id
        )


def _all_scored(prepared: ScoringInput, scored: pd.DataFrame | list[pd.DataFrame]) -> pd.DataFrame:
    """The scored rows of the whole snapshot (chunks concatenated in order); ScoringError when rows are missing."""
    if isinstance(scored, list):
        scored = pd.concat(scored, ignore_index=True)
    if len(scored) != len(prepared.rows):
        raise ScoringError(f"scored {len(scored)} rows of the {len(prepared.rows)} in snapshot {prepared.as_of}")
    return scored
