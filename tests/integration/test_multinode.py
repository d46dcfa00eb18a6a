"""Several ``fanout serve`` nodes on one redis-server behave as one (issue #7).

Cross-node delivery (websocket, HTTP, PUBLISH and FANOUT.PUBLISH straight into
Redis), cluster-wide presence, a SIGKILLed node's connections leaving within the
heartbeat TTL, and a backplane restart: publishes during the outage are refused
(503 / "unavailable"), and subscribers end up with every offset exactly once.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from broker.backends.scripts import HISTORY_PUBLISH
from gateway.auth import issue_token
from tests.support.proxy import TcpProxy
from tests.support.servers import MS, ServerProcess, free_port, start_fanout, start_redis_server
from tests.support.ws import WsClient, connect

SECRET = "multinode-secret-of-at-least-32-bytes"
RULES = ("--channel", "chat:*=presence,history:1000,ttl:600", "--channel", "news:*=")
NODE_TTL = 1.5


def _node(url: str, *extra: str) -> ServerProcess:
    return start_fanout("serve", "--http-port", str(free_port()), "--broker", url, "--resp-port", "-1",
                        "--token-secret", SECRET, *RULES, "--node-ttl", str(NODE_TTL),
                        "--publish-rate", "100000", "--publish-burst", "100000", *extra)


@pytest.fixture(scope="module")
def backplane() -> Iterator[ServerProcess]:
    """This module's own redis-server (not the session's ``redis_server``): nodes come
    and go on it, and their presence sweeps must not meet other modules' keys."""
    server = start_redis_server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nodes(backplane: ServerProcess) -> Iterator[list[ServerProcess]]:
    """Nodes A, B and C on the module's redis-server."""
    url = f"redis://127.0.0.1:{backplane.port}/0"
    started = [_node(url) for _ in range(3)]
    yield started
    for node in started:
        node.stop()


async def _client(node: ServerProcess, user: str) -> WsClient:
    return await connect(node.port, issue_token(SECRET, user, info={"name": user.title()}, publish=["*"]))


async def _subscribed(node: ServerProcess, user: str, channel: str, **options: Any) -> WsClient:
    client = await _client(node, user)
    reply = await client.request("subscribe", channel=channel, **options)
    assert reply["ok"] is True, reply
    return client


async def _http_publish(node: ServerProcess, channel: str, data: Any) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{node.port}/api/publish",
                             json={"channel": channel, "data": data}) as response:
            return response.status, await response.json()


async def _fanout_publish(redis: aioredis.Redis, channel: str, data: Any) -> tuple[int, str]:
    """FANOUT.PUBLISH as a backend service runs it on Redis: the Lua twin."""
    keys = [f"history:{{{channel}}}", f"history:{{{channel}}}:meta"]
    offset, epoch = await redis.eval(HISTORY_PUBLISH.source, 2, *keys, channel, 1000, 600_000,
                                     orjson.dumps(data), "PUBLISH")
    return int(offset), epoch.decode()


async def _wait_output(node: ServerProcess, pattern: str, timeout: float = 20.0) -> None:
    """Wait until the node prints a line matching ``pattern`` (its log goes to stdout)."""
    def read() -> None:
        assert node.process.stdout is not None
        while True:
            line = node.process.stdout.readline()
            assert line, f"node exited before printing {pattern!r}: {''.join(node.output[-20:])}"
            node.output.append(line)
            if re.search(pattern, line):
                return
    await asyncio.wait_for(asyncio.to_thread(read), timeout)


async def test_a_browser_on_one_node_receives_what_is_published_on_any_other_or_into_redis(nodes, backplane):
    a, b, c = nodes
    browsers = [await _subscribed(a, f"reader{n}", "news:cross") for n in range(3)]
    for node in (b, c):  # one subscriber elsewhere, so every node follows the channel
        await _subscribed(node, "elsewhere", "news:cross")
    redis = aioredis.Redis(port=backplane.port)
    # One backplane subscription per node, however many browsers it serves.
    assert (await redis.pubsub_numsub("news:cross"))[0][1] == 3
    publisher = await _client(b, "bob")
    assert (await publisher.request("publish", channel="news:cross", data={"via": "ws on B"}))["ok"] is True
    assert (await _http_publish(c, "news:cross", {"via": "http on C"}))[0] == 200
    assert await redis.publish("news:cross", orjson.dumps({"via": "PUBLISH"})) == 3
    for browser in browsers:
        assert [(await browser.event())["data"]["via"] for _ in range(3)] == ["ws on B", "http on C", "PUBLISH"]
    # History channels: offsets are cluster-wide, whichever node or service publishes.
    history_reader = await _subscribed(a, "hilda", "chat:cross")
    first = await publisher.request("publish", channel="chat:cross", data={"n": 1})
    offset, epoch = await _fanout_publish(redis, "chat:cross", {"n": 2})
    assert (offset, epoch) == (first["offset"] + 1, first["epoch"])
    status, third = await _http_publish(c, "chat:cross", {"n": 3})
    assert status == 200 and third["offset"] == offset + 1
    events = [await history_reader.event() for _ in range(3)]
    assert [(e["offset"], e["epoch"], e["data"]["n"]) for e in events] == \
        [(first["offset"] + n, epoch, n + 1) for n in range(3)]
    await redis.aclose()
    for client in (*browsers, publisher, history_reader):
        await client.close()


async def test_a_client_reconnecting_to_another_node_recovers_what_it_missed(nodes):
    a, b, c = nodes
    channel = "chat:roam"
    roamer = await _subscribed(a, "roamer", channel)
    publisher = await _client(c, "pub")
    for n in range(3):
        await publisher.request("publish", channel=channel, data=n)
    seen = [await roamer.event() for _ in range(3)]
    await roamer.close()
    missed = [await publisher.request("publish", channel=channel, data=n) for n in range(3, 8)]
    back = await _client(b, "roamer")
    reply = await back.request("subscribe", channel=channel,
                               recover={"offset": seen[-1]["offset"], "epoch": seen[-1]["epoch"]})
    assert reply["recovered"] is True and reply["offset"] == missed[-1]["offset"]
    live = await publisher.request("publish", channel=channel, data=8)
    recovered = [await back.event() for _ in range(6)]
    assert [e["offset"] for e in recovered] == [m["offset"] for m in missed] + [live["offset"]]
    assert [e["data"] for e in recovered] == list(range(3, 9))
    for client in (back, publisher):
        await client.close()


def _presence_event(event: dict[str, Any]) -> tuple[str, str]:
    kind = "join" if "join" in event else "leave"
    return kind, event[kind]["user"]


async def _watchers(nodes: list[ServerProcess], channel: str) -> list[WsClient]:
    """One presence watcher per node, each past the joins of all of them."""
    watchers = []
    for index, node in enumerate(nodes):
        watchers.append(await _subscribed(node, f"watcher{index}", channel, presence=True))
    for index, watcher in enumerate(watchers):
        joins = [_presence_event(await watcher.event()) for _ in range(len(nodes) - index)]
        assert joins == [("join", f"watcher{n}") for n in range(index, len(nodes))]
    return watchers


async def _presence_everywhere(nodes: list[ServerProcess], channel: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        answers = []
        for node in nodes:
            async with http.get(f"http://127.0.0.1:{node.port}/api/presence/{channel}") as response:
                answers.append((await response.json())["users"])
    return answers


async def test_presence_is_cluster_wide(nodes):
    a, b, c = nodes
    channel = "chat:everyone"
    watchers = await _watchers(nodes, channel)
    alice = [await _subscribed(node, "alice", channel) for node in (b, c)]  # two tabs, two nodes
    for watcher in watchers:
        assert _presence_event(await watcher.event()) == ("join", "alice")  # once: per user
    answers = await _presence_everywhere(nodes, channel)
    assert answers[0] == answers[1] == answers[2]
    assert sorted(answers[0]) == ["alice", "watcher0", "watcher1", "watcher2"]
    assert len(answers[0]["alice"]["conns"]) == 2
    over_ws = [(await w.request("presence_stats", channel=channel)) for w in watchers]
    assert {(s["users"], s["connections"]) for s in over_ws} == {(4, 5)}
    await alice[0].close()
    await alice[1].request("publish", channel=channel, data="still here")
    await alice[1].close()
    for watcher in watchers:
        assert (await watcher.event())["data"] == "still here"  # her first tab left: no event yet
        assert await watcher.event() == {"channel": channel, "leave": {"user": "alice", "info": {"name": "Alice"}}}
    assert all("alice" not in answer for answer in await _presence_everywhere(nodes, channel))
    for watcher in watchers:
        await watcher.close()


async def test_a_killed_node_s_connections_leave_within_the_heartbeat_ttl(nodes, backplane):
    a, b, _ = nodes
    channel = "chat:doomed"
    doomed_node = _node(f"redis://127.0.0.1:{backplane.port}/0")
    try:
        watchers = await _watchers([a, b], channel)
        victims = [await _subscribed(doomed_node, user, channel) for user in ("dora", "dan")]
        for watcher in watchers:
            assert sorted([_presence_event(await watcher.event()) for _ in range(2)]) == \
                [("join", "dan"), ("join", "dora")]
        doomed_node.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        for watcher in watchers:
            leaves = sorted([_presence_event(await watcher.event(timeout=10)) for _ in range(2)])
            assert leaves == [("leave", "dan"), ("leave", "dora")]
        # Noticed through the heartbeat key's expiry: the TTL, Redis's expiry sweep (100 ms
        # ticks) and the cleanup's round trips; far below the 15 s default TTL.
        assert time.monotonic() - killed_at < NODE_TTL + 2000 * MS
        answers = await _presence_everywhere([a, b], channel)
        assert answers[0] == answers[1] and sorted(answers[0]) == ["watcher0", "watcher1"]
        for client in (*watchers, *victims):
            client.reader.cancel()
    finally:
        doomed_node.stop()


@pytest.fixture
def durable_redis() -> Iterator[tuple[ServerProcess, list[str]]]:
    """A redis-server with an append-only file, and its flags to start it again as itself."""
    directory = tempfile.mkdtemp(prefix="fanout-aof-")
    flags = ["--appendonly", "yes", "--appendfsync", "always", "--dir", directory]
    server = start_redis_server(*flags)
    yield server, flags
    server.stop()  # the test stops (and restarts) it itself; this is for a test that failed first
    shutil.rmtree(directory, ignore_errors=True)


async def test_a_backplane_restart_loses_nothing_within_history(durable_redis):
    redis_process, flags = durable_redis
    port = redis_process.port
    url = f"redis://127.0.0.1:{port}/0"
    a, b = _node(url), _node(url)
    restarted: ServerProcess | None = None
    channel = "chat:outage"
    try:
        listener = await _subscribed(a, "lena", channel)       # stays connected through it all
        roamer = await _subscribed(b, "rob", channel)          # leaves before, comes back to A after
        publisher = await _client(b, "pat")
        before = [await publisher.request("publish", channel=channel, data=n) for n in range(5)]
        assert [(await roamer.event())["offset"] for _ in range(5)] == [p["offset"] for p in before]
        await roamer.close()

        redis_process.stop()  # SIGTERM: the AOF is complete
        status, body = await _http_publish(b, channel, "during")
        assert status == 503 and body["error"]["code"] == "unavailable"
        refused = await (await _client(a, "amy")).request("publish", channel=channel, data="during")
        assert refused["error"]["code"] == "unavailable"

        restarted = start_redis_server(*flags, port=port)
        redis = aioredis.Redis(port=port)
        # Published straight into Redis, maybe while the nodes' links are still down.
        direct = [await _fanout_publish(redis, channel, n) for n in range(5, 8)]
        assert [offset for offset, _ in direct] == [6, 7, 8] and {e for _, e in direct} == {before[0]["epoch"]}
        for node in (a, b):
            await _wait_output(node, "broker connection restored")
        after = [await publisher.request("publish", channel=channel, data=n) for n in range(8, 10)]
        status, last = await _http_publish(a, channel, 10)
        assert status == 200 and [p["offset"] for p in after] + [last["offset"]] == [9, 10, 11]

        events = [await listener.event() for _ in range(11)]
        assert [e["offset"] for e in events] == list(range(1, 12))  # every offset once, in order
        assert [e["data"] for e in events] == list(range(11))
        assert listener.events.empty()

        back = await _client(a, "rob")
        reply = await back.request("subscribe", channel=channel,
                                   recover={"offset": before[-1]["offset"], "epoch": before[-1]["epoch"]})
        assert reply["recovered"] is True and reply["offset"] == 11
        assert [(await back.event())["offset"] for _ in range(6)] == list(range(6, 12))
        await redis.aclose()
        for client in (listener, publisher, back):
            await client.close()
    finally:
        for node in (a, b):
            node.stop()
        if restarted is not None:
            restarted.stop()


async def test_a_node_cut_off_from_redis_catches_up_from_history_and_rejoins_presence(nodes, backplane):
    _, b, _ = nodes
    proxy = TcpProxy(backplane.port)  # node A's only way to Redis
    a = _node(f"redis://127.0.0.1:{proxy.port}/0")
    channel = "chat:cut"
    redis = aioredis.Redis(port=backplane.port)
    try:
        watcher = await _subscribed(b, "walt", channel, presence=True)
        assert _presence_event(await watcher.event()) == ("join", "walt")
        listener = await _subscribed(a, "lena", channel)
        assert _presence_event(await watcher.event()) == ("join", "lena")
        publisher = await _client(b, "pat")
        await publisher.request("publish", channel=channel, data=1)

        proxy.cut()
        await _wait_output(a, r"WARNING fanout\.backend: .*(lost|closed|unavailable)")
        status, body = await _http_publish(a, channel, "refused")
        assert status == 503 and body["error"]["code"] == "unavailable"
        # Meanwhile the others go on: a publish on B and one straight into Redis...
        await publisher.request("publish", channel=channel, data=2)
        assert await _fanout_publish(redis, channel, 3) == (3, (await redis.hget(f"history:{{{channel}}}:meta",
                                                                                 "epoch")).decode())
        # ... and A's heartbeat expires: the others see its connection leave.
        events = [await watcher.event(timeout=10) for _ in range(4)]
        assert [e.get("data") for e in events[:3]] == [1, 2, 3]
        assert _presence_event(events[3]) == ("leave", "lena")

        proxy.restore()
        await _wait_output(a, "broker connection restored")
        assert _presence_event(await watcher.event()) == ("join", "lena")  # registered again
        await publisher.request("publish", channel=channel, data=4)
        got = [await listener.event() for _ in range(4)]
        assert [(e["offset"], e["data"]) for e in got] == [(1, 1), (2, 2), (3, 3), (4, 4)]
        assert (await watcher.event())["data"] == 4
        assert listener.events.empty()
        for client in (listener, watcher, publisher):
            await client.close()
    finally:
        await redis.aclose()
        a.stop()
        proxy.close()
