"""Issue 13 items 5 and 9: the HTTP port's timeouts and limits, and no cross-site publishing.

2,000 half-sent requests were held for ever and, at the descriptor limit, locked
out new HTTP and RESP clients of the process; ``Content-Length: 2^40`` and a
chunked body that never ends got no answer. In open mode any web page could make
its visitor's browser publish with a ``text/plain`` or form POST.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections.abc import Iterator

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.support.backplane import EMBEDDED, Backplane
from tests.support.servers import MS, ServerProcess, until
from tests.support.ws import connect

BACKPLANES = (EMBEDDED,)
HEADER_TIMEOUT = 1000 * MS
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(backplane: Backplane) -> Iterator[ServerProcess]:
    process = backplane.serve("--http-header-timeout", f"{HEADER_TIMEOUT:g}", "--http-body-timeout",
                              f"{HEADER_TIMEOUT:g}", "--max-pending-requests", "1024").capture()
    yield process
    process.stop()
    assert "Traceback" not in process.log()


async def _half_sent(port: int, count: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    connections = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        connections.append((reader, writer))
    return connections


async def _status(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """The status line of the answer (b"" if closed without one)."""
    try:
        return (await asyncio.wait_for(reader.readline(), timeout)).rstrip()
    except ConnectionError:
        return b""


async def _healthz(port: int) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=10)) as r:
            return r.status


async def test_two_thousand_half_sent_requests_are_answered_and_let_go(server):
    started = time.monotonic()
    connections = await _half_sent(server.port, 2000)
    # While they wait: a new client is served (the longest waiting one makes room) ...
    assert await _healthz(server.port) == 200
    resp = aioredis.Redis(port=server.extra_ports["resp"])
    assert await resp.ping() is True
    await resp.aclose()
    # ... and every half-sent request gets a 408 and its connection is closed.
    statuses = await asyncio.gather(*(_status(reader, 30) for reader, _ in connections))
    elapsed = time.monotonic() - started
    assert set(statuses) == {b"HTTP/1.1 408 Request Timeout"}, set(statuses)
    for reader, writer in connections:
        await asyncio.wait_for(reader.read(), 10)  # the rest of the answer, then EOF
        writer.close()
    print(f"2,000 half-sent requests all answered 408 within {elapsed:.2f}s (header timeout {HEADER_TIMEOUT:g}s)")


async def test_a_huge_content_length_is_refused_from_the_header(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1099511627776\r\n\r\n")
    # Answered at once, not after the body timeout (the body is never read).
    # (the reason phrase is Python's: "Request Entity Too Large", from 3.13 on RFC 9110's "Content Too Large")
    assert await _status(reader, HEADER_TIMEOUT / 2) in (b"HTTP/1.1 413 Request Entity Too Large",
                                                         b"HTTP/1.1 413 Content Too Large")
    assert b'"code":"too_large"' in await _body(reader)
    writer.close()


async def _body(reader: asyncio.StreamReader) -> bytes:
    """The rest of an answer after its status line (by its Content-Length)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    return await asyncio.wait_for(reader.readexactly(length), 10)


@pytest.mark.parametrize("body", [b"5\r\nhello\r\n", b"", b'{"channel":"a","data":1'])
async def test_a_body_that_never_ends_is_answered_408(server, body):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = b"Transfer-Encoding: chunked" if body.endswith(b"\r\n") or not body else b"Content-Length: 100"
    writer.write(b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + head
                 + b"\r\n\r\n" + body)
    assert await _status(reader, 10) == b"HTTP/1.1 408 Request Timeout"
    assert b'"code":"timeout"' in await _body(reader)
    writer.close()


# ------------------------------------------------------------ descriptor limit

@pytest.fixture()
def limited(backplane: Backplane) -> Iterator[ServerProcess]:
    """A server whose descriptor limit is 1,024, with no pending-request cap and a
    long header timeout, so only the descriptor budget stands between a flood and EMFILE."""
    process = backplane.serve("--http-header-timeout", "60", "--max-pending-requests", "100000").capture()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.prlimit(process.process.pid, resource.RLIMIT_NOFILE, (1024, hard))
    yield process
    process.stop()
    assert "Traceback" not in process.log()


async def test_resp_stays_reachable_when_http_holds_the_descriptors(limited):
    connections = await _half_sent(limited.port, 2000)
    # The ones past the HTTP port's share were answered 503 and closed (the close
    # may reset the connection first: the request it did not read is discarded).
    async def answer(reader: asyncio.StreamReader) -> bytes:
        try:
            return await asyncio.wait_for(reader.readline(), 500 * MS)
        except TimeoutError:
            return b""  # held: within the port's share, waiting for its head
        except ConnectionResetError:
            return b"HTTP/1.1 503 (reset)"

    answers = await asyncio.gather(*(answer(reader) for reader, _ in connections))
    refused = sum(1 for line in answers if line.startswith(b"HTTP/1.1 503"))
    assert 1000 <= refused <= 1600 and refused + answers.count(b"") == 2000, refused
    resp = aioredis.Redis(port=limited.extra_ports["resp"])
    assert await resp.ping() is True
    await resp.aclose()
    for _, writer in connections:
        writer.close()
    async def healthy() -> bool:  # once the server has noticed the closes (it says so nowhere)
        return await _healthz(limited.port) == 200

    await until(healthy, "HTTP to come back after the flood closed", timeout=10)


async def test_http_stays_reachable_when_resp_holds_the_descriptors(limited):
    sockets = []
    refused = 0
    for _ in range(2000):
        sock = socket.create_connection(("127.0.0.1", limited.extra_ports["resp"]))
        sock.settimeout(0.001)
        try:
            refused += sock.recv(100) == b"-ERR max number of clients reached\r\n"
        except (TimeoutError, socket.timeout):
            pass
        sockets.append(sock)
    assert await _healthz(limited.port) == 200
    client = await connect(limited.port)
    assert (await client.request("ping"))["pong"] is True
    await client.close()
    for sock in sockets:
        sock.close()
    assert refused >= 900, refused


# ------------------------------------------------------------- cross-site (item 9)

@pytest.fixture(scope="module")
def allowing(backplane: Backplane) -> Iterator[ServerProcess]:
    process = backplane.serve("--allowed-origins", "http://app.example").capture()
    yield process
    process.stop()


async def test_publish_wants_json_and_no_cross_site_browser(server, allowing):
    subscriber = await connect(server.port)
    assert (await subscriber.request("subscribe", channel="site"))["ok"] is True
    base = f"http://127.0.0.1:{server.port}"
    body = b'{"channel":"site","data":"x"}'
    refused = [
        ({"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        ({}, 415, "unsupported_media_type"),
        ({**JSON, "Origin": "http://evil.example"}, 403, "forbidden"),
        ({**JSON, "Origin": "null"}, 403, "forbidden"),
        ({**JSON, "Sec-Fetch-Site": "cross-site"}, 403, "forbidden"),
        ({**JSON, "Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}, 403, "forbidden"),
    ]
    async with aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as http:
        for path, payload in (("/api/publish", body), ("/api/broadcast", b'{"channels":["site"],"data":"x"}')):
            for headers, status, code in refused:
                async with http.post(base + path, data=payload, headers=headers) as response:
                    assert response.status == status, (path, headers)
                    assert (await response.json())["error"]["code"] == code
        same = {**JSON, "Origin": base, "Sec-Fetch-Site": "same-origin"}
        async with http.post(base + "/api/publish", data=b'{"channel":"site","data":"same"}', headers=same) as r:
            assert r.status == 200
        async with http.post(base + "/api/publish", data=b'{"channel":"site","data":"curl"}', headers=JSON) as r:
            assert r.status == 200
        # An origin on --allowed-origins may publish from its own site.
        allowed = {**JSON, "Origin": "http://app.example", "Sec-Fetch-Site": "cross-site"}
        url = f"http://127.0.0.1:{allowing.port}/api/publish"
        async with http.post(url, data=body, headers=allowed) as response:
            assert response.status == 200
        async with http.post(url, data=body, headers={**JSON, "Origin": "http://evil.example"}) as response:
            assert response.status == 403
    # Only the two accepted publishes were delivered.
    assert [(await subscriber.event())["data"] for _ in range(2)] == ["same", "curl"]
    with pytest.raises(TimeoutError):
        await subscriber.event(timeout=200 * MS)
    await subscriber.close()
