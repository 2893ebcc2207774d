"""Secrets come from the environment or a private file under home, never from the YAML config file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from xsell.secret_files import SecretFileError, read_secret, secret_path, write_private, write_secret
from xsell.settings import SettingsError, load_settings


def test_the_environment_value_wins_over_the_file(tmp_path: Path) -> None:
    write_secret(tmp_path, "token", "from-file")
    assert read_secret(tmp_path, "token", "from-env") == "from-env"
    assert read_secret(tmp_path, "token") == "from-file"
    assert read_secret(tmp_path, "absent") is None


def test_a_written_secret_is_private(tmp_path: Path) -> None:
    path = write_secret(tmp_path, "token", "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path == secret_path(tmp_path, "token")
    assert [p.name for p in path.parent.iterdir()] == ["token"]  # no temporary file left beside it


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_secret_file_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = write_secret(tmp_path, "token", "x")
    path.chmod(mode)
    with pytest.raises(SecretFileError, match=f"mode {mode:04o}.*chmod 600"):
        read_secret(tmp_path, "token")


def test_an_empty_or_odd_secret_file_is_refused(tmp_path: Path) -> None:
    write_secret(tmp_path, "empty", "  ")
    with pytest.raises(SecretFileError, match="empty"):
        read_secret(tmp_path, "empty")
    secret_path(tmp_path, "folder").mkdir()
    with pytest.raises(SecretFileError, match="not a regular file"):
        read_secret(tmp_path, "folder")


def test_the_admin_token_is_refused_in_a_config_file(tmp_path: Path, clean_env: None) -> None:
    config = tmp_path / "xsell.yaml"
    config.write_text("api:\n  admin_token: committed-by-mistake\n")
    with pytest.raises(SettingsError, match=r"api.admin_token is a secret .* XSELL_API__ADMIN_TOKEN"):
        load_settings(config_file=config, home=tmp_path)


def test_a_private_file_replaces_the_old_one_at_mode_0600(tmp_path: Path) -> None:
    # given a file others may read
    path = tmp_path / "services" / "team.env"
    path.parent.mkdir()
    path.write_text("old")
    path.chmod(0o644)
    # when it is written as a private file, then it holds only the new text, at 0600, with nothing left beside it
    assert write_private(path, "new\n") == path
    assert path.read_text() == "new\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["team.env"]


def test_a_private_file_in_an_unwritable_folder_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        write_private(blocker / "team.env", "x")
