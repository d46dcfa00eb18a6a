"""Slow consumers: skipped with a signalled gap, then cut off; nobody else suffers (issue #3)."""

from __future__ import annotations

import asyncio
import resource
import socket

import orjson
import pytest
import redis.asyncio as aioredis

from tests.support.backplane import EMBEDDED, REDIS, Backplane

# These read one node's /metrics (with --workers, one worker's): one process each.
BACKPLANES = (EMBEDDED, REDIS)
from tests.support.ws import WsClient, connect, raw_websocket

MESSAGE = orjson.dumps({"pad": "x" * 2000})


@pytest.fixture(scope="module", autouse=True)
def _more_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


@pytest.fixture(scope="module")
def small_buffers_serve(backplane: Backplane):
    server = backplane.serve("--max-buffer", "131072", "--slow-close-after", "1")
    yield server
    server.stop()


def never_reading_client(port: int, channel: str) -> socket.socket:
    """A websocket client that subscribes and then never reads (tiny receive buffer)."""
    return raw_websocket(port, {"op": "subscribe", "channel": channel})


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _metric(port: int, name: str) -> float:
    import aiohttp
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


async def _publish_batches(redis: aioredis.Redis, channel: str, fast: list[WsClient], batches: int,
                           per_batch: int) -> None:
    seq = 0
    for _ in range(batches):
        async with redis.pipeline(transaction=False) as pipe:
            for _ in range(per_batch):
                pipe.publish(channel, orjson.dumps({"seq": seq, "pad": "x" * 2000}))
                seq += 1
            await pipe.execute()
        # wait until every fast client has the whole batch before the next one
        for client in fast:
            for _ in range(per_batch):
                event = await client.event(timeout=30)
                assert "gap" not in event, "a fast client must never be skipped"


async def test_client_that_never_reads_is_cut_off_while_others_get_everything(small_buffers_serve):
    port, resp_port = small_buffers_serve.port, small_buffers_serve.extra_ports["resp"]
    fast = await asyncio.gather(*(connect(port) for _ in range(100)))
    await asyncio.gather(*(c.request("subscribe", channel="flood") for c in fast))
    slow = never_reading_client(port, "flood")
    redis = aioredis.Redis(port=resp_port)
    await redis.publish("flood", b"{}")  # the slow subscription is in place once this is delivered...
    for client in fast:
        assert (await client.event())["data"] == {}
    rss_before = _rss_kb(small_buffers_serve.process.pid)
    await _publish_batches(redis, "flood", list(fast), batches=60, per_batch=20)  # 2.4 MB to each client
    # Still over budget after slow-close-after: the next messages close it.
    deadline = asyncio.get_running_loop().time() + 120
    while await _metric(port, 'fanout_disconnects_total{reason="slow_consumer"}') < 1:
        assert asyncio.get_running_loop().time() < deadline, "the slow consumer was never disconnected"
        await _publish_batches(redis, "flood", list(fast), batches=1, per_batch=5)
    assert await _metric(port, "fanout_messages_dropped_total") > 0
    rss_after = _rss_kb(small_buffers_serve.process.pid)
    assert rss_after - rss_before < 100 * 1024, f"server RSS grew by {rss_after - rss_before} KiB"
    # The slow socket was reset by the server.
    slow.settimeout(10)
    with pytest.raises((ConnectionResetError, BrokenPipeError, OSError)):
        while slow.recv(65536):
            pass
        raise ConnectionResetError("closed")
    await redis.aclose()
    await asyncio.gather(*(c.close() for c in fast))


async def test_client_that_falls_behind_and_catches_up_learns_of_the_gap(backplane: Backplane):
    server = backplane.serve("--max-buffer", "65536", "--slow-close-after", "60")
    try:
        import websockets
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/ws", sock=sock, max_queue=1, max_size=None)
        await ws.send(orjson.dumps({"op": "subscribe", "channel": "lag", "id": 1}).decode())
        assert orjson.loads(await ws.recv())["ok"] is True
        redis = aioredis.Redis(port=server.extra_ports["resp"])
        total = 1500
        async with redis.pipeline(transaction=False) as pipe:
            for seq in range(total):
                pipe.publish("lag", orjson.dumps({"seq": seq, "pad": "x" * 2000}))
            await pipe.execute()
        received, gaps = [], []
        while not received or received[-1] != total:
            event = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
            if "gap" in event:
                if not gaps:  # caught up: what comes now fits again
                    await redis.publish("lag", orjson.dumps({"seq": total}))
                gaps.append(event)
            else:
                received.append(event["data"]["seq"])
        dropped = sum(g["gap"]["dropped"] for g in gaps)
        assert gaps and all(g["channel"] == "lag" for g in gaps)
        assert dropped > 0
        assert len(received) + dropped == total + 1  # every message is either received or counted
        assert received == sorted(received)
        await redis.aclose()
        await ws.close()
    finally:
        server.stop()


def _until_closed(sock: socket.socket) -> bool:
    """Read until the peer closes the connection (True), or the socket's timeout (False)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


async def test_dead_connection_is_closed_after_the_ping_timeout(backplane: Backplane):
    server = backplane.serve("--ping-interval", "0.4", resp=False)
    try:
        dead = never_reading_client(server.port, "quiet")  # reads nothing, so never answers a ping
        dead.settimeout(15)
        # The event: the server drops the socket (it reads only the unanswered pings until then).
        assert await asyncio.to_thread(_until_closed, dead), "the dead connection was never closed"
        assert await _metric(server.port, "fanout_connections ") == 0
        assert await _metric(server.port, "fanout_disconnects_total") == 1
        dead.close()
    finally:
        server.stop()


async def test_max_connections_refuses_the_next_upgrade(backplane: Backplane):
    import websockets
    server = backplane.serve("--max-connections", "2", resp=False)
    try:
        first, second = await connect(server.port), await connect(server.port)
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"ws://127.0.0.1:{server.port}/ws")
        assert refused.value.response.status_code == 503
        assert b"too_many_connections" in refused.value.response.body
        assert (await first.request("ping"))["pong"] is True
        await first.close()
        await second.close()
    finally:
        server.stop()
