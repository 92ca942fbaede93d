"""The dashboard's tests: devhost + Azurite (`tests.e2e.batch_host`) and Debian's Chromium, driven by
Playwright. Screenshots go to `tests/artifacts/` (not committed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from devhost.testing import REPO_ROOT
from tests.e2e.batch_host import batch_host

__all__ = ["ARTIFACTS", "batch_host", "browser", "page"]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
# What works here as root, headless, with no network beyond the app: no sandbox (root), no GPU, and none of
# the browser's own calls home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Chromium from Debian's package, with a fresh profile for the module. Missing, the test fails: the
    dashboard's test is part of the suite, not optional."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is missing ({CHROMIUM}): the dashboard's browser test needs Debian's chromium package; "
            "run scripts/setup as root (it installs it), or apt-get install -y chromium"
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab; a script error on the page fails the test."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        tab.close()
    assert not errors, f"the page raised: {errors}"
