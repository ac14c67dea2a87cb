"""Fixtures for the dashboard tests: a real headless Chromium (Debian's, driven
by Playwright) and the real bridge in embedded mode on a loopback port."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.dashboard.live import TOKEN, LiveBridge
from tests.services import services_required

CHROMIUM = os.environ.get("BRIDGE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL_HINT = "install Debian's browser with `apt-get install -y chromium` (.ci/run does)"


def _unavailable(message: str):
    """Skip locally, fail in CI (BRIDGE_TEST_REQUIRE_SERVICES=1)."""
    if services_required():
        pytest.fail(f"BRIDGE_TEST_REQUIRE_SERVICES=1, so this is an error, not a skip: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _unavailable("the browser tests need Playwright: pip install -e '.[test]'")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM}: {INSTALL_HINT}")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Error as error:
        playwright.stop()
        _unavailable(f"Chromium at {CHROMIUM} did not start ({error.message.splitlines()[0]}); {INSTALL_HINT}")
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def live(tmp_path):
    bridge = LiveBridge(tmp_path)
    yield bridge
    bridge.close()


def open_page(browser, live, width: int = 1280, height: int = 900):
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=live.url)
    context.set_default_timeout(15_000)
    return context, context.new_page()


def sign_in(page) -> None:
    page.goto("/admin/")
    page.fill("input[name=token]", TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/")


@pytest.fixture
def page(browser, live):
    """A signed-in page at 1280 px."""
    context, page = open_page(browser, live)
    sign_in(page)
    yield page
    context.close()
