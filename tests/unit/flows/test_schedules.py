"""`xsell deploy`: three Prefect deployments built with the configured cron strings (checked through the dry-run
path, nothing served); a bad cron string, time zone or missing raw folder is one error naming the setting."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from factories import run_xsell

from flows.schedules import DAILY, MONTHLY, WEEKLY, build_deployments, plan_deployments, serve_deployments
from xsell.settings import SettingsError, load_settings

CONFIG = """
schedules:
  daily: "15 5 * * *"
  weekly: "0 9 * * 1"
  monthly: "30 2 1 * *"
  timezone: Europe/Stockholm
"""


def test_deployments_carry_the_configured_cron_strings_and_run_parameters(tmp_path: Path, clean_env: None) -> None:
    # given schedules in a YAML file and a raw folder
    config = tmp_path / "xsell.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    settings = load_settings(config, home=tmp_path / "home")
    # when the deployments are planned and built (no API involved)
    plans = plan_deployments(settings, raw_dir=tmp_path / "raw", config=config)
    deployments = {d.name: d for d in build_deployments(plans)}
    # then each runs its scheduled flow on its cron string, in the time zone, with the home and config
    crons = {name: (d.schedules[0].schedule.cron, d.schedules[0].schedule.timezone) for name, d in deployments.items()}
    assert crons == {
        DAILY: ("15 5 * * *", "Europe/Stockholm"),
        WEEKLY: ("0 9 * * 1", "Europe/Stockholm"),
        MONTHLY: ("30 2 1 * *", "Europe/Stockholm"),
    }
    assert deployments[DAILY].entrypoint == "flows.schedules.scheduled_daily_flow"
    assert deployments[DAILY].parameters == {
        "home": str((tmp_path / "home").resolve()),
        "config": str(config.resolve()),
        "raw_dir": str((tmp_path / "raw").resolve()),
    }
    assert "raw_dir" not in deployments[WEEKLY].parameters and "raw_dir" not in deployments[MONTHLY].parameters


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("schedules.daily", "every day", "schedules.daily"),
        ("schedules.weekly", "0 7 * *", "schedules.weekly"),
        ("schedules.timezone", "Mars/Olympus", "schedules.timezone"),
    ],
)
def test_a_malformed_schedule_fails_at_load_naming_the_setting(
    key: str, value: str, named: str, clean_env: None
) -> None:
    with pytest.raises(SettingsError, match=re.escape(named)):
        load_settings(**{key: value})


def test_a_cron_string_prefect_refuses_is_named(tmp_path: Path, clean_env: None) -> None:
    # given five well-formed fields that are not a valid schedule (minute 61)
    settings = load_settings(home=tmp_path / "home", **{"schedules.monthly": "61 8 1 * *"})
    with pytest.raises(SettingsError, match=r"schedules\.monthly: '61 8 1 \* \*'"):
        plan_deployments(settings, raw_dir=tmp_path)


def test_the_daily_run_needs_a_raw_folder(tmp_path: Path, clean_env: None) -> None:
    with pytest.raises(SettingsError, match=r"schedules\.raw_dir"):
        plan_deployments(load_settings(home=tmp_path / "home"))


def test_serving_without_a_prefect_server_says_how_to_start_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with pytest.raises(SettingsError, match="prefect server start"):
        serve_deployments([])


def test_xsell_deploy_dry_run_prints_the_deployments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a weekly schedule from the environment
    monkeypatch.setenv("XSELL_SCHEDULES__WEEKLY", "45 6 * * 5")
    # when deploying dry
    done = run_xsell("deploy", "--dry-run", "--raw", str(tmp_path / "raw"), home=tmp_path / "home", timeout=120)
    # then the three deployments are listed with their schedules and nothing is served
    assert done.returncode == 0, done.stderr
    listed = {d["name"]: d for d in json.loads(done.stdout)}
    assert set(listed) == {DAILY, WEEKLY, MONTHLY}
    assert listed[WEEKLY]["cron"] == "45 6 * * 5" and listed[WEEKLY]["setting"] == "schedules.weekly"
    assert listed[DAILY]["parameters"]["raw_dir"] == str((tmp_path / "raw").resolve())
    assert "weekly-monitor" in done.stderr
