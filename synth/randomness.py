"""Named, independent random streams (one per component) and the logistic link."""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random stream per named component, so one part's draws never shift another's."""
    return np.random.default_rng(np.random.SeedSequence([seed % (2**63), zlib.crc32(name.encode())]))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))
