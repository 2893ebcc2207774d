"""The UIs as a person uses them, in headless Chromium (Debian's, driven by Playwright), on the team cycle's home
and services (tests/e2e/conftest.py): the MLflow UI shows the registered model with its aliases, the model card and
the plots; a champion moved in the MLflow UI is honoured by the next `xsell score` and audited (and, with a group of
champion movers and `ui_move_policy: revert`, undone); the Evidently drift report and the governance site render
without console errors offline; the Prefect UI lists the deployments `xsell deploy` created, with their schedules.
Screenshots of each step go to tests/e2e/output/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from tests.e2e.browser import UI_TIMEOUT_MS, chromium, shot, watch
from tests.e2e.team import TeamCycle, TeamServices, xsell
from xsell.settings import ENV_PREFIX

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "xsell-propensity"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for this module."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def mlflow_ui(browser: Browser, team_services: TeamServices) -> Iterator[BrowserContext]:
    """A browser context logged in to the MLflow server as its admin (HTTP basic auth)."""
    user, password = team_services.admin
    context = browser.new_context(
        http_credentials={"username": user, "password": password}, viewport={"width": 1400, "height": 1000}
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    yield context
    context.close()


def version_aliases(page: Page) -> Any:
    """The alias tags of the model version page that is open."""
    return page.locator('[data-testid="descriptions-item"]').filter(has_text="Aliases").locator("[title]")


def open_version(page: Page, base: str, version: int, *, fresh: bool = False) -> None:
    """Open the page of model version `version` and wait until its aliases are shown; `fresh` reloads the app (the
    single-page app keeps what it fetched before, so a change made elsewhere shows only after a reload)."""
    page.goto(f"{base}/#/models/{MODEL}/versions/{version}")
    if fresh:
        page.reload()
    page.get_by_role("button", name="Edit aliases").wait_for()


def alias_titles(page: Page) -> set[str]:
    """The aliases shown on the open version page."""
    tags = version_aliases(page)
    return {tags.nth(i).get_attribute("title") or "" for i in range(tags.count())}


def move_champion_in_ui(page: Page, base: str, version: int, screenshot: str) -> None:
    """As a person would: version page -> Edit aliases -> type `champion` -> Save aliases; wait for the tag."""
    open_version(page, base, version)
    page.get_by_role("button", name="Edit aliases").click()
    dialog = page.get_by_role("dialog")
    combo = dialog.get_by_role("combobox")
    combo.click()
    combo.fill("champion")
    combo.press("Enter")
    dialog.locator('[title="champion"]').wait_for()
    shot(page, f"{screenshot}-dialog")
    dialog.get_by_role("button", name="Save aliases").click()
    dialog.wait_for(state="hidden")
    version_aliases(page).and_(page.locator('[title="champion"]')).wait_for()
    shot(page, screenshot)


def champion_version(services: TeamServices) -> int:
    """The version the `champion` alias names on the server."""
    status, body = services.mlflow_get(f"/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias=champion")
    assert status == 200, body
    return int(body["model_version"]["version"])


def history(services: TeamServices, home: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """`xsell registry history --json`."""
    events = xsell("registry", "history", "--json", services=services, home=home, env=env)
    assert isinstance(events, list)
    return events


def test_mlflow_ui_shows_the_model_aliases_card_and_plots(
    team_services: TeamServices, team_cycle: TeamCycle, mlflow_ui: BrowserContext
) -> None:
    base = team_services.mlflow_url
    page = mlflow_ui.new_page()
    errors = watch(page)
    # the registered model lists its versions with the champion and challenger aliases
    page.goto(f"{base}/#/models/{MODEL}")
    page.get_by_text("Version 2", exact=True).wait_for()
    page.locator('[title="challenger"]').first.wait_for()
    shot(page, "01-mlflow-registered-model")
    open_version(page, base, 1)
    assert "champion" in alias_titles(page)
    open_version(page, base, 2)
    assert "challenger" in alias_titles(page)
    shot(page, "02-mlflow-challenger-version")
    # the champion's run: the model card (markdown artifact) ...
    run_id, experiment = team_cycle.champion["run_id"], team_cycle.champion["experiment_id"]
    page.goto(f"{base}/#/experiments/{experiment}/runs/{run_id}/artifacts")
    page.get_by_text("model_card.md", exact=True).click()
    page.get_by_role("heading", name="Model card").wait_for()
    page.get_by_role("heading", name="Intended use").wait_for()
    shot(page, "03-mlflow-model-card")
    # ... and its plots (PNG artifacts), each drawn as a loaded image
    page.get_by_text("plots", exact=True).click()
    for plot in ("calibration.png", "cumulative_gains.png", "shap_summary.png"):
        page.get_by_text(plot, exact=True).click()
        image = page.locator('img[src^="blob:"]').first
        image.wait_for()
        page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=image.element_handle())
        shot(page, f"04-mlflow-plot-{plot.removesuffix('.png')}")
    assert errors.errors == [], errors.errors


def test_a_champion_moved_in_the_mlflow_ui_is_honoured_and_audited(
    team_services: TeamServices, team_cycle: TeamCycle, mlflow_ui: BrowserContext
) -> None:
    base, home = team_services.mlflow_url, team_cycle.home
    assert champion_version(team_services) == 1
    page = mlflow_ui.new_page()
    try:
        # when a reviewer moves the champion alias to v2 in the MLflow UI
        move_champion_in_ui(page, base, 2, "05-mlflow-champion-moved-to-v2")
        assert champion_version(team_services) == 2
        # then the next scoring run scores with v2
        out = home / "scores" / "scores-after-ui-move.csv"
        xsell("score", "--as-of", team_cycle.data_end, "--out", str(out), services=team_services, home=home)
        assert set(pd.read_csv(out)["model_version"].astype(int)) == {2}
        # and the audit trail records the outside move, honoured
        moved = [
            e
            for e in history(team_services, home)
            if e["action"] == "alias_moved_externally" and e["evidence"]["role"] == "champion"
        ]
        assert [(e["from_version"], e["to_version"]) for e in moved] == [(1, 2)]
        assert moved[0]["outcome"].startswith("honoured: v2 serves") and moved[0]["actor"].startswith("outside")

        # when only a group may move the champion and UI moves are reverted, a UI move back to v1 ...
        guarded = {
            "XSELL_REGISTRY__ACCESS__CHAMPION_MOVERS": '["role:release-managers"]',
            "XSELL_REGISTRY__ACCESS__UI_MOVE_POLICY": "revert",
        }
        move_champion_in_ui(page, base, 1, "06-mlflow-unauthorised-move-to-v1")
        assert champion_version(team_services) == 1
        # ... is undone by the next look xsell takes, and both steps are on record
        xsell("registry", "status", "--json", services=team_services, home=home, env=guarded)
        assert champion_version(team_services) == 2
        events = history(team_services, home, guarded)[-2:]
        assert [(e["action"], e["from_version"], e["to_version"]) for e in events] == [
            ("alias_moved_externally", 2, 1),
            ("alias_reverted", 1, 2),
        ]
        assert events[0]["outcome"] == "unauthorised: reverted, v2 serves again"
        open_version(page, base, 2, fresh=True)
        assert "champion" in alias_titles(page)
        shot(page, "07-mlflow-unauthorised-move-reverted")
    finally:
        # leave the registry as the cycle made it (v1 champion, v2 challenger) for the other e2e tests
        if champion_version(team_services) != 1:
            xsell("registry", "rollback", "--reason", "e2e: restore v1", services=team_services, home=home)
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=base)
        with pytest.MonkeyPatch.context() as patch:
            for key, value in team_services.env.items():
                patch.setenv(key, value)
            client.set_registered_model_alias(MODEL, "challenger", "2")
        xsell("registry", "status", "--json", services=team_services, home=home)


def offline_page_errors(browser: Browser, path: Path, name: str) -> list[str]:
    """Open a local HTML file with the network cut off; its console errors and uncaught exceptions."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, offline=True)
    try:
        page = context.new_page()
        errors = watch(page)
        page.goto(path.resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(1500)  # let scripts that run after load report
        shot(page, name)
        return errors.errors
    finally:
        context.close()


def test_drift_report_and_governance_site_render_without_console_errors(
    team_cycle: TeamCycle, browser: Browser
) -> None:
    reports = team_cycle.home / "reports"
    drift = sorted((reports / "monitoring" / team_cycle.data_end).glob("*.html"))
    assert drift, f"no drift report under {reports / 'monitoring' / team_cycle.data_end}"
    pages = {f"08-evidently-{p.stem}": p for p in drift}
    pages["09-governance-index"] = reports / "index.html"
    pages["10-governance-model-v1"] = reports / "site" / "models" / "v1" / "index.html"
    pages["11-governance-audit"] = reports / "site" / "audit.html"
    found = {name: offline_page_errors(browser, path, name) for name, path in pages.items()}
    assert found == {name: [] for name in pages}
    # the drift report drew its widgets (Evidently renders with its inline script)
    context = browser.new_context(offline=True)
    try:
        page = context.new_page()
        page.goto((reports / "monitoring" / team_cycle.data_end / "drift.html").resolve().as_uri())
        assert page.locator("body").inner_text().strip(), "the drift report rendered nothing"
    finally:
        context.close()


@pytest.fixture
def deploy_process(team_services: TeamServices, team_cycle: TeamCycle) -> Iterator[subprocess.Popen[str]]:
    """`xsell deploy --raw RAW` serving the deployments in the background (stopped with Ctrl+C's signal after)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)} | team_services.env
    log = team_cycle.home / "deploy-e2e.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from flows.cli import run; run()",
                "--home",
                str(team_cycle.home),
                "--no-progress",
                "deploy",
                "--raw",
                str(team_cycle.raw),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_deployments(services: TeamServices, process: subprocess.Popen[str], log: Path) -> list[dict[str, Any]]:
    """The deployments on the Prefect server once all three exist (AssertionError with the log if deploy dies)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert process.poll() is None, f"xsell deploy exited {process.returncode}:\n{log.read_text()[-3000:]}"
        status, body = services.prefect_post("/deployments/filter", {})
        if status == 200 and len(body) >= 3:
            return list(body)
        time.sleep(3)
    raise AssertionError(f"the deployments did not appear within 10 minutes:\n{log.read_text()[-3000:]}")


def test_prefect_ui_lists_the_deployments_with_their_schedules(
    team_services: TeamServices,
    team_cycle: TeamCycle,
    browser: Browser,
    deploy_process: subprocess.Popen[str],
) -> None:
    # given `xsell deploy` registered the deployments on the Prefect server
    deployments = wait_for_deployments(team_services, deploy_process, team_cycle.home / "deploy-e2e.log")
    expected = {"daily-consolidate-score": "0 6 * * *", "weekly-monitor": "0 7 * * 1", "monthly-retrain": "0 8 1 * *"}
    crons = {d["name"]: [s["schedule"].get("cron") for s in d.get("schedules", [])] for d in deployments}
    assert {name: crons.get(name) for name in expected} == {name: [cron] for name, cron in expected.items()}
    # when a person opens the Prefect UI's deployments page
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        page = context.new_page()
        errors = watch(page)
        page.goto(f"{team_services.prefect_url}/deployments")
        # then every deployment is listed, with its schedule
        for name in expected:
            page.get_by_text(name, exact=True).first.wait_for()
        shot(page, "12-prefect-deployments")
        for name, cron in expected.items():
            deployment = next(d for d in deployments if d["name"] == name)
            page.goto(f"{team_services.prefect_url}/deployments/deployment/{deployment['id']}")
            page.get_by_text(name, exact=True).first.wait_for()
            page.wait_for_load_state("networkidle")
            shot(page, f"13-prefect-deployment-{name}")  # before the check: shows what the UI wrote on failure
            schedule = page.get_by_text(cron, exact=False).or_(page.get_by_text(_cron_words(cron), exact=False))
            schedule.first.wait_for()
        assert [e for e in errors.errors if "favicon" not in e] == [], errors.errors
    finally:
        context.close()


def _cron_words(cron: str) -> str:
    """How the Prefect UI words a cron schedule's time of day (`At 06:00 AM`), for the defaults used here."""
    hour = int(cron.split()[1])
    return f"{hour:02d}:00 AM" if hour < 12 else f"{hour - 12:02d}:00 PM"
