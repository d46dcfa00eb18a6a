"""The chat page in Chromium across a restart of a server that snapshots (issue 14):
the page keeps its history and shows what was published while the server was
down, without a reload and without a "history restarted" divider, because the
restarted broker has the same history (offsets and epoch) from its snapshot."""

from __future__ import annotations

import shutil
import tempfile
from typing import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browser.test_chat import message, open_chat, say
from tests.support.browser import http_publish, start_serve
from tests.support.proxy import TcpProxy


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    made: list[BrowserContext] = []
    yield made
    for context in made:
        context.close()


def test_history_survives_a_restart_and_the_page_recovers_what_it_missed(
        browser: Browser, contexts: list[BrowserContext]) -> None:
    directory = tempfile.mkdtemp(prefix="fanout-chat-rdb-")
    snapshots = ("--dir", directory, "--save", "3600 1")
    server = start_serve(None, None, *snapshots)
    resp_port = server.extra_ports["resp"]
    proxy = TcpProxy(server.port)
    try:
        erin = open_chat(browser, contexts, f"http://127.0.0.1:{proxy.port}", "erin", "p1", "&backoff=50")
        http_publish(server.port, "chat:p1", message("before the restart"))
        expect(erin.locator("#messages .message .text")).to_have_text(["before the restart"])
        proxy.cut()
        server.stop()  # SIGTERM: the snapshot is written on the way out
        expect(erin.locator("#state")).to_have_text("reconnecting")
        server = start_serve(server.port, resp_port, *snapshots)
        http_publish(server.port, "chat:p1", message("while away"))
        proxy.restore()
        expect(erin.locator("#state")).to_have_text("connected")
        expect(erin.locator("#messages .message .text")).to_have_text(["before the restart", "while away"])
        expect(erin.locator("#messages .divider")).to_have_count(0)  # recovered, not refetched
        expect(erin.locator("#people li")).to_have_text(["erin"])  # no ghost of the old connection
        say(erin, "back")
        expect(erin.locator("#messages .message .text")).to_have_text(
            ["before the restart", "while away", "back"])
        assert erin.errors == []  # type: ignore[attr-defined]
    finally:
        proxy.close()
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
