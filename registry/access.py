"""Who may move the champion: the acting identity, the configured group of champion movers, and the policy for
champion moves made in the MLflow UI.

Settings `registry.access.*`. With `champion_movers` unset (the default) anyone may promote and roll back, and
moves made in the MLflow UI are honoured. With a list, `xsell registry promote/rollback` (and every automatic
promotion or rollback) first checks the **acting identity** against it and refuses anyone else with an
`access_denied` audit event. The identity is the user the MLflow server authenticated (team mode: an http(s)
tracking URI served with `--app-name basic-auth`, asked at `GET /api/2.0/mlflow/users/current`, so it cannot be
claimed by a setting); in embedded mode, or against a server without authentication, it is `registry.actor`,
else the OS user. An entry `role:NAME` admits the members of the MLflow role NAME (team mode only).

MLflow 3.17 records no author for an alias change (its alias table holds name, alias and version; the server's
access log names no user), so a champion moved in the UI cannot be attributed: with `champion_movers` set, every
UI move counts as unauthorised unless `ui_moves_allowed` is true. `reconcile` records it, and reverts it when
`ui_move_policy` is `revert`.
"""

from __future__ import annotations

import getpass
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from registry.audit import record
from registry.errors import RegistryError
from xsell.settings import Settings

__all__ = [
    "CURRENT_USER_PATH",
    "USER_ROLES_PATH",
    "AccessDenied",
    "Identity",
    "acting_identity",
    "is_champion_mover",
    "require_champion_mover",
    "restricted",
    "ui_move_authorised",
]

logger = logging.getLogger(__name__)

CURRENT_USER_PATH = "/api/2.0/mlflow/users/current"
USER_ROLES_PATH = "/api/3.0/mlflow/users/roles/list"
ROLE_PREFIX = "role:"


class AccessDenied(RegistryError):
    """The acting identity may not move the champion; the message names the identity and the setting."""


@dataclass(frozen=True)
class Identity:
    """Who acts: a user name, where it came from (`mlflow` server, `settings`, `os`) and its MLflow roles."""

    name: str
    source: Literal["mlflow", "settings", "os"]
    roles: tuple[str, ...] = ()

    def describe(self) -> str:
        """`alice (MLflow user; roles: movers)` and the like, for messages and evidence."""
        kind = {"mlflow": "MLflow user", "settings": "registry.actor", "os": "OS user"}[self.source]
        roles = f"; roles: {', '.join(self.roles)}" if self.roles else ""
        return f"{self.name} ({kind}{roles})"


def restricted(settings: Settings) -> bool:
    """True when `registry.access.champion_movers` is set, i.e. champion moves are limited to a group."""
    return settings.registry.access.champion_movers is not None


def _server_identity(uri: str) -> Identity | None:
    """The user an MLflow server with basic-auth authenticated, with its role names; None when the server has no
    authentication. RegistryError when the server refuses the credentials or cannot be reached."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    creds = get_default_host_creds(uri)
    try:
        response = http_request(creds, CURRENT_USER_PATH, "GET", max_retries=0, timeout=10)
    except Exception as exc:
        raise RegistryError(f"cannot ask the MLflow server at {uri} who the current user is: {exc}") from exc
    if response.status_code == 404:
        return None
    if response.status_code in (401, 403):
        raise RegistryError(
            f"the MLflow server at {uri} refused the credentials (HTTP {response.status_code}): set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
        )
    if response.status_code != 200:
        raise RegistryError(f"the MLflow server at {uri} answered HTTP {response.status_code} at {CURRENT_USER_PATH}")
    name = str(response.json()["user"]["username"])
    roles = http_request(creds, USER_ROLES_PATH, "GET", params={"username": name}, max_retries=0, timeout=10)
    names: tuple[str, ...] = ()
    if roles.status_code == 200:  # without the synthetic `__user_<id>__` role MLflow keeps per-user grants in
        found = {str(r["name"]) for r in roles.json().get("roles", [])}
        names = tuple(sorted(n for n in found if not re.fullmatch(r"__user_\d+__", n)))
    else:
        logger.warning("could not list the MLflow roles of %s (HTTP %d)", name, roles.status_code)
    return Identity(name, "mlflow", names)


def acting_identity(settings: Settings) -> Identity:
    """The MLflow user the tracking server authenticated (team mode), else `registry.actor`, else the OS user."""
    uri = settings.mlflow_uri
    if uri.startswith(("http://", "https://")):
        found = _server_identity(uri)
        if found is not None:
            return found
        logger.info("the MLflow server at %s has no authentication: acting as the local identity", uri)
    if settings.registry.actor:
        return Identity(settings.registry.actor, "settings")
    try:
        return Identity(getpass.getuser(), "os")
    except (KeyError, OSError):  # no passwd entry (some containers)
        return Identity("unknown", "os")


def is_champion_mover(settings: Settings, identity: Identity) -> bool:
    """True when access is unrestricted, or `identity` is named in `champion_movers` (by name or `role:NAME`)."""
    movers = settings.registry.access.champion_movers
    if movers is None:
        return True
    users = {m for m in movers if not m.startswith(ROLE_PREFIX)}
    roles = {m.removeprefix(ROLE_PREFIX) for m in movers if m.startswith(ROLE_PREFIX)}
    return identity.name in users or bool(roles & set(identity.roles))


def require_champion_mover(
    settings: Settings,
    action: str,
    from_version: int | None,
    to_version: int | None,
    reason: str,
    actor: str | None = None,
) -> Identity:
    """The acting identity when it may move the champion; otherwise record `access_denied` (who, what was asked)
    and raise AccessDenied naming the identity and `registry.access.champion_movers`."""
    identity = acting_identity(settings)
    if is_champion_mover(settings, identity):
        return identity
    movers = ", ".join(settings.registry.access.champion_movers or ())
    message = (
        f"{action} of model {settings.registry.model_name!r} refused: {identity.describe()} is not in "
        f"registry.access.champion_movers ({movers})"
    )
    record(
        settings,
        "access_denied",
        from_version=from_version,
        to_version=to_version,
        reason=reason,
        evidence={"requested": action, "identity": identity.name, "source": identity.source, "roles": identity.roles},
        outcome=f"refused: {identity.describe()} may not move the champion",
        actor=f"{actor or identity.name} (as {identity.name})" if actor and actor != identity.name else identity.name,
    )
    logger.warning("%s", message)
    raise AccessDenied(message)


def ui_move_authorised(settings: Settings) -> bool:
    """Whether a champion move made outside xsell (MLflow UI or API) is authorised: always without a group, else
    only with `ui_moves_allowed` (MLflow does not record who moved an alias)."""
    return not restricted(settings) or settings.registry.access.ui_moves_allowed


def access_evidence(identity: Identity) -> dict[str, Any]:
    """The identity as audit evidence."""
    return {"identity": identity.name, "identity_source": identity.source, "identity_roles": list(identity.roles)}
