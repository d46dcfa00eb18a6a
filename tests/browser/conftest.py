"""Browser fixtures: Debian's Chromium driven by Playwright, and a fanout server for the pages.

The test command (scripts/test) installs ``chromium`` with apt-get and ``playwright`` with pip;
Playwright's own browser download is never used.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.servers import ServerProcess, free_port, start_fanout

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
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


def serve_args(http_port: int, resp_port: int) -> list[str]:
    return ["serve", "--http-port", str(http_port), "--resp-port", str(resp_port),
            "--publish-rate", "100000", "--publish-burst", "100000"]


def start_serve(http_port: int | None = None, resp_port: int | None = None) -> ServerProcess:
    http_port = http_port or free_port()
    resp_port = resp_port or free_port()
    server = start_fanout(*serve_args(http_port, resp_port))
    server.extra_ports["resp"] = resp_port
    return server


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """``fanout serve`` for the pages of one test module."""
    process = start_serve()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def base_url(server: ServerProcess) -> str:
    return f"http://127.0.0.1:{server.port}"
