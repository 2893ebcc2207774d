"""The one family of errors the platform raises for problems a user can fix: the CLI reports any of them as one
`error:` line and exits with the error's `exit_code` (2: bad input or state, 1: a resource busy or unavailable)."""

from __future__ import annotations

from typing import ClassVar


class XsellError(Exception):
    """Base of every error a layer raises for the user to act on; the message names the file, field or setting."""

    #: The CLI's exit code for this error.
    exit_code: ClassVar[int] = 2
