"""Browser fixtures: Debian's Chromium driven by Playwright, and helpers every page test uses.

Screenshots go to test-artifacts/. With PMSBRIDGE_UPDATE_SCREENSHOTS=1 a screenshot given
a documentation path also goes there (an ordinary run leaves the committed pictures alone).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.web.conftest import PASSWORDS

REPOSITORY = Path(__file__).resolve().parents[2]
ARTIFACTS = REPOSITORY / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
EXPECT_TIMEOUT = 15_000
LAPTOP = {"width": 1366, "height": 768}
TABLET = {"width": 768, "height": 1024}


@contextmanager
def open_page(locale: str = "en-GB") -> Iterator[Page]:
    """A page in a fresh browser whose language is ``locale``, at laptop size; the test fails
    if a script or style fails (the Content-Security-Policy blocks it, say)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=LAPTOP, locale=locale)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        # A script or style the Content-Security-Policy blocks shows up here; a refused login's
        # own status (401, 429) is not an error of the page.
        errors = []
        page.on("console", lambda message: errors.append(message.text)
                if message.type == "error" and not refused_login(message) else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        expect.set_options(timeout=EXPECT_TIMEOUT)
        try:
            yield page
            assert errors == []
        finally:
            context.close()
            browser.close()


def refused_login(message) -> bool:
    return (urlsplit(message.location.get("url", "")).path == "/login"
            and re.search(r"status of (401|429)\b", message.text) is not None)


@pytest.fixture
def page():
    with open_page() as page:
        yield page


def screenshot(page: Page, name: str, *also: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    if os.environ.get("PMSBRIDGE_UPDATE_SCREENSHOTS") != "1":
        return
    for path in also:
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=path)


def log_in(page: Page, base: str, name: str) -> None:
    """Log ``name`` in through the login page (by the fields' order: the labels may be in any language)."""
    page.goto(base + "/login")
    page.locator('input[name="name"]').fill(name)
    page.locator('input[name="password"]').fill(PASSWORDS[name])
    page.locator('form.login button[type="submit"]').click()
    expect(page).not_to_have_url(re.compile(r"/login"))
