"""Issue 13 item 2: one websocket connection cannot starve the others.

Each attack of the issue, at its size, runs while a bystander (a websocket that
follows a channel and a RESP client publishing a tick on it every 10 ms) measures
its delays: the flooder gets a precise error or close code, the bystander's p99
delivery gap stays under BYSTANDER_P99 (stated in README "Limits and abuse").
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import orjson
import pytest

from tests.support.backplane import EMBEDDED, Backplane
from tests.support.bystander import Bystander
from tests.support.servers import MS, ServerProcess
from tests.support.ws import client_frame, connect, read_close, read_frame, silent_client

BACKPLANES = (EMBEDDED,)
# Measured on the shared 2-core machine: p99 gaps of 15-40 ms during these attacks
# (10 ms tick; they were 5-36 s before). Asserted generously: the machine is shared.
BYSTANDER_P99 = 400 * MS


@pytest.fixture(scope="module")
def server(backplane: Backplane) -> Iterator[ServerProcess]:
    process = backplane.serve("--channel", "chat:*=presence").capture()
    yield process
    process.stop()
    assert "Traceback" not in process.log()


async def _attack(server: ServerProcess, frames: bytes, first: bytes = b"") -> tuple[int, str, list[bytes]]:
    """Send ``first`` then ``frames`` from one connection while reading what it gets;
    its close (code, reason, texts before it)."""
    flooder = await silent_client(server.port)
    flooder.writer.write(first)

    async def write() -> None:
        view = memoryview(frames)
        try:
            for start in range(0, len(frames), 64 * 1024):
                flooder.writer.write(view[start:start + 64 * 1024])
                await flooder.writer.drain()
        except ConnectionError:
            pass  # closed by the server mid-flood: what the test expects

    writer = asyncio.ensure_future(write())
    try:
        return await read_close(flooder.reader, timeout=60)
    finally:
        writer.cancel()
        flooder.abort()


async def test_six_megabytes_of_empty_continuation_frames(server):
    # The flooder is closed after 1,024 frames (6 KB); the rest it sends is discarded
    # 16 KiB per loop iteration at most, so the bystander's measure is short here.
    bystander = await Bystander.start(server.port, server.extra_ports["resp"])
    empty = client_frame(0, b"", fin=False)
    code, reason, _ = await _attack(server, empty * (6 * 1024 * 1024 // len(empty)),
                                    first=client_frame(1, b'{"op":', fin=False))
    delays = await bystander.stop()
    print(f"empty continuations: {delays}")
    assert (code, reason) == (1009, "more than 1024 frames in one message")
    assert delays.received == delays.sent and delays.p99_gap < BYSTANDER_P99, str(delays)
    assert delays.p99_round_trip < BYSTANDER_P99, str(delays)


async def test_a_fragmented_message_within_the_frame_limit_is_one_message(server):
    client = await silent_client(server.port)
    text = orjson.dumps({"op": "ping", "id": 5})
    frames = client_frame(1, text[:1], fin=False) + client_frame(0, b"", fin=False) * 1000
    client.writer.write(frames + client_frame(0, text[1:], fin=True))
    opcode, payload = await asyncio.wait_for(read_frame(client.reader), 10)
    assert (opcode, orjson.loads(payload)) == (1, {"id": 5, "ok": True, "pong": True})
    client.abort()


async def test_a_flood_of_pings_is_rate_limited_then_closed(server):
    bystander = await Bystander.start(server.port, server.extra_ports["resp"])
    ping = client_frame(1, b'{"op":"ping"}')
    code, reason, texts = await _attack(server, ping * (int(5.7 * 1024 * 1024) // len(ping)))
    delays = await bystander.stop()
    print(f"ping flood: {delays}")
    replies = [orjson.loads(text) for text in texts]
    # The burst (1,000) is answered, then as many refusals, then the close.
    assert 1000 <= sum(1 for r in replies if r.get("pong")) <= 1100
    refused = [r for r in replies if "error" in r]
    assert len(refused) >= 900 and {r["error"]["code"] for r in refused} == {"rate_limited"}
    assert (code, reason) == (1008, "request rate limit of 200/s exceeded")
    assert delays.received == delays.sent and delays.p99_gap < BYSTANDER_P99, str(delays)
    assert delays.p99_round_trip < BYSTANDER_P99, str(delays)


@pytest.fixture(scope="module")
def unlimited(backplane: Backplane) -> Iterator[ServerProcess]:
    """No request rate limit: what bounds a flood is the work per loop iteration."""
    process = backplane.serve("--op-rate", "1000000", "--op-burst", "1000000").capture()
    yield process
    process.stop()
    assert "Traceback" not in process.log()


async def test_without_a_rate_limit_a_flood_is_served_in_slices(unlimited):
    bystander = await Bystander.start(unlimited.port, unlimited.extra_ports["resp"])
    flooder = await silent_client(unlimited.port)
    count = 50_000  # ~1 MB of pings, each answered
    flooder.writer.write(client_frame(1, b'{"op":"ping"}') * count)
    for _ in range(count):
        opcode, payload = await asyncio.wait_for(read_frame(flooder.reader), 60)
        assert opcode == 1 and payload == b'{"ok":true,"pong":true}'
    delays = await bystander.stop()
    print(f"unlimited ping flood: {delays}")
    assert delays.received == delays.sent and delays.p99_gap < BYSTANDER_P99, str(delays)
    assert delays.p99_round_trip < BYSTANDER_P99, str(delays)
    flooder.abort()


async def test_presence_toggles_are_rate_limited(server):
    watcher = await connect(server.port)
    assert (await watcher.request("subscribe", channel="chat:toggle", presence=True))["ok"] is True
    bystander = await Bystander.start(server.port, server.extra_ports["resp"])
    toggles = b"".join(client_frame(1, orjson.dumps({"op": op, "channel": "chat:toggle"}))
                       for _ in range(5000) for op in ("subscribe", "unsubscribe"))
    code, reason, texts = await _attack(server, toggles)
    delays = await bystander.stop()
    print(f"presence toggles: {delays}")
    assert (code, reason) == (1008, "request rate limit of 200/s exceeded")
    accepted = sum(1 for text in texts if orjson.loads(text).get("ok"))
    assert 1000 <= accepted <= 1100  # the burst, and what refilled meanwhile
    # The watcher saw one join or leave per accepted toggle (plus the last leave), not 10,000.
    # (Replies queued when the 1008 close came are discarded, so ``accepted`` can count
    # a few less than the server took: the bound is what the rate limit lets in.)
    events = 0
    while True:
        try:
            event = await watcher.event(timeout=2)
        except TimeoutError:
            break
        if event.get("join") or event.get("leave"):
            events += 1
    assert events <= 1100 + 1
    assert delays.received == delays.sent and delays.p99_gap < BYSTANDER_P99, str(delays)
    assert delays.p99_round_trip < BYSTANDER_P99, str(delays)
    await watcher.close()
