"""COMMAND COUNT/LIST/GETKEYS against a real redis-server.

Cluster clients learn where a command's keys are with COMMAND GETKEYS (and
COMMAND INFO): the key positions, movable ones included (a key count before the
keys, STREAMS, STORE), must be Redis's.
"""

from __future__ import annotations

from typing import Any

from tests.support.differential import assert_same_replies
from tests.support.resp_client import RespClient

GETKEYS = [
    ("MSET", "a", "b", "c", "d"), ("GET", "k"), ("SET", "k", "v", "EX", "10"), ("DEL", "a", "b", "c"),
    ("ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"), ("ZINTERSTORE", "d", "1", "a"),
    ("ZDIFFSTORE", "d", "2", "a", "b"), ("ZUNION", "2", "a", "b"), ("ZINTER", "3", "a", "b", "c"),
    ("ZDIFF", "1", "a"), ("ZINTERCARD", "2", "a", "b", "LIMIT", "1"), ("SINTERCARD", "2", "a", "b"),
    ("LMPOP", "2", "a", "b", "LEFT"), ("BLMPOP", "0", "2", "a", "b", "LEFT"), ("ZMPOP", "1", "z", "MIN"),
    ("BZMPOP", "1", "2", "y", "z", "MAX"), ("XREAD", "COUNT", "1", "STREAMS", "a", "b", "0", "0"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", ">"), ("SORT", "k", "STORE", "d"), ("SORT", "k"),
    ("SORT", "k", "STORE", "d1", "STORE", "d2"), ("GEORADIUS", "k", "1", "1", "1", "m", "STORE", "d"),
    ("GEORADIUSBYMEMBER", "k", "m", "1", "km", "STOREDIST", "d"), ("GEOSEARCHSTORE", "d", "s", "FROMMEMBER", "m",
                                                                  "BYRADIUS", "1", "m"),
    ("EVAL", "return 1", "0"), ("EVAL", "return 1", "2", "k1", "k2", "a1"), ("EVALSHA", "x", "1", "k"),
    ("FCALL", "f", "1", "k", "a"), ("EVAL", "return 1", "5", "a"), ("EVAL", "return 1", "x"),
    ("ZUNION", "5", "a"), ("ZUNIONSTORE", "d", "x", "a"), ("XREAD", "STREAMS", "a"), ("XREAD", "COUNT", "1"),
    ("LMPOP", "0", "LEFT"), ("PING",), ("GET",), ("NOSUCH", "a"), ("RENAME", "a", "b"), ("LMOVE", "a", "b", "LEFT",
                                                                                          "RIGHT"),
    ("OBJECT", "ENCODING", "k"), ("MEMORY", "USAGE", "k"), ("CONFIG", "GET", "x"), ("XINFO", "STREAM", "s"),
    ("PFCOUNT", "a", "b"), ("BITOP", "AND", "d", "a", "b"), ("LCS", "a", "b"), ("BLPOP", "a", "b", "0"),
    ("WATCH", "a", "b"), ("SWAPDB", "0", "1"),
]


def test_command_getkeys(redis_server, fanout_broker) -> None:
    script = [("COMMAND", "GETKEYS", *command) for command in GETKEYS] + [("COMMAND", "GETKEYS", "GET")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


def test_command_list_filters(redis_server, fanout_broker) -> None:
    script = [("COMMAND", "LIST", "FILTERBY", "MODULE", "x"), ("COMMAND", "LIST", "FILTERBY", "ACLCAT"),
              ("COMMAND", "LIST", "FILTERBY", "FOO", "bar"), ("COMMAND", "LIST", "x"),
              ("COMMAND", "LIST", "FILTERBY", "PATTERN", "config*")]

    def normalize(command: Any, reply: Any) -> Any:
        return sorted(reply) if isinstance(reply, list) else reply

    assert_same_replies(redis_server.port, fanout_broker.port, script, normalize=normalize)


def test_command_list_names_subcommands_and_what_we_have_is_redis_s(redis_server, fanout_broker) -> None:
    with RespClient(redis_server.port) as redis, RespClient(fanout_broker.port) as ours:
        theirs, mine = set(redis.call("COMMAND", "LIST")), set(ours.call("COMMAND", "LIST"))
        assert b"config|get" in mine and b"client|list" in mine
        # every name we list is a Redis 7.0 command, but for fanout's own FANOUT.* commands
        # and the 7.2 additions README names
        extra = {name for name in mine - theirs if not name.startswith(b"fanout.")}
        assert extra <= {b"client|no-touch", b"client|setinfo"}, extra
        # the categories are derived: the commonly used ones hold what Redis's do
        for category in ("list", "hash", "string", "sortedset", "stream", "geo", "bitmap", "hyperloglog"):
            in_redis = set(redis.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", category))
            in_ours = set(ours.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", category))
            assert in_ours <= in_redis | {b"sort", b"sort_ro"}, (category, in_ours - in_redis)


def test_config_help(redis_server, fanout_broker) -> None:
    assert_same_replies(redis_server.port, fanout_broker.port, [("CONFIG", "HELP"), ("CONFIG", "HELP", "x")])
