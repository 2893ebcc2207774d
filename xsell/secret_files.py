"""Secrets from the environment or from a private file under the home folder, never from the repository."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["SecretFileError", "read_secret", "secret_path", "write_private", "write_secret"]

logger = logging.getLogger(__name__)


class SecretFileError(PermissionError):
    """A secret file that others may read, or that is not a regular file; the message names the file and mode."""


def secret_path(home: Path, name: str) -> Path:
    """HOME/secrets/<name>: where a secret not given in the environment is read from."""
    return home / "secrets" / name


def read_secret(home: Path, name: str, value: str | None = None) -> str | None:
    """`value` when set (it came from the environment), else the stripped text of HOME/secrets/<name>, else None.

    SecretFileError when the file is not a regular file or its mode lets the group or others read or write it.
    """
    if value:
        return value
    path = secret_path(home, name)
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise SecretFileError(f"secret {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise SecretFileError(f"secret {path} has mode {mode:04o}: others may read it; run `chmod 600 {path}`")
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise SecretFileError(f"secret {path} is empty")
    logger.debug("secret %s read from %s", name, path)
    return text


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path` atomically with mode 0600 (created so, never world-readable in between)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path


def write_secret(home: Path, name: str, text: str) -> Path:
    """Write HOME/secrets/<name> with mode 0600 (created so, never world-readable in between); returns the path."""
    path = secret_path(home, name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return write_private(path, text + "\n")
