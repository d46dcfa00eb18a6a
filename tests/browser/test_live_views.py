"""Pages built on live views of keys (``watch``), in Chromium against a real ``fanout serve``:
the leaderboard (a sorted set's top 10) and the dashboard's hash table, changed over RESP.
"""

from __future__ import annotations

import subprocess
import sys
import time

import redis
from playwright.sync_api import Page, expect

from tests.support.servers import ServerProcess


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


def test_leaderboard_of_a_missing_key_is_empty_until_it_appears(page: Page, base_url: str,
                                                              resp: redis.Redis) -> None:
    resp.delete("leaderboard:fresh")
    page.goto(base_url + "/leaderboard.html?key=leaderboard:fresh")
    expect(page.locator("#state")).to_have_text("connected")
    expect(page.locator("#empty")).to_be_visible()
    resp.zadd("leaderboard:fresh", {"zoe": 3})
    expect(page.locator("#board li .name")).to_have_text(["zoe"])
    expect(page.locator("#empty")).to_be_hidden()


def test_dashboard_hash_table_follows_hset_and_hdel(page: Page, base_url: str, resp: redis.Redis) -> None:
    resp.delete("dashboard:status")
    page.goto(base_url + "/dashboard.html")
    expect(page.locator("#state")).to_have_text("connected")
    expect(page.locator("#status td")).to_have_text(["empty"])
    resp.hset("dashboard:status", mapping={"build": "1234", "region": "eu-west"})
    expect(page.locator('#status tr[data-field="build"] td').nth(1)).to_have_text("1234")
    expect(page.locator('#status tr[data-field="region"] td').nth(1)).to_have_text("eu-west")
    resp.hset("dashboard:status", "build", "1235")
    resp.hdel("dashboard:status", "region")
    expect(page.locator('#status tr[data-field="build"] td').nth(1)).to_have_text("1235")
    expect(page.locator('#status tr[data-field="region"]')).to_have_count(0)


def test_demo_feed_drives_the_dashboard(page: Page, base_url: str, server: ServerProcess) -> None:
    page.goto(base_url + "/dashboard.html")
    expect(page.locator("#state")).to_have_text("connected")
    page.wait_for_function("window.fanoutClient.pending.size === 0 && window.fanoutClient.patterns.size === 1")
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "demo-feed", "--port", str(server.extra_ports["resp"]),
                             "--count", "5", "--interval", "0.02"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    expect(page.locator("[data-metric] h2")).to_have_text(["metrics:cpu", "metrics:memory", "metrics:requests"])
    expect(page.locator('#status tr[data-field="updates"] td').nth(1)).to_have_text("5")
    cpu = float(page.locator('[data-metric="cpu"] .value').text_content() or "nan")
    assert 0 <= cpu <= 100
