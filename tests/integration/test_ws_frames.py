"""Frames of an open connection, parsed by the gateway (complete masked text and
pong frames) or by the library (everything else, from the first such frame on):
both give what the library alone gave. Real sockets, raw frames.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator

import orjson
import pytest

from tests.support.backplane import EMBEDDED, Backplane
from tests.support.servers import ServerProcess
from tests.support.ws import client_frame, read_close, read_frame, silent_client

BACKPLANES = (EMBEDDED,)
TEXT, CLOSE, PING, PONG = 1, 8, 9, 10


@pytest.fixture(scope="module")
def server(backplane: Backplane) -> Iterator[ServerProcess]:
    process = backplane.serve("--op-rate", "100000", "--op-burst", "100000", "--max-message-size", "1024",
                              resp=False).capture()
    yield process
    process.stop()
    assert "Traceback" not in process.log()


def _ping(request_id: int, pad: str = "") -> bytes:
    message: dict[str, object] = {"op": "ping", "id": request_id}
    if pad:
        message["pad"] = pad
    return client_frame(TEXT, orjson.dumps(message))


async def _replies(reader: asyncio.StreamReader, count: int) -> list[int]:
    ids = []
    while len(ids) < count:
        opcode, payload = await asyncio.wait_for(read_frame(reader), 10)
        assert opcode == TEXT, (opcode, payload)
        ids.append(orjson.loads(payload)["id"])
    return ids


async def test_frames_in_one_write_and_split_across_writes_are_answered_in_order(server):
    client = await silent_client(server.port)
    client.writer.write(b"".join(_ping(i) for i in range(1, 6)))
    assert await _replies(client.reader, 5) == [1, 2, 3, 4, 5]
    frames = _ping(6) + _ping(7, "x" * 300)  # the second has a 16-bit length
    for index in range(len(frames)):  # one byte per write: every frame is partial at first
        client.writer.write(frames[index:index + 1])
        await client.writer.drain()
    client.writer.write(_ping(8))
    assert await _replies(client.reader, 3) == [6, 7, 8]
    client.abort()


async def test_a_16_bit_length_frame_is_answered(server):
    client = await silent_client(server.port)
    client.writer.write(_ping(1, "y" * 500) + _ping(2))
    assert await _replies(client.reader, 2) == [1, 2]
    client.abort()


async def test_a_client_ping_gets_its_pong_and_requests_go_on(server):
    client = await silent_client(server.port)
    client.writer.write(_ping(1) + client_frame(PING, b"are you there") + _ping(2))
    # (the pong is written at once, the replies when the event loop flushes: either may come first)
    frames = [await asyncio.wait_for(read_frame(client.reader), 10) for _ in range(3)]
    assert (PONG, b"are you there") in frames
    assert [orjson.loads(payload)["id"] for opcode, payload in frames if opcode == TEXT] == [1, 2]
    client.writer.write(_ping(3))
    assert await _replies(client.reader, 1) == [3]
    client.abort()


async def test_a_close_frame_is_answered_with_a_close(server):
    client = await silent_client(server.port)
    client.writer.write(_ping(1))
    assert await _replies(client.reader, 1) == [1]
    client.writer.write(client_frame(CLOSE, (1000).to_bytes(2, "big") + b"bye"))
    code, _, texts = await read_close(client.reader)
    assert (code, texts) == (1000, [])
    client.abort()


async def test_a_message_over_the_size_limit_closes_with_1009(server):
    client = await silent_client(server.port)
    client.writer.write(_ping(1))
    assert await _replies(client.reader, 1) == [1]
    client.writer.write(_ping(2, "z" * 2000))
    code, _, texts = await read_close(client.reader)
    assert (code, texts) == (1009, [])
    client.abort()


@pytest.mark.parametrize("frame", [
    b"\x81\x02{}",  # unmasked (RFC 6455 5.1: the server MUST close)
    b"\xc1\x80\x00\x00\x00\x00",  # RSV1 set, no extension negotiated
    b"\x8a\xfe\x00\x7e" + bytes(4) + bytes(126),  # a pong of 126 bytes (control frames have at most 125)
], ids=["unmasked", "rsv1", "long-pong"])
async def test_a_bad_frame_after_good_ones_closes_with_1002(server, frame):
    client = await silent_client(server.port)
    client.writer.write(_ping(1))
    assert await _replies(client.reader, 1) == [1]
    client.writer.write(frame)
    code, _, texts = await read_close(client.reader)
    assert (code, texts) == (1002, [])
    client.abort()


async def test_pongs_keep_a_connection_alive_across_pings(backplane: Backplane):
    server = backplane.serve("--ping-interval", "0.2", resp=False)
    try:
        client = await silent_client(server.port)
        for _ in range(4):  # an unanswered ping closes the connection at the next one
            opcode, payload = await asyncio.wait_for(read_frame(client.reader), 10)
            assert opcode == PING
            client.writer.write(client_frame(PONG, payload))
        client.writer.write(_ping(1))
        opcode, payload = await asyncio.wait_for(read_frame(client.reader), 10)
        while opcode == PING:  # pings may come before the reply
            client.writer.write(client_frame(PONG, payload))
            opcode, payload = await asyncio.wait_for(read_frame(client.reader), 10)
        assert orjson.loads(payload)["id"] == 1
        client.abort()
    finally:
        server.stop()


async def test_a_connection_s_kernel_send_buffer_is_capped_near_the_output_budget(backplane: Backplane):
    # Set on the listening socket and inherited: --max-buffer 64k asks for 32k, which Linux doubles.
    server = backplane.serve("--max-buffer", "65536", resp=False)
    try:
        client = await silent_client(server.port)
        client.writer.write(_ping(1))
        assert await _replies(client.reader, 1) == [1]
        listing = subprocess.run(["ss", "-tmnH", "state", "established", f"( sport = :{server.port} )"],
                                 capture_output=True, text=True, check=True).stdout
        sizes = [int(size) for size in re.findall(r"\btb(\d+)", listing)]
        assert sizes == [65536], listing
        client.abort()
    finally:
        server.stop()
