"""CONFIG SET port / bind move the listener, against a real redis-server.

Each server is started for the test alone (its port moves). A CONFIG SET whose port
is taken fails with Redis's error and puts every parameter of the call back (the
Tcl test "CONFIG SET rollback on apply error"); a free port or a new bind address
is listened on at once, the old listener is closed, and open connections stay.
"""

from __future__ import annotations

import socket
from typing import Any, Callable, Iterator

import pytest

from tests.support.resp_client import RespClient
from tests.support.servers import ServerProcess, free_port, start_fanout, start_redis_server


def _refused(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def _scenario(port: int) -> list[Any]:
    out: list[Any] = []
    with RespClient(port) as admin, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        used = taken.getsockname()[1]
        before = [admin.call("CONFIG", "GET", name)[1] for name in ("maxmemory", "client-query-buffer-limit")]
        out.append(admin.call("CONFIG", "SET", "maxmemory", 10000001, "port", used, "client-query-buffer-limit", "10m"))
        out.append([admin.call("CONFIG", "GET", name)[1] for name in ("maxmemory", "client-query-buffer-limit")]
                   == before)
        out.append(admin.call("CONFIG", "GET", "port")[1] == str(port).encode())
        with RespClient(port) as again:
            out.append(again.call("PING"))
        moved = free_port()
        out.append(admin.call("CONFIG", "SET", "port", moved))
        with RespClient(moved) as there:
            out += [there.call("PING"), there.call("CONFIG", "GET", "port")[1] == str(moved).encode()]
        out += [_refused(port), admin.call("PING")]  # the old listener is gone, this connection is not
        out.append(admin.call("CONFIG", "SET", "bind", "127.0.0.2 -::1"))
        with RespClient(moved, host="127.0.0.2") as other_address:
            out += [other_address.call("PING"), other_address.call("CONFIG", "GET", "bind")]
        out += [_refused(moved), admin.call("CONFIG", "SET", "bind", "10.255.255.1"),
                admin.call("CONFIG", "GET", "bind"), admin.call("CONFIG", "SET", "bind", "127.0.0.1")]
        with RespClient(moved) as back:
            out.append(back.call("PING"))
    return out


@pytest.fixture
def fresh_servers() -> Iterator[Callable[[str], ServerProcess]]:
    started: list[ServerProcess] = []

    def start(kind: str) -> ServerProcess:
        server = start_redis_server() if kind == "redis" else start_fanout("broker", "--port", str(free_port()),
                                                                           "--save", "")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_config_set_port_and_bind_as_redis(fresh_servers: Callable[[str], ServerProcess]) -> None:
    redis, fanout = fresh_servers("redis"), fresh_servers("fanout")
    expected = _scenario(redis.port)
    assert expected[0].message.startswith("ERR CONFIG SET failed (possibly related to argument 'port')")
    assert _scenario(fanout.port) == expected
