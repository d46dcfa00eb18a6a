"""Randomised command sequences against a real redis-server: lists, streams, the
keyspace events of a mixed workload, and pub/sub sessions.

Hypothesis draws the scripts from small vocabularies (few keys, few values) so that
commands collide on the same keys; every reply, every keyspace event and every
pub/sub frame must be what redis-server sends, where Redis defines the order.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.differential import assert_same_replies, keyspace_events
from tests.support.resp_client import RespClient

PROTOCOLS = st.sampled_from([2, 3])
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SCRIPTS = {"min_size": 1, "max_size": 25}

KEYS = st.sampled_from(["l", "l2", "str"])
ITEMS = st.sampled_from(["a", "b", "c", ""])
INDEXES = st.sampled_from(["0", "1", "-1", "-2", "2", "5", "-9", "x"])
COUNTS = st.sampled_from(["0", "1", "2", "-1", "3", "x"])
SIDES = st.sampled_from(["LEFT", "RIGHT"])

LIST_COMMANDS = st.one_of(
    st.tuples(st.sampled_from(["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), KEYS, ITEMS),
    st.tuples(st.sampled_from(["LPUSH", "RPUSH"]), KEYS, ITEMS, ITEMS, ITEMS),
    st.tuples(st.sampled_from(["LPOP", "RPOP", "LLEN"]), KEYS),
    st.tuples(st.sampled_from(["LPOP", "RPOP"]), KEYS, COUNTS),
    st.tuples(st.sampled_from(["LRANGE", "LTRIM"]), KEYS, INDEXES, INDEXES),
    st.tuples(st.just("LINDEX"), KEYS, INDEXES),
    st.tuples(st.just("LSET"), KEYS, INDEXES, ITEMS),
    st.tuples(st.just("LREM"), KEYS, COUNTS, ITEMS),
    st.tuples(st.just("LINSERT"), KEYS, st.sampled_from(["BEFORE", "AFTER"]), ITEMS, ITEMS),
    st.tuples(st.just("LPOS"), KEYS, ITEMS, st.sampled_from(["RANK", "COUNT", "MAXLEN"]), COUNTS),
    st.tuples(st.just("LMOVE"), KEYS, KEYS, SIDES, SIDES),
    st.tuples(st.just("RPOPLPUSH"), KEYS, KEYS),
    st.tuples(st.just("LMPOP"), st.just("2"), KEYS, KEYS, SIDES, st.just("COUNT"), st.sampled_from(["1", "2", "9"])),
    # Blocking forms with data present (or a refused timeout) never wait.
    st.tuples(st.sampled_from(["BLPOP", "BRPOP"]), KEYS, st.sampled_from(["0.01", "-1", "x"])),
    st.tuples(st.just("SET"), st.just("str"), ITEMS),
    st.tuples(st.sampled_from(["DEL", "TYPE", "EXISTS"]), KEYS),
)

STREAMS = st.sampled_from(["s", "s2", "str"])
# Explicit ids only: a '*' id is the server's clock, which differs between the two.
IDS = st.sampled_from(["1-1", "1-2", "2-0", "2-*", "3", "0-1", "5-*", "4-0", "x"])
BOUNDS = st.sampled_from(["-", "+", "1", "(1-1", "2-0", "(3", "9"])

STREAM_COMMANDS = st.one_of(
    st.tuples(st.just("XADD"), STREAMS, IDS, ITEMS, ITEMS),
    st.tuples(st.just("XADD"), STREAMS, st.sampled_from(["MAXLEN", "MINID"]), st.sampled_from(["1", "2", "3-0"]),
              IDS, ITEMS, ITEMS),
    st.tuples(st.just("XADD"), STREAMS, st.just("NOMKSTREAM"), IDS, ITEMS, ITEMS),
    st.tuples(st.sampled_from(["XRANGE", "XREVRANGE"]), STREAMS, BOUNDS, BOUNDS),
    st.tuples(st.sampled_from(["XRANGE", "XREVRANGE"]), STREAMS, BOUNDS, BOUNDS, st.just("COUNT"), COUNTS),
    st.tuples(st.just("XLEN"), STREAMS),
    st.tuples(st.just("XDEL"), STREAMS, IDS, IDS),
    st.tuples(st.just("XTRIM"), STREAMS, st.sampled_from(["MAXLEN", "MINID"]), st.sampled_from(["0", "1", "2-0"])),
    st.tuples(st.just("XREAD"), st.just("COUNT"), COUNTS, st.just("STREAMS"), STREAMS, STREAMS,
              st.sampled_from(["0", "1-1", "$"]), st.sampled_from(["0", "2-0"])),
    st.tuples(st.just("XSETID"), STREAMS, st.sampled_from(["9-0", "1-0", "0-0"])),
    st.tuples(st.just("SET"), st.just("str"), ITEMS),
    st.tuples(st.sampled_from(["DEL", "TYPE"]), STREAMS),
)


@SETTINGS
@given(script=st.lists(LIST_COMMANDS, **SCRIPTS), protocol=PROTOCOLS)
def test_random_list_scripts(redis_server, fanout_broker, script, protocol) -> None:
    full = script + [("LRANGE", key, "0", "-1") for key in ("l", "l2")]
    assert_same_replies(redis_server.port, fanout_broker.port, full, protocol=protocol)


@SETTINGS
@given(script=st.lists(STREAM_COMMANDS, **SCRIPTS), protocol=PROTOCOLS)
def test_random_stream_scripts(redis_server, fanout_broker, script, protocol) -> None:
    full = script + [("XRANGE", key, "-", "+") for key in ("s", "s2")]
    assert_same_replies(redis_server.port, fanout_broker.port, full, protocol=protocol)


MIXED_COMMANDS = st.one_of(
    LIST_COMMANDS,
    STREAM_COMMANDS,
    st.tuples(st.sampled_from(["HSET", "HSETNX"]), st.just("h"), ITEMS, ITEMS),
    st.tuples(st.just("HINCRBY"), st.just("h"), ITEMS, COUNTS),
    st.tuples(st.sampled_from(["SADD", "SREM"]), st.just("set"), ITEMS, ITEMS),
    st.tuples(st.just("ZADD"), st.just("z"), st.sampled_from(["1", "-1", "2.5", "GT", "NX"]), ITEMS),
    st.tuples(st.just("ZINCRBY"), st.just("z"), COUNTS, ITEMS),
    st.tuples(st.sampled_from(["INCR", "DECR", "GETDEL"]), st.just("n")),
    st.tuples(st.just("APPEND"), st.just("n"), ITEMS),
    st.tuples(st.just("RENAME"), st.sampled_from(["l", "h", "set", "z", "n"]), st.sampled_from(["l2", "h2", "z"])),
    st.tuples(st.sampled_from(["EXPIRE", "PEXPIRE"]), st.sampled_from(["l", "h", "n", "z"]),
              st.sampled_from(["100", "0", "-1"])),
    st.tuples(st.just("PERSIST"), st.sampled_from(["l", "h", "n"])),
    st.tuples(st.just("DEL"), st.sampled_from(["l", "h", "set", "z", "n"])),
)
READ_KEYS = st.sampled_from(["l", "h", "set", "z", "s", "n", "none"])
# Reads of every type: each looks its keys up as Redis's lookupKeyRead does (a
# keyspace hit or miss, and a keymiss event on a miss).
READ_COMMANDS = st.one_of(
    st.tuples(st.sampled_from(["LLEN", "HGETALL", "HLEN", "SMEMBERS", "SCARD", "ZCARD", "XLEN", "GET", "STRLEN",
                               "TYPE", "EXISTS", "TTL", "HKEYS"]), READ_KEYS),
    st.tuples(st.just("LRANGE"), READ_KEYS, st.just("0"), st.just("-1")),
    st.tuples(st.sampled_from(["LINDEX"]), READ_KEYS, st.sampled_from(["0", "x"])),
    st.tuples(st.sampled_from(["HGET", "HEXISTS", "SISMEMBER", "ZSCORE", "ZRANK", "LPOS"]), READ_KEYS, ITEMS),
    st.tuples(st.just("HMGET"), READ_KEYS, ITEMS, ITEMS),
    st.tuples(st.sampled_from(["SINTER", "SUNION", "SDIFF"]), READ_KEYS, READ_KEYS),
    st.tuples(st.sampled_from(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), st.just("dst"), READ_KEYS, READ_KEYS),
    st.tuples(st.just("ZRANGE"), READ_KEYS, st.just("0"), st.just("-1")),
    st.tuples(st.just("ZRANGESTORE"), st.just("zdst"), READ_KEYS, st.just("0"), st.just("-1")),
    st.tuples(st.sampled_from(["XREVRANGE"]), READ_KEYS, st.just("+"), st.just("-")),
    st.tuples(st.sampled_from(["ZCOUNT", "ZLEXCOUNT"]), READ_KEYS, st.just("-"), st.just("+")),
    st.tuples(st.sampled_from(["SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER"]), READ_KEYS, st.just("0")),
    st.tuples(st.sampled_from(["SSCAN", "HSCAN", "ZSCAN"]), READ_KEYS, st.just("0")),
    st.tuples(st.just("SINTERCARD"), st.just("2"), READ_KEYS, READ_KEYS),
    st.tuples(st.just("ZRANGEBYSCORE"), READ_KEYS, st.just("-inf"), st.just("+inf")),
    st.tuples(st.sampled_from(["ZUNION", "ZINTER", "ZDIFF"]), st.just("2"), READ_KEYS, READ_KEYS),
    st.tuples(st.sampled_from(["ZUNIONSTORE", "ZINTERSTORE"]), st.just("zdst"), st.just("2"), READ_KEYS, READ_KEYS),
    st.tuples(st.just("XRANGE"), READ_KEYS, st.just("-"), st.just("+")),
    st.tuples(st.just("XREAD"), st.just("STREAMS"), READ_KEYS, READ_KEYS, st.just("0"), st.just("0")),
    st.tuples(st.just("MGET"), READ_KEYS, READ_KEYS),
)


@SETTINGS
@given(script=st.lists(st.one_of(MIXED_COMMANDS, READ_COMMANDS), **SCRIPTS),
       flags=st.sampled_from(["KEA", "Kl", "Eh$g", "Exz", "Ets", "Kn", "Em", "KEAnm"]))
def test_random_scripts_emit_the_same_keyspace_events(redis_server, fanout_broker, script, flags) -> None:
    expected = keyspace_events(redis_server.port, script, flags)
    assert keyspace_events(fanout_broker.port, script, flags) == expected


def _hits_and_misses(port: int, script: list[tuple[str, ...]]) -> str:
    """INFO's keyspace_hits and keyspace_misses after ``script`` (replies are compared elsewhere)."""
    with RespClient(port) as client:
        client.call("FLUSHALL")
        client.call("CONFIG", "RESETSTAT")
        for command in script:
            client.call(*command)
        info = client.call("INFO", "stats")
    info = info.decode() if isinstance(info, bytes) else str(info)
    return " ".join(line for line in info.splitlines() if line.startswith(("keyspace_hits:", "keyspace_misses:")))


@SETTINGS
@given(script=st.lists(st.one_of(MIXED_COMMANDS, READ_COMMANDS), **SCRIPTS))
def test_random_scripts_count_the_same_keyspace_hits_and_misses(redis_server, fanout_broker, script) -> None:
    expected = _hits_and_misses(redis_server.port, script)
    assert expected.startswith("keyspace_hits:")
    assert _hits_and_misses(fanout_broker.port, script) == expected


# ------------------------------------------------------------------ pub/sub

CHANNELS = st.sampled_from(["a", "b", "ab", "ba"])
PATTERNS = st.sampled_from(["a*", "?", "[ab]b", "*b", "b\\a"])
PUBSUB_OPS = st.one_of(
    st.tuples(st.just("SUBSCRIBE"), CHANNELS, CHANNELS),
    st.tuples(st.just("UNSUBSCRIBE"), CHANNELS),
    st.tuples(st.just("UNSUBSCRIBE")),
    st.tuples(st.just("PSUBSCRIBE"), PATTERNS, PATTERNS),
    st.tuples(st.just("PUNSUBSCRIBE"), PATTERNS),
    st.tuples(st.just("PUNSUBSCRIBE")),
    st.tuples(st.just("PUBLISH"), CHANNELS, st.sampled_from(["m1", "m2"])),
    st.tuples(st.just("SSUBSCRIBE"), CHANNELS),
    st.tuples(st.just("SUNSUBSCRIBE"), CHANNELS),
    st.tuples(st.just("SUNSUBSCRIBE")),
    st.tuples(st.just("SPUBLISH"), CHANNELS, st.just("s1")),
    st.tuples(st.just("PING"), st.just("hi")),
)


def _pong(frame: Any) -> bool:
    """Whether ``frame`` answers the delimiting ``PING`` (RESP2 in subscribed mode: ["pong", ""])."""
    return frame in (b"PONG", "PONG", [b"pong", b""])


def _pubsub_session(port: int, ops: list[tuple[str, ...]], protocol: int) -> list[Any]:
    """Run ``ops`` with a subscriber and a publisher; after each one the subscriber
    sends PING and everything it reads up to the PONG is that op's group of frames.
    Where Redis's order is its hash tables' (every channel unsubscribed at once, the
    pmessages of several matching patterns), the group is compared as a multiset."""
    groups: list[Any] = []
    with RespClient(port, protocol=protocol) as sub, RespClient(port) as pub:
        pub.call("FLUSHALL")
        for op in ops:
            if op[0] in ("PUBLISH", "SPUBLISH"):
                groups.append(("receivers", pub.call(*op)))
            else:
                sub.send(*op)
            sub.send("PING")
            frames = []
            for _ in range(100):  # bounded: an op answers with a few frames at most
                frame = sub.read()
                if _pong(frame):
                    break
                frames.append(frame)
            else:
                raise AssertionError(f"no PONG after {op!r}")
            if op[0] in ("PUBLISH", "SPUBLISH"):  # the channel's message first, then pmessages in pattern-table order
                groups.append((op, [f for f in frames if f[0] == b"message"],
                               sorted(repr(f) for f in frames if f[0] != b"message")))
            elif len(op) == 1:  # every channel (or pattern) at once, in hash-table order; counts go down
                groups.append((op, sorted(repr(f[:-1]) for f in frames), [f[-1] for f in frames]))
            else:
                groups.append((op, frames))
        groups.append(("numpat", pub.call("PUBSUB", "NUMPAT")))
        groups.append(("channels", sorted(pub.call("PUBSUB", "CHANNELS"))))
        groups.append(("shard channels", sorted(pub.call("PUBSUB", "SHARDCHANNELS"))))
        groups.append(("numsub", pub.call("PUBSUB", "NUMSUB", "a", "b", "ab", "ba")))
    return groups


@SETTINGS
@given(ops=st.lists(PUBSUB_OPS, min_size=1, max_size=20), protocol=PROTOCOLS)
def test_random_pubsub_sessions(redis_server, fanout_broker, ops, protocol) -> None:
    expected = _pubsub_session(redis_server.port, ops, protocol)
    got = _pubsub_session(fanout_broker.port, ops, protocol)
    for index, (want, have) in enumerate(zip(expected, got)):
        assert have == want, f"group #{index} differs:\n  redis-server: {want!r}\n  fanout:       {have!r}"
    assert len(got) == len(expected)


# ------------------------------------------------------------ transactions

TRANSACTION_COMMANDS = st.one_of(
    st.tuples(st.sampled_from(["MULTI", "EXEC", "DISCARD", "UNWATCH"])),
    st.tuples(st.just("WATCH"), st.sampled_from(["l", "h", "n"])),
    st.tuples(st.just("NOSUCHCOMMAND"), ITEMS),  # refused when queued: EXECABORT
    st.tuples(st.just("GET")),  # wrong arity: refused when queued too
    st.tuples(st.sampled_from(["LPUSH", "RPUSH"]), st.sampled_from(["l", "h"]), ITEMS),
    st.tuples(st.just("HSET"), st.sampled_from(["h", "l"]), ITEMS, ITEMS),  # WRONGTYPE only inside EXEC
    st.tuples(st.sampled_from(["INCR", "GET"]), st.sampled_from(["n", "l"])),
    st.tuples(st.just("SET"), st.just("n"), st.sampled_from(["1", "x"])),
    st.tuples(st.just("LRANGE"), st.just("l"), st.just("0"), st.just("-1")),
    st.tuples(st.just("PING")),
)


@SETTINGS
@given(script=st.lists(TRANSACTION_COMMANDS, min_size=1, max_size=30), protocol=PROTOCOLS)
def test_random_transactions(redis_server, fanout_broker, script, protocol) -> None:
    full = script + [("DISCARD",), ("LRANGE", "l", "0", "-1"), ("HGETALL", "h"), ("GET", "n")]
    assert_same_replies(redis_server.port, fanout_broker.port, full, protocol=protocol)
