"""Every publish path reaches every subscription kind, in order, at scale (issue #3);
on the embedded broker, a redis-server and a Redis Cluster (issue #7), where sharded
pub/sub has no patterns: a pattern subscription is refused with the reason."""

from __future__ import annotations

import asyncio
import resource

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from tests.support.backplane import CLUSTER, EMBEDDED, REDIS, Backplane
from tests.support.ws import WsClient, connect

BACKPLANES = (EMBEDDED, REDIS, CLUSTER)


@pytest.fixture(scope="module", autouse=True)
def _more_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


async def _subscribed(port: int, channel: str | None = None, pattern: str | None = None) -> WsClient:
    client = await connect(port)
    if channel:
        assert (await client.request("subscribe", channel=channel))["ok"] is True
    if pattern:
        assert (await client.request("psubscribe", pattern=pattern))["ok"] is True
    return client


async def _no_patterns(port: int) -> None:
    client = await connect(port)
    reply = await client.request("psubscribe", pattern="news:*")
    assert reply["error"] == {"code": "bad_request", "message": "pattern subscriptions are not supported on "
                              "Redis Cluster: sharded pub/sub (SSUBSCRIBE) has no patterns"}
    assert (await client.request("ping"))["pong"] is True
    await client.close()


async def test_every_publish_path_reaches_channel_and_pattern_subscribers(fanout_serve, backplane):
    port = fanout_serve.port
    patterns = backplane.kind != CLUSTER
    exact = await _subscribed(port, channel="news:lobby")
    if patterns:
        by_pattern = await _subscribed(port, pattern="news:*")
    else:
        await _no_patterns(port)
    publisher = await connect(port)
    redis = backplane.client(fanout_serve)
    async with aiohttp.ClientSession() as http:
        reply = await publisher.request("publish", channel="news:lobby", data={"via": "ws"})
        assert reply["ok"] is True
        async with http.post(f"http://127.0.0.1:{port}/api/publish",
                             json={"channel": "news:lobby", "data": {"via": "http"}}) as response:
            assert response.status == 200 and (await response.json())["ok"] is True
        async with http.post(f"http://127.0.0.1:{port}/api/broadcast",
                             json={"channels": ["news:lobby", "other"], "data": {"via": "broadcast"}}) as response:
            assert (await response.json()) == {"ok": True, "channels": 2}
    # one upstream subscription for the channel and one for the pattern, however many browsers
    assert await backplane.publish(redis, "news:lobby", orjson.dumps({"via": "resp"})) == (2 if patterns else 1)
    for via in ("ws", "http", "broadcast", "resp"):
        assert await exact.event() == {"channel": "news:lobby", "data": {"via": via}}
        if patterns:
            assert await by_pattern.event() == {"channel": "news:lobby", "pattern": "news:*", "data": {"via": via}}
    await redis.aclose()
    for client in (exact, publisher, *([by_pattern] if patterns else [])):
        await client.close()


async def test_resp_payloads_json_or_string_and_browser_publish_reaches_resp_subscribers(fanout_serve, backplane):
    port = fanout_serve.port
    redis = backplane.client(fanout_serve)
    if backplane.kind == CLUSTER:
        # A backend service on a cluster: SSUBSCRIBE on the master owning the channel's slot.
        owner = (await redis.initialize()).get_node_from_key("news")
        pubsub = aioredis.Redis(host=owner.host, port=owner.port).pubsub()
        await pubsub.ssubscribe("news")
        assert (await pubsub.get_message(timeout=5))["type"] == "ssubscribe"
        kinds = ["smessage"]
    else:
        pubsub = redis.pubsub()
        await pubsub.subscribe("news")
        await pubsub.psubscribe("ne*")
        assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"
        assert (await pubsub.get_message(timeout=5))["type"] == "psubscribe"
        kinds = ["message", "pmessage"]
    browser = await _subscribed(port, channel="news")
    await backplane.publish(redis, "news", b"plain text")
    await backplane.publish(redis, "news", b'[1, 2, {"a": null}]')
    await backplane.publish(redis, "news", b"\xff\xfebinary")
    assert (await browser.event())["data"] == "plain text"
    assert (await browser.event())["data"] == [1, 2, {"a": None}]
    assert (await browser.event())["data"] == "\ufffd\ufffdbinary"
    for _ in range(3 * len(kinds)):  # our own three publishes (channel, and pattern)
        await pubsub.get_message(timeout=5)
    await browser.request("publish", channel="news", data={"from": "browser"})
    received = []
    while len(received) < len(kinds):
        message = await pubsub.get_message(timeout=5)
        if message is not None:
            received.append((message["type"], message["data"]))
    assert sorted(received) == [(kind, b'{"from":"browser"}') for kind in kinds]
    await pubsub.aclose()
    await redis.aclose()
    await browser.close()


async def test_order_per_channel_holds_under_concurrent_publishers(fanout_serve):
    port = fanout_serve.port
    watchers = [await _subscribed(port, channel="ordered") for _ in range(2)]
    publishers = [await connect(port) for _ in range(3)]
    per_publisher = 150

    async def run(index: int, client: WsClient) -> None:
        for seq in range(per_publisher):
            await client.request("publish", channel="ordered", data={"p": index, "seq": seq})

    await asyncio.gather(*(run(i, c) for i, c in enumerate(publishers)))
    sequences = []
    for watcher in watchers:
        events = [(await watcher.event())["data"] for _ in range(3 * per_publisher)]
        for index in range(3):
            assert [e["seq"] for e in events if e["p"] == index] == list(range(per_publisher))
        sequences.append(events)
    assert sequences[0] == sequences[1]  # everyone sees the same total order
    for client in (*watchers, *publishers):
        await client.close()


async def test_thousand_connections_each_get_every_message_of_a_burst(fanout_serve, backplane):
    port = fanout_serve.port
    clients = await asyncio.gather(*(connect(port) for _ in range(1000)))
    await asyncio.gather(*(c.request("subscribe", channel="burst", timeout=30) for c in clients))
    redis = backplane.client(fanout_serve)
    burst = 50
    if backplane.kind == CLUSTER:
        owner = (await redis.initialize()).get_node_from_key("burst")  # a pipeline straight to the channel's master
        redis = aioredis.Redis(host=owner.host, port=owner.port)
    async with redis.pipeline(transaction=False) as pipe:
        for seq in range(burst):
            pipe.execute_command("SPUBLISH" if backplane.kind == CLUSTER else "PUBLISH", "burst",
                                 orjson.dumps({"seq": seq}))
        await pipe.execute()

    async def collect(client: WsClient) -> list[int]:
        return [(await client.event(timeout=60))["data"]["seq"] for _ in range(burst)]

    results = await asyncio.gather(*(collect(c) for c in clients))
    assert all(result == list(range(burst)) for result in results)
    await redis.aclose()
    await asyncio.gather(*(c.close() for c in clients))


async def test_unsubscribe_stops_delivery_and_channels_api_counts(fanout_serve, backplane):
    port = fanout_serve.port
    patterns = backplane.kind != CLUSTER
    a = await _subscribed(port, channel="room:1")
    b = await _subscribed(port, channel="room:1", pattern="room:*" if patterns else None)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/api/channels?pattern=room:*") as response:
            assert (await response.json()) == {"channels": {"room:1": 2}}
        assert (await a.request("unsubscribe", channel="room:1"))["ok"] is True
        assert (await a.request("unsubscribe", channel="room:1"))["error"]["code"] == "not_subscribed"
        if patterns:
            assert (await b.request("punsubscribe", pattern="room:*"))["ok"] is True
        await b.request("publish", channel="room:1", data=1)
        assert await b.event() == {"channel": "room:1", "data": 1}  # exact only, no pattern copy
        async with http.get(f"http://127.0.0.1:{port}/api/channels") as response:
            assert (await response.json())["channels"].get("room:1") == 1
    assert a.events.empty()
    await a.close()
    await b.close()


async def test_keyspace_notifications_are_channels_like_any_other(fanout_serve, backplane):
    port = fanout_serve.port
    redis = backplane.client(fanout_serve)
    await backplane.config_set(redis, "notify-keyspace-events", "KEA")
    watcher = await _subscribed(port, channel="__keyspace@0__:scores")
    await redis.zincrby("scores", 10, "alice")
    assert await watcher.event() == {"channel": "__keyspace@0__:scores", "data": "zincr"}
    await backplane.config_set(redis, "notify-keyspace-events", "")
    await redis.aclose()
    await watcher.close()


async def test_metrics_count_connections_and_messages(fanout_serve):
    port = fanout_serve.port
    client = await _subscribed(port, channel="metered")
    await client.request("publish", channel="metered", data="x")
    await client.event()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            health = await response.json()
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    assert values["fanout_connections"] >= 1
    assert values["fanout_messages_in_total"] >= 1
    assert values["fanout_messages_out_total"] >= 1
    assert health["ok"] is True and health["connections"] >= 1
    await client.close()
