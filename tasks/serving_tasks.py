"""Prefect tasks of batch scoring: thin wrappers over `serving.batch`, `serving.shadow` and the registry."""

from __future__ import annotations

from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from registry.aliases import reconcile
from registry.gates import maybe_promote
from serving.batch import ScoringInput, prepare_scoring, publish_scored, score_rows, shadow_scores
from serving.model_artifacts import serving_artifacts
from serving.shadow import realise_matured, shadow_run_count
from tasks.retry import retry_on_io
from xsell.settings import Settings


@task(name="serving-artifacts", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def serving_artifacts_task(result: Any, settings: Settings) -> Any:
    """Tier policy, tier table and adoption path to log with a trained model (None for a bring-your-own table)."""
    return serving_artifacts(result, settings)


@task(name="reconcile-aliases", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def reconcile_aliases_task(settings: Settings) -> int:
    """Record alias moves made outside xsell before the champion is resolved; returns the events recorded."""
    return len(reconcile(settings))


@task(name="prepare-scoring", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def prepare_scoring_task(settings: Settings, as_of: date, out: Path, model_uri: str | None) -> ScoringInput:
    """Load the model and read the snapshot at `as_of` with what publishing needs (a `ScoringInput`)."""
    return prepare_scoring(settings, as_of, out, model_uri)


@task(name="score-chunk", cache_policy=NO_CACHE)
def score_chunk_task(rows: pd.DataFrame, model: Any) -> pd.DataFrame:
    """Propensity and reason codes of one chunk of whole accounts (runs on a Dask worker in dask mode)."""
    return score_rows(model, rows)


@task(name="publish-scores", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def publish_scored_task(
    settings: Settings, prepared: ScoringInput, scored: list[pd.DataFrame], out: Path
) -> dict[str, Any]:
    """Tier and publish the scored chunks (output file, CRM file, alerts, warehouse): in the flow's process."""
    return publish_scored(settings, prepared, scored, out)


@task(name="shadow-score", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def shadow_scores_task(settings: Settings, prepared: ScoringInput, scored: list[pd.DataFrame]) -> dict[str, Any] | None:
    """Shadow-score the challenger on the published rows, store and log the comparison (None: no challenger)."""
    return shadow_scores(settings, prepared, scored)


@task(name="realise-shadow", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def realise_shadow_task(settings: Settings) -> list[dict[str, Any]]:
    """Realised ROC-AUC/PR-AUC of earlier shadow runs whose labels have matured."""
    return realise_matured(settings)


@task(name="judge-challenger", cache_policy=NO_CACHE)
def judge_challenger_task(settings: Settings, trigger: str) -> dict[str, Any] | None:
    """Promotion gates after a shadow run (per `registry.gates.mode`); the decision, or None when not judged."""
    decision = maybe_promote(settings, trigger, partial(shadow_run_count, settings))
    return None if decision is None else decision.to_dict()
