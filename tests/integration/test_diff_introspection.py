"""Introspection against a real redis-server: COMMAND INFO/DOCS/GETKEYSANDFLAGS,
SLOWLOG, LATENCY, INFO commandstats/errorstats/latencystats, MODULE, LOLWUT.

Tools (redis-py's cluster client, redis-cli's hints, RedisInsight) read COMMAND
INFO and COMMAND DOCS; they must be Redis's, for every command both servers have.
Timing-dependent values (durations, timestamps, percentiles) are compared by shape.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.differential import assert_same_replies
from tests.support.resp_client import RespClient, RespError

# 7.2 additions fanout has (README): Redis 7.0.15 has no entry for them
LATER = {b"client|no-touch", b"client|setinfo"}


def _sorted_subcommands(entry: Any) -> Any:
    """COMMAND INFO entry with its subcommands in name order (Redis writes them in
    its dict's hash order, which changes from run to run), fanout's later ones out."""
    if not isinstance(entry, list):
        return entry
    subs = [sub for sub in entry[9] if sub[0] not in LATER]
    return entry[:9] + [sorted(subs, key=lambda sub: sub[0])]


def _pairs(reply: Any) -> dict[Any, Any]:
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2]))


def _docs(reply: Any) -> Any:
    """COMMAND DOCS reply as nested dicts (RESP2 maps are flat arrays), subcommands
    keyed by name (so their order does not matter), fanout's later ones out."""
    out = {}
    for name, doc in _pairs(reply).items():
        doc = dict(_pairs(doc))
        if b"subcommands" in doc:
            doc[b"subcommands"] = {key: value for key, value in _docs(doc[b"subcommands"]).items()
                                   if key not in LATER}
        out[name] = doc
    return out


def _names(client: RespClient) -> list[bytes]:
    return sorted(client.call("COMMAND", "LIST"))


@pytest.mark.parametrize("protocol", [2, 3])
def test_command_info_and_docs_are_redis_s_for_every_command(redis_server, fanout_broker, protocol) -> None:
    with RespClient(redis_server.port, protocol=protocol) as redis, \
            RespClient(fanout_broker.port, protocol=protocol) as ours:
        theirs = set(_names(redis))
        names = [name for name in _names(ours) if name in theirs and b"|" not in name]
        assert len(names) > 200
        for name in names:
            want, got = redis.call("COMMAND", "INFO", name), ours.call("COMMAND", "INFO", name)
            assert _sorted_subcommands(got[0]) == _sorted_subcommands(want[0]), name
            want, got = redis.call("COMMAND", "DOCS", name), ours.call("COMMAND", "DOCS", name)
            assert _docs(got) == _docs(want), name
        # subcommands asked for by full name, and names neither server has
        script = [("COMMAND", "INFO", "config|get", "get", "nosuch", "client|list"),
                  ("COMMAND", "DOCS", "config|set", "nosuch"), ("COMMAND", "INFO", "nosuch|x"),
                  ("COMMAND", "DOCS", "slowlog|get", "latency|latest", "lolwut", "module|list")]
        for command in script:
            assert ours.call(*command) == redis.call(*command), command


def test_command_fanout_commands_are_described(fanout_broker) -> None:
    with RespClient(fanout_broker.port) as ours:
        (entry,) = ours.call("COMMAND", "INFO", "fanout.publish")
        assert entry[:6] == [b"fanout.publish", 5, [b"write", b"denyoom"], 1, 1, 1]
        docs = _docs(ours.call("COMMAND", "DOCS", "fanout.once"))[b"fanout.once"]
        assert docs[b"group"] == b"pubsub" and b"idempotency" in docs[b"summary"]
        assert ours.call("COMMAND", "GETKEYS", "FANOUT.PUBLISH", "ch", "10", "1000", "x") == [b"ch"]


GETKEYSANDFLAGS = [
    ("SET", "k", "v"), ("SET", "k", "v", "GET"), ("GET", "k"), ("MSET", "a", "1", "b", "2"),
    ("SMOVE", "a", "b", "m"), ("LMOVE", "a", "b", "LEFT", "RIGHT"), ("BITFIELD", "k", "GET", "u8", "0"),
    ("BITFIELD", "k", "SET", "u8", "0", "1"), ("BITFIELD", "k", "GET", "u8"), ("SORT", "k", "STORE", "d"),
    ("SORT", "k"), ("SORT_RO", "k"), ("ZUNIONSTORE", "d", "2", "a", "b"), ("EVAL", "return 1", "2", "a", "b"),
    ("XREAD", "STREAMS", "a", "b", "0", "0"), ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
    ("GEORADIUS", "k", "1", "1", "1", "m", "STORE", "d"), ("DEL", "a", "b"), ("RENAME", "a", "b"),
    ("COPY", "a", "b"), ("BLMPOP", "0", "2", "a", "b", "LEFT"), ("PFMERGE", "d", "a", "b"),
    ("OBJECT", "ENCODING", "k"), ("GETEX", "k", "PERSIST"), ("PING",), ("LCS", "a", "b"),
]


def test_command_getkeysandflags(redis_server, fanout_broker) -> None:
    script = [("COMMAND", "GETKEYSANDFLAGS", *command) for command in GETKEYSANDFLAGS]
    script += [("COMMAND", "GETKEYSANDFLAGS", "GET"), ("COMMAND", "GETKEYSANDFLAGS", "NOSUCH", "a"),
               ("COMMAND", "GETKEYSANDFLAGS", "GET", "a", "b")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)
    assert_same_replies(redis_server.port, fanout_broker.port, script, protocol=3)


def test_command_help_and_arity(redis_server, fanout_broker) -> None:
    script = [("COMMAND", "HELP"), ("COMMAND", "COUNT", "x"), ("COMMAND", "NOSUCH"), ("COMMAND", "GETKEYS"),
              ("COMMAND", "GETKEYS", "GET"), ("COMMAND", "INFO"), ("COMMAND", "LIST", "FILTERBY", "MODULE", "m")]

    def normalize(command: Any, reply: Any) -> Any:
        # bare COMMAND INFO lists every command: only its shape can be compared
        return len(reply) > 200 if command == ("COMMAND", "INFO") else reply

    assert_same_replies(redis_server.port, fanout_broker.port, script, normalize=normalize)
