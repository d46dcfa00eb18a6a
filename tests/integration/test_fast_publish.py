"""Issue 15: POST /api/publish served by gateway.fast_http (httptools), kept-alive and
pipelined, batches of messages in one request, and every other request on such a
connection still answered by aiohttp as before, in order."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.servers import MS, ServerProcess, free_port, start_fanout, start_redis_server
from tests.support.ws import WsClient, connect

HEADER_TIMEOUT = 1000 * MS


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    process = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", "-1", "--publish-rate", "100000",
                           "--publish-burst", "100000", "--http-header-timeout", f"{HEADER_TIMEOUT:g}",
                           "--http-body-timeout", f"{HEADER_TIMEOUT:g}").capture()
    yield process
    process.stop()
    assert "Traceback" not in process.log()


@pytest.fixture(scope="module")
def keyed() -> Iterator[ServerProcess]:
    process = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", "-1", "--api-key", "k1").capture()
    yield process
    process.stop()
    assert "Traceback" not in process.log()


def request(body: Any, *headers: bytes, path: bytes = b"/api/publish") -> bytes:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + b"".join(header + b"\r\n" for header in headers)
            + b"Content-Length: " + str(len(raw)).encode() + b"\r\n\r\n" + raw)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], Any]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers[b"content-length"])), 10)
    return int(lines[0].split()[1]), headers, orjson.loads(body)


async def subscribed(port: int, *channels: str) -> WsClient:
    client = await connect(port)
    for channel in channels:
        assert (await client.request("subscribe", channel=channel))["ok"] is True
    return client


async def test_pipelined_publishes_and_other_routes_are_answered_in_order(server):
    client = await subscribed(server.port, "pipe")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    pipeline = [request({"channel": "pipe", "data": n}) for n in range(20)]
    pipeline.insert(10, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # aiohttp's, mid-pipeline
    pipeline.append(request({"channel": "pipe", "data": "after"}))
    writer.write(b"".join(pipeline))
    answers = [await read_response(reader) for _ in range(len(pipeline))]
    assert [status for status, _, _ in answers] == [200] * len(pipeline)
    assert answers[10][2]["status"] == "alive"
    assert [body for _, _, body in answers[:10] + answers[11:]] == [{"ok": True}] * 21
    assert [(await client.event())["data"] for _ in range(21)] == [*range(20), "after"]
    writer.close()
    await client.close()


async def test_a_request_split_anywhere_is_served_and_the_connection_kept(server):
    client = await subscribed(server.port, "split")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    for n in range(3):
        raw = request({"channel": "split", "data": n})
        for cut in (5, len(raw) - 30, len(raw) - 1):  # in the head, at the body, before its last byte
            writer.write(raw[:cut])
            await writer.drain()
            await asyncio.sleep(20 * MS)  # so the server reads the parts one by one
            writer.write(raw[cut:])
            status, headers, body = await read_response(reader)
            assert (status, body) == (200, {"ok": True}) and b"connection" not in headers
    assert [(await client.event())["data"] for _ in range(9)] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    writer.close()
    await client.close()


async def test_connection_close_and_idle_keep_alive(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request({"channel": "c", "data": 1}, b"Connection: close"))
    status, headers, _ = await read_response(reader)
    assert (status, headers[b"connection"]) == (200, b"close")
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    # A kept-alive connection left idle is closed quietly after the header timeout.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request({"channel": "c", "data": 1}))
    assert (await read_response(reader))[0] == 200
    assert await asyncio.wait_for(reader.read(), HEADER_TIMEOUT * 5) == b""
    writer.close()
    # A second head that stops half-way is answered 408, as a first one is.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request({"channel": "c", "data": 1}) + b"POST /api/publish HTTP/1.1\r\nHost: x\r\n")
    assert (await read_response(reader))[0] == 200
    status, _, body = await read_response(reader)
    assert (status, body["error"]["code"]) == (408, "timeout")
    writer.close()


async def test_refusals_on_a_kept_alive_connection_are_aiohttps(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request({"channel": "r", "data": 1})
                 + request(b'{"channel":"r","data":', )  # invalid JSON
                 + request({"channel": "r"})
                 + request({"channel": "r", "data": 1}, b"Origin: http://evil.example")
                 + request({"channel": "", "data": 1}))
    answers = [await read_response(reader) for _ in range(5)]
    assert [(status, body.get("error", {}).get("code")) for status, _, body in answers] == [
        (200, None), (400, "bad_request"), (400, "bad_request"), (403, "forbidden"), (400, "bad_request")]
    assert answers[2][2]["error"]["message"] == "missing field 'data'"
    writer.close()


async def test_the_api_key_is_checked(keyed):
    reader, writer = await asyncio.open_connection("127.0.0.1", keyed.port)
    writer.write(request({"channel": "k", "data": 1}, b"Authorization: apikey k1")
                 + request({"channel": "k", "data": 2}, b"Authorization: apikey nope"))
    answers = [await read_response(reader) for _ in range(2)]
    assert [status for status, _, _ in answers] == [200, 401]
    writer.close()


async def test_a_batch_publishes_every_message_in_order(server):
    client = await subscribed(server.port, "b1", "b2", "chat:b")
    async with aiohttp.ClientSession() as http:
        batch = {"messages": [{"channel": "b1", "data": 1}, {"channel": "b2", "data": {"x": [2]}},
                              {"channel": "chat:b", "data": "kept"}, {"channel": "b1", "data": 3}]}
        async with http.post(f"http://127.0.0.1:{server.port}/api/publish", json=batch) as response:
            assert response.status == 200
            reply = await response.json()
    assert reply["ok"] is True and reply["results"][:2] == [{}, {}] and reply["results"][3] == {}
    assert reply["results"][2]["offset"] == 1 and reply["results"][2]["epoch"]  # chat:* keeps history
    events = [await client.event() for _ in range(4)]
    assert [(e["channel"], e["data"]) for e in events] == [("b1", 1), ("b2", {"x": [2]}), ("chat:b", "kept"),
                                                           ("b1", 3)]
    await client.close()


@pytest.mark.parametrize(("batch", "message"), [
    ({"messages": [{"channel": "v", "data": 1}, {"channel": "v"}]}, "missing field 'messages[1].data'"),
    ({"messages": [{"channel": "v", "data": 1}, {"data": 1}]}, "missing field 'messages[1].channel'"),
    ({"messages": [{"channel": "v", "data": 1}, {"channel": 5, "data": 1}]}, "'messages[1].channel' must be a string"),
    ({"messages": [{"channel": "v", "data": 1}, "x"]}, "'messages[1]' must be an object"),
    ({"messages": []}, "'messages' must be a list of 1 to 1000 objects"),
    ({"messages": [{"channel": "v", "data": 1}] * 1001}, "'messages' must be a list of 1 to 1000 objects"),
    ({"messages": [{"channel": "v", "data": 1}], "channel": "v"}, "a batch has only 'messages', not 'channel'"),
    ({"messages": [{"channel": "v", "data": 1, "idempotency_key": ""}]}, "'messages[0].idempotency_key' must be"),
])
async def test_a_batch_with_one_bad_message_publishes_none(server, batch, message):
    client = await subscribed(server.port, "v")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{server.port}/api/publish", json=batch) as response:
            assert response.status == 400
            error = (await response.json())["error"]
        assert error["code"] == "bad_request" and error["message"].startswith(message), error
        async with http.post(f"http://127.0.0.1:{server.port}/api/publish", json={"channel": "v", "data": "end"}):
            pass
    assert (await client.event())["data"] == "end"  # nothing of the refused batch came first
    await client.close()


async def test_a_batch_with_idempotency_keys_is_retried_safely(server):
    client = await subscribed(server.port, "chat:once")
    batch = {"messages": [{"channel": "chat:once", "data": n, "idempotency_key": f"k{n}"} for n in range(3)]}
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{server.port}/api/publish"
        async with http.post(url, json=batch) as response:
            first = await response.json()
        async with http.post(url, json=batch) as response:
            second = await response.json()
        async with http.post(url, json={"channel": "chat:once", "data": "end"}):
            pass
    assert [r.get("duplicate") for r in first["results"]] == [None] * 3
    assert [r["duplicate"] for r in second["results"]] == [True] * 3
    assert [r["offset"] for r in second["results"]] == [r["offset"] for r in first["results"]]
    assert [(await client.event())["data"] for _ in range(4)] == [0, 1, 2, "end"]
    await client.close()


async def test_a_batch_the_broker_does_not_take_says_how_many_were_published():
    redis = start_redis_server()
    node = start_fanout("serve", "--http-port", str(free_port()), "--broker", f"redis://127.0.0.1:{redis.port}/0",
                        "--resp-port", "-1", "--broker-timeout", "1").capture()
    try:
        redis.process.send_signal(signal.SIGSTOP)
        reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
        batch = {"messages": [{"channel": "s", "data": n} for n in range(3)]}
        writer.write(request(batch))  # the first waits for the stopped broker: 504
        status, _, body = await read_response(reader)
        assert (status, body["error"]["code"], body["published"]) == (504, "outcome_unknown", 0), body
        writer.write(request(batch))  # the link is down now: not sent at all
        status, _, body = await read_response(reader)
        assert (status, body["error"]["code"], body["published"]) == (503, "unavailable", 0), body
        writer.close()
    finally:
        redis.process.send_signal(signal.SIGCONT)
        node.stop()
        redis.stop()
    assert "Traceback" not in node.log()


async def test_a_pipeline_mixing_answers_made_at_once_and_awaited_ones_keeps_order(server):
    """Plain publishes are answered as they are read (no task); history channels,
    idempotency keys and other routes are awaited: one write of all of them still
    gets its answers, and the subscriber its events, in request order."""
    client = await subscribed(server.port, "mix", "chat:mix")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    pipeline = [request({"channel": "mix", "data": 0}),
                request({"channel": "chat:mix", "data": 1}),  # history: awaited
                request({"channel": "mix", "data": 2}),
                request({"channel": "mix", "data": 3, "idempotency_key": "k"}),  # awaited
                request({"messages": [{"channel": "mix", "data": 4}, {"channel": "mix", "data": 5}]}),
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"]  # aiohttp's from here on
    pipeline += [request({"channel": "mix", "data": 6 + n}) for n in range(20)]
    writer.write(b"".join(pipeline))
    answers = [await read_response(reader) for _ in range(len(pipeline))]
    assert [status for status, _, _ in answers] == [200] * len(pipeline)
    bodies = [body for _, _, body in answers]
    assert bodies[0] == bodies[2] == bodies[3] == {"ok": True}
    assert bodies[1]["offset"] == 1 and bodies[4] == {"ok": True, "results": [{}, {}]}
    assert bodies[5]["status"] == "alive" and bodies[6:] == [{"ok": True}] * 20
    assert [(await client.event())["data"] for _ in range(26)] == list(range(26))
    writer.close()
    await client.close()


async def test_a_long_pipeline_sent_in_pieces_is_answered_in_order(server):
    client = await subscribed(server.port, "long")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    stream = b"".join(request({"channel": "long", "data": n}) for n in range(300))
    for at in range(0, len(stream), 1000):  # pieces that cut requests anywhere
        writer.write(stream[at:at + 1000])
        await writer.drain()
    answers = [await read_response(reader) for _ in range(300)]
    assert [(status, body) for status, _, body in answers] == [(200, {"ok": True})] * 300
    assert [(await client.event())["data"] for _ in range(300)] == list(range(300))
    writer.close()
    await client.close()


async def test_a_connection_that_starts_with_another_route_is_aiohttps_throughout(server):
    client = await subscribed(server.port, "other")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + request({"channel": "other", "data": 1}))
    (status, _, health), (published, headers, body) = [await read_response(reader) for _ in range(2)]
    assert (status, health["status"], published, body) == (200, "alive", 200, {"ok": True})
    assert b"aiohttp" in headers[b"server"]  # handed over with the connection
    assert (await client.event())["data"] == 1
    writer.close()
    await client.close()


async def test_a_kept_alive_publish_connection_does_not_hold_up_shutdown():
    node = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", "-1").capture()
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    writer.write(request({"channel": "bye", "data": 1}))
    assert (await read_response(reader))[0] == 200
    assert node.stop(signal.SIGTERM) == 0  # (bounded: stop() waits with a timeout)
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    assert "Traceback" not in node.log()


async def test_a_head_seen_before_still_gets_every_check(server, keyed):
    """FastHttp.heads: the same head bytes (same Content-Length) again, on new
    connections and pipelined, with a good body, a bad body, Connection: close."""
    client = await subscribed(server.port, "hc")
    good, bad = request({"channel": "hc", "data": 1}), request(b'{"channel":"hc","data":}}')
    assert len(good) == len(bad)  # the same head
    for _ in range(2):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(good + good + bad)
        answers = [await read_response(reader) for _ in range(3)]
        assert [status for status, _, _ in answers] == [200, 200, 400]
        writer.close()
    assert [(await client.event())["data"] for _ in range(4)] == [1, 1, 1, 1]
    for _ in range(2):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(request({"channel": "hc", "data": 2}, b"Connection: close"))
        status, headers, _ = await read_response(reader)
        assert (status, headers[b"connection"]) == (200, b"close")
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
    await client.close()
    # The API key is checked on every request, whether its head was seen or not.
    statuses = []
    for key in (b"k1", b"k2", b"k1", b"k2"):
        reader, writer = await asyncio.open_connection("127.0.0.1", keyed.port)
        writer.write(request({"channel": "k", "data": 1}, b"Authorization: apikey " + key))
        statuses.append((await read_response(reader))[0])
        writer.close()
    assert statuses == [200, 401, 200, 401]


async def test_a_head_refused_once_is_refused_again(server, keyed):
    """FastHttp.heads keeps only heads that passed every check: a head refused for its
    type or key is refused (by aiohttp) each time it comes, before and after good ones."""
    body = orjson.dumps({"channel": "hr", "data": 1})
    plain = (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: "
             + str(len(body)).encode() + b"\r\n\r\n" + body)
    keyed_requests = [request({"channel": "k", "data": 1}, b"Authorization: apikey " + key) for key in (b"k2", b"k1")]
    for port, refused, good, code in ((server.port, plain, request({"channel": "hr", "data": 1}), 415),
                                      (keyed.port, *keyed_requests, 401)):
        statuses = []
        for raw in (refused, refused, good, good, refused):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            statuses.append((await read_response(reader))[0])
            writer.close()
        assert statuses == [code, code, 200, 200, code]


async def test_a_head_with_a_bare_lf_blank_line_is_aiohttps_each_time(server):
    """A blank line of a bare LF ends the head before the CRLF one: not served here,
    whether the same bytes came before or not (FastHttp.heads never keeps one)."""
    client = await subscribed(server.port, "lf")
    body = orjson.dumps({"channel": "lf", "data": "no"})
    raw = (b"POST /api/publish HTTP/1.1\r\nHost: x\n\nContent-Type: application/json\r\nContent-Length: "
           + str(len(body)).encode() + b"\r\n\r\n" + body)
    statuses = []
    for _ in range(2):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(raw)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)  # (aiohttp's 400 is text)
        statuses.append(int(head.split()[1]))
        writer.close()
    assert statuses[0] == statuses[1] and statuses[0] >= 400
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request({"channel": "lf", "data": "yes"}))
    assert (await read_response(reader))[0] == 200
    assert (await client.event())["data"] == "yes"  # (the refused ones published nothing)
    writer.close()
    await client.close()


async def test_a_connections_repeated_head_is_served_as_the_first_time(server):
    """FastHttpProtocol.last_head: on one kept-alive connection the same head again
    (pipelined, alone, split across reads), a head of another length between, then
    the same head with a bad body (aiohttp's 400, then the connection is aiohttp's)
    and with Connection: close: every answer and event as for a new head."""
    client = await subscribed(server.port, "lh")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    one, other = request({"channel": "lh", "data": 1}), request({"channel": "lh", "data": 22})
    writer.write(one + one + other + one)
    assert [(await read_response(reader))[0] for _ in range(4)] == [200] * 4
    head_end = one.index(b"\r\n\r\n")
    for cut in (head_end - 5, head_end + 2, head_end + 4, len(one) - 1):  # a part of the head, then the rest
        writer.write(one[:cut])
        await writer.drain()
        await asyncio.sleep(0)  # (not synchronisation: the answer read below is)
        writer.write(one[cut:])
        assert (await read_response(reader))[0] == 200
    writer.write(request(b'{"channel":"lh","data":}') + one)
    assert [(await read_response(reader))[0] for _ in range(2)] == [400, 200]
    writer.close()
    assert [(await client.event())["data"] for _ in range(9)] == [1, 1, 22, 1, 1, 1, 1, 1, 1]
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(one + request({"channel": "lh", "data": 3}, b"Connection: close"))
    status, _, _ = await read_response(reader)
    status_close, headers, _ = await read_response(reader)
    assert (status, status_close, headers[b"connection"]) == (200, 200, b"close")
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    assert [(await client.event())["data"] for _ in range(2)] == [1, 3]
    await client.close()
