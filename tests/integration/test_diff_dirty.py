"""``rdb_changes_since_last_save`` (Redis's ``server.dirty``) against a real redis-server.

Each command of a script runs on both servers and the counter's rise is compared
command by command: a write that changes nothing (DEL of a missing key, SETBIT of
the bit already there, SADD of members already in) adds nothing, and commands that
count their elements (HSET's fields, LPUSH's values, DEL's keys) add as many.
"""

from __future__ import annotations

from typing import Any, Sequence

import pytest

from tests.support.resp_client import RespClient

Command = Sequence[Any]


def _dirty(client: RespClient) -> int:
    info = client.call("INFO", "persistence")
    for line in info.decode().splitlines():
        if line.startswith("rdb_changes_since_last_save:"):
            return int(line.split(":", 1)[1])
    raise AssertionError("no rdb_changes_since_last_save in INFO")


def dirty_steps(port: int, script: Sequence[Command]) -> list[tuple[str, Any, int]]:
    """Each command's reply and how much it moved the counter."""
    with RespClient(port) as client:
        # no save schedule (FLUSHALL saves with one, which resets the counter)
        save = client.call("CONFIG", "GET", "save")[1]
        client.call("CONFIG", "SET", "save", "")
        try:
            client.call("FLUSHALL")
            steps = []
            for command in script:
                before = _dirty(client)
                reply = client.call(*command)
                if str(command[0]).upper() == "SPOP" and isinstance(reply, list):
                    reply = len(reply)  # which members is random: how many is not
                steps.append((" ".join(map(str, command)), reply, _dirty(client) - before))
            return steps
        finally:
            client.call("CONFIG", "SET", "save", save)


SCRIPTS: dict[str, list[tuple[Any, ...]]] = {
    # the Tcl test "SETBIT/BITFIELD only increase dirty when the value changed"
    "setbit_bitfield": [
        ("SETBIT", "foo", 0, 0), ("BITFIELD", "foo2", "SET", "i5", 0, 0), ("SETBIT", "foo", 0, 0),
        ("BITFIELD", "foo2", "SET", "i5", 0, 0), ("SETBIT", "foo", 0, 1), ("SETBIT", "foo", 0, 1),
        ("BITFIELD", "foo2", "SET", "i5", 0, 1), ("BITFIELD", "foo2", "SET", "i5", 0, 1),
        ("BITFIELD", "foo3", "INCRBY", "i5", 0, 1), ("BITFIELD", "foo3", "INCRBY", "i5", 0, 1),
        ("SETBIT", "foo", 90, 0), ("BITFIELD", "foo2", "SET", "i5", 90, 0), ("BITFIELD", "foo2", "GET", "i5", 0),
    ],
    "no_op_writes": [
        ("DEL", "missing"), ("UNLINK", "missing"), ("EXPIRE", "missing", 10), ("PERSIST", "missing"),
        ("SET", "k", "v"), ("PERSIST", "k"), ("SREM", "nos", "a"), ("HDEL", "noh", "f"), ("LPOP", "nol"),
        ("ZREM", "noz", "m"), ("SETNX", "k", "w"), ("SET", "k", "w", "NX"), ("SET", "k", "w", "XX"),
        ("SET", "other", "w", "XX"), ("GETDEL", "missing"), ("RENAMENX", "k", "k2"), ("SET", "k2", "x"),
        ("RENAMENX", "k", "k2"), ("MSETNX", "k", "1", "new", "2"), ("LREM", "nol", 0, "x"),
        ("SADD", "s", "a"), ("SADD", "s", "a"), ("SMOVE", "s", "t", "zz"), ("SPOP", "nos"),
        ("ZADD", "z", 1, "m"), ("ZADD", "z", 1, "m"), ("ZADD", "z", "NX", 2, "m"), ("ZINCRBY", "z", 0, "m"),
        ("HSETNX", "h", "f", "v"), ("HSETNX", "h", "f", "v"), ("INCRBY", "n", 0), ("APPEND", "k", ""),
        ("SETRANGE", "k", 0, ""), ("SETRANGE", "missing", 0, ""), ("EXPIRE", "k", 100), ("EXPIRE", "k", 100, "NX"),
        ("LTRIM", "nol", 0, 1), ("XADD", "x", "NOMKSTREAM", "*", "f", "v"), ("XDEL", "x", "1-1"),
        ("XTRIM", "x", "MAXLEN", 10), ("COPY", "missing", "dst"), ("GETEX", "k"), ("GETEX", "k", "PERSIST"),
    ],
    "element_counts": [
        ("HSET", "h", "a", "1", "b", "2", "c", "3"), ("HSET", "h", "a", "1", "b", "2"), ("HMSET", "h", "a", "1", "d", "4"),
        ("HDEL", "h", "a", "b", "zz"), ("LPUSH", "l", "a", "b", "c"), ("RPUSH", "l", "d", "e"),
        ("LPUSHX", "l", "x", "y"), ("LPOP", "l", 2), ("RPOP", "l", 5), ("SADD", "s", "a", "b", "c", "a"),
        ("SREM", "s", "a", "b", "q"), ("ZADD", "z", 1, "a", 2, "b", 3, "c"), ("ZADD", "z", 1, "a", 5, "b", 6, "d"),
        ("ZREM", "z", "a", "b", "q"), ("MSET", "k1", "1", "k2", "2", "k3", "3"), ("DEL", "k1", "k2", "missing"),
        ("UNLINK", "k3", "h", "missing"), ("SET", "a", "1"), ("RENAME", "a", "b"), ("INCR", "b"), ("INCRBYFLOAT", "b", 1.5),
        ("HINCRBY", "h2", "f", 2), ("SPOP", "s", 3), ("SADD", "s2", 1, 2, 3, 4), ("SPOP", "s2", 2),
        ("ZPOPMIN", "z", 2), ("XADD", "x", "1-1", "f", "v"), ("XADD", "x", "MAXLEN", 0, "2-1", "f", "v"),
        ("XDEL", "x", "1-1", "2-1"), ("LINSERT", "l2", "BEFORE", "a", "b"), ("RPUSH", "l2", "a", "b", "a"),
        ("LREM", "l2", 0, "a"), ("LSET", "l2", 0, "z"), ("LMOVE", "l2", "l3", "LEFT", "RIGHT"),
        ("SINTERSTORE", "d", "s2", "nos"), ("SUNIONSTORE", "d", "s2", "s2"), ("ZUNIONSTORE", "dz", 1, "z"),
        ("FLUSHDB",), ("SET", "k", "v"), ("FLUSHALL",),
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_dirty_counts_as_redis(redis_server: Any, fanout_broker: Any, name: str) -> None:
    expected = dirty_steps(redis_server.port, SCRIPTS[name])
    actual = dirty_steps(fanout_broker.port, SCRIPTS[name])
    for want, got in zip(expected, actual):
        assert got == want, f"{want[0]!r}: redis-server {want[1:]!r}, fanout {got[1:]!r}"
