"""Blocking list commands over real sockets, on redis-server and on our broker alike."""

from __future__ import annotations

import socket
import time

import pytest

from tests.support.resp_client import RespClient, client_flags, encode_command, wait_until


@pytest.fixture(params=["redis-server", "fanout"])
def port(request, redis_server, fanout_broker) -> int:
    server = redis_server if request.param == "redis-server" else fanout_broker
    with RespClient(server.port) as client:
        client.call("FLUSHALL")
    return server.port


def _wait_blocked(port: int, count: int) -> None:
    """Until INFO reports ``count`` blocked clients (a state only the server sees)."""
    with RespClient(port) as admin:
        wait_until(lambda: f"blocked_clients:{count}\r\n" in admin.call("INFO", "clients").decode(),
                   f"{count} clients are blocked")


def test_blpop_is_served_by_a_later_push_first_come_first_served(port):
    waiters = [RespClient(port) for _ in range(3)]
    for index, waiter in enumerate(waiters):
        waiter.send("BLPOP", "queue", "other", "0")
        _wait_blocked(port, index + 1)
    with RespClient(port) as pusher:
        assert pusher.call("RPUSH", "queue", "a", "b") == 2
        assert [waiters[0].read(), waiters[1].read()] == [[b"queue", b"a"], [b"queue", b"b"]]
        assert pusher.call("LPUSH", "other", "c") == 1
        assert waiters[2].read() == [b"other", b"c"]
        assert pusher.call("EXISTS", "queue", "other") == 0
    for waiter in waiters:
        waiter.close()


def test_timeout_returns_null_not_before_the_timeout(port):
    with RespClient(port) as client:
        started = time.monotonic()
        assert client.call("BLPOP", "nothing", "0.3") is None
        assert time.monotonic() - started >= 0.29
        started = time.monotonic()
        assert client.call("BLMOVE", "nothing", "dst", "LEFT", "LEFT", "0.2") is None
        assert time.monotonic() - started >= 0.19


def test_pipelined_commands_wait_for_the_blocking_one(port):
    with RespClient(port) as client, RespClient(port) as pusher:
        client.send_raw(encode_command("BLPOP", "jobs", "0") + encode_command("LLEN", "jobs")
                        + encode_command("PING"))
        _wait_blocked(port, 1)
        pusher.call("RPUSH", "jobs", "j1", "j2")
        assert client.read() == [b"jobs", b"j1"]
        assert client.read() == 1  # LLEN ran after the pop, not before
        assert client.read() == b"PONG"


def test_blmove_wakes_and_moves(port):
    with RespClient(port) as client, RespClient(port) as pusher:
        client.send("BRPOPLPUSH", "src", "dst", "0")
        _wait_blocked(port, 1)
        pusher.call("LPUSH", "src", "x")
        assert client.read() == b"x"
        assert pusher.call("LRANGE", "dst", "0", "-1") == [b"x"]


def test_a_blocked_client_that_disconnects_is_forgotten(port):
    gone = socket.create_connection(("127.0.0.1", port))
    gone.sendall(encode_command("BLPOP", "q", "0"))
    _wait_blocked(port, 1)
    gone.close()
    _wait_blocked(port, 0)
    with RespClient(port) as pusher:
        assert pusher.call("RPUSH", "q", "kept") == 1
        assert pusher.call("LRANGE", "q", "0", "-1") == [b"kept"]


@pytest.mark.parametrize("block, fill, wrong_type", [
    (("BLPOP", "k", 0), ("LPUSH", "k", "x"), ("SET", "k", "v")),
    (("BLMPOP", 0, 1, "k", "LEFT"), ("LPUSH", "k", "x"), ("SADD", "k", "v")),
    (("XREAD", "BLOCK", 0, "STREAMS", "k", "$"), ("XADD", "k", "5-1", "f", "v"), ("SET", "k", "v")),
    (("BZPOPMIN", "k", 0), ("ZADD", "k", 1, "a"), ("LPUSH", "k", "v")),
])
def test_a_multi_that_leaves_another_type_keeps_waiters_blocked(port, block, fill, wrong_type) -> None:
    """Issue 20: MULTI; push; DEL; a value of another type; EXEC. The key got data but
    holds the wrong type when the waiter is tried: Redis leaves it blocked (no
    WRONGTYPE), and serves it once the right type arrives."""
    with RespClient(port) as admin, RespClient(port) as waiter:
        admin.call("FLUSHALL")
        waiter_id = waiter.call("CLIENT", "ID")
        waiter.send(*block)

        def blocked() -> bool:
            return b"b" in client_flags(admin, waiter_id)

        wait_until(blocked, f"{block[0]} is blocked")
        for command in (("MULTI",), fill, ("DEL", "k"), wrong_type):
            admin.call(*command)
        assert admin.call("EXEC")[0] is not None
        assert blocked()  # checked on the server, after EXEC has served (or not) its keys
        admin.call("DEL", "k")
        admin.call(*fill)
        reply = waiter.read()
        assert isinstance(reply, list) and reply, reply


def test_a_wrong_destination_is_the_waiters_error_and_the_element_stays(port) -> None:
    """BRPOPLPUSH/BLMOVE to a key of another type: when the source gets data the
    waiter gets WRONGTYPE and the element stays in the source (Redis's
    "BRPOPLPUSH with wrong destination type" and "... maintains order ... after failure")."""
    with RespClient(port) as admin, RespClient(port) as waiter:
        admin.call("FLUSHALL")
        admin.call("SET", "dst", "string")
        waiter_id = waiter.call("CLIENT", "ID")
        waiter.send("BRPOPLPUSH", "src", "dst", 0)
        wait_until(lambda: b"b" in client_flags(admin, waiter_id), "BRPOPLPUSH is blocked")
        assert admin.call("RPUSH", "src", "a", "b", "c") == 3
        reply = waiter.read()
        assert str(reply).startswith("WRONGTYPE") or "WRONGTYPE" in repr(reply), reply
        assert admin.call("LRANGE", "src", 0, -1) == [b"a", b"b", b"c"]
