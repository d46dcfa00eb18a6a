"""/healthz, /readyz and /api/info: what a load balancer and an operator ask (issue #17)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests.support.servers import MS, _read_until, start_fanout, start_redis_server
from tests.support.servers import until as poll_until  # the one polling loop
from tests.support.ws import connect, silent_client

WAIT = 15000 * MS


async def get(port: int, path: str, session: aiohttp.ClientSession | None = None,
              **headers: str) -> tuple[int, Any]:
    async def run(session: aiohttp.ClientSession) -> tuple[int, Any]:
        async with session.get(f"http://127.0.0.1:{port}{path}", headers=headers) as response:
            return response.status, await response.json()
    if session is not None:
        return await run(session)
    async with aiohttp.ClientSession() as fresh:
        return await run(fresh)


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Ask over HTTP (readiness is a probe: the server pushes it nowhere) until it holds."""
    await poll_until(check, what, timeout=WAIT)


async def test_healthy_and_ready_on_the_embedded_broker():
    server = start_fanout("serve", "--http-port", "0", "--resp-port", "-1")
    try:
        status, body = await get(server.port, "/healthz")
        assert status == 200 and body["ok"] is True and body["status"] == "alive"
        status, body = await get(server.port, "/readyz")
        assert status == 200 and body["ready"] is True and body["broker_ping_ms"] >= 0
        status, body = await get(server.port, "/api/info")
        assert status == 200
        assert body["version"] == "0.1.0" and body["broker"] == "memory" and body["auth"] == "open"
        assert body["workers"] == 1 and len(body["node"]) == 8 and body["uptime_seconds"] >= 0
    finally:
        server.stop()


async def test_readyz_fails_while_the_backplane_is_stopped_or_down_and_recovers():
    redis = start_redis_server()
    server = start_fanout("serve", "--http-port", "0", "--resp-port", "-1", "--broker",
                          f"redis://127.0.0.1:{redis.port}/0")
    port = server.port

    def ready_is(expected: bool, reasons: tuple[str, ...] = ()) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            status, body = await get(port, "/readyz")
            if expected:
                return status == 200 and body["ready"] is True
            return status == 503 and body["ready"] is False and body["reason"] in reasons
        return check

    try:
        assert (await get(port, "/readyz"))[0] == 200
        redis.process.send_signal(signal.SIGSTOP)  # the link stays open, nothing answers
        try:
            status, body = await get(port, "/readyz")
            assert status == 503, body
            assert body["reason"] in ("broker_timeout", "broker_unavailable")
            if body["reason"] == "broker_timeout":
                assert body["message"] == "the broker did not answer PING within 1s"
            # Liveness is not readiness: the process itself is fine.
            assert (await get(port, "/healthz"))[0] == 200
        finally:
            redis.process.send_signal(signal.SIGCONT)
        await until(ready_is(True), "ready after SIGCONT")
        redis_port = redis.port
        redis.stop()
        await until(ready_is(False, ("broker_unavailable",)), "not ready with redis-server stopped")
        status, body = await get(port, "/readyz")
        assert body["message"].startswith("the broker is unavailable: ")
        redis = start_redis_server(port=redis_port)
        await until(ready_is(True), "ready after redis-server restarted")
    finally:
        server.stop()
        redis.stop()


async def test_readyz_says_shutting_down_while_connections_close():
    server = start_fanout("serve", "--http-port", "0", "--resp-port", "-1", "--shutdown-timeout", "5")
    try:
        # A client that never answers the close frame keeps shutdown busy for its 2 s.
        silent = await silent_client(server.port)
        async with aiohttp.ClientSession() as session:  # one keep-alive connection, made before SIGTERM
            assert (await get(server.port, "/readyz", session))[0] == 200
            server.process.send_signal(signal.SIGTERM)
            assert server.process.stdout is not None
            await asyncio.to_thread(_read_until, server.process.stdout, "fanout serve: shutting down",
                                    server.process, "fanout")
            status, body = await get(server.port, "/readyz", session)
            assert status == 503
            assert body["ready"] is False and body["reason"] == "shutting_down"
            assert body["message"] == "the node is shutting down"
        silent.abort()
        assert server.process.wait(timeout=15) == 0
    finally:
        server.stop()


async def test_info_disconnects_and_console_token_in_secured_mode():
    server = start_fanout("serve", "--http-port", "0", "--resp-port", "-1", "--token-secret", "s3cret",
                          "--api-key", "k3y")
    try:
        status, body = await get(server.port, "/api/info")
        assert status == 401 and body["error"] == {
            "code": "unauthorized", "message": "missing Authorization header: send 'Authorization: apikey <key>'"}
        status, body = await get(server.port, "/api/info", Authorization="apikey k3y")
        assert status == 200 and body["auth"] == "tokens+api-key"
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{server.port}/api/console/token",
                                    headers={"Authorization": "apikey k3y"}) as response:
                assert response.status == 200
                token = (await response.json())["token"]
        client = await connect(server.port, token=token)
        reply = await client.request("subscribe", channel="any:thing")
        assert reply["ok"] is True
        reply = await client.request("publish", channel="other:place", data=1)
        assert reply["ok"] is True
        await client.close()

        async def closed() -> bool:
            status, body = await get(server.port, "/api/disconnects", Authorization="apikey k3y")
            return status == 200 and len(body["disconnects"]) == 1
        await until(closed, "the disconnect to be listed")
        _, body = await get(server.port, "/api/disconnects", Authorization="apikey k3y")
        entry = body["disconnects"][0]
        assert entry["reason"] == "client_closed" and entry["user"].startswith("console:")
    finally:
        server.stop()


async def test_console_token_needs_an_api_key_when_tokens_are_on():
    server = start_fanout("serve", "--http-port", "0", "--resp-port", "-1", "--token-secret", "s3cret")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{server.port}/api/console/token") as response:
                assert response.status == 403
                assert (await response.json())["error"]["message"] == (
                    "the console needs --api-key when --token-secret is set "
                    "(an admin token must not be free for the asking)")
    finally:
        server.stop()
