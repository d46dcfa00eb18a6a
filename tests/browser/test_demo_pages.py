"""The demo pages in Chromium against a real ``fanout serve``: leaderboard, dashboard, stats, layout.

Backend writes come over RESP with redis-py (as a service would) and over the HTTP API.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Iterator

import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from tests.support.servers import ServerProcess

PAGES = ["/index.html", "/chat.html?name=phone", "/dashboard.html", "/leaderboard.html", "/stats.html"]


@pytest.fixture
def resp(server: ServerProcess) -> Iterator[redis.Redis]:
    client = redis.Redis(port=server.extra_ports["resp"], decode_responses=True)
    yield client
    client.close()


def _http_publish(base_url: str, channel: str, data: object) -> None:
    request = urllib.request.Request(base_url + "/api/publish", method="POST",
                                     data=json.dumps({"channel": channel, "data": data}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["ok"] is True


def _names(page: Page) -> list[str]:
    return page.eval_on_selector_all("#board li .name", "nodes => nodes.map((n) => n.textContent)")


def test_leaderboard_reorders_within_a_second_after_zincrby(page: Page, base_url: str, resp: redis.Redis) -> None:
    resp.delete("leaderboard:demo")
    resp.zadd("leaderboard:demo", {f"player{i:02d}": i for i in range(12)} | {"alice": 1, "bob": 50})
    page.goto(base_url + "/leaderboard.html")
    expect(page.locator("#state")).to_have_text("connected")
    expect(page.locator("#board li")).to_have_count(10)
    assert _names(page)[:2] == ["bob", "player11"]
    assert "alice" not in _names(page)

    started = time.monotonic()
    resp.zincrby("leaderboard:demo", 100, "alice")
    page.wait_for_function("document.querySelector('#board li .name').textContent === 'alice'",
                           polling="raf", timeout=5000)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"the leaderboard took {elapsed:.3f}s to reorder"
    assert _names(page)[:2] == ["alice", "bob"]
    assert page.locator("#board li").first.locator(".score").text_content() == "101"
    expect(page.locator("#board li")).to_have_count(10)


def test_dashboard_shows_metrics_published_over_resp_and_http_and_the_live_hash(
        page: Page, base_url: str, resp: redis.Redis) -> None:
    resp.delete("dashboard:status")
    page.goto(base_url + "/dashboard.html")
    expect(page.locator("#state")).to_have_text("connected")
    # The pattern subscription is in place once the server counts it.
    page.wait_for_function("window.fanoutClient.pending.size === 0 && window.fanoutClient.patterns.size === 1")
    resp.publish("metrics:cpu", json.dumps({"value": 42.5, "time": 1}))
    resp.publish("metrics:cpu", json.dumps({"value": 47.25, "time": 2}))
    _http_publish(base_url, "metrics:temperature", 21.5)
    cpu = page.locator('[data-metric="cpu"] .value')
    expect(cpu).to_have_text("47.25")
    expect(page.locator('[data-metric="temperature"] .value')).to_have_text("21.5")
    expect(page.locator("#events tr")).to_have_count(3)
    # The chart drew a line: the canvas has coloured pixels.
    page.wait_for_function("""() => {
        const canvas = document.querySelector('[data-metric="cpu"] canvas');
        const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let coloured = 0;
        for (let i = 0; i < pixels.length; i += 4) if (pixels[i + 2] > 200 && pixels[i] < 120) coloured++;
        return coloured > 20;
    }""")

    resp.hset("dashboard:status", mapping={"build": "1234", "region": "eu-west"})
    expect(page.locator('#status tr[data-field="build"] td').nth(1)).to_have_text("1234")
    expect(page.locator('#status tr[data-field="region"] td').nth(1)).to_have_text("eu-west")
    resp.hset("dashboard:status", "build", "1235")
    resp.hdel("dashboard:status", "region")
    expect(page.locator('#status tr[data-field="build"] td').nth(1)).to_have_text("1235")
    expect(page.locator('#status tr[data-field="region"]')).to_have_count(0)


def test_stats_page_counts_connections_and_deliveries(browser: Browser, page: Page, base_url: str,
                                                      resp: redis.Redis) -> None:
    other = page.context.new_page()
    other.goto(base_url + "/dashboard.html")
    expect(other.locator("#state")).to_have_text("connected")
    other.wait_for_function("window.fanoutClient.pending.size === 0 && window.fanoutClient.patterns.size === 1")
    page.bring_to_front()  # a background tab gets no animation frames
    page.goto(base_url + "/stats.html?every=200")
    expect(page.locator("#state")).to_have_text("connected")
    page.wait_for_function("Number(document.querySelector('#connections').textContent) >= 1")
    page.wait_for_function("statsPoints.length >= 1")
    for value in range(30):
        resp.publish("metrics:load", json.dumps({"value": value}))
    page.wait_for_function("statsPoints.some((point) => point.v >= 30)", polling=50)
    expect(page.locator("#totals")).to_contain_text("delivered")
    other.close()


@pytest.mark.parametrize("path", PAGES)
def test_pages_fit_a_phone_width_and_show_the_connection_state(browser: Browser, base_url: str, path: str) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(base_url + path)
        if path != "/index.html":
            expect(page.locator("#state")).to_have_text("connected")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a phone"
        assert not errors
    finally:
        context.close()
