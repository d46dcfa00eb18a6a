"""Bad input gets a precise error and the connection (and everyone else) goes on (issue #3)."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
import websockets

from tests.support.backplane import Backplane
from tests.support.ws import connect


@pytest.fixture(scope="module")
def limited_serve(backplane: Backplane):
    server = backplane.serve("--max-subscriptions", "3", "--publish-rate", "1", "--publish-burst", "2",
                             "--max-message-size", "4096")
    yield server
    server.stop()


@pytest.mark.parametrize("text, code, message", [
    ("{oops", "bad_request", "invalid JSON: "),
    ("[1, 2]", "bad_request", "a message must be a JSON object, got list"),
    ('{"id": 1}', "bad_request", "missing field 'op'"),
    ('{"op": 5, "id": 1}', "bad_request", "'op' must be a string, got number"),
    ('{"op": "dance", "id": 1}', "unknown_op", "unknown op 'dance'; expected one of: subscribe, psubscribe, "
                                               "unsubscribe, punsubscribe, publish, "),
    ('{"op": "subscribe", "id": 1}', "bad_request", "missing field 'channel' for op 'subscribe'"),
    ('{"op": "subscribe", "channel": 7, "id": 1}', "bad_request", "'channel' must be a string, got number"),
    ('{"op": "psubscribe", "pattern": ["x"], "id": 1}', "bad_request", "'pattern' must be a string, got array"),
    ('{"op": "publish", "channel": "a", "id": 1}', "bad_request", "missing field 'data' for op 'publish'"),
    ('{"op": "subscribe", "channel": "", "id": 1}', "bad_request", "'channel' must be 1 to 1024 characters long"),
    ('{"op": "ping", "id": {"x": 1}}', "bad_request", "'id' must be a number or a string"),
])
async def test_bad_messages_get_exact_errors_and_the_connection_stays(limited_serve, text, code, message):
    client = await connect(limited_serve.port)
    await client.ws.send(text)
    reply = await asyncio.wait_for(client.loose.get(), 10)
    assert reply["error"]["code"] == code
    assert reply["error"]["message"].startswith(message)
    assert (await client.request("ping"))["pong"] is True  # still usable
    await client.close()


async def test_subscription_limit_and_publish_rate_limit(limited_serve):
    client = await connect(limited_serve.port)
    for name in ("a", "b", "c"):
        assert (await client.request("subscribe", channel=name))["ok"] is True
    reply = await client.request("subscribe", channel="d")
    assert reply["error"] == {"code": "limit_exceeded", "message": "subscription limit of 3 per connection "
                              "reached; cannot subscribe to channel 'd'"}
    results = [await client.request("publish", channel="a", data=i) for i in range(3)]
    assert [r.get("ok") for r in results[:2]] == [True, True]
    assert results[2]["error"]["code"] == "rate_limited"
    assert "publish rate limit of 1/s exceeded" in results[2]["error"]["message"]
    await client.close()


async def test_binary_frame_and_oversized_message(limited_serve):
    client = await connect(limited_serve.port)
    await client.ws.send(b"\x00\x01")
    reply = await client.loose.get()
    assert reply["error"] == {"code": "bad_request",
                              "message": "binary frames are not supported: send JSON text frames"}
    other = await connect(limited_serve.port)
    await client.ws.send(orjson.dumps({"op": "publish", "channel": "a", "data": "x" * 5000}).decode())
    await client.reader  # the server closes the connection
    assert client.ws.close_code == 1009  # RFC 6455 7.4.1: message too big
    assert (await other.request("ping"))["pong"] is True  # everyone else goes on
    await other.close()


JSON = {"Content-Type": "application/json"}


async def test_http_api_errors_are_precise(limited_serve):
    base = f"http://127.0.0.1:{limited_serve.port}"
    async with aiohttp.ClientSession() as http:
        cases = [
            ("/api/publish", b"{nope", 400, "invalid JSON"),
            ("/api/publish", b"[]", 400, "the body must be a JSON object"),
            ("/api/publish", b'{"channel": "a"}', 400, "missing field 'data'"),
            ("/api/publish", b'{"data": 1}', 400, "missing field 'channel'"),
            ("/api/publish", b'{"channel": 3, "data": 1}', 400, "'channel' must be a string"),
            ("/api/broadcast", b'{"channels": "a", "data": 1}', 400, "'channels' must be a non-empty list"),
            ("/api/publish", b'{"channel": "a", "data": "' + b"x" * 5000 + b'"}', 413, "over the limit"),
        ]
        for path, body, status, message in cases:
            async with http.post(base + path, data=body, headers=JSON) as response:
                assert response.status == status, (path, body[:40])
                error = (await response.json())["error"]
                assert message in error["message"], error
        async with http.get(base + "/api/nothing") as response:
            assert response.status == 404


async def test_websocket_without_upgrade_is_refused(limited_serve):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{limited_serve.port}/ws") as response:
            assert response.status == 400
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(f"ws://127.0.0.1:{limited_serve.port}/nowhere")
