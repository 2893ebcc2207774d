"""Errors of the training layer."""

from __future__ import annotations

from xsell.errors import XsellError


class TrainingError(XsellError, ValueError):
    """Raised when training cannot run on the given data or settings; the message says what to change."""
