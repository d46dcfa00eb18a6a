"""The operators' console in Chromium: server info, the inspector sees published events,
the publish form publishes, history page by page, the API key prompt (issue #17)."""

from __future__ import annotations

from typing import Iterator

import pytest
import redis
from playwright.sync_api import Page, expect

from tests.support.browser import http_publish, start_serve
from tests.support.servers import ServerProcess


def test_console_shows_info_inspects_a_channel_and_publishes(page: Page, base_url: str,
                                                               server: ServerProcess) -> None:
    page.goto(base_url + "/console.html?every=200")
    expect(page.locator('[data-info="version"]')).to_have_text("0.1.0")
    expect(page.locator('[data-info="broker"]')).to_have_text("memory")
    expect(page.locator('[data-info="auth"]')).to_have_text("open")
    expect(page.locator('[data-info="ready"]')).to_have_text("yes")

    page.fill("#inspect-name", "chat:console")
    page.click("#inspect-form button[type=submit]")
    expect(page.locator("#inspect-status")).to_contain_text("Subscribed to channel chat:console")
    expect(page.locator("#state")).to_have_text("connected")
    # The console's own subscription shows in the subscriptions table.
    expect(page.locator('#subscriptions tr[data-kind="channel"][data-name="chat:console"] td.num')).to_have_text("1")

    http_publish(server.port, "chat:console", {"text": "from a service"})
    expect(page.locator("#events li").first).to_contain_text('{"text":"from a service"}')

    page.fill("#publish-channel", "chat:console")
    page.fill("#publish-data", '{"text": "typed by hand"}')
    page.click("#publish-form button[type=submit]")
    expect(page.locator("#publish-result")).to_contain_text("Published at offset")
    expect(page.locator("#events li").first).to_contain_text('{"text":"typed by hand"}')
    expect(page.locator("#events li")).to_have_count(2)

    # History, page by page (20 a page): 2 messages so far, then 23 more.
    for number in range(23):
        http_publish(server.port, "chat:console", number)
    page.click("#history-button")
    expect(page.locator("#history li")).to_have_count(20)
    expect(page.locator("#history li").first).to_contain_text('{"text":"from a service"}')
    page.click("#history-next")
    expect(page.locator("#history li")).to_have_count(25)
    expect(page.locator("#history li").last).to_contain_text("22")

    page.click("#presence-button")
    expect(page.locator("#presence")).to_contain_text('"guest:console"')


def test_console_watches_a_key_and_lists_patterns(page: Page, base_url: str, server: ServerProcess) -> None:
    client = redis.Redis(port=server.extra_ports["resp"], decode_responses=True)
    try:
        page.goto(base_url + "/console.html?every=200")
        page.select_option("#inspect-kind", "hash")
        page.fill("#inspect-name", "console:hash")
        page.click("#inspect-form button[type=submit]")
        expect(page.locator("#inspect-status")).to_contain_text("Watching console:hash as a hash")
        client.hset("console:hash", "field", "42")
        expect(page.locator("#events li").first).to_contain_text('{"field":"42"}')
        expect(page.locator('#subscriptions tr[data-kind="watch"][data-name="console:hash"]')).to_have_count(1)

        page.select_option("#inspect-kind", "pattern")
        page.fill("#inspect-name", "console:*")
        page.click("#inspect-form button[type=submit]")
        expect(page.locator("#inspect-status")).to_contain_text("Subscribed to pattern console:*")
        client.publish("console:resp", '"over resp"')
        expect(page.locator("#events li").first).to_contain_text("console:resp")
        expect(page.locator('#subscriptions tr[data-kind="pattern"][data-name="console:*"] td.num')).to_have_text("1")
        expect(page.locator('#subscriptions tr[data-kind="watch"]')).to_have_count(0)  # the watch stopped
    finally:
        client.close()


@pytest.fixture
def secured() -> Iterator[ServerProcess]:
    process = start_serve(None, None, "--token-secret", "console-secret", "--api-key", "console-key")
    yield process
    process.stop()


def test_console_asks_for_the_api_key_in_secured_mode(page: Page, secured: ServerProcess) -> None:
    page.goto(f"http://127.0.0.1:{secured.port}/console.html?every=200")
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#state")).to_have_text("needs API key")
    page.fill("#api-key", "wrong")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-error")).to_have_text("That key was refused.")
    page.fill("#api-key", "console-key")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-form")).to_be_hidden()
    expect(page.locator('[data-info="auth"]')).to_have_text("tokens+api-key")
    page.fill("#inspect-name", "secure:room")
    page.click("#inspect-form button[type=submit]")
    expect(page.locator("#inspect-status")).to_contain_text("Subscribed to channel secure:room")
    page.fill("#publish-channel", "secure:room")
    page.fill("#publish-data", "plain words")
    page.click("#publish-form button[type=submit]")
    expect(page.locator("#events li").first).to_contain_text('"plain words"')
