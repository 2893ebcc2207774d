"""Errors of the monitoring layer."""

from __future__ import annotations


class MonitoringError(ValueError):
    """A check that cannot run: no champion, an as-of date outside the data, a training window that is unknown;
    the message names the date or field concerned."""
