"""Headless Chromium from Debian (/usr/bin/chromium) driven by Playwright's sync API, for the browser tests.

Playwright's own browser download is never used (`playwright install` fails on these machines): the system
browser is launched through `executable_path` with flags that keep it off the network. `watch(page)` collects the
page's console errors and uncaught exceptions; `shot(page, name)` saves a full-page screenshot under
tests/e2e/output/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
OUTPUT = Path(__file__).parent / "output"
#: UIs served by Python on 2 shared cores render their first page slowly: waits are generous.
UI_TIMEOUT_MS = 180_000


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, through Playwright; AssertionError naming the package when it is missing."""
    from playwright.sync_api import sync_playwright

    found = CHROMIUM if CHROMIUM.is_file() else (Path(p) if (p := shutil.which("chromium")) else None)
    assert found is not None, "no Chromium: `apt-get install chromium` (make e2e installs it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(found), args=list(FLAGS))
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageErrors:
    """Console errors and uncaught page exceptions seen on a page, as `<kind>: <text> (<url>)` lines."""

    errors: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        """Keep console messages of type error."""
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.errors.append(f"console error: {message.text} ({where})")

    def page_error(self, error: Exception) -> None:
        """Keep uncaught exceptions."""
        self.errors.append(f"page error: {error}")


def watch(page: Page) -> PageErrors:
    """Start collecting `page`'s console errors and uncaught exceptions."""
    seen = PageErrors()
    page.on("console", seen.console)
    page.on("pageerror", seen.page_error)
    return seen


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as tests/e2e/output/<name>.png; its path."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
