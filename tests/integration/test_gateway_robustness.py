"""What an audit found: every request gets an answer (broker errors, deep JSON,
unknown routes), --requirepass keeps the gateway working, history sizes are exact,
recovery works from a channel's very start."""

from __future__ import annotations

from typing import Iterator

import aiohttp
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from tests.support.backplane import Backplane
from tests.support.servers import ServerProcess
from tests.support.ws import connect

PASSWORD = "s3cret"


@pytest.fixture(scope="module")
def server(backplane: Backplane) -> Iterator[ServerProcess]:
    backplane.require_password(PASSWORD)  # --requirepass, or a redis-server with one
    process = backplane.serve("--channel", "chat:*=presence,history:100", "--channel", "short:*=history:5",
                              "--max-subscriptions", "2")
    yield process
    process.stop()


def _url(server: ServerProcess, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


async def test_requirepass_guards_resp_but_not_the_gateways_own_broker_access(server):
    client = await connect(server.port)
    reply = await client.request("subscribe", channel="chat:pw", presence=True)
    assert reply["ok"] is True and reply["offset"] == 0
    async with aiohttp.ClientSession() as http:
        async with http.post(_url(server, "/api/publish"), json={"channel": "chat:pw", "data": 1}) as response:
            assert response.status == 200 and (await response.json())["offset"] == 1
        async with http.get(_url(server, "/api/presence/chat:pw/stats")) as response:
            assert (await response.json())["connections"] == 1
    assert (await client.event())["join"]["user"].startswith("anon-")
    assert (await client.event())["data"] == 1
    with pytest.raises(redis.exceptions.AuthenticationError):
        await aioredis.Redis(port=server.extra_ports["resp"]).ping()
    await client.close()


async def test_a_broker_error_is_answered_and_leaves_nothing_behind(server):
    redis_client = aioredis.Redis(port=server.extra_ports["resp"], password=PASSWORD)
    await redis_client.set("presence:{chat:broken}", "not a hash")
    client = await connect(server.port)
    reply = await client.request("subscribe", channel="chat:broken")
    assert reply["error"]["code"] == "broker_error" and "WRONGTYPE" in reply["error"]["message"]
    assert (await client.request("unsubscribe", channel="chat:broken"))["error"]["code"] == "not_subscribed"
    async with aiohttp.ClientSession() as http:
        async with http.get(_url(server, "/api/presence/chat:broken")) as response:
            assert response.status == 500 and (await response.json())["error"]["code"] == "broker_error"
    assert (await client.request("subscribe", channel="chat:fine"))["ok"] is True
    await client.close()
    conns = [key async for key in redis_client.scan_iter("conn:*")]
    for _ in range(200):  # bounded: the server notices the close and cleans up
        if not conns:
            break
        conns = [key async for key in redis_client.scan_iter("conn:*")]
    assert conns == []
    await redis_client.aclose()


async def test_deeply_nested_data_is_refused_plainly(server):
    deep = "[" * 300 + "]" * 300
    client = await connect(server.port)
    await client.ws.send('{"op":"publish","channel":"news","id":1,"data":' + deep + "}")
    reply = await client.loose.get()
    assert reply["id"] == 1
    assert reply["error"]["code"] == "bad_request" and "'data' cannot be published" in reply["error"]["message"]
    async with aiohttp.ClientSession() as http:
        async with http.post(_url(server, "/api/publish"), data='{"channel":"news","data":' + deep + "}",
                             headers={"Content-Type": "application/json"}) as response:
            assert response.status == 400 and (await response.json())["error"]["code"] == "bad_request"
    await client.close()


async def test_unknown_api_routes_and_methods_answer_json(server):
    async with aiohttp.ClientSession() as http:
        async with http.get(_url(server, "/api/nope")) as response:
            assert response.status == 404 and (await response.json())["error"]["code"] == "not_found"
        async with http.put(_url(server, "/api/publish"), json={}) as response:
            assert response.status == 405 and (await response.json())["error"]["code"] == "method_not_allowed"
        async with http.get(_url(server, "/api/history/short:x?reverse=maybe")) as response:
            assert response.status == 400
            assert (await response.json())["error"]["message"] == "'reverse' must be 0, 1, true or false, got 'maybe'"


async def test_recovery_from_before_a_channels_first_message(server):
    client = await connect(server.port)
    reply = await client.request("subscribe", channel="chat:fresh")
    assert (reply["offset"], reply["epoch"]) == (0, "")
    await client.close()
    async with aiohttp.ClientSession() as http:
        for n in range(3):
            async with http.post(_url(server, "/api/publish"), json={"channel": "chat:fresh", "data": n}):
                pass
    client = await connect(server.port)
    reply = await client.request("subscribe", channel="chat:fresh", recover={"offset": 0, "epoch": ""})
    assert reply["recovered"] is True
    assert [(await client.event())["data"] for _ in range(3)] == [0, 1, 2]
    await client.close()


async def test_history_keeps_exactly_its_configured_size(server):
    client = await connect(server.port)
    for n in range(1, 21):
        await client.request("publish", channel="short:x", data=n)
    page = await client.request("history", channel="short:x")
    assert [message["data"] for message in page["messages"]] == [16, 17, 18, 19, 20]
    page = await client.request("history", channel="short:x", since=3)
    assert [message["offset"] for message in page["messages"]] == [16, 17, 18, 19, 20]
    reply = await client.request("subscribe", channel="short:x", recover={"offset": 14, "epoch": page["epoch"]})
    assert reply["recovered"] is False
    await client.close()


async def test_small_protocol_points(server):
    client = await connect(server.port)
    await client.ws.send('{"op":"ping","id":1.5}')
    assert await client.loose.get() == {"id": 1.5, "ok": True, "pong": True}
    assert (await client.request("subscribe", channel="a"))["ok"] is True
    assert (await client.request("subscribe", channel="b"))["ok"] is True
    assert (await client.request("subscribe", channel="a"))["ok"] is True  # at the limit: already held
    assert (await client.request("subscribe", channel="c"))["error"]["code"] == "limit_exceeded"
    async with aiohttp.ClientSession() as http:
        async with http.post(_url(server, "/api/broadcast"), json={"channels": ["a", "a", "b"], "data": 7}) as r:
            assert (await r.json())["channels"] == 2
    assert [(await client.event())["channel"] for _ in range(2)] == ["a", "b"]
    await client.request("unsubscribe", channel="b")
    async with aiohttp.ClientSession() as http:
        async with http.post(_url(server, "/api/publish"), json={"channel": "a", "data": "next"}):
            pass
    assert (await client.event())["data"] == "next"  # "a" got 7 once: the next event is the new one
    await client.close()
