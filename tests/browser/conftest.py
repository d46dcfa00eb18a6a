"""Browser fixtures: Debian's Chromium driven by Playwright, and a fanout server for the pages.

The test command (scripts/test) installs ``chromium`` with apt-get and ``playwright`` with pip;
Playwright's own browser download is never used.
"""

from __future__ import annotations

from typing import Iterator

import pytest
import redis
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, start_serve
from tests.support.servers import ServerProcess


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for all the browser tests.

    Package scope, not session: Playwright's sync API keeps an event loop marked as running
    in this thread while it is started, which would break the asyncio tests that follow.
    """
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own context; fails the test if the page threw an uncaught error."""
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """``fanout serve`` for the pages of one test module."""
    process = start_serve()
    yield process
    process.stop()


@pytest.fixture
def resp(server: ServerProcess) -> Iterator[redis.Redis]:
    """redis-py on the server's RESP port, replies decoded to str."""
    client = redis.Redis(port=server.extra_ports["resp"], decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="module")
def base_url(server: ServerProcess) -> str:
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
def lib(page: Page, base_url: str) -> Page:
    """A page with the library imported as ``window.F``."""
    page.goto(base_url + "/index.html")
    page.evaluate("async () => { window.F = await import('/fanout.js'); }")
    return page
