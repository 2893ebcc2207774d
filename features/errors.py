"""Errors of the feature layer that the CLI reports as one line."""

from __future__ import annotations

from xsell.errors import XsellError


class FeatureError(XsellError, ValueError):
    """A feature request that cannot be served: no warehouse, a date outside the data, a bad date format."""
