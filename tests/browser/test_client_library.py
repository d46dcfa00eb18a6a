"""web/fanout.js in Chromium: backoff, requests and errors, resubscribe after a cut, ping timeout.

The library runs in a real page served by ``fanout serve``; the network is played by a TCP
proxy that the tests cut or freeze.
"""

from __future__ import annotations

import re
import urllib.request
from typing import Any, Iterator

import pytest
import redis
from playwright.sync_api import Page

from gateway.auth import issue_token
from tests.support.browser import start_serve
from tests.support.proxy import TcpProxy
from tests.support.servers import ServerProcess


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator[TcpProxy]:
    proxy = TcpProxy(server.port)
    yield proxy
    proxy.close()


def _connect(page: Page, url: str, **options: Any) -> None:
    """Create ``window.client`` and record its states and received events in page globals."""
    page.evaluate("""async ([url, options]) => {
        window.states = []; window.got = []; window.recoveries = [];
        window.client = new F.Fanout(url, options);
        client.on("state", (s) => states.push(s));
        client.on("recovery", (r) => recoveries.push(r));
        await client.connect();
    }""", [url, options])


def test_backoff_is_exponential_with_full_jitter_and_capped(lib: Page) -> None:
    delays = lib.evaluate("""() => {
        const at = (random) => [0, 1, 2, 3, 4, 5, 10, 80].map(
            (n) => F.backoffDelay(n, { min: 100, max: 2000, random }));
        return { top: at(() => 0.999999), bottom: at(() => 0), half: at(() => 0.5) };
    }""")
    assert delays["top"] == [99, 199, 399, 799, 1599, 1999, 1999, 1999]
    assert delays["bottom"] == [0] * 8
    assert delays["half"] == [50, 100, 200, 400, 800, 1000, 1000, 1000]


def test_client_retries_with_growing_delays_while_nothing_listens(lib: Page, proxy: TcpProxy) -> None:
    proxy.cut()
    lib.evaluate("""(url) => {
        window.client = new F.Fanout(url, { minBackoff: 10, maxBackoff: 40, random: () => 0.999999 });
        client.connect();
    }""", f"ws://127.0.0.1:{proxy.port}/ws")
    lib.wait_for_function("client.delays.length >= 5")
    assert lib.evaluate("client.delays.slice(0, 5)") == [9, 19, 39, 39, 39]
    assert lib.evaluate("client.state") == "connecting"
    proxy.restore()
    lib.wait_for_function("client.state === 'connected'")
    assert lib.evaluate("client.attempt") == 0


def test_publish_and_subscribe_round_trip_over_websocket_and_resp(lib: Page, server: ServerProcess,
                                                                 resp: redis.Redis) -> None:
    _connect(lib, f"ws://127.0.0.1:{server.port}/ws")
    lib.evaluate("""async () => {
        await client.subscribe("lib:rt", (data, event) => got.push([event.channel, data]));
        await client.psubscribe("libp:*", (data, event) => got.push([event.pattern, event.channel, data]));
        await client.publish("lib:rt", { n: 1 });
    }""")
    resp.publish("lib:rt", '{"n":2}')
    resp.publish("libp:x", '"via pattern"')
    lib.wait_for_function("got.length >= 3")
    assert lib.evaluate("got") == [["lib:rt", {"n": 1}], ["lib:rt", {"n": 2}], ["libp:*", "libp:x", "via pattern"]]
    assert lib.evaluate("states") == ["connecting", "connected"]
    lib.evaluate("client.unsubscribe('lib:rt')")
    lib.wait_for_function("!client.channels.has('lib:rt')")
    assert resp.pubsub_numsub("lib:rt") == [("lib:rt", 0)]


def test_requests_reject_with_the_servers_code_and_message(lib: Page, server: ServerProcess) -> None:
    _connect(lib, f"ws://127.0.0.1:{server.port}/ws")
    errors = lib.evaluate("""async () => {
        const outcome = (promise) => promise.then(() => "resolved",
            (e) => [e instanceof F.FanoutError, e.code, e.message]);
        return {
            publish: await outcome(client.publish("", 1)),
            subscribe: await outcome(client.subscribe("x".repeat(2000), () => {})),
            kept: client.channels.size,
            unknown: await outcome(client._request({ op: "nope" })),
        };
    }""")
    assert errors["publish"][:2] == [True, "bad_request"]
    assert "1 to 1024 characters" in errors["publish"][2]
    assert errors["subscribe"][:2] == [True, "bad_request"]
    assert errors["kept"] == 0  # a refused subscription is not retried on reconnect
    assert errors["unknown"][:2] == [True, "unknown_op"]
    lib.evaluate("client.disconnect()")
    offline = lib.evaluate("client.publish('lib:x', 1).catch((e) => [e.code, client.state])")
    assert offline == ["disconnected", "disconnected"]


def test_reconnects_by_itself_and_resubscribes_after_a_cut(lib: Page, proxy: TcpProxy,
                                                          resp: redis.Redis) -> None:
    _connect(lib, f"ws://127.0.0.1:{proxy.port}/ws", minBackoff=20, maxBackoff=100)
    lib.evaluate("""async () => {
        await client.subscribe("lib:cut", (data) => got.push(data));
        await client.psubscribe("libcut:*", (data) => got.push(data));
    }""")
    proxy.cut()
    lib.wait_for_function("client.state === 'reconnecting'")
    proxy.restore()
    lib.wait_for_function("client.state === 'connected' && client.reconnects === 1")
    # The resubscribe requests were sent before "connected": wait for the server to have them.
    lib.wait_for_function("client.pending.size === 0")
    resp.publish("lib:cut", '"after"')
    resp.publish("libcut:a", '"pattern after"')
    lib.wait_for_function("got.length >= 2")
    assert lib.evaluate("got") == ["after", "pattern after"]
    assert lib.evaluate("states") == ["connecting", "connected", "disconnected", "reconnecting", "connected"]
    assert proxy.accepted >= 2


def test_ping_timeout_detects_a_dead_connection(lib: Page, proxy: TcpProxy, resp: redis.Redis) -> None:
    _connect(lib, f"ws://127.0.0.1:{proxy.port}/ws", pingInterval=100, pingTimeout=300, minBackoff=20)
    lib.evaluate("client.subscribe('lib:ping', (data) => got.push(data))")
    lib.wait_for_function("client.pending.size === 0 && client.channels.size === 1")
    proxy.freeze()  # no close event reaches the page: only the unanswered ping tells
    lib.evaluate("window.frozenAt = performance.now()")
    lib.wait_for_function("states.includes('disconnected')")
    detected_ms = lib.evaluate("performance.now() - frozenAt")
    assert detected_ms < 1500
    proxy.restore()
    lib.wait_for_function("client.state === 'connected' && client.reconnects >= 1 && client.pending.size === 0")
    resp.publish("lib:ping", '"alive"')
    lib.wait_for_function("got.includes('alive')")


def test_token_function_is_called_per_connect_and_permissions_reject_with_the_servers_error(lib: Page) -> None:
    secret = "a-browser-test-secret-of-32-bytes!"
    server = start_serve(None, None, "--token-secret", secret)
    try:
        tokens = [issue_token(secret, "alice", info={"name": "Alice"}, subscribe=["room:*"], publish=["room:*"])
                  for _ in range(2)]
        lib.evaluate("""([url, tokens]) => {
            window.calls = 0;
            window.client = new F.Fanout(url, { token: () => tokens[Math.min(calls++, 1)], minBackoff: 20 });
            return client.connect();
        }""", [f"ws://127.0.0.1:{server.port}/ws", tokens])
        outcome = lib.evaluate("""async () => {
            const refused = (p) => p.then(() => "resolved", (e) => [e.code, e.message]);
            return {
                publish: await refused(client.publish("admin:x", 1)),
                subscribe: await refused(client.subscribe("admin:x", () => {})),
                allowed: (await client.publish("room:1", "hi")).ok,
                presence: (await client.presence("room:1").catch((e) => e.code)),
            };
        }""")
        assert outcome["publish"][0] == "forbidden" and "admin:x" in outcome["publish"][1]
        assert outcome["subscribe"][0] == "forbidden"
        assert outcome["allowed"] is True
        assert outcome["presence"] == "not_enabled"  # room:* has no presence under the default rules
        assert lib.evaluate("calls") == 1
        # Without a valid token the upgrade is refused (401): the client keeps trying, with backoff.
        lib.evaluate("""(url) => {
            window.anon = new F.Fanout(url, { minBackoff: 10, maxBackoff: 20, token: "not-a-jwt" });
            anon.connect();
        }""", f"ws://127.0.0.1:{server.port}/ws")
        lib.wait_for_function("anon.delays.length >= 3")
        assert lib.evaluate("anon.state") == "connecting"
        lib.evaluate("anon.disconnect()")
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        refused = re.search(r'fanout_rejected_connections_total\{reason="invalid_token"\} (\d+)', metrics)
        assert refused is not None and int(refused.group(1)) >= 3
    finally:
        server.stop()
