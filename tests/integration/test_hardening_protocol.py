"""Issue 13 item 11: protocol correctness and quiet logs.

Invalid UTF-8 closes with 1007, a fragmented binary message is refused like a
binary one, a bare-LF HTTP request is answered, offsets past 2^63 are a
``bad_request``, presence of a channel named ``x/stats`` is readable, a malformed
HTTP request logs one short line, and a requirepass brute force is slowed and
counted in INFO (``acl_access_denied_auth``, Redis 7.2's name).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import aiohttp
import orjson
import pytest

from tests.support.backplane import EMBEDDED, Backplane
from tests.support.resp_client import RespClient, RespError, encode_command
from tests.support.servers import ServerProcess
from tests.support.ws import client_frame, connect, read_close, read_frame, silent_client

BACKPLANES = (EMBEDDED,)
PASSWORD = "s3cret"


@pytest.fixture(scope="module")
def server(backplane: Backplane) -> Iterator[ServerProcess]:
    process = backplane.serve("--requirepass", PASSWORD, "--channel", "x*=presence,history:10",
                              "--op-rate", "100000", "--op-burst", "100000").capture()
    yield process
    process.stop()
    assert "Traceback" not in process.log()


def _raw_http(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)  # not half-closed: aiohttp drops a connection at EOF
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_invalid_utf8_in_a_text_frame_closes_with_1007(server):
    client = await silent_client(server.port)
    client.writer.write(client_frame(1, b'{"op":"ping","x":"\xff\xfe"}'))
    code, reason, texts = await read_close(client.reader)
    assert (code, reason, texts) == (1007, "invalid UTF-8 in a text frame", [])
    client.abort()


async def test_invalid_utf8_split_across_fragments_closes_with_1007(server):
    client = await silent_client(server.port)
    euro = "€".encode()
    client.writer.write(client_frame(1, b'{"op":"ping","x":"' + euro[:1], fin=False) + client_frame(0, euro[1:2] + b'"}'))
    code, _, _ = await read_close(client.reader)
    assert code == 1007
    client.abort()
    # ... while a character split across two fragments is fine
    client = await silent_client(server.port)
    client.writer.write(client_frame(1, b'{"op":"ping","id":1,"x":"' + euro[:1], fin=False)
                        + client_frame(0, euro[1:] + b'"}'))
    assert orjson.loads((await asyncio.wait_for(read_frame(client.reader), 10))[1]) == {"id": 1, "ok": True,
                                                                                         "pong": True}
    client.abort()


async def test_a_fragmented_binary_message_is_refused_like_a_binary_one(server):
    client = await silent_client(server.port)
    for frames in (client_frame(2, b'{"op":"ping"}'),
                   client_frame(2, b'{"op":', fin=False) + client_frame(0, b'"ping"}')):
        client.writer.write(frames)
        opcode, payload = await asyncio.wait_for(read_frame(client.reader), 10)
        assert opcode == 1 and orjson.loads(payload) == {"error": {
            "code": "bad_request", "message": "binary frames are not supported: send JSON text frames"}}
    client.abort()


async def test_a_bare_lf_http_request_gets_an_answer(server):
    reply = await asyncio.to_thread(_raw_http, server.port, b"GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n")
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert body["ok"] is True and body["connections"] == 0, body


@pytest.mark.parametrize("since", ["9223372036854775807", "9223372036854775808", "18446744073709551616",
                                   "-1", "banana"])
async def test_offsets_out_of_range_are_bad_requests(server, since):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}/api/history/x1?since={since}") as response:
            assert response.status == 400 and (await response.json())["error"]["code"] == "bad_request"
    if since.lstrip("-").isdigit():  # as JSON numbers on the websocket (orjson reads up to 2^64 - 1)
        client = await silent_client(server.port)
        for request in (b'{"op":"history","channel":"x1","since":%s}',
                        b'{"op":"subscribe","channel":"x1","recover":{"offset":%s,"epoch":"e"}}'):
            client.writer.write(client_frame(1, request % since.encode()))
            reply = orjson.loads((await asyncio.wait_for(read_frame(client.reader), 10))[1])
            assert reply["error"]["code"] == "bad_request", reply
        client.abort()


async def test_the_largest_offset_is_valid(server):
    client = await connect(server.port)
    reply = await client.request("history", channel="x1", since=2**63 - 2)
    assert reply["ok"] is True and reply["messages"] == []
    await client.close()


async def test_presence_of_a_channel_named_like_a_stats_route(server):
    client = await connect(server.port)
    assert (await client.request("subscribe", channel="x/stats"))["ok"] is True
    base = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/api/presence", params={"channel": "x/stats"}) as response:
            body = await response.json()
            assert body["channel"] == "x/stats" and len(body["users"]) == 1
        async with http.get(base + "/api/presence_stats", params={"channel": "x/stats"}) as response:
            assert await response.json() == {"channel": "x/stats", "users": 1, "connections": 1}
        async with http.get(base + "/api/presence/x/stats") as response:  # the old route: stats of "x"
            assert await response.json() == {"channel": "x", "users": 0, "connections": 0}
        async with http.get(base + "/api/presence") as response:
            assert response.status == 400 and "'channel'" in (await response.json())["error"]["message"]
    await client.close()


async def test_each_malformed_http_request_logs_at_most_one_short_line(server):
    bad = [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", b"GET /\x00 HTTP/1.1\r\n\r\n",
           b"GET / HTTP/9.9\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a\r\nHost b\r\n\r\n"]
    before = len(server.output)
    for request in bad:
        reply = await asyncio.to_thread(_raw_http, server.port, request)
        assert reply.startswith(b"HTTP/1.") and b" 400 " in reply.split(b"\r\n", 1)[0], reply[:80]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}/healthz") as response:
            assert response.status == 200
    # Each request is answered before it is logged, one after the other: the line of a
    # last one (logged for sure) comes after all of theirs, and ends their batch.
    await asyncio.to_thread(_raw_http, server.port, b"GET /end-of-batch HTTP/9.8\r\n\r\n")
    end = server.output.index((await server.logged("/end-of-batch HTTP/9.8", since=before))[0], before)
    lines = server.output[before:end]
    assert lines, "none of the bad requests was logged"
    assert len(lines) <= len(bad) and all(len(line) <= 240 for line in lines), lines
    assert not any("Traceback" in line for line in lines)


async def test_a_requirepass_brute_force_is_slowed_and_counted(server):
    port = server.extra_ports["resp"]
    attempts = 6
    with RespClient(port) as client:
        started = time.monotonic()
        client.send_raw(b"".join(encode_command("AUTH", f"guess{i}") for i in range(attempts))
                        + encode_command("AUTH", PASSWORD) + encode_command("PING"))
        replies = [client.read() for _ in range(attempts + 2)]
        elapsed = time.monotonic() - started
    assert all(isinstance(r, RespError) and r.message.startswith("WRONGPASS") for r in replies[:attempts])
    assert replies[attempts:] == [b"OK", b"PONG"]
    # The n-th failure delays the next request by n x 50 ms: at least 50 x (1 + ... + 6) ms.
    assert elapsed >= 0.05 * sum(range(1, attempts + 1))
    with RespClient(port) as client:
        assert client.call("AUTH", PASSWORD) == b"OK"
        info = client.call("INFO", "stats")
    assert f"acl_access_denied_auth:{attempts}" in (info.decode() if isinstance(info, bytes) else info)
