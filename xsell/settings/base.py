"""What every settings section shares: frozen, unknown keys refused; and the one settings error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from xsell.errors import XsellError

ENV_PREFIX = "XSELL_"
CONFIG_ENV = "XSELL_CONFIG"


class SettingsError(XsellError, ValueError):
    """Raised when configuration is invalid; the message names the offending key."""


class Section(BaseModel):
    """A settings section: frozen, and an unknown key is an error naming it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
