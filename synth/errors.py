"""The one error type the generator raises for problems the caller can fix."""

from __future__ import annotations

from xsell.errors import XsellError


class GeneratorError(XsellError, ValueError):
    """Raised when the generator cannot run as asked; the message names the setting or folder."""
