"""A runaway or memory-hungry script cannot freeze the server (issue 12).

``fanout serve`` with its embedded broker: a websocket subscriber and a second
RESP client keep being served once the broker stops a script that loops past
``busy-reply-threshold``, even one that catches errors with pcall; a script
building an endless table gets an error, the server's RSS stays bounded and
the interpreter still runs scripts afterwards.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from tests.support.servers import ServerProcess
from tests.support.ws import connect


@pytest.fixture(scope="module")
def serve(embedded_serve: ServerProcess) -> ServerProcess:
    return embedded_serve


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("script", [
    "while true do end",
    # a pcall inside cannot swallow the stop and go on
    "while true do pcall(function() while true do end end) end",
    "local n = 0 while true do n = n + 1; redis.call('ping') end",
])
async def test_runaway_script_is_stopped_and_others_are_served(serve: ServerProcess, script: str) -> None:
    resp = serve.extra_ports["resp"]
    looper, other = aioredis.Redis(port=resp), aioredis.Redis(port=resp)
    ws = await connect(serve.port)
    try:
        await ws.request("subscribe", channel="live")
        await other.config_set("busy-reply-threshold", "300")
        assert await other.config_get("lua-time-limit") == {"lua-time-limit": "300"}
        running = asyncio.ensure_future(looper.eval(script, 0))
        # Sent while the script loops: answered once the broker has stopped it.
        assert await other.publish("live", b'{"n":1}') == 1
        with pytest.raises(ResponseError, match="Script killed: it ran longer than busy-reply-threshold"):
            await running
        assert (await ws.event())["data"] == {"n": 1}
        assert await looper.eval("return redis.call('ping')", 0) == b"PONG"
        with pytest.raises(ResponseError, match="No scripts in execution right now"):
            await other.execute_command("SCRIPT", "KILL")
    finally:
        await other.config_set("busy-reply-threshold", "5000")
        await ws.close()
        await looper.aclose()
        await other.aclose()


async def test_memory_hungry_script_gets_an_error_and_rss_stays_bounded(serve: ServerProcess) -> None:
    client = aioredis.Redis(port=serve.extra_ports["resp"])
    try:
        await client.config_set("lua-max-memory", "64mb")
        before = _rss_kib(serve.process.pid)
        for _ in range(2):
            with pytest.raises(ResponseError, match="not enough memory"):
                await client.eval("local t = {} local s = string.rep('x', 100000) for i = 1, 1e9 do t[i] = s .. i end", 0)
        grown = _rss_kib(serve.process.pid) - before
        assert grown < 200 * 1024, f"RSS grew by {grown} KiB"
        # The interpreter recovered: a script that needs a few MB runs.
        assert await client.eval("local t = {} for i = 1, 10000 do t[i] = string.rep('y', 100) end return #t", 0) \
            == 10000
        assert await client.eval("return redis.call('set', KEYS[1], 'ok')", 1, "k") == b"OK"
    finally:
        await client.config_set("lua-max-memory", "256mb")
        await client.aclose()
