"""The product catalogue as index arrays the simulation can vectorise over (no product names in logic)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.contract import TIER_ORDER
from synth.errors import GeneratorError
from xsell.settings import FeatureSpec, GeneratorSettings, ProductSpec


@dataclass(frozen=True)
class CatalogPlan:
    """Primary product, adjacent products, tiers and features, resolved to integer indices."""

    primary: ProductSpec
    adjacent: tuple[ProductSpec, ...]
    tiers: tuple[str, ...]
    features: tuple[FeatureSpec, ...]
    #: tier index (into `tiers`) of each feature
    feature_tier: np.ndarray
    #: adjacent-product index each feature signals, -1 for none
    feature_signal: np.ndarray
    #: lowest primary tier index each adjacent product needs (0 when unrestricted)
    adjacent_min_tier: np.ndarray
    #: adjacent-product index of each adjacent product's prerequisite, -1 for none
    adjacent_prerequisite: np.ndarray

    @property
    def n_adjacent(self) -> int:
        """Number of adjacent products."""
        return len(self.adjacent)

    @property
    def n_features(self) -> int:
        """Number of primary-product features."""
        return len(self.features)

    @property
    def adjacent_names(self) -> tuple[str, ...]:
        """Adjacent product keys in catalogue order."""
        return tuple(p.product for p in self.adjacent)


def plan_catalog(settings: GeneratorSettings) -> CatalogPlan:
    """Check the configured catalogue against the contract and resolve it to index arrays."""
    products = settings.catalog_products
    names = [p.product for p in products]
    if len(set(names)) != len(names):
        raise GeneratorError("generator.catalog_products: product keys must be unique")
    primaries = [p for p in products if p.kind == "primary"]
    if len(primaries) != 1:
        raise GeneratorError(
            f"generator.catalog_products: exactly one product must have kind=primary, found {len(primaries)}"
        )
    adjacent = tuple(p for p in products if p.kind == "adjacent")
    adjacent_index = {p.product: j for j, p in enumerate(adjacent)}

    features = settings.catalog_features
    if not features:
        raise GeneratorError("generator.catalog_features: the primary product needs at least one feature")
    feature_names = [f.feature for f in features]
    if len(set(feature_names)) != len(feature_names):
        raise GeneratorError("generator.catalog_features: feature keys must be unique")
    unknown_tiers = sorted({f.min_tier for f in features} - set(TIER_ORDER))
    if unknown_tiers:
        raise GeneratorError(
            f"generator.catalog_features: min_tier {unknown_tiers} not in the contract's tiers {TIER_ORDER}"
        )
    tiers = tuple(t for t in TIER_ORDER if any(f.min_tier == t for f in features))
    tier_index = {t: i for i, t in enumerate(tiers)}

    signal = np.full(len(features), -1, dtype=np.int64)
    for i, f in enumerate(features):
        if f.signals_product is None:
            continue
        if f.signals_product not in adjacent_index:
            raise GeneratorError(
                f"generator.catalog_features: feature {f.feature!r} signals {f.signals_product!r}, "
                "which is not an adjacent product"
            )
        signal[i] = adjacent_index[f.signals_product]

    min_tier = np.zeros(len(adjacent), dtype=np.int64)
    prerequisite = np.full(len(adjacent), -1, dtype=np.int64)
    for j, p in enumerate(adjacent):
        if p.min_core_tier is not None:
            if p.min_core_tier not in tier_index:
                raise GeneratorError(
                    f"generator.catalog_products: {p.product!r} has min_core_tier {p.min_core_tier!r}, "
                    f"not one of the catalogue's tiers {tiers}"
                )
            min_tier[j] = tier_index[p.min_core_tier]
        if p.prerequisite is not None:
            if p.prerequisite not in adjacent_index or p.prerequisite == p.product:
                raise GeneratorError(
                    f"generator.catalog_products: {p.product!r} has prerequisite {p.prerequisite!r}, "
                    "which is not another adjacent product"
                )
            prerequisite[j] = adjacent_index[p.prerequisite]
    _check_acyclic(prerequisite, adjacent)
    if any(p.list_price_mrr < 0 for p in products):
        raise GeneratorError("generator.catalog_products: list_price_mrr must not be negative")

    return CatalogPlan(
        primary=primaries[0],
        adjacent=adjacent,
        tiers=tiers,
        features=tuple(features),
        feature_tier=np.array([tier_index[f.min_tier] for f in features], dtype=np.int64),
        feature_signal=signal,
        adjacent_min_tier=min_tier,
        adjacent_prerequisite=prerequisite,
    )


def _check_acyclic(prerequisite: np.ndarray, adjacent: tuple[ProductSpec, ...]) -> None:
    for start in range(len(prerequisite)):
        seen = {start}
        node = int(prerequisite[start])
        while node >= 0:
            if node in seen:
                raise GeneratorError(
                    f"generator.catalog_products: prerequisites of {adjacent[start].product!r} form a cycle"
                )
            seen.add(node)
            node = int(prerequisite[node])
