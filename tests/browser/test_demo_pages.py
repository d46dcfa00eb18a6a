"""The demo pages in Chromium against a real ``fanout serve``: dashboard metrics, stats, layout.

Backend writes come over RESP with redis-py (as a service would) and over the HTTP API.
"""

from __future__ import annotations

import json

import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import http_publish, start_serve
from tests.support.servers import ServerProcess

PAGES = ["/index.html", "/chat.html?name=phone", "/dashboard.html", "/leaderboard.html", "/stats.html"]


def test_dashboard_shows_metrics_published_over_resp_and_http(
        page: Page, base_url: str, server: ServerProcess, resp: redis.Redis) -> None:
    page.goto(base_url + "/dashboard.html")
    expect(page.locator("#state")).to_have_text("connected")
    # The pattern subscription is in place once the server counts it.
    page.wait_for_function("window.fanoutClient.pending.size === 0 && window.fanoutClient.patterns.size === 1")
    resp.publish("metrics:cpu", json.dumps({"value": 42.5, "time": 1}))
    resp.publish("metrics:cpu", json.dumps({"value": 47.25, "time": 2}))
    http_publish(server.port, "metrics:temperature", 21.5)
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
    # A rate above zero (nothing else publishes meanwhile), and the 30 deliveries counted.
    page.wait_for_function("statsPoints.some((point) => point.v > 0)", polling=50)
    page.wait_for_function("Number(/(\\d+) delivered/.exec(document.querySelector('#totals').textContent)[1]) >= 30")
    other.close()


def test_stats_page_with_workers_counts_every_resp_publish_once(page: Page) -> None:
    """With --workers 2 the broker is the supervisor's: the page's "messages in" is its
    count (read by the worker that answers /metrics), not missing and not doubled."""
    server = start_serve(None, None, "--workers", "2")
    client = redis.Redis(port=server.extra_ports["resp"])
    try:
        page.goto(f"http://127.0.0.1:{server.port}/stats.html?every=200")
        expect(page.locator("#state")).to_have_text("connected")
        total = "() => Number(/^(\\d+) in/.exec(document.querySelector('#totals').textContent)?.[1] ?? -1)"
        page.wait_for_function(f"({total})() >= 2")  # both workers announced themselves (PUBLISH fanout:nodes)
        before = page.evaluate(total)
        for value in range(25):
            client.publish("metrics:load", json.dumps({"value": value}))
        page.wait_for_function(f"({total})() === {before + 25}", polling=50)
        expect(page.locator("#in-meaning")).to_contain_text("published into the embedded broker")
    finally:
        client.close()
        server.stop()


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
