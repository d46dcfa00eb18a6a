"""Streams: replies, errors and keyspace events compared with a real redis-server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.differential import assert_same_replies
from tests.support.resp_client import RespClient
from tests.integration.test_diff_lists import _events

CORPUS = [
    ("XADD", "s", "1-1", "f", "v"), ("XADD", "s", "1-2", "a", "1", "b", "2"), ("XADD", "s", "2", "x", "y"),
    ("XADD", "s", "2-*", "x", "z"), ("XADD", "s", "1-5", "f", "v"), ("XADD", "s", "0-0", "f", "v"),
    ("XADD", "s", "0", "f", "v"), ("XADD", "s", "abc", "f", "v"), ("XADD", "s", "3-1", "odd"),
    ("XADD", "s", "3-x", "f", "v"), ("XADD", "s", "9-*", "f", "v"), ("XLEN", "s"), ("XLEN", "missing"),
    ("XRANGE", "s", "-", "+"), ("XRANGE", "s", "1", "1"), ("XRANGE", "s", "(1-1", "+", "COUNT", "2"),
    ("XRANGE", "s", "-", "(2-0"), ("XRANGE", "s", "-", "+", "COUNT", "0"), ("XRANGE", "s", "5", "1"),
    ("XRANGE", "s", "(-", "+"), ("XRANGE", "s", "x", "+"), ("XRANGE", "s", "-", "+", "COUNT"),
    ("XREVRANGE", "s", "+", "-"), ("XREVRANGE", "s", "+", "-", "COUNT", "2"), ("XREVRANGE", "s", "(2-1", "1-2"),
    ("XRANGE", "missing", "-", "+"),
    ("XDEL", "s", "1-2", "7-7"), ("XDEL", "s", "bad"), ("XRANGE", "s", "-", "+"), ("XDEL", "missing", "1-1"),
    ("XADD", "t", "NOMKSTREAM", "1-1", "f", "v"), ("EXISTS", "t"),
    ("XADD", "t", "MAXLEN", "2", "1-1", "f", "1"), ("XADD", "t", "MAXLEN", "=", "2", "2-1", "f", "2"),
    ("XADD", "t", "MAXLEN", "2", "3-1", "f", "3"), ("XADD", "t", "MAXLEN", "-1", "4-1", "f", "4"),
    ("XADD", "t", "MAXLEN", "2", "LIMIT", "5", "4-1", "f", "4"), ("XRANGE", "t", "-", "+"),
    ("XADD", "t", "MINID", "3", "5-1", "f", "5"), ("XRANGE", "t", "-", "+"),
    ("XTRIM", "t", "MAXLEN", "1"), ("XTRIM", "t", "MAXLEN", "5"), ("XTRIM", "t", "MINID", "=", "9"),
    ("XLEN", "t"), ("EXISTS", "t"), ("XTRIM", "t", "BOGUS", "1"), ("XTRIM", "t", "MAXLEN", "1", "LIMIT", "2"),
    ("XTRIM", "missing", "MAXLEN", "1"),
    ("XREAD", "STREAMS", "s", "0"), ("XREAD", "COUNT", "1", "STREAMS", "s", "missing", "1-1", "0"),
    ("XREAD", "STREAMS", "s", "$"), ("XREAD", "STREAMS", "s"), ("XREAD", "STREAMS", "s", "x"),
    ("XREAD", "BLOCK", "10", "STREAMS", "s", "$"), ("XREAD", "BLOCK", "-1", "STREAMS", "s", "$"),
    ("XREAD", "COUNT", "1"), ("XREAD", "FOO", "STREAMS", "s", "0"),
    ("SET", "str", "x"), ("XADD", "str", "1-1", "f", "v"), ("XRANGE", "str", "-", "+"),
    ("XSETID", "s", "100-0"), ("XADD", "s", "50-0", "f", "v"), ("XADD", "s", "100-*", "f", "v"),
    ("XSETID", "s", "1-0"), ("XSETID", "missing", "1-0"), ("TYPE", "s"),
    ("XDEL", "missing", "bad"), ("XDEL", "str", "bad"), ("XDEL", "s", "2-*"), ("XRANGE", "missing", "-", "+", "COUNT", "0"),
    ("XRANGE", "s", "-", "+", "COUNT", "0"), ("XREVRANGE", "s", "+", "-", "COUNT", "-1"),
    ("MULTI",), ("XREAD", "BLOCK", "0", "STREAMS", "s", "$"), ("EXEC",),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_stream_corpus(redis_server, fanout_broker, protocol):
    assert_same_replies(redis_server.port, fanout_broker.port, CORPUS, protocol=protocol)


def test_approximate_trimming_removes_whole_nodes_like_redis(redis_server, fanout_broker):
    script = [("XADD", "h", f"{i}-1", "n", str(i)) for i in range(1, 351)]
    script += [("XADD", "h", "MAXLEN", "~", "120", "400-1", "n", "x"), ("XLEN", "h"),
               ("XTRIM", "h", "MAXLEN", "~", "10"), ("XLEN", "h"), ("XRANGE", "h", "-", "+", "COUNT", "1")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


def test_stream_keyspace_events(redis_server, fanout_broker):
    script = [command for command in CORPUS if command[0] not in ("MULTI", "EXEC")
              and "BLOCK" not in command]
    expected = _events(redis_server.port, script)
    assert len(expected) > 20
    assert _events(fanout_broker.port, script) == expected


@pytest.mark.parametrize("server", ["redis-server", "fanout"])
def test_xread_block_is_woken_by_xadd(redis_server, fanout_broker, server):
    port = (redis_server if server == "redis-server" else fanout_broker).port
    with RespClient(port) as reader, RespClient(port) as writer:
        writer.call("FLUSHALL")
        writer.call("XADD", "live", "1-1", "old", "1")
        reader.send("XREAD", "BLOCK", "0", "STREAMS", "live", "$")
        with RespClient(port) as admin:
            for _ in range(500):
                if b"blocked_clients:1" in admin.call("INFO", "clients"):
                    break
        writer.call("XADD", "live", "2-1", "new", "2")
        assert reader.read() == [[b"live", [[b"2-1", [b"new", b"2"]]]]]


def test_approximate_trims_that_take_every_entry(redis_server, fanout_broker) -> None:
    """Issue 20: XTRIM/XADD with MAXLEN ~ 0, or a MINID past the last id, empty the
    stream (every node goes, the partial last one too); short of that, whole nodes."""
    fill = [("XADD", "s", f"{i}-1", "f", "v") for i in range(1, 251)]
    script = [*fill, ("XTRIM", "s", "MAXLEN", "~", "0"), ("XLEN", "s"), *fill[:5], ("XLEN", "s"),
              *[("XADD", "t", f"{i}-1", "f", "v") for i in range(1, 151)], ("XTRIM", "t", "MINID", "~", "999"),
              ("XLEN", "t"), *[("XADD", "u", f"{i}-1", "f", "v") for i in range(1, 151)],
              ("XTRIM", "u", "MAXLEN", "~", "10"), ("XLEN", "u"), ("XADD", "u", "MAXLEN", "~", "0", "*", "f", "v"),
              ("XLEN", "u"), ("XTRIM", "u", "MAXLEN", "0"), ("XLEN", "u"), ("XINFO", "STREAM", "s")]

    def normalize(command: Any, reply: Any) -> Any:
        return "id" if command[0] == "XADD" and command[2] == "MAXLEN" else reply

    assert_same_replies(redis_server.port, fanout_broker.port, script, normalize=normalize)
