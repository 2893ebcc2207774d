"""Warehouse schema `serving`: published scores, shadow scores and shadow comparisons.

- `serving.scores`: the published champion rows (`PUBLIC_COLUMNS`) + `run_id`, `scored_at`; a rerun for an
  as-of date replaces that date's rows. `model_version` is an INTEGER, as in `serving.shadow_scores` (the
  published files keep it as text); a warehouse written when it was text is migrated in place by the first
  write (`ensure_tables`), and reads cast it, so a home not written since reads the same.
- `serving.shadow_scores`: as_of, account_id, product, model_name, model_version, propensity, run_id; a rerun
  replaces the rows of that date and model version. Never published.
- `serving.shadow_runs`: one row per as-of date and challenger version (`SHADOW_RUN_COLUMNS`), replaced by a
  rerun; the realised metrics are filled in once the labels of that date mature.

Every write is one transaction on a connection the caller opened writable (`features.store.warehouse`).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd

from features.store import table_exists
from serving.publish import PUBLIC_COLUMNS

log = logging.getLogger(__name__)

SCHEMA = "serving"
SCORES = f"{SCHEMA}.scores"
SHADOW_SCORES = f"{SCHEMA}.shadow_scores"
SHADOW_RUNS = f"{SCHEMA}.shadow_runs"

SHADOW_RUN_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR",
    "scored_at": "TIMESTAMP",
    "as_of": "DATE",
    "model_name": "VARCHAR",
    "champion_version": "INTEGER",
    "challenger_version": "INTEGER",
    "rows": "BIGINT",
    "psi": "DOUBLE",
    "ks": "DOUBLE",
    "spearman": "DOUBLE",
    "top_decile_overlap": "DOUBLE",
    "labelled_rows": "BIGINT",
    "champion_roc_auc": "DOUBLE",
    "champion_pr_auc": "DOUBLE",
    "challenger_roc_auc": "DOUBLE",
    "challenger_pr_auc": "DOUBLE",
    "mlflow_run_id": "VARCHAR",
}
_SCORE_TYPES = {
    "account_id": "VARCHAR",
    "product": "VARCHAR",
    "as_of": "DATE",
    "propensity": "DOUBLE",
    "tier": "VARCHAR",
    "rank": "BIGINT",
    "expected_value": "DOUBLE",
    "reason_1": "VARCHAR",
    "reason_2": "VARCHAR",
    "reason_3": "VARCHAR",
    "next_product": "VARCHAR",
    "model_name": "VARCHAR",
    "model_version": "INTEGER",
}


def _ddl(table: str, columns: dict[str, str]) -> str:
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(f'{c} {t}' for c, t in columns.items())})"


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the `serving` schema and its tables when missing; an older `serving.scores` whose `model_version`
    is text gets the INTEGER column (idempotent)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        _ddl(SCORES, {**{c: _SCORE_TYPES[c] for c in PUBLIC_COLUMNS}, "run_id": "VARCHAR", "scored_at": "TIMESTAMP"})
    )
    _integer_model_version(con)
    con.execute(
        _ddl(
            SHADOW_SCORES,
            {
                "as_of": "DATE",
                "account_id": "VARCHAR",
                "product": "VARCHAR",
                "model_name": "VARCHAR",
                "model_version": "INTEGER",
                "propensity": "DOUBLE",
                "run_id": "VARCHAR",
            },
        )
    )
    con.execute(_ddl(SHADOW_RUNS, SHADOW_RUN_COLUMNS))


def _integer_model_version(con: duckdb.DuckDBPyConnection) -> None:
    """Make `serving.scores.model_version` INTEGER in place when a warehouse written before kept it as text."""
    found = con.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = 'scores' AND column_name = 'model_version'",
        [SCHEMA],
    ).fetchall()
    if found and found[0][0] != "INTEGER":
        con.execute(
            f"ALTER TABLE {SCORES} ALTER model_version SET DATA TYPE INTEGER USING CAST(model_version AS INTEGER)"
        )
        log.info("%s.model_version is now INTEGER (it was %s)", SCORES, found[0][0])


def _transaction(
    con: duckdb.DuckDBPyConnection,
    statements: list[tuple[str, list[Any]]],
    frame: pd.DataFrame | None = None,
    table: str = "",
) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        for sql, params in statements:
            con.execute(sql, params)
        if frame is not None:
            con.register("_serving_rows", frame)
            try:
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _serving_rows")
            finally:
                con.unregister("_serving_rows")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def replace_scores(
    con: duckdb.DuckDBPyConnection, published: pd.DataFrame, as_of: date, run_id: str, scored_at: datetime
) -> None:
    """Store the published rows of `as_of`, replacing that date's earlier rows, in one transaction."""
    ensure_tables(con)
    rows = published[list(PUBLIC_COLUMNS)].assign(run_id=run_id, scored_at=scored_at)
    rows = rows.astype({"rank": "float64", "model_version": "int64"})
    _transaction(con, [(f"DELETE FROM {SCORES} WHERE as_of = ?", [as_of])], rows, SCORES)


def previous_tiers(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame | None:
    """Tiers of the latest published run before `as_of` (account_id, product, tier, as_of); None when none."""
    if not table_exists(con, SCHEMA, "scores"):
        return None
    found = con.execute(f"SELECT max(as_of) FROM {SCORES} WHERE as_of < ?", [as_of]).fetchall()[0][0]
    if found is None:
        return None
    frame = con.execute(f"SELECT account_id, product, tier, as_of FROM {SCORES} WHERE as_of = ?", [found]).df()
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    return frame


def published_scores(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """The published rows of `as_of` (empty when none)."""
    if not table_exists(con, SCHEMA, "scores"):
        return pd.DataFrame(columns=[*PUBLIC_COLUMNS, "run_id", "scored_at"])
    return con.execute(
        f"SELECT * REPLACE (CAST(model_version AS INTEGER) AS model_version) FROM {SCORES} "
        "WHERE as_of = ? ORDER BY account_id, product",
        [as_of],
    ).df()


def replace_shadow(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame, run: dict[str, Any]) -> None:
    """Store one shadow run: its scores and its comparison row, replacing a run of the same date and challenger
    version, in one transaction."""
    ensure_tables(con)
    as_of, version = run["as_of"], int(run["challenger_version"])
    _transaction(
        con,
        [
            (f"DELETE FROM {SHADOW_SCORES} WHERE as_of = ? AND model_version = ?", [as_of, version]),
            (f"DELETE FROM {SHADOW_RUNS} WHERE as_of = ? AND challenger_version = ?", [as_of, version]),
            (
                f"INSERT INTO {SHADOW_RUNS} ({', '.join(run)}) VALUES ({', '.join('?' for _ in run)})",
                list(run.values()),
            ),
        ],
        scores,
        SHADOW_SCORES,
    )


def shadow_runs(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every stored shadow run, oldest as-of date first (empty when none)."""
    if not table_exists(con, SCHEMA, "shadow_runs"):
        return pd.DataFrame(columns=list(SHADOW_RUN_COLUMNS))
    return con.execute(f"SELECT * FROM {SHADOW_RUNS} ORDER BY as_of, challenger_version").df()


def update_realised(
    con: duckdb.DuckDBPyConnection, as_of: date, challenger_version: int, values: dict[str, Any]
) -> None:
    """Fill the realised metrics of one shadow run."""
    sets = ", ".join(f"{k} = ?" for k in values)
    con.execute(
        f"UPDATE {SHADOW_RUNS} SET {sets} WHERE as_of = ? AND challenger_version = ?",
        [*values.values(), as_of, challenger_version],
    )
