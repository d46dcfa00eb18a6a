"""web/fanout.js: several watches of the same key and view on one connection.

The server gives them one shared watch id (watching twice is idempotent there): the library
must deliver every push to every handle and unwatch on the server only when the last one stops.
"""

from __future__ import annotations

import re
import urllib.request

import redis
from playwright.sync_api import Page

from tests.support.proxy import TcpProxy
from tests.support.servers import ServerProcess


def _server_watches(server: ServerProcess) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    found = re.search(r"^fanout_watches (\S+)$", metrics, re.M)
    assert found is not None
    return int(float(found.group(1)))


def _watch_twice(page: Page, url: str, key: str, **options: object) -> None:
    """``window.client`` with two handles ``w1``/``w2`` on the same key and view; values in ``got1``/``got2``."""
    page.evaluate("""async ([url, key, options]) => {
        window.got1 = []; window.got2 = [];
        window.client = new F.Fanout(url, options);
        await client.connect();
        window.w1 = await client.watch(key, { type: "string" }, (v) => got1.push(v));
        window.w2 = await client.watch(key, { type: "string" }, (v) => got2.push(v));
    }""", [url, key, options])


def test_two_handles_of_one_shared_watch_both_get_pushes_until_each_stops(
        lib: Page, server: ServerProcess, resp: redis.Redis) -> None:
    resp.set("wk:share", "a")
    _watch_twice(lib, f"ws://127.0.0.1:{server.port}/ws", "wk:share")
    assert lib.evaluate("w1.id === w2.id && w1.id !== null") is True
    resp.set("wk:share", "b")
    lib.wait_for_function("got1.includes('b') && got2.includes('b')")

    lib.evaluate("w1.stop()")
    lib.wait_for_function("client.pending.size === 0")
    assert _server_watches(server) == 1  # the other handle still needs it
    resp.set("wk:share", "c")
    lib.wait_for_function("got2.includes('c')")
    assert lib.evaluate("got1") == ["a", "b"]

    lib.evaluate("w2.stop()")
    lib.wait_for_function("client.pending.size === 0")
    assert _server_watches(server) == 0
    assert lib.evaluate("client.watchIds.size") == 0


def test_stopping_one_handle_while_the_other_is_in_flight_keeps_the_other(
        lib: Page, server: ServerProcess, resp: redis.Redis) -> None:
    resp.set("wk:race", "a")
    lib.evaluate("""async (url) => {
        window.got2 = [];
        window.client = new F.Fanout(url);
        await client.connect();
        window.w1 = await client.watch("wk:race", { type: "string" }, () => {});
        const second = client.watch("wk:race", { type: "string" }, (v) => got2.push(v));
        w1.stop();  // sent after the second watch: the server would drop the shared id under it
        window.w2 = await second;
    }""", f"ws://127.0.0.1:{server.port}/ws")
    lib.wait_for_function("client.pending.size === 0")
    assert _server_watches(server) == 1
    resp.set("wk:race", "b")
    lib.wait_for_function("got2.includes('b')")
    lib.evaluate("w2.stop()")
    lib.wait_for_function("client.pending.size === 0")
    assert _server_watches(server) == 0


def test_both_handles_are_restored_after_a_reconnect(lib: Page, server: ServerProcess, resp: redis.Redis) -> None:
    proxy = TcpProxy(server.port)
    try:
        resp.set("wk:cut", "a")
        _watch_twice(lib, f"ws://127.0.0.1:{proxy.port}/ws", "wk:cut", minBackoff=20, maxBackoff=100)
        proxy.cut()
        lib.wait_for_function("client.state === 'reconnecting'")
        resp.set("wk:cut", "b")
        proxy.restore()
        lib.wait_for_function("client.state === 'connected' && client.pending.size === 0")
        resp.set("wk:cut", "c")
        lib.wait_for_function("got1.includes('c') && got2.includes('c')")
        assert lib.evaluate("got1") == ["a", "b", "c"] and lib.evaluate("got2") == ["a", "b", "c"]
        lib.evaluate("w1.stop()")
        lib.wait_for_function("client.pending.size === 0")
        resp.set("wk:cut", "d")
        lib.wait_for_function("got2.includes('d')")
        assert lib.evaluate("got1") == ["a", "b", "c"]
    finally:
        proxy.close()
