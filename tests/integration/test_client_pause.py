"""CLIENT PAUSE / UNPAUSE against a real redis-server, after Redis's own pause.tcl.

Each scenario runs on both servers with deferred clients (send now, read later)
and records what every client got, and when ("blocked" while the pause holds);
the records must be equal. Whether a client is held is read from the server
(CLIENT LIST flags), never guessed from time.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest

from tests.support.resp_client import RespClient, client_flags, wait_until
from tests.support.servers import ServerProcess
from tests.support.ws import connect

Scenario = Callable[[int], list[Any]]


def _wait_blocked(admin: RespClient, client_id: int) -> None:
    wait_until(lambda: b"b" in client_flags(admin, client_id), f"client {client_id} is blocked")


def _blocked_clients(admin: RespClient) -> int:
    info = admin.call("INFO", "clients").decode()
    return int(info.split("blocked_clients:")[1].split()[0])


def write_pause_holds_writes_only(port: int) -> list[Any]:
    with RespClient(port) as admin, RespClient(port) as reader, RespClient(port) as writer, \
            RespClient(port) as counter, RespClient(port) as publisher:
        admin.call("FLUSHALL")
        admin.call("SET", "foo", "bar")
        admin.call("PFADD", "hll", "x")
        ids = {client: client.call("CLIENT", "ID") for client in (writer, counter, publisher)}
        out: list[Any] = [admin.call("CLIENT", "PAUSE", 100000, "WRITE")]
        out += [reader.call("GET", "foo"), reader.call("PING"), _blocked_clients(admin)]
        for client, command in ((writer, ("SET", "foo", "new")), (counter, ("PFCOUNT", "hll")),
                                (publisher, ("PUBLISH", "ch", "m"))):
            client.send(*command)
            _wait_blocked(admin, ids[client])
        out += [_blocked_clients(admin), admin.call("GET", "foo"), admin.call("CLIENT", "UNPAUSE")]
        out += [writer.read(), counter.read(), publisher.read(), admin.call("GET", "foo"), _blocked_clients(admin)]
        return out


def multi_exec_under_pause(port: int) -> list[Any]:
    with RespClient(port) as admin, RespClient(port) as reads, RespClient(port) as writes:
        admin.call("FLUSHALL")
        admin.call("SET", "foo", "bar")
        writes_id = writes.call("CLIENT", "ID")
        out: list[Any] = [writes.call("MULTI"), writes.call("SET", "foo", "baz")]
        out.append(admin.call("CLIENT", "PAUSE", 100000, "WRITE"))
        out += [reads.call("MULTI"), reads.call("PING"), reads.call("GET", "foo"), reads.call("EXEC")]
        writes.send("EXEC")
        _wait_blocked(admin, writes_id)
        out += [admin.call("GET", "foo"), admin.call("CLIENT", "UNPAUSE"), writes.read(), admin.call("GET", "foo")]
        return out


def pause_ends_by_itself_and_keeps_order(port: int) -> list[Any]:
    with RespClient(port) as admin, RespClient(port) as writer:
        admin.call("FLUSHALL")
        writer_id = writer.call("CLIENT", "ID")
        out: list[Any] = [admin.call("CLIENT", "PAUSE", 300, "WRITE")]
        # a pipeline: the write is held and the reads behind it wait their turn
        writer.send_raw(b"*3\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$1\r\na\r\n*2\r\n$4\r\nLLEN\r\n$1\r\nl\r\n"
                        b"*3\r\n$5\r\nLPUSH\r\n$1\r\nl\r\n$1\r\nb\r\n*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n")
        _wait_blocked(admin, writer_id)
        out += [admin.call("LLEN", "l")]
        out += [writer.read() for _ in range(4)]  # the pause runs out: no UNPAUSE
        return out


def all_pause_holds_reads_too(port: int) -> list[Any]:
    with RespClient(port) as admin, RespClient(port) as reader:
        admin.call("FLUSHALL")
        admin.call("SET", "k", "v")
        out: list[Any] = [admin.call("CLIENT", "PAUSE", 400)]
        # every command waits under ALL (even CLIENT UNPAUSE would): the read is
        # answered when the pause runs out
        reader.send("GET", "k")
        out += [reader.read(), admin.call("CLIENT", "UNPAUSE")]
        return out


def _expired_keys(admin: RespClient) -> int:
    info = admin.call("INFO", "stats").decode()
    return int(info.split("expired_keys:")[1].split()[0])


def pause_holds_expiry(port: int) -> list[Any]:
    """The Tcl test "Test both active and passive expires are skipped during client
    pause": keys past their TTL read as gone, but are deleted only after the pause."""
    with RespClient(port) as admin:
        admin.call("FLUSHALL")
        before = _expired_keys(admin)
        out: list[Any] = [admin.call("MULTI"), admin.call("SET", "foo", "bar", "PX", 10),
                          admin.call("SET", "bar", "foo", "PX", 10), admin.call("CLIENT", "PAUSE", 100000, "WRITE"),
                          admin.call("EXEC")]
        wait_until(lambda: admin.call("GET", "foo") is None and admin.call("GET", "bar") is None, "keys read as expired")
        out += [_expired_keys(admin) - before, admin.call("DBSIZE"), admin.call("EXISTS", "foo", "bar")]
        out += [admin.call("CLIENT", "UNPAUSE"), admin.call("GET", "foo"), admin.call("GET", "bar"),
                _expired_keys(admin) - before, admin.call("DBSIZE")]
        return out


_NO_WRITES = "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1]) .. ' read'"
_LIBRARY = ("#!lua name=pausetest\nredis.register_function{function_name='ro', "
            "callback=function() return 'hello' end, flags={'no-writes'}}")


def read_only_scripts_pass_a_write_pause(port: int) -> list[Any]:
    """The Tcl tests "Test RO scripts are not blocked by pause RO" and its MULTI twin:
    a script that declares no-writes is no write; one without flags may write."""
    with RespClient(port) as admin, RespClient(port) as other:
        admin.call("FLUSHALL")
        admin.call("SET", "x", "y")
        out: list[Any] = [admin.call("FUNCTION", "LOAD", "REPLACE", _LIBRARY)]
        sha = admin.call("SCRIPT", "LOAD", "#!lua flags=no-writes\nreturn 2")
        other_id = other.call("CLIENT", "ID")
        out.append(admin.call("CLIENT", "PAUSE", 100000, "WRITE"))
        out += [other.call("EVAL", _NO_WRITES, 1, "x"), other.call("EVAL_RO", "return redis.call('GET', KEYS[1])", 1, "x"),
                other.call("EVALSHA", sha, 0), other.call("FCALL", "ro", 0),
                other.call("MULTI"), other.call("EVAL", _NO_WRITES, 1, "x"), other.call("FCALL", "ro", 0),
                other.call("EXEC")]
        other.send("EVAL", "return redis.call('GET', KEYS[1])", 1, "x")  # no flags: may write
        _wait_blocked(admin, other_id)
        out += [admin.call("CLIENT", "UNPAUSE"), other.read(), admin.call("FUNCTION", "DELETE", "pausetest")]
        return out


def errors(port: int) -> list[Any]:
    with RespClient(port) as admin:
        return [admin.call(*command) for command in (
            ("CLIENT", "PAUSE", 10, "READ"), ("CLIENT", "PAUSE", -1), ("CLIENT", "PAUSE", "soon"),
            ("CLIENT", "PAUSE", 10, "WRITE", "x"), ("CLIENT", "PAUSE"), ("CLIENT", "UNPAUSE", "x"),
            ("CLIENT", "UNPAUSE"), ("CLIENT", "PAUSE", 0), ("PING",))]


@pytest.mark.parametrize("scenario", [write_pause_holds_writes_only, multi_exec_under_pause,
                                      pause_ends_by_itself_and_keeps_order, all_pause_holds_reads_too,
                                      pause_holds_expiry, read_only_scripts_pass_a_write_pause, errors])
def test_client_pause_as_redis(redis_server, fanout_broker, scenario: Scenario) -> None:
    assert scenario(fanout_broker.port) == scenario(redis_server.port)


@pytest.fixture(scope="module")
def serve(embedded_serve: ServerProcess) -> ServerProcess:
    return embedded_serve


async def test_the_gateway_keeps_publishing_while_resp_writes_are_paused(serve: ServerProcess) -> None:
    """A pause holds backend services' writes, not the process's own websocket traffic."""
    with RespClient(serve.extra_ports["resp"]) as admin:
        assert admin.call("CLIENT", "PAUSE", 100000, "WRITE") == b"OK"
        try:
            subscriber, publisher = await connect(serve.port), await connect(serve.port)
            await subscriber.request("subscribe", channel="room")
            reply = await publisher.request("publish", channel="room", data={"n": 1})
            assert reply.get("ok") is True
            assert (await asyncio.wait_for(subscriber.event(), 10))["data"] == {"n": 1}
        finally:
            assert admin.call("CLIENT", "UNPAUSE") == b"OK"
