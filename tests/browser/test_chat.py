"""The chat page in Chromium: two people talk, see each other in presence and typing, get the
room's last messages on entering, and get back what was said while their connection was down
(cut, or the server restarted on the same ports).
"""

from __future__ import annotations

from typing import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser import http_publish, start_serve
from tests.support.proxy import TcpProxy
from tests.support.servers import ServerProcess


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """Separate browser contexts: separate people (storage, connections)."""
    made: list[BrowserContext] = []
    yield made
    for context in made:
        context.close()


def open_chat(browser: Browser, contexts: list[BrowserContext], base: str, name: str, room: str,
              extra: str = "") -> Page:
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    contexts.append(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    setattr(page, "errors", errors)
    page.goto(f"{base}/chat.html?room={room}&name={name}{extra}")
    expect(page.locator("#state")).to_have_text("connected")
    return page


def people(page: Page) -> list[str]:
    return page.eval_on_selector_all("#people li", "nodes => nodes.map((n) => n.textContent)")


def texts(page: Page) -> list[str]:
    return page.eval_on_selector_all("#messages .message .text", "nodes => nodes.map((n) => n.textContent)")


def say(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.click("#send")
    expect(page.locator("#text")).to_have_value("")


def message(text: str, name: str = "service") -> dict[str, object]:
    return {"type": "message", "from": "svc", "name": name, "text": text}


def test_two_pages_chat_see_each_other_and_leave(browser: Browser, contexts: list[BrowserContext],
                                                 base_url: str) -> None:
    alice = open_chat(browser, contexts, base_url, "alice", "t1")
    expect(alice.locator("#people li")).to_have_text(["alice"])
    bob = open_chat(browser, contexts, base_url, "bob", "t1")
    expect(alice.locator("#people li")).to_have_text(["alice", "bob"])
    expect(bob.locator("#people li")).to_have_text(["alice", "bob"])

    say(alice, "hi bob")
    expect(bob.locator("#messages .message .text")).to_have_text(["hi bob"])
    expect(bob.locator("#messages .message .who")).to_have_text(["alice"])
    say(bob, "hello <b>alice</b>")
    expect(alice.locator("#messages .message .text")).to_have_text(["hi bob", "hello <b>alice</b>"])
    assert alice.locator("#messages b").count() == 0  # text, never markup
    expect(alice.locator("#messages .message.mine .text")).to_have_text(["hi bob"])

    bob.type("#text", "typ")
    expect(alice.locator("#typing")).to_have_text("bob is typing…")
    say(bob, "typed")
    expect(alice.locator("#typing")).to_have_text("")

    contexts.remove(bob.context)
    bob.context.close()
    expect(alice.locator("#people li")).to_have_text(["alice"])
    assert not getattr(alice, "errors")


def test_entering_a_room_shows_its_last_messages(browser: Browser, contexts: list[BrowserContext],
                                                base_url: str, server: ServerProcess) -> None:
    for n in range(1, 4):
        http_publish(server.port, "chat:t2", message(f"earlier {n}"))
    carol = open_chat(browser, contexts, base_url, "carol", "t2")
    expect(carol.locator("#messages .message .text")).to_have_text(["earlier 1", "earlier 2", "earlier 3"])
    # Switching rooms shows the other room's history and presence.
    http_publish(server.port, "chat:t2b", message("in the other room"))
    carol.fill("#new-room", "t2b")
    carol.click("#room-form button")
    expect(carol.locator("#room-title")).to_have_text("# t2b")
    expect(carol.locator("#messages .message .text")).to_have_text(["in the other room"])
    expect(carol.locator("#people li")).to_have_text(["carol"])


def test_messages_sent_while_the_connection_was_cut_arrive_after_it_comes_back(
        browser: Browser, contexts: list[BrowserContext], server: ServerProcess) -> None:
    proxy = TcpProxy(server.port)
    try:
        dave = open_chat(browser, contexts, f"http://127.0.0.1:{proxy.port}", "dave", "t3", "&backoff=50")
        http_publish(server.port, "chat:t3", message("before"))
        expect(dave.locator("#messages .message .text")).to_have_text(["before"])
        proxy.cut()
        expect(dave.locator("#state")).to_have_text("reconnecting")
        for n in range(3):
            http_publish(server.port, "chat:t3", message(f"while away {n}"))
        proxy.restore()
        expect(dave.locator("#state")).to_have_text("connected")
        expect(dave.locator("#messages .message .text")).to_have_text(
            ["before", "while away 0", "while away 1", "while away 2"])
        http_publish(server.port, "chat:t3", message("after"))
        expect(dave.locator("#messages .message .text")).to_have_text(
            ["before", "while away 0", "while away 1", "while away 2", "after"])
        assert dave.evaluate("window.fanoutClient.reconnects") == 1
        assert not dave.locator("#messages .divider").count()  # recovered: the same history
    finally:
        proxy.close()


def test_the_page_reconnects_by_itself_after_a_server_restart(browser: Browser,
                                                              contexts: list[BrowserContext]) -> None:
    server = start_serve()
    resp_port = server.extra_ports["resp"]
    proxy = TcpProxy(server.port)
    try:
        erin = open_chat(browser, contexts, f"http://127.0.0.1:{proxy.port}", "erin", "t4", "&backoff=50")
        http_publish(server.port, "chat:t4", message("before the restart"))
        expect(erin.locator("#messages .message .text")).to_have_text(["before the restart"])
        # The page stays away (proxy cut) until the new server has a message for it.
        proxy.cut()
        server.stop()
        expect(erin.locator("#state")).to_have_text("reconnecting")
        server = start_serve(server.port, resp_port)
        http_publish(server.port, "chat:t4", message("while away"))
        proxy.restore()
        expect(erin.locator("#state")).to_have_text("connected")
        # The embedded broker lost its history: the page is told (recovered: false), refetches
        # the room's messages and marks where the history restarted.
        expect(erin.locator("#messages .message .text")).to_have_text(["before the restart", "while away"])
        expect(erin.locator("#messages .divider")).to_have_count(1)
        expect(erin.locator("#people li")).to_have_text(["erin"])
        say(erin, "back")
        expect(erin.locator("#messages .message .text")).to_have_text(["before the restart", "while away", "back"])
    finally:
        proxy.close()
        server.stop()
