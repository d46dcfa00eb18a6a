"""Live views of keys over real sockets: watch / unwatch on keyspace notifications (issue 6)."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from gateway.auth import issue_token
from tests.support.backplane import EMBEDDED, REDIS, Backplane

# Views, their ids and counters live in each node: with --workers, in each worker.
BACKPLANES = (EMBEDDED, REDIS)
from tests.support.servers import MS, ServerProcess, until
from tests.support.ws import WsClient, connect, raw_websocket, recv_exactly

SECRET = "watch-test-secret-of-at-least-32-bytes"
TOP3 = {"type": "zset_top", "n": 3}


@pytest.fixture(scope="module")
def secured_serve(backplane: Backplane):
    server = backplane.serve("--token-secret", SECRET, "--max-subscriptions", "3")
    yield server
    server.stop()


async def _push(client: WsClient, timeout: float = 10.0) -> dict[str, Any]:
    """The next live-view push (pushes carry no "channel": the test client files them as loose)."""
    return await asyncio.wait_for(client.loose.get(), timeout)


async def _metrics(port: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
    return {name: float(value) for name, value in re.findall(r"^(fanout_\w+) (\S+)$", text, re.MULTILINE)}


async def _until_metric(port: int, name: str, expected: float, timeout: float = 5.0) -> None:
    """Until the server's metric reads ``expected`` (counted inside it: it says so nowhere else)."""
    async def reached() -> bool:
        return (await _metrics(port)).get(name) == expected

    await until(reached, f"{name} to be {expected}", timeout=timeout)


async def _watch(client: WsClient, key: str, view: dict[str, Any]) -> dict[str, Any]:
    reply = await client.request("watch", key=key, view=view)
    assert reply["ok"] is True, reply
    return reply


async def test_zset_top_reorders_after_zincrby_over_resp(fanout_serve: ServerProcess):
    redis = aioredis.Redis(port=fanout_serve.extra_ports["resp"])
    await redis.zadd("board:1", {"alice": 10, "bob": 20, "carol": 5, "dave": 1})
    client = await connect(fanout_serve.port)
    reply = await _watch(client, "board:1", TOP3)
    assert reply["key"] == "board:1" and reply["watch"].startswith("v")
    assert reply["value"] == [{"member": "bob", "score": 20}, {"member": "alice", "score": 10},
                              {"member": "carol", "score": 5}]
    await redis.zincrby("board:1", 15, "alice")
    assert await _push(client) == {"watch": reply["watch"], "key": "board:1", "value": [
        {"member": "alice", "score": 25}, {"member": "bob", "score": 20}, {"member": "carol", "score": 5}]}
    await redis.zincrby("board:1", 30.5, "dave")
    assert [entry["member"] for entry in (await _push(client))["value"]] == ["dave", "alice", "bob"]
    await redis.aclose()
    await client.close()


async def test_hash_string_and_list_views_follow_their_keys(fanout_serve: ServerProcess):
    redis = aioredis.Redis(port=fanout_serve.extra_ports["resp"])
    await redis.hset("stats:1", mapping={"cpu": "12", "mem": "40"})
    await redis.set("motd:1", "hello")
    await redis.rpush("log:1", "a", "b", "c", "d")
    client = await connect(fanout_serve.port)
    hash_watch = await _watch(client, "stats:1", {"type": "hash"})
    assert hash_watch["value"] == {"cpu": "12", "mem": "40"}
    string_watch = await _watch(client, "motd:1", {"type": "string"})
    assert string_watch["value"] == "hello"
    list_watch = await _watch(client, "log:1", {"type": "list", "start": -2, "stop": -1})
    assert list_watch["value"] == ["c", "d"]

    await redis.hset("stats:1", "cpu", "99")
    assert await _push(client) == {"watch": hash_watch["watch"], "key": "stats:1",
                                   "value": {"cpu": "99", "mem": "40"}}
    await redis.hdel("stats:1", "mem")
    assert (await _push(client))["value"] == {"cpu": "99"}
    await redis.append("motd:1", " world")
    assert await _push(client) == {"watch": string_watch["watch"], "key": "motd:1", "value": "hello world"}
    await redis.rpush("log:1", "e")
    assert await _push(client) == {"watch": list_watch["watch"], "key": "log:1", "value": ["d", "e"]}
    await redis.aclose()
    await client.close()


async def test_deleted_expired_and_missing_keys_read_as_null(fanout_serve: ServerProcess):
    redis = aioredis.Redis(port=fanout_serve.extra_ports["resp"])
    await redis.zadd("board:gone", {"x": 1})
    await redis.set("motd:short", "soon gone")
    client = await connect(fanout_serve.port)
    top = await _watch(client, "board:gone", TOP3)
    short = await _watch(client, "motd:short", {"type": "string"})
    missing = await _watch(client, "never:set", {"type": "hash"})
    assert missing["value"] is None
    await redis.delete("board:gone")
    assert await _push(client) == {"watch": top["watch"], "key": "board:gone", "value": None}
    await redis.pexpire("motd:short", 20)
    assert await _push(client) == {"watch": short["watch"], "key": "motd:short", "value": None}
    await redis.hset("never:set", "now", "yes")
    assert (await _push(client))["value"] == {"now": "yes"}
    # a key that changes type: the view has no value any more (DEL and SET coalesced or not: one push)
    await redis.delete("never:set")
    await redis.set("never:set", "a string")
    assert (await _push(client))["value"] is None
    await redis.aclose()
    await client.close()


async def test_watchers_share_one_view_and_unwatch_stops_pushes(fanout_serve: ServerProcess):
    redis = aioredis.Redis(port=fanout_serve.extra_ports["resp"])
    await redis.zadd("board:shared", {"a": 1})
    first, second = await connect(fanout_serve.port), await connect(fanout_serve.port)
    one = await _watch(first, "board:shared", TOP3)
    two = await _watch(second, "board:shared", TOP3)
    assert one["watch"] == two["watch"]  # one view, one push frame for both
    again = await _watch(first, "board:shared", TOP3)
    assert again["watch"] == one["watch"]  # idempotent
    await redis.zincrby("board:shared", 1, "a")
    assert (await _push(first))["value"] == (await _push(second))["value"] == [{"member": "a", "score": 2}]
    reply = await first.request("unwatch", watch=one["watch"])
    assert (reply["ok"], reply["watch"]) == (True, one["watch"])
    error = await first.request("unwatch", watch=one["watch"])
    assert error["error"]["code"] == "not_subscribed"
    await redis.zincrby("board:shared", 1, "a")
    assert (await _push(second))["value"] == [{"member": "a", "score": 3}]
    # first got nothing: a ping round trip after second's push proves its socket is drained
    assert (await first.request("ping"))["pong"] is True
    assert first.loose.empty()
    await redis.aclose()
    for client in (first, second):
        await client.close()


async def test_bad_views_are_bad_requests(fanout_serve: ServerProcess):
    redis = aioredis.Redis(port=fanout_serve.extra_ports["resp"])
    await redis.set("plain", "text")
    client = await connect(fanout_serve.port)
    for view, message in [(None, "'view' must be an object"),
                          ({"type": "set"}, "view 'type' must be one of zset_top, hash, string, list; got 'set'"),
                          ({"type": "zset_top", "n": -1}, "view 'n' must be between 1 and 1000, got -1"),
                          ({"type": "zset_top"}, "a zset_top view needs 'n'")]:
        reply = await client.request("watch", key="board:1", view=view)
        assert reply["error"]["code"] == "bad_request" and message in reply["error"]["message"], reply
    reply = await client.request("watch", view=TOP3)
    assert reply["error"] == {"code": "bad_request", "message": "missing field 'key' for op 'watch'"}
    reply = await client.request("watch", key="plain", view=TOP3)
    assert reply["error"] == {"code": "bad_request",
                              "message": "key 'plain' holds another type than a zset_top view reads"}
    await redis.aclose()
    await client.close()


async def test_a_browser_on_the_keyspace_channel_and_a_watch_share_the_upstream_subscription(
        fanout_serve: ServerProcess):
    redis = aioredis.Redis(port=fanout_serve.extra_ports["resp"])
    client = await connect(fanout_serve.port)
    watch = await _watch(client, "motd:shared", {"type": "string"})
    assert (await client.request("subscribe", channel="__keyspace@0__:motd:shared"))["ok"] is True
    assert (await client.request("unsubscribe", channel="__keyspace@0__:motd:shared"))["ok"] is True
    await redis.set("motd:shared", "still watched")
    assert await _push(client) == {"watch": watch["watch"], "key": "motd:shared", "value": "still watched"}
    channel = "__keyspace@0__:motd:shared"
    assert await redis.pubsub_numsub(channel) == [(channel.encode(), 1)]  # one upstream subscription
    assert (await client.request("unwatch", watch=watch["watch"]))["ok"] is True
    assert await redis.pubsub_numsub(channel) == [(channel.encode(), 0)]  # released with the last view
    await redis.aclose()
    await client.close()


async def test_forbidden_keys_limits_and_cleanup_on_close(secured_serve: ServerProcess):
    port = secured_serve.port
    client = await connect(port, issue_token(SECRET, "alice", subscribe=["board:*", "chat:*"]))
    reply = await client.request("watch", key="secret:board", view=TOP3)
    assert reply["error"] == {"code": "forbidden", "message": "not allowed to watch key 'secret:board'"}
    await _watch(client, "board:a", TOP3)
    await _watch(client, "board:a", {"type": "hash"})
    assert (await client.request("subscribe", channel="chat:x"))["ok"] is True
    # watches count toward --max-subscriptions 3, both ways
    reply = await client.request("watch", key="board:b", view=TOP3)
    assert reply["error"]["code"] == "limit_exceeded"
    assert (await client.request("unsubscribe", channel="chat:x"))["ok"] is True
    await _watch(client, "board:b", TOP3)
    reply = await client.request("subscribe", channel="chat:x")
    assert reply["error"]["code"] == "limit_exceeded"
    metrics = await _metrics(port)
    assert (metrics["fanout_watches"], metrics["fanout_views"]) == (3, 3)
    await client.close()
    await _until_metric(port, "fanout_watches", 0)
    assert (await _metrics(port))["fanout_views"] == 0


async def test_notify_keyspace_events_gains_flags_and_keeps_existing_ones(backplane: Backplane):
    server = backplane.serve()
    try:
        redis = aioredis.Redis(port=server.extra_ports["resp"], decode_responses=True)
        await redis.config_set("notify-keyspace-events", "Et")
        client = await connect(server.port)
        await _watch(client, "board:n", TOP3)
        flags = (await redis.config_get("notify-keyspace-events"))["notify-keyspace-events"]
        assert set(flags) >= set("EtKg$lhzxe"), flags
        await redis.aclose()
        await client.close()
    finally:
        server.stop()


async def test_rapid_updates_are_coalesced_and_computed_once_per_push(fanout_serve: ServerProcess):
    port = fanout_serve.port
    redis = aioredis.Redis(port=fanout_serve.extra_ports["resp"])
    await redis.zadd("board:rapid", {"seed": 0})
    watchers = [await connect(port) for _ in range(20)]
    for client in watchers:
        await _watch(client, "board:rapid", {"type": "zset_top", "n": 1})
    before = await _metrics(port)
    started = time.monotonic()
    async with redis.pipeline(transaction=False) as pipe:
        for batch in range(40):  # 1,000 updates over about half a second: 40 bursts of 25
            for _ in range(25):
                pipe.zincrby("board:rapid", 1, "hot")
            await pipe.execute()
            await asyncio.sleep(12 * MS)  # the stimulus: updates spread over time (pacing, not a wait)
    final = [{"member": "hot", "score": 1000}]
    counts = []
    for client in watchers:
        count = 1
        while (await _push(client))["value"] != final:
            count += 1
        counts.append(count)
    elapsed = time.monotonic() - started
    after = await _metrics(port)
    computations = after["fanout_view_computations_total"] - before["fanout_view_computations_total"]
    pushes = after["fanout_view_pushes_total"] - before["fanout_view_pushes_total"]
    bound = elapsed / 0.05 + 2  # the default --watch-interval: 50 ms
    assert all(count <= bound for count in counts), (counts, elapsed)
    assert 2 <= max(counts) <= pushes <= bound
    # once per push for all 20 watchers, not once per watcher or per update
    assert computations <= pushes + 1, (computations, pushes)
    assert computations < 1000 and computations * 20 > pushes
    await redis.aclose()
    for client in watchers:
        await client.close()


def _read_frame(sock: socket.socket) -> dict[str, Any]:
    length = recv_exactly(sock, 2)[1] & 0x7F
    if length == 126:
        length = int.from_bytes(recv_exactly(sock, 2), "big")
    elif length == 127:
        length = int.from_bytes(recv_exactly(sock, 8), "big")
    return orjson.loads(recv_exactly(sock, length))


async def test_a_watcher_that_fell_behind_gets_the_latest_value_when_it_catches_up(backplane: Backplane):
    server = backplane.serve("--max-buffer", "65536", "--slow-close-after", "60", "--watch-interval", "0.005")
    redis = aioredis.Redis(port=server.extra_ports["resp"])
    await redis.hset("big", mapping={"pad": "x" * 50_000, "n": "0"})
    sock = raw_websocket(server.port, {"op": "watch", "id": 1, "key": "big", "view": {"type": "hash"}})
    try:
        sock.settimeout(10)
        assert (await asyncio.to_thread(_read_frame, sock))["value"]["n"] == "0"  # the reply
        # the watcher stops reading: pushes fill the socket, then its budget, then are skipped
        deadline = time.monotonic() + 30
        step = 0
        while (await _metrics(server.port)).get("fanout_messages_dropped_total", 0) < 3:
            assert time.monotonic() < deadline, "no push was ever skipped"
            step += 1
            await redis.hset("big", "n", str(step))
            await asyncio.sleep(10 * MS)  # the stimulus: one push per change (--watch-interval 5 ms)
        await redis.hset("big", "n", "final")
        await _until_metric(server.port, "fanout_view_pushes_total", step + 1)
        # reading again: the skipped pushes are announced as a gap, then the latest value comes
        frames = []
        while not frames or frames[-1].get("value", {}).get("n") != "final":
            frames.append(await asyncio.to_thread(_read_frame, sock))
        assert any(frame.get("channel") == "__keyspace@0__:big" and frame["gap"]["dropped"] >= 1
                   for frame in frames)
        assert [frame["value"]["n"] for frame in frames if "value" in frame][-1] == "final"
    finally:
        sock.close()
        await redis.aclose()
        server.stop()
