"""Errors of the monitoring layer."""

from __future__ import annotations

from xsell.errors import XsellError


class MonitoringError(XsellError, ValueError):
    """A check that cannot run: no champion, an as-of date outside the data, a training window that is unknown;
    the message names the date or field concerned."""
