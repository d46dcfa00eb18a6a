"""Issue 13 item 10: administrator actions the gateway survives.

FLUSHALL took connected members out of presence for good; ``CONFIG SET
notify-keyspace-events ""`` stopped every live view for good; a history meta key
overwritten with junk gave ``internal_error`` with a traceback; FLUSHALL of 1M
keys replied at once and then stalled the event loop for 4 s.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.support.backplane import EMBEDDED, REDIS, Backplane
from tests.support.bystander import Bystander
from tests.support.resp_client import encode_command
from tests.support.servers import MS, ServerProcess, until
from tests.support.ws import WsClient, connect

BACKPLANES = (EMBEDDED, REDIS)
# FLUSHALL of 1M small hashes: the largest bystander gap measured was 79-89 ms
# (10 ms ticks), the largest free() slice 9.5 ms. Here the old synchronous clear
# cost 75-95 ms (the issue saw 4 s on its machine and data). Asserted generously.
FLUSH_MAX_GAP = 750 * MS


@pytest.fixture(scope="module")
def server(backplane: Backplane) -> Iterator[ServerProcess]:
    # --node-ttl 1: the heartbeat (and the checks that ride on it) every ~0.33 s
    process = backplane.serve("--node-ttl", "1", "--channel", "chat:*=presence,history:100").capture()
    yield process
    process.stop()
    assert "Traceback" not in process.log()


async def _stats(server: ServerProcess, channel: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{server.port}/api/presence_stats"
        async with http.get(url, params={"channel": channel}) as response:
            return dict(await response.json())


async def test_members_are_back_in_presence_after_flushall(server, backplane):
    client = await connect(server.port)
    assert (await client.request("subscribe", channel="chat:flush"))["ok"] is True
    assert (await _stats(server, "chat:flush"))["connections"] == 1
    redis = backplane.client(server)
    since = len(server.output)
    await redis.flushall()
    assert (await _stats(server, "chat:flush"))["connections"] == 0

    async def back() -> bool:
        return (await _stats(server, "chat:flush"))["connections"] == 1

    # the next heartbeat (every ~0.33 s) notices, logs, then puts the member back
    await server.logged("heartbeat key was gone", since=since)
    await until(back, "the member did not come back after FLUSHALL", timeout=10)
    await redis.aclose()
    await client.close()


async def test_notification_flags_are_restored_and_views_follow_again(server, backplane):
    redis = backplane.client(server)
    await redis.hset("stats:admin", mapping={"cpu": "1"})
    client = await connect(server.port)
    watch = await client.request("watch", key="stats:admin", view={"type": "hash"})
    assert watch["value"] == {"cpu": "1"}
    since = len(server.output)
    await redis.config_set("notify-keyspace-events", "")

    async def restored() -> bool:
        flags = (await redis.config_get("notify-keyspace-events"))["notify-keyspace-events"]
        return all(letter in flags.replace("A", "g$lshzxetd") for letter in "KEgxh")

    # the next heartbeat's checks log the restore (the views' flags may follow in a second step)
    await server.logged("notify-keyspace-events lost flags the gateway needs: restored", since=since)
    await until(restored, "notify-keyspace-events was not restored", timeout=10)
    # The view follows its key again (a change made while the flags were off is read
    # when they are restored: the view is pushed, or the next change is).
    await redis.hset("stats:admin", "cpu", "2")
    while (push := await asyncio.wait_for(client.loose.get(), 10))["value"] != {"cpu": "2"}:
        assert push["watch"] == watch["watch"]
    await redis.aclose()
    await client.close()


async def test_a_junk_history_offset_is_a_broker_error(server, backplane):
    redis = backplane.client(server)
    await redis.hset("history:{chat:junk}:meta", mapping={"offset": "banana", "epoch": "e1"})
    client = await connect(server.port)
    reply = await client.request("history", channel="chat:junk")
    assert reply["error"]["code"] == "broker_error" and "corrupt offset" in reply["error"]["message"]
    reply = await client.request("subscribe", channel="chat:junk")
    assert reply["error"]["code"] == "broker_error"
    reply = await client.request("publish", channel="chat:junk", data=1)
    assert reply["error"]["code"] == "broker_error"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}/api/history/chat:junk") as response:
            assert response.status == 500 and (await response.json())["error"]["code"] == "broker_error"
    assert "Traceback" not in server.log()
    await redis.aclose()
    await client.close()


def _load_keys(port: int, count: int) -> None:
    """``count`` small hashes (a dict each, as realtime state is) over one pipelined connection."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        batch = 1000
        for start in range(0, count, batch):
            sock.sendall(b"".join(encode_command("HSET", b"k%d" % i, "f", "v") for i in range(start, start + batch)))
        expected = b":1\r\n" * count
        received = b""
        while len(received) < len(expected):
            received += sock.recv(1 << 20)
        assert received == expected


@pytest.mark.backplanes(EMBEDDED)
async def test_flushall_of_a_million_keys_does_not_stall_the_loop(server, backplane):
    port = server.extra_ports["resp"]
    await asyncio.to_thread(_load_keys, port, 1_000_000)
    redis = backplane.client(server)
    assert await redis.dbsize() >= 1_000_000
    bystander = await Bystander.start(server.port, port)
    await bystander.ticks(30)  # some ticks before, for the gaps to mean something
    assert await redis.flushall() is True
    assert await redis.dbsize() < 10  # (the gateway may have put its heartbeat back)

    async def freed() -> bool:
        return (await redis.info("memory"))["lazyfree_pending_objects"] == 0

    await until(freed, "FLUSHALL's keys were not freed", timeout=60)
    delays = await bystander.stop()
    print(f"FLUSHALL of 1M keys: {delays}")
    assert delays.max_gap < FLUSH_MAX_GAP, str(delays)
    await redis.aclose()
