"""Errors of the training layer."""

from __future__ import annotations


class TrainingError(ValueError):
    """Raised when training cannot run on the given data or settings; the message says what to change."""
