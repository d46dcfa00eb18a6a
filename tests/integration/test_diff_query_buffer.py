"""CLIENT LIST's query buffer (``qbuf`` + ``qbuf-free``) after a big request, against
a real redis-server: the Tcl test "query buffer resized correctly when not idle".

A 400 kB SET grows the buffer past PROTO_RESIZE_THRESHOLD (32 kB) on both servers;
while the client goes on with small requests the cron trims it, to more than
nothing and less than it was. Polled as the Tcl test polls (the trim is the cron's,
there is no event to wait on).
"""

from __future__ import annotations

import re
from typing import Any

from tests.support.resp_client import RespClient, wait_until


def _query_buffer(admin: RespClient, name: str) -> int:
    for line in admin.call("CLIENT", "LIST").decode().splitlines():
        if f" name={name} " in line:
            qbuf = re.search(r" qbuf=(\d+)", line)
            free = re.search(r" qbuf-free=(\d+)", line)
            assert qbuf and free, line
            return int(qbuf.group(1)) + int(free.group(1))
    raise AssertionError(f"no client named {name}")


def _shrinks(port: int) -> tuple[bool, bool]:
    with RespClient(port) as admin, RespClient(port) as client:
        client.call("CLIENT", "SETNAME", "big_reader")
        client.call("SET", "x", "A" * 400_000)
        grown = _query_buffer(admin, "big_reader")

        def trimmed() -> bool:
            client.call("SET", "x", "A" * 100)
            return 0 < _query_buffer(admin, "big_reader") < grown

        wait_until(trimmed, "the query buffer is trimmed", timeout=5.0)
        return grown > 32768, True


def test_query_buffer_grows_and_is_trimmed_as_redis(redis_server: Any, fanout_broker: Any) -> None:
    assert _shrinks(fanout_broker.port) == _shrinks(redis_server.port) == (True, True)
