"""Settings: defaults < YAML file < XSELL_* env < explicit overrides; wrong keys are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from xsell.settings import SettingsError, load_settings


def test_defaults_put_all_state_under_home(tmp_path: Path) -> None:
    # given a home folder, when settings load, then every state path lives under it
    settings = load_settings(home=tmp_path)
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    assert settings.reports_dir == tmp_path / "reports"
    assert settings.tmp_dir.parent == tmp_path


def test_precedence_file_then_env_then_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a YAML file, an env var and an explicit override for overlapping keys
    config = tmp_path / "xsell.yaml"
    config.write_text(
        "seed: 1\ngenerator:\n  accounts: 111\n  start: '2023-01'\ningest:\n  gate:\n    max_orphan_share: 0.2\n"
    )
    monkeypatch.setenv("XSELL_GENERATOR__ACCOUNTS", "222")
    # when loading with an override
    settings = load_settings(config, seed=9)
    # then each key takes the highest-priority source, and untouched nested keys survive merging
    assert settings.seed == 9
    assert settings.generator.accounts == 222
    assert settings.generator.start == "2023-01"
    assert settings.ingest.gate.max_orphan_share == 0.2
    assert settings.ingest.gate.max_invalid_share == 0.05


def test_dotted_overrides_reach_nested_sections(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, **{"ingest.gate.enabled": False, "generator.accounts": 50})
    assert settings.ingest.gate.enabled is False
    assert settings.generator.accounts == 50


def test_unknown_key_fails_and_names_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"generator\.acounts"):
        load_settings(**{"generator.acounts": 5})


def test_unknown_key_in_file_fails_and_names_it(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("ingest:\n  gate:\n    max_orphans: 0.1\n")
    with pytest.raises(SettingsError, match=r"ingest\.gate\.max_orphans"):
        load_settings(config)


def test_bad_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"generator\.start"):
        load_settings(**{"generator.start": "2024/01"})


def test_missing_or_broken_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("seed: [1,\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(broken)


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    with pytest.raises(Exception, match="frozen"):
        settings.seed = 3  # type: ignore[misc]


def test_an_unknown_xsell_variable_fails_and_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a variable with the XSELL_ prefix that names no setting, when settings load, then it is named
    monkeypatch.setenv("XSELL_BOGUS", "1")
    with pytest.raises(SettingsError, match=r"XSELL_BOGUS: no setting 'bogus'"):
        load_settings(home=tmp_path)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("XSELL_TRAINING__TRIALZ", r"XSELL_TRAINING__TRIALZ: no setting 'training\.trialz' \(under training: "),
        ("XSELL_INGEST__GATE__MAX_ORPHANS", r"no setting 'ingest\.gate\.max_orphans'"),
        ("XSELL_TRAINING__TRIALS__MAX", r"XSELL_TRAINING__TRIALS__MAX: training\.trials has no sub-settings"),
        ("xsell_bogus", r"xsell_bogus"),
    ],
)
def test_an_unknown_nested_variable_fails_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, match: str
) -> None:
    monkeypatch.setenv(name, "3")
    with pytest.raises(SettingsError, match=match):
        load_settings(home=tmp_path)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("XSELL_HOME", "/tmp/x"),
        ("XSELL_LOG_LEVEL", "warning"),
        ("XSELL_TRAINING__TRIALS", "3"),
        ("XSELL_SERVING__TIERS__GATES__MIN_NPS", "6"),
        ("XSELL_API__ADMIN_TOKEN", "s3cret-token-value"),
        ("XSELL_CONFIG", ""),
        ("XSELL_FAULT_POINT", "train.logging"),
        ("XSELL_PROCESS_TOKEN", "abc123"),
    ],
)
def test_known_xsell_variables_still_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    # given a variable that names a setting (or XSELL_CONFIG, which names the file), then settings load
    monkeypatch.setenv(name, value)
    settings = load_settings()
    if name == "XSELL_TRAINING__TRIALS":
        assert settings.training.trials == 3
    if name == "XSELL_LOG_LEVEL":
        assert settings.log_level == "WARNING"


def test_a_bad_log_level_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"log_level: .*'LOUD'"):
        load_settings(home=tmp_path, log_level="LOUD")


def test_a_broken_config_file_is_named_in_one_line(tmp_path: Path) -> None:
    # given files that are not YAML (a syntax error, control bytes, Latin-1), then each error is one line
    cases = {"syntax.yaml": b"seed: [1,\n", "binary.yaml": b"seed: 1\n\x00\x01", "latin.yaml": b"seed: \xe9\n"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(SettingsError, match=rf"config file .*{name} is not valid YAML") as caught:
            load_settings(tmp_path / name)
        assert "\n" not in str(caught.value)


def test_state_paths_cover_every_store_under_home(tmp_path: Path) -> None:
    # given settings homed in tmp_path, then the databases, their journals and the state folders are listed
    settings = load_settings(home=tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in settings.state_paths}
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal", "mlflow.db", "optuna.db", "mlflow-artifacts"):
        assert name in names
    for name in ("prefect", "tmp", "services", "secrets", "simulation", "reports/data_quality", "reports/site"):
        assert name in names
    assert "scores" not in names and "reports" not in names


def test_the_home_lock_timeout_defaults_to_an_hour_and_takes_null_or_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings(home=tmp_path).runtime.lock_timeout == 3600
    monkeypatch.setenv("XSELL_RUNTIME__LOCK_TIMEOUT", "5")
    assert load_settings(home=tmp_path).runtime.lock_timeout == 5
    assert load_settings(home=tmp_path, **{"runtime.lock_timeout": 0}).runtime.lock_timeout == 0
    with pytest.raises(SettingsError, match=r"runtime\.lock_timeout"):
        load_settings(home=tmp_path, **{"runtime.lock_timeout": -1})
