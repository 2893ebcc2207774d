"""Atomic file writes (a reader never sees a half-written output, a failed write leaves the old one) and the guard
keeping a user's output paths off the home's state."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xsell.errors import XsellError


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling path; on success it replaces `target`, on error it is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(target: Path, text: str) -> Path:
    """Write `text` to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def write_json_atomic(target: Path, payload: Any) -> Path:
    """Write `payload` as pretty JSON to `target` atomically."""
    return write_text_atomic(target, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces `target` (old one removed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


class UnsafeOutputError(XsellError, ValueError):
    """An output path that would land on the home's state, or that its writer cannot produce; names the option."""


def check_output(
    path: Path,
    option: str,
    state: Iterable[Path],
    suffixes: tuple[str, ...] = (),
    folder: bool = False,
) -> Path:
    """The resolved `path` when `option` may write there: never onto or inside a `state` path (nor, for a
    folder output, around one), a file output ends in one of `suffixes` and is not an existing folder."""
    resolved = path.expanduser().resolve()
    for owned in state:
        owned = owned.expanduser().resolve()
        if resolved == owned or owned in resolved.parents:
            raise UnsafeOutputError(
                f"{option} {path}: would write into the home's state ({owned}); write outputs elsewhere"
            )
        if folder and resolved in owned.parents:
            raise UnsafeOutputError(f"{option} {path}: a folder holding the home's state ({owned}); choose another")
    if suffixes and not resolved.name.lower().endswith(suffixes):
        raise UnsafeOutputError(f"{option} {path}: output must end in {' or '.join(suffixes)}")
    if not folder and resolved.is_dir():
        raise UnsafeOutputError(f"{option} {path}: is a folder; give a file name")
    if folder and resolved.exists() and not resolved.is_dir():
        raise UnsafeOutputError(f"{option} {path}: is a file; give a folder")
    return resolved
