"""``fanout serve --workers 2``: one HTTP port, two gateway processes, one broker."""

from __future__ import annotations

import os
import select
import signal
from collections.abc import Iterator

import orjson
import pytest
import redis.asyncio as aioredis
import websockets

from tests.support.servers import ServerProcess, _read_until, free_port, start_fanout
from tests.support.ws import WsClient, connect


def _children(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        children.append(int(entry))
            except OSError:
                continue
    return children


@pytest.fixture
def workers() -> Iterator[ServerProcess]:
    resp_port = free_port()
    server = start_fanout("serve", "--workers", "2", "--http-port", str(free_port()), "--resp-port", str(resp_port),
                          "--node-ttl", "1", "--publish-rate", "100000", "--publish-burst", "100000")
    server.extra_ports["resp"] = resp_port
    yield server
    server.stop()


async def _clients(port: int, count: int, channel: str) -> list[WsClient]:
    clients = [await connect(port) for _ in range(count)]
    for client in clients:
        assert (await client.request("subscribe", channel=channel))["ok"] is True
    return clients


async def test_connections_spread_over_workers_and_see_each_other(workers):
    channel = "chat:spread"
    clients = await _clients(workers.port, 24, channel)
    redis = aioredis.Redis(port=workers.extra_ports["resp"])
    nodes = {orjson.loads(meta)["node"] for meta in (await redis.hgetall(f"presence:{{{channel}}}")).values()}
    assert len(nodes) == 2  # both workers hold connections (all 24 on one: odds 2**-23)
    reply = await clients[0].request("publish", channel=channel, data="to all")
    for client in clients:  # every client gets it, whichever worker it is on
        event = await client.event()
        assert (event["data"], event["offset"]) == ("to all", reply["offset"])
    assert await redis.publish("news", "x") == 0  # nothing subscribed: backend services see one broker
    stats = await clients[5].request("presence_stats", channel=channel)
    assert (stats["users"], stats["connections"]) == (24, 24)
    await redis.aclose()
    for client in clients:
        await client.close()


async def test_a_killed_worker_is_restarted_and_its_connections_leave(workers):
    channel = "chat:crash"
    clients = [await connect(workers.port) for _ in range(12)]
    for client in clients:
        assert (await client.request("subscribe", channel=channel, presence="connections"))["ok"] is True
    pids = _children(workers.process.pid)
    assert len(pids) == 2
    os.kill(pids[0], signal.SIGKILL)
    victims = []
    for client in clients:
        try:
            await client.request("ping", timeout=10)
        except (TimeoutError, websockets.ConnectionClosed):
            victims.append(client)
    survivors = [client for client in clients if client not in victims]
    assert victims and survivors  # 12 connections all on one worker: odds 2**-11
    # A survivor sees one leave per connection of the dead worker once its heartbeat lapses.
    witness = survivors[0]
    leaves = []
    while len(leaves) < len(victims):
        event = await witness.event(timeout=15)
        if "leave" in event:
            leaves.append(event["leave"]["conn"])
    assert len(set(leaves)) == len(victims)
    redis = aioredis.Redis(port=workers.extra_ports["resp"])
    assert await redis.hlen(f"presence:{{{channel}}}") == len(survivors)
    await redis.aclose()
    # The supervisor started a new worker: both serve again.
    _read_until(workers.process.stdout, r"worker \d exited with -9; restarting it", workers.process, "fanout")
    _read_until(workers.process.stdout, r"\[worker \d\] fanout serve: HTTP on", workers.process, "fanout")
    fresh = await _clients(workers.port, 12, "chat:after")
    redis = aioredis.Redis(port=workers.extra_ports["resp"])
    nodes = {orjson.loads(meta)["node"] for meta in (await redis.hgetall("presence:{chat:after}")).values()}
    await redis.aclose()
    assert len(nodes) == 2
    for client in (*survivors, *fresh):
        await client.close()


def test_sigterm_stops_workers_and_broker_cleanly(workers):
    children = _children(workers.process.pid)
    assert workers.stop(signal.SIGTERM) == 0
    assert all(not os.path.exists(f"/proc/{pid}") for pid in children)


def test_workers_do_not_outlive_a_killed_supervisor(workers):
    children = _children(workers.process.pid)
    assert len(children) == 2
    workers.stop(signal.SIGKILL)
    for pid in children:  # they get SIGTERM from the kernel (PR_SET_PDEATHSIG) and shut down
        try:
            handle = os.pidfd_open(pid)  # readable once the process has exited
        except ProcessLookupError:
            continue
        try:
            # a bound, not a wait: its --shutdown-timeout (5 s) and a margin for a loaded machine
            readable, _, _ = select.select([handle], [], [], 30)
        finally:
            os.close(handle)
        assert readable, f"worker {pid} outlived its supervisor"
