"""Demo pages that explain themselves (issue #17): a missing or refused token said on the
page with what to do, refused subscriptions and watches shown where their data would be,
empty states that say how to feed them, stale data greyed while disconnected, the chat's
message box on a phone screen, and the stats page's counts."""

from __future__ import annotations

from typing import Iterator

import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from gateway.auth import issue_token
from tests.support.browser import start_serve
from tests.support.servers import ServerProcess

SECRET = "an-explanations-test-secret-of-32-bytes"


@pytest.fixture(scope="module")
def secured() -> Iterator[ServerProcess]:
    server = start_serve(None, None, "--token-secret", SECRET)
    yield server
    server.stop()


def url(server: ServerProcess, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def test_missing_token_is_explained_with_the_command_to_make_one(page: Page, secured: ServerProcess) -> None:
    page.goto(url(secured, "/chat.html"))
    explain = page.locator("#explain")
    expect(explain).to_be_visible()
    expect(explain).to_contain_text("This server needs a token: a token is required: connect with ?token=<JWT>.")
    expect(explain).to_contain_text("open this page with ?token=<the token> added to its address")
    expect(page.locator("#state")).to_have_text("token needed")
    expect(explain.locator("pre")).to_have_text(
        "fanout token --token-secret <the server's secret> --sub alice --info '{\"name\":\"Alice\"}' "
        "--subscribe 'chat:*' --subscribe 'chat-typing:*' --publish 'chat:*' --publish 'chat-typing:*'")


def test_refused_token_is_explained(page: Page, secured: ServerProcess) -> None:
    wrong = issue_token("some-other-secret-of-thirty-two-bytes!", "alice")
    page.goto(url(secured, f"/dashboard.html?token={wrong}"))
    explain = page.locator("#explain")
    expect(explain).to_contain_text("This page's token was refused: the token signature does not match.")
    expect(page.locator("#state")).to_have_text("token refused")
    expect(explain.locator("pre")).to_have_text(
        "fanout token --token-secret <the server's secret> --sub alice --subscribe 'metrics:*' "
        "--subscribe 'dashboard:status'")
    expect(explain).to_contain_text("This page only reads, so it needs no publish rights.")
    expired = issue_token(SECRET, "alice", ttl_seconds=-10)
    page.goto(url(secured, f"/leaderboard.html?token={expired}"))
    expect(page.locator("#explain")).to_contain_text("This page's token was refused: the token has expired.")


def test_refused_subscribe_and_watch_show_where_their_data_would_be(page: Page, secured: ServerProcess) -> None:
    only_status = issue_token(SECRET, "viewer", subscribe=["dashboard:status"])
    page.goto(url(secured, f"/dashboard.html?token={only_status}"))
    expect(page.locator("#state")).to_have_text("connected")
    expect(page.locator("#explain")).to_have_count(0)  # the token itself is fine
    note = page.locator("#no-metrics")
    expect(note).to_have_attribute("data-refused", "forbidden")
    expect(note).to_have_text("Cannot subscribe to metrics:*: not allowed to subscribe to pattern 'metrics:*'. "
                              "The page's token does not allow it: add --subscribe for it when making the token.")
    expect(page.locator("#status td")).to_have_text(["empty"])  # the watch was allowed
    expect(page.locator("#status-hint")).to_contain_text("Nothing in dashboard:status yet: run fanout demo-feed")

    only_metrics = issue_token(SECRET, "viewer", subscribe=["metrics:*"])
    page.goto(url(secured, f"/dashboard.html?token={only_metrics}"))
    expect(page.locator("#status tr[data-refused=forbidden] td")).to_contain_text(
        "Cannot watch dashboard:status: not allowed")
    expect(page.locator("#no-metrics")).to_contain_text("Run fanout demo-feed to feed it.")

    page.goto(url(secured, f"/leaderboard.html?token={only_metrics}"))
    expect(page.locator("#empty")).to_have_attribute("data-refused", "forbidden")
    expect(page.locator("#empty")).to_contain_text("Cannot watch leaderboard:demo: not allowed")

    page.goto(url(secured, f"/chat.html?room=closed&token={only_metrics}"))
    expect(page.locator("#messages .refused")).to_contain_text("Cannot join chat:closed: not allowed to subscribe")


def test_empty_states_say_how_to_feed_them(page: Page, base_url: str) -> None:
    page.goto(base_url + "/leaderboard.html?key=board:nobody")
    expect(page.locator("#state")).to_have_text("connected")
    expect(page.locator("#empty")).to_have_text("No scores yet: run fanout demo-feed, or add one from any Redis "
                                                "client, e.g. redis-cli -p 6380 ZINCRBY board:nobody 10 alice.")
    page.goto(base_url + "/chat.html?room=quiet&name=solo")
    expect(page.locator("#messages .empty")).to_contain_text("No messages in #quiet yet: say something below")


def test_stale_data_is_greyed_while_disconnected(browser: Browser) -> None:
    server = start_serve()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url(server, "/leaderboard.html?backoff=100"))
        expect(page.locator("#state")).to_have_text("connected")
        assert page.evaluate("document.body.hasAttribute('data-stale')") is False
        server.stop()
        page.wait_for_function("document.body.hasAttribute('data-stale')")
        opacity = page.evaluate("getComputedStyle(document.querySelector('main .panel')).opacity")
        assert float(opacity) < 1
    finally:
        context.close()
        server.stop()


@pytest.mark.parametrize("width, height", [(360, 640), (390, 844)])
def test_chat_message_box_is_on_a_phone_screen_without_scrolling(browser: Browser, base_url: str,
                                                                 width: int, height: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=True,
                                  device_scale_factor=2)
    try:
        page = context.new_page()
        page.goto(base_url + "/chat.html?name=phone")
        expect(page.locator("#state")).to_have_text("connected")
        for selector in ("#text", "#send", "#messages"):
            box = page.locator(selector).bounding_box()
            assert box is not None
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
            assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box)
        assert page.locator("#messages").bounding_box()["height"] >= 100  # room to read
        assert page.evaluate("document.documentElement.scrollHeight") <= height
        page.fill("#text", "from a phone")
        page.click("#send")
        expect(page.locator("#messages .message.mine .text")).to_have_text(["from a phone"])
    finally:
        context.close()


def test_stats_page_counts_patterns_watches_and_resp_publishes(page: Page) -> None:
    server = start_serve()
    client = redis.Redis(port=server.extra_ports["resp"])
    try:
        viewer = page.context.new_page()
        viewer.goto(url(server, "/dashboard.html"))  # psubscribes metrics:*, watches dashboard:status
        expect(viewer.locator("#state")).to_have_text("connected")
        viewer.wait_for_function("window.fanoutClient.pending.size === 0 && window.fanoutClient.patterns.size === 1")
        page.bring_to_front()
        page.goto(url(server, "/stats.html?every=200"))
        expect(page.locator("#patterns")).to_have_text("1")
        expect(page.locator("#watches")).to_have_text("1")
        expect(page.locator("#channels")).to_have_text("0")
        expect(page.locator('#channel-list tr[data-kind="pattern"]')).to_contain_text("metrics:*")
        expect(page.locator('#channel-list tr[data-kind="watch"]')).to_contain_text("dashboard:status")
        for value in range(25):
            client.publish("metrics:x", value)
        client.publish("nobody:here", 1)
        page.wait_for_function(
            "Number(/^([\\d,]+) in/.exec(document.querySelector('#totals').textContent)[1].replace(/,/g, '')) >= 26")
        expect(page.locator("#in-meaning")).to_contain_text("RESP PUBLISH")
        viewer.close()
    finally:
        client.close()
        server.stop()
