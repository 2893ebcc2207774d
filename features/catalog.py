"""The feature catalog: one registry of every feature (name, family, window, sources, description, SQL, reason).

The definitions live by family group (`features.catalog_usage`: adoption and fit; `features.catalog_account`:
readiness, health, commercial and cohort) over the building blocks of `features.definition`; this module puts them
in output-column order, checks their names once, and renders the catalog page.

Product names, feature names and tiers never appear in a definition: they come from the warehouse catalogue.
Ticket priorities/categories and touch actions come from the raw contract (`ingest.contract`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from features.catalog_account import cohort_features, commercial_features, health_features, readiness_features
from features.catalog_usage import adoption_features, fit_features
from features.definition import Family, FeatureDef
from xsell.fileio import write_text_atomic

#: Families in the order of their expected strength (the issue's ranking), for the catalog page.
FAMILIES: tuple[tuple[Family, str], ...] = (
    ("adoption", "primary adoption depth"),
    ("fit", "use-case fit for the product"),
    ("readiness", "organisational readiness"),
    ("health", "relationship health"),
    ("commercial", "commercial"),
    ("cohort", "cohort-relative (within segment x tenure band)"),
)

#: Key columns that precede the features in every snapshot row.
KEY_COLUMNS: tuple[str, ...] = ("account_id", "product", "as_of", "label")


def _registry() -> tuple[FeatureDef, ...]:
    """Every definition in output-column order; a duplicate or malformed name is a programming error."""
    defs = (
        *adoption_features(),
        *fit_features(),
        *readiness_features(),
        *health_features(),
        *commercial_features(),
        *cohort_features(),
    )
    names = [d.name for d in defs]
    if len(set(names)) != len(names):
        raise RuntimeError("duplicate feature names in the catalog")
    bad = [n for n in names if not re.fullmatch(r"[a-z][a-z0-9_]*", n) or n in KEY_COLUMNS]
    if bad:
        raise RuntimeError(f"invalid feature names in the catalog: {bad}")
    return defs


#: Every feature, in output-column order.
FEATURES: tuple[FeatureDef, ...] = _registry()
FEATURES_BY_NAME: dict[str, FeatureDef] = {d.name: d for d in FEATURES}


def feature_names() -> list[str]:
    """Output feature columns, in order."""
    return [d.name for d in FEATURES]


def categorical_features() -> list[str]:
    """Names of the string-valued features."""
    return [d.name for d in FEATURES if d.categorical]


def render_markdown(horizon_days: int) -> str:
    """The catalog as a markdown page: key columns, label definition and one table row per feature."""
    lines = [
        "# Feature catalog",
        "",
        f"Generated from `features/catalog.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
        f"{len(FEATURES)} features in {len(FAMILIES)} families.",
        "",
        "Every row is one eligible (account, adjacent product) pair at an as-of date D; T = D + 1 day 00:00 UTC,"
        " exclusive. A feature uses only what was known at T (usage `ingested_at < T`, account versions"
        " `updated_at < T`, later-event fields rolled back to their state at T).",
        "",
        "| column | meaning |",
        "|---|---|",
        "| `account_id` | CRM account id |",
        "| `product` | adjacent product (from the warehouse catalogue) |",
        "| `as_of` | as-of date D |",
        f"| `label` | 1 when the account's first non-trial item for the product starts in (D, D + {horizon_days} days];"
        " empty when D + horizon passes the end of the data (scoring only) |",
        "",
    ]
    for family, title in FAMILIES:
        lines += [
            f"## {title} (`{family}`)",
            "",
            "| feature | type | window | sources | description |",
            "|---|---|---|---|---|",
        ]
        for d in FEATURES:
            if d.family != family:
                continue
            sources = ", ".join(f"`{s}`" for s in d.sources) or "as-of date"
            lines.append(f"| `{d.name}` | {d.dtype.lower()} | {d.window} | {sources} | {d.description} |")
        lines.append("")
    return "\n".join(lines)


def write_catalog(reports_dir: Path, horizon_days: int) -> Path:
    """Write `reports_dir/feature_catalog.md` atomically and return its path."""
    return write_text_atomic(reports_dir / "feature_catalog.md", render_markdown(horizon_days))
