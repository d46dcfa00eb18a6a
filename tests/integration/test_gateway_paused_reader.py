"""A subscriber that stops reading for a while, within its output budget: the
server writes to its socket directly while the transport holds nothing, and what
the socket cannot take waits in the transport. Once it reads again it gets every
event, whole and in order, as a subscriber that never paused did."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import aiohttp
import orjson
import pytest

from tests.support.servers import ServerProcess, free_port, start_fanout
from tests.support.ws import connect, raw_websocket

EVENTS = 400
PAD = "x" * 3000  # 400 events of 3 KB: more than the kernel's buffers hold on either side


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    process = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", "-1",
                           "--max-buffer", str(8 << 20)).capture()
    yield process
    process.stop()
    assert "Traceback" not in process.log()


def _frames(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` unmasked server text frames' payloads, read from a blocking socket."""
    data = bytearray()

    def need(size: int) -> None:
        while len(data) < size:
            chunk = sock.recv(1 << 16)
            assert chunk, f"the server closed the paused subscriber's socket after {len(payloads)} frames"
            data.extend(chunk)

    payloads: list[bytes] = []
    while len(payloads) < count:
        need(2)
        assert data[0] == 0x81, f"frame {len(payloads)} is not a whole text frame: {bytes(data[:2])!r}"
        length, start = data[1] & 0x7F, 2
        if length == 126:
            need(4)
            length, start = int.from_bytes(data[2:4], "big"), 4
        elif length == 127:
            need(10)
            length, start = int.from_bytes(data[2:10], "big"), 10
        need(start + length)
        payloads.append(bytes(data[start:start + length]))
        del data[:start + length]
    return payloads


async def test_a_subscriber_that_paused_reading_gets_every_event_in_order(server):
    paused = raw_websocket(server.port, {"op": "subscribe", "channel": "paused", "id": 1})
    paused.settimeout(30)
    reply = orjson.loads(_frames(paused, 1)[0])  # the subscription is in place
    assert reply.get("ok") is True, reply
    steady = await connect(server.port)
    assert (await steady.request("subscribe", channel="paused"))["ok"] is True
    async with aiohttp.ClientSession() as http:
        for start in range(0, EVENTS, 20):  # batches (within the 64 KiB body limit): many writes
            batch = {"messages": [{"channel": "paused", "data": {"seq": n, "pad": PAD}}
                                  for n in range(start, start + 20)]}
            async with http.post(f"http://127.0.0.1:{server.port}/api/publish", json=batch) as response:
                assert response.status == 200, await response.text()
    for n in range(EVENTS):
        assert (await steady.event(timeout=30))["data"]["seq"] == n
    # Everything was written (or handed to the transport) by now: only then does it read.
    events = [orjson.loads(payload) for payload in await asyncio.to_thread(_frames, paused, EVENTS)]
    assert [event["data"]["seq"] for event in events] == list(range(EVENTS))
    assert all(event["data"]["pad"] == PAD and "gap" not in event for event in events)
    paused.close()
    await steady.close()
