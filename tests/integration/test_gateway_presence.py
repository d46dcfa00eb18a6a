"""Presence over real sockets: join/leave order, per-user aggregation, queries over
websocket/HTTP/RESP, no ghosts (ping timeout, dead node, restart), storms, errors;
on the embedded broker, a redis-server and a Redis Cluster (issue #7)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from gateway.auth import issue_token
from tests.support.backplane import CLUSTER, EMBEDDED, REDIS, WORKERS, Backplane
from tests.support.servers import ServerProcess, free_port
from tests.support.ws import WsClient, connect, silent_client

SECRET = "presence-secret-of-at-least-32-bytes"
RULES = ("--channel", "chat:*=presence,history:100", "--channel", "ticker:*=")


BACKPLANES = (EMBEDDED, REDIS, CLUSTER, WORKERS)


def _start(backplane: Backplane, *extra: str, http_port: int | None = None,
           resp_port: int | None = None) -> ServerProcess:
    return backplane.serve("--token-secret", SECRET, *RULES, *extra, "--publish-rate", "100000",
                           "--publish-burst", "100000", http_port=http_port, resp_port=resp_port)


@pytest.fixture(scope="module")
def server(backplane: Backplane) -> Iterator[ServerProcess]:
    process = _start(backplane)
    yield process
    process.stop()


def _token(user: str, **claims: Any) -> str:
    claims.setdefault("info", {"name": user.title()})
    claims.setdefault("publish", ["chat:*"])
    return issue_token(SECRET, user, **claims)


async def _client(server: ServerProcess, user: str, **claims: Any) -> WsClient:
    return await connect(server.port, _token(user, **claims))


async def _join(client: WsClient, channel: str, **options: Any) -> dict[str, Any]:
    reply = await client.request("subscribe", channel=channel, **options)
    assert reply["ok"] is True, reply
    return reply


async def _watcher(server: ServerProcess, channel: str) -> WsClient:
    """A connection subscribed with presence events, past its own join."""
    watcher = await _client(server, "watcher")
    await _join(watcher, channel, presence=True)
    assert await watcher.event() == {"channel": channel, "join": {"user": "watcher", "info": {"name": "Watcher"}}}
    return watcher


def _kind(event: dict[str, Any]) -> tuple[str, Any]:
    for kind in ("join", "leave"):
        if kind in event:
            return kind, event[kind].get("conn", event[kind]["user"])
    return "data", event["data"]


async def test_join_and_leave_per_user_in_order_with_messages(server, backplane):
    channel = "chat:order"
    watcher = await _client(server, "watcher")
    await _join(watcher, channel, presence=True)
    per_conn = await _client(server, "auditor")
    await _join(per_conn, channel, presence="connections")
    # the watchers themselves joined: each sees the other's join (and per_conn its own)
    assert _kind(await watcher.event()) == ("join", "watcher")
    assert _kind(await watcher.event()) == ("join", "auditor")
    alice_tabs = [await _client(server, "alice") for _ in range(3)]
    for tab in alice_tabs:
        await _join(tab, channel)
    await alice_tabs[0].request("publish", channel=channel, data="hello")
    bob = await _client(server, "bob")
    await _join(bob, channel)
    await alice_tabs[0].close()
    await alice_tabs[1].request("publish", channel=channel, data="still here")
    await alice_tabs[1].close()
    await alice_tabs[2].close()  # alice's last tab: now she leaves
    seen = [_kind(await watcher.event()) for _ in range(5)]
    assert seen == [("join", "alice"), ("data", "hello"), ("join", "bob"), ("data", "still here"),
                    ("leave", "alice")]
    await bob.request("publish", channel=channel, data="bye alice")
    assert _kind(await watcher.event()) == ("data", "bye alice")
    events = [await per_conn.event() for _ in range(11)]
    kinds = [(kind, event[kind]["user"]) for event in events for kind in ("join", "leave") if kind in event]
    assert kinds == [("join", "auditor"), ("join", "alice"), ("join", "alice"), ("join", "alice"),
                     ("join", "bob"), ("leave", "alice"), ("leave", "alice"), ("leave", "alice")]
    joined = [event["join"]["conn"] for event in events if "join" in event]
    left = [event["leave"]["conn"] for event in events if "leave" in event]
    assert len(set(joined)) == 5
    if backplane.kind in (CLUSTER, WORKERS):
        # Each close is cleaned up by its own task; on a cluster their commands take
        # different connections (and nodes), and with --workers the tabs may be on two
        # processes, so leaves of tabs closed a moment apart may swap.
        assert sorted(left) == sorted(joined[1:4])
    else:
        assert left == joined[1:4]  # each alice tab, in the order they closed
    assert all(event[kind]["info"] == {"name": event[kind]["user"].title()}
               for event in events for kind in ("join", "leave") if kind in event)
    for client in (watcher, per_conn, bob):
        await client.close()


async def test_presence_reads_agree_over_websocket_http_and_resp(server, backplane):
    channel = "chat:agree"
    clients = [await _client(server, user) for user in ("ann", "ann", "ben", "cid")]
    for client in clients:
        await _join(client, channel)
    reader = clients[0]
    over_ws = (await reader.request("presence", channel=channel))["users"]
    stats_ws = await reader.request("presence_stats", channel=channel)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}/api/presence/{channel}") as response:
            over_http = (await response.json())["users"]
        async with http.get(f"http://127.0.0.1:{server.port}/api/presence/{channel}/stats") as response:
            stats_http = await response.json()
    redis = backplane.client(server)
    members = await redis.hgetall(f"presence:{{{channel}}}")
    users = await redis.hgetall(f"presence:{{{channel}}}:users")
    await redis.aclose()
    over_resp: dict[str, Any] = {}
    for conn, raw in members.items():
        meta = orjson.loads(raw)
        over_resp.setdefault(meta["user"], {"info": meta["info"], "conns": []})["conns"].append(conn.decode())
    for entry in over_resp.values():
        entry["conns"].sort()
    assert over_ws == over_http == over_resp
    assert sorted(over_ws) == ["ann", "ben", "cid"] and len(over_ws["ann"]["conns"]) == 2
    assert over_ws["ben"]["info"] == {"name": "Ben"}
    assert {key: stats_ws[key] for key in ("users", "connections")} == \
        {key: stats_http[key] for key in ("users", "connections")} == {"users": 3, "connections": 4}
    assert {user.decode(): int(count) for user, count in users.items()} == {"ann": 2, "ben": 1, "cid": 1}
    for client in clients:
        await client.close()


@pytest.fixture
def quick_pings(backplane: Backplane) -> Iterator[ServerProcess]:
    """A server pinging every second (the module's server keeps the default, so
    that a loaded test machine's late pongs cannot cut its many clients)."""
    process = _start(backplane, "--ping-interval", "1")
    yield process
    process.stop()


async def test_a_client_that_vanishes_leaves_when_its_ping_times_out(quick_pings):
    server = quick_pings
    channel = "chat:vanish"
    watcher = await _watcher(server, channel)
    ghost = await silent_client(server.port, _token("ghost"))
    ghost.send({"op": "subscribe", "channel": channel, "id": 1})
    assert await watcher.event() == {"channel": channel, "join": {"user": "ghost", "info": {"name": "Ghost"}}}
    # no close frame, no FIN: only the missing pong can tell
    assert await watcher.event(timeout=10) == {"channel": channel,
                                                "leave": {"user": "ghost", "info": {"name": "Ghost"}}}
    assert (await watcher.request("presence", channel=channel))["users"].keys() == {"watcher"}
    ghost.abort()
    await watcher.close()


async def test_a_dead_node_is_noticed_by_its_expired_heartbeat_and_its_connections_leave(server, backplane):
    channel = "chat:deadnode"
    watcher = await _watcher(server, channel)
    redis = backplane.client(server)
    # What a node that then died had written: its heartbeat, its connection, its presence.
    meta = orjson.dumps({"user": "zed", "info": None, "node": "deadbeef", "conn": "deadbeef-1", "joined_at": 1})
    await redis.hset("conn:deadbeef-1", mapping={"user": "zed", "node": "deadbeef", "connected_at": 1})
    await redis.sadd("conn:deadbeef-1:channels", channel)
    await redis.sadd("node:deadbeef:conns", "deadbeef-1")
    assert await backplane.fanout_join(redis, channel, "deadbeef-1", "zed", meta) == [1, 1]
    await redis.set("node:deadbeef", "1", px=300)
    assert await watcher.event() == {"channel": channel, "join": {"user": "zed", "info": None}}
    assert await watcher.event(timeout=10) == {"channel": channel, "leave": {"user": "zed", "info": None}}
    # The leave is published first; the node's index keys go right after it.
    for _ in range(200):
        if await redis.exists("conn:deadbeef-1", "conn:deadbeef-1:channels", "node:deadbeef:conns") == 0:
            break
        await watcher.request("ping")
    assert await redis.exists("conn:deadbeef-1", "conn:deadbeef-1:channels", "node:deadbeef:conns") == 0
    assert (await watcher.request("presence_stats", channel=channel))["users"] == 1
    await redis.aclose()
    await watcher.close()


async def test_a_connect_and_disconnect_storm_ends_with_exact_counts(server):
    channel = "chat:storm"
    rng = random.Random(3)
    open_clients: dict[int, tuple[str, WsClient]] = {}
    semaphore = asyncio.Semaphore(100)

    async def arrive(n: int) -> None:
        async with semaphore:
            user = f"u{rng.randrange(60)}"
            client = await _client(server, user)
            await _join(client, channel)
            open_clients[n] = (user, client)

    async def depart(n: int) -> None:
        async with semaphore:
            _, client = open_clients.pop(n)
            if n % 2:
                await client.close()
            else:
                client.ws.transport.abort()  # no close frame, just a dropped TCP connection
                client.reader.cancel()

    await asyncio.gather(*(arrive(n) for n in range(600)))
    leaving = rng.sample(sorted(open_clients), 400)
    await asyncio.gather(*(depart(n) for n in leaving), *(arrive(n) for n in range(600, 800)))
    expected = {"users": len({user for user, _ in open_clients.values()}), "connections": len(open_clients)}
    probe = next(iter(open_clients.values()))[1]
    for _ in range(200):  # the server removes closed connections as it notices them
        stats = await probe.request("presence_stats", channel=channel)
        if {key: stats[key] for key in expected} == expected:
            break
        await probe.request("ping")
    assert {key: stats[key] for key in expected} == expected
    present = (await probe.request("presence", channel=channel))["users"]
    assert sum(len(entry["conns"]) for entry in present.values()) == len(open_clients)
    await asyncio.gather(*(client.close() for _, client in open_clients.values()))


async def test_presence_errors_are_clear(server):
    client = await _client(server, "eve", subscribe=["chat:open", "ticker:*"])
    reply = await client.request("subscribe", channel="ticker:btc", presence=True)
    assert reply["error"] == {"code": "not_enabled", "message": "presence is not enabled on channel 'ticker:btc' "
                                                                "(see the server's channel rules)"}
    reply = await client.request("presence", channel="ticker:btc")
    assert reply["error"]["code"] == "not_enabled"
    reply = await client.request("presence", channel="chat:secret")
    assert reply["error"] == {"code": "forbidden",
                              "message": "not allowed to read the presence of channel 'chat:secret'"}
    reply = await client.request("subscribe", channel="chat:open", presence="everyone")
    assert reply["error"] == {"code": "bad_request",
                              "message": "'presence' must be true, false or \"connections\""}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}/api/presence/ticker:btc") as response:
            assert response.status == 404 and (await response.json())["error"]["code"] == "not_enabled"
    assert (await client.request("ping"))["pong"] is True  # the connection stays usable
    await client.close()


async def test_a_restarted_server_starts_with_no_stale_presence(backplane):
    http_port, resp_port = free_port(), free_port()
    # A short heartbeat TTL: on a shared backplane the killed node's presence outlives it until then.
    first = _start(backplane, "--node-ttl", "1", http_port=http_port, resp_port=resp_port)
    client = await connect(http_port, _token("once"))
    await _join(client, "chat:restart")
    assert (await client.request("presence_stats", channel="chat:restart"))["connections"] == 1
    first.stop(9)  # SIGKILL: no cleanup at all
    client.reader.cancel()
    second = _start(backplane, "--node-ttl", "1", http_port=http_port, resp_port=resp_port)
    try:
        probe = await connect(http_port, _token("probe"))
        if backplane.shared:
            # The presence is in Redis, not in the dead process: it goes when the killed node's
            # heartbeat expires (the new node sweeps it at start if it expired before).
            await _join(probe, "chat:restart", presence=True)
            seen = []  # the leave may come before or after the probe's own join
            while ("join", "probe") not in seen:
                seen.append(_kind(await probe.event()))
            if ("leave", "once") not in seen and \
                    "once" in (await probe.request("presence", channel="chat:restart"))["users"]:
                assert _kind(await probe.event(timeout=10)) == ("leave", "once")
            assert (await probe.request("presence", channel="chat:restart"))["users"].keys() == {"probe"}
        else:
            assert (await probe.request("presence", channel="chat:restart"))["users"] == {}
        await probe.close()
    finally:
        second.stop()
