"""Demo page details: leaderboard scores that are infinite or huge, and the hints' addresses."""

from __future__ import annotations

import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from tests.support.servers import ServerProcess


@pytest.mark.parametrize("width", [320, 640])
def test_infinite_and_huge_scores_show_compactly_inside_their_card(browser: Browser, base_url: str,
                                                                  resp: redis.Redis, width: int) -> None:
    resp.delete("leaderboard:odd")
    resp.zadd("leaderboard:odd", {"top": float("inf"), "huge": 1e300, "five": 5.5, "low": -1e20,
                                  "bottom": float("-inf")})
    context = browser.new_context(viewport={"width": width, "height": 700})
    try:
        page = context.new_page()
        page.goto(base_url + "/leaderboard.html?key=leaderboard:odd")
        expect(page.locator("#state")).to_have_text("connected")
        expect(page.locator("#board li .score")).to_have_text(["∞", "1e300", "5.5", "-1e20", "-∞"])
        assert "NaN" not in (page.locator("#board").text_content() or "")
        # Every score ends inside its row, and the row inside the window.
        spill = page.eval_on_selector_all("#board li", """rows => rows.map((row) => {
            const score = row.querySelector('.score').getBoundingClientRect();
            return Math.max(score.right - row.getBoundingClientRect().right, row.scrollWidth - row.clientWidth);
        })""")
        assert max(spill) <= 0.5, spill
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        # A finite score above an infinite one's bar stays a valid (non-NaN) width.
        widths = page.eval_on_selector_all("#board li .bar", "bars => bars.map((b) => b.style.width)")
        assert all(w.startswith("calc(") for w in widths), widths
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/index.html", "/dashboard.html", "/leaderboard.html"])
def test_hints_name_this_servers_address_and_the_resp_port(page: Page, base_url: str, server: ServerProcess,
                                                          path: str) -> None:
    page.goto(base_url + path)
    page.wait_for_load_state("load")
    text = " ".join((page.locator("main").text_content() or "").split())
    assert "8080" not in text
    assert "RESP port (6380 by default)" in text
    if path != "/leaderboard.html":  # the pages that show an HTTP address show this one
        page.wait_for_function("document.querySelector('[data-host]').textContent.includes(location.host)")
        assert f"127.0.0.1:{server.port}/api/publish" in " ".join((page.locator("main").text_content() or "").split())
