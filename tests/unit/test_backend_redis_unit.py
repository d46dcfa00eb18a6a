"""RedisBackend pieces that need no server: reconnect delays, error codes, URL parsing."""

from __future__ import annotations

import itertools
from typing import Any

import hiredis
import pytest
from redis.asyncio.connection import UnixDomainSocketConnection
from redis.exceptions import NoScriptError, ResponseError

from broker.backends.command_link import CommandLink, pack_command
from broker.backends.pubsub_link import command_error
from broker.resp import CommandError
from broker.backends.redis import RedisBackend, backoff_delays


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    upper = list(itertools.islice(backoff_delays(0.05, 2.0, rand=lambda low, high: high), 9))
    assert upper == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    lower = list(itertools.islice(backoff_delays(0.05, 2.0, rand=lambda low, high: low), 3))
    assert lower == [0.025, 0.05, 0.1]
    real = list(itertools.islice(backoff_delays(0.05, 2.0), 50))
    assert all(0.025 <= d <= 2.0 for d in real) and max(real) > 1.0


def test_command_error_puts_back_the_code_redis_py_strips() -> None:
    assert str(command_error(ResponseError("unknown command 'X'", status_code="ERR"))) == "ERR unknown command 'X'"
    assert str(command_error(NoScriptError("No matching script.", status_code="NOSCRIPT"))).startswith("NOSCRIPT ")
    assert str(command_error(ResponseError("WRONGTYPE Operation"))) == "WRONGTYPE Operation"


def test_urls_name_the_address_errors_will_mention() -> None:
    assert RedisBackend("redis://10.1.2.3:7000/2").address == "10.1.2.3:7000"
    assert RedisBackend("redis://localhost").address == "localhost:6379"
    assert RedisBackend("unix:///run/fanout.sock?db=1").address == "/run/fanout.sock"
    assert RedisBackend("redis+cluster://127.0.0.1:7100").cluster


def test_pack_command_writes_resp_multibulk() -> None:
    assert pack_command([b"SET", "k", 5, 1.5, b"\r\n"]) == (
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n$3\r\n1.5\r\n$2\r\n\r\n\r\n")
    assert hiredis_parse(pack_command([b"PUBLISH", b"ch", bytes(range(256))])) == [
        b"PUBLISH", b"ch", bytes(range(256))]


@pytest.mark.parametrize("argv", [
    ["BLPOP", "q", 0], ["subscribe", "c"], ["SELECT", 1], ["MULTI"], ["XREAD", "BLOCK", 0, "STREAMS", "s", "$"],
    ["CLIENT", "REPLY", "OFF"], ["MONITOR"], [b"WAIT", 1, 0]])
async def test_commands_that_would_block_or_change_the_shared_connection_are_refused(argv: list[Any]) -> None:
    link = CommandLink(UnixDomainSocketConnection(path="/nonexistent"), "test", 1.0, lambda error: None)
    with pytest.raises(CommandError, match="not allowed on the shared backend connection"):
        await link.call(*argv)
    with pytest.raises(CommandError, match="not allowed"):
        await link.transaction([["SET", "k", "v"], argv])


def hiredis_parse(data: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()
