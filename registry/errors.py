"""Errors of the registry layer."""

from __future__ import annotations

from xsell.errors import XsellError


class RegistryError(XsellError, ValueError):
    """A model, version or alias that does not exist, or a registry operation that cannot be done; the message
    names the model URI or name concerned."""
