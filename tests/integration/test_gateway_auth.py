"""Tokens, permissions, API key and Origin checks over real sockets (issue #3)."""

from __future__ import annotations

import time

import aiohttp
import jwt
import pytest
import websockets

from gateway.auth import issue_token
from tests.support.backplane import Backplane
from tests.support.ws import connect

SECRET = "test-secret-of-at-least-32-bytes-long"
API_KEY = "test-key"


@pytest.fixture(scope="module")
def secured_serve(backplane: Backplane):
    server = backplane.serve("--token-secret", SECRET, "--api-key", API_KEY,
                             "--allowed-origins", "http://good.example")
    yield server
    server.stop()


def _token(**claims) -> str:
    return issue_token(SECRET, claims.pop("sub", "alice"), **claims)


async def _refusal(port: int, token: str | None, **kwargs) -> websockets.InvalidStatus:
    url = f"ws://127.0.0.1:{port}/ws" + (f"?token={token}" if token is not None else "")
    with pytest.raises(websockets.InvalidStatus) as caught:
        await websockets.connect(url, **kwargs)
    return caught.value


async def test_valid_token_subscribes_and_publishes_within_its_patterns(secured_serve):
    client = await connect(secured_serve.port, _token(subscribe=["chat:*"], publish=["chat:lobby"]))
    assert (await client.request("subscribe", channel="chat:lobby"))["ok"] is True
    assert (await client.request("publish", channel="chat:lobby", data="hi"))["ok"] is True
    assert (await client.event())["data"] == "hi"
    await client.close()


async def test_forbidden_subscribe_and_publish_name_the_channel_and_keep_the_connection(secured_serve):
    client = await connect(secured_serve.port, _token(subscribe=["chat:*"], publish=["chat:lobby"]))
    reply = await client.request("subscribe", channel="admin:secrets")
    assert reply["error"] == {"code": "forbidden", "message": "not allowed to subscribe to channel 'admin:secrets'"}
    reply = await client.request("psubscribe", pattern="*")
    assert reply["error"] == {"code": "forbidden", "message": "not allowed to subscribe to pattern '*'"}
    reply = await client.request("publish", channel="chat:other", data=1)
    assert reply["error"] == {"code": "forbidden", "message": "not allowed to publish on channel 'chat:other'"}
    assert (await client.request("ping"))["pong"] is True
    await client.close()


async def test_token_without_publish_claim_may_not_publish(secured_serve):
    client = await connect(secured_serve.port, _token())
    assert (await client.request("subscribe", channel="anything"))["ok"] is True
    assert (await client.request("publish", channel="anything", data=1))["error"]["code"] == "forbidden"
    await client.close()


@pytest.mark.parametrize("make_token, code", [
    (lambda: None, "unauthorized"),
    (lambda: issue_token(SECRET, "alice", ttl_seconds=-10), "token_expired"),
    (lambda: issue_token("some-other-secret-also-32-bytes-long", "alice"), "invalid_token"),
    (lambda: _token()[:-3] + "abc", "invalid_token"),
    (lambda: "garbage", "invalid_token"),
    (lambda: jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, None, algorithm="none"), "invalid_token"),
    (lambda: jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256"), "invalid_token"),
])
async def test_bad_tokens_are_refused_with_401_and_a_reason(secured_serve, make_token, code):
    refusal = await _refusal(secured_serve.port, make_token())
    assert refusal.response.status_code == 401
    import orjson
    assert orjson.loads(refusal.response.body)["error"]["code"] == code


async def test_wrong_origin_is_refused_and_right_origin_accepted(secured_serve):
    refusal = await _refusal(secured_serve.port, _token(), origin="http://evil.example")
    assert refusal.response.status_code == 403
    ws = await websockets.connect(f"ws://127.0.0.1:{secured_serve.port}/ws?token={_token()}",
                                  origin="http://good.example")
    await ws.close()


async def test_http_api_needs_the_api_key(secured_serve):
    url = f"http://127.0.0.1:{secured_serve.port}/api/publish"
    body = {"channel": "chat:lobby", "data": 1}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body) as response:
            assert response.status == 401
            assert "missing Authorization header" in (await response.json())["error"]["message"]
        async with http.post(url, json=body, headers={"Authorization": "apikey wrong"}) as response:
            assert response.status == 401
            assert (await response.json())["error"]["message"] == "invalid API key"
        async with http.post(url, json=body, headers={"Authorization": f"apikey {API_KEY}"}) as response:
            assert response.status == 200
        async with http.get(f"http://127.0.0.1:{secured_serve.port}/api/channels") as response:
            assert response.status == 401


async def test_fanout_token_prints_a_token_the_server_accepts_with_its_claims(secured_serve):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "gateway.cli", "token", "--token-secret", SECRET, "--sub", "zoe",
                             "--info", '{"name":"Zoe"}', "--subscribe", "room:*", "--publish", "room:a",
                             "--ttl", "60"], capture_output=True, text=True, timeout=30, check=True)
    token = result.stdout.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "zoe" and claims["info"] == {"name": "Zoe"} and 0 < claims["exp"] - time.time() <= 60
    client = await connect(secured_serve.port, token)
    assert (await client.request("subscribe", channel="room:b"))["ok"] is True
    assert (await client.request("subscribe", channel="other"))["error"]["code"] == "forbidden"
    assert (await client.request("publish", channel="room:b", data=1))["error"]["code"] == "forbidden"
    assert (await client.request("publish", channel="room:a", data=1))["ok"] is True
    await client.close()
    bad = subprocess.run([sys.executable, "-m", "gateway.cli", "token", "--token-secret", SECRET, "--sub", "x",
                          "--info", "{nope"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "--info is not valid JSON" in bad.stderr


async def test_a_pattern_cannot_reach_past_the_token_channels(secured_serve):
    # Issue 13, item 4: 'team:?:*' refused team:secret:plans, but psubscribe
    # 'team:*:*' was accepted and delivered it.
    spy = await connect(secured_serve.port, _token(subscribe=["team:?:*"]))
    assert (await spy.request("subscribe", channel="team:secret:plans"))["error"]["code"] == "forbidden"
    reply = await spy.request("psubscribe", pattern="team:*:*")
    assert reply["error"] == {"code": "forbidden", "message": "not allowed to subscribe to pattern 'team:*:*'"}
    assert (await spy.request("psubscribe", pattern="team:[ab]:*"))["ok"] is True  # inside team:?:*
    # A union of allowed patterns: neither a:* nor b:* alone covers [ab]:*, both do.
    union = await connect(secured_serve.port, _token(subscribe=["a:*", "b:*"]))
    assert (await union.request("psubscribe", pattern="[ab]:*"))["ok"] is True
    assert (await union.request("psubscribe", pattern="[abc]:*"))["error"]["code"] == "forbidden"
    async with aiohttp.ClientSession(headers={"Authorization": f"apikey {API_KEY}"}) as http:
        for channel in ("team:secret:plans", "team:a:plans", "b:news"):
            async with http.post(f"http://127.0.0.1:{secured_serve.port}/api/publish",
                                 json={"channel": channel, "data": channel}) as response:
                assert response.status == 200
    # The spy gets team:a:plans and never the secret one published before it.
    event = await spy.event()
    assert (event["channel"], event["pattern"]) == ("team:a:plans", "team:[ab]:*")
    event = await union.event()
    assert (event["channel"], event["pattern"]) == ("b:news", "[ab]:*")
    await spy.close()
    await union.close()
