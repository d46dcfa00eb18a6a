"""Bitmap commands against a real redis-server: replies, errors, keyspace events.

Hand-written scripts cover each command's ranges, units, overflow modes and error
wordings; randomised sessions mix them over a few keys (strings of varied lengths,
a non-string key for WRONGTYPE) in RESP2 and RESP3, and the final values are read
back with GET so every write's effect is compared, not only its reply.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.differential import assert_same_replies, keyspace_events

SCRIPTS: dict[str, list[tuple[Any, ...]]] = {
    "setbit_getbit": [
        ("SETBIT", "b", 7, 1), ("GET", "b"), ("SETBIT", "b", 7, 1), ("SETBIT", "b", 7, 0), ("GETBIT", "b", 7),
        ("SETBIT", "b", 100, 1), ("STRLEN", "b"), ("GETBIT", "b", 100), ("GETBIT", "b", 1000), ("GETBIT", "no", 3),
        ("SETBIT", "b", -1, 1), ("SETBIT", "b", "x", 1), ("SETBIT", "b", 1, 2), ("SETBIT", "b", 1, -1),
        ("SETBIT", "b", 1, "on"), ("GETBIT", "b", "-3"), ("SETBIT", "b", 4294967296 * 8, 1),
        ("SETBIT", "b", " 1", 1), ("SETBIT", "b", "01", 1), ("SET", "n", "12"), ("GETBIT", "n", 2),
        ("SETBIT", "n", 7, 0), ("GET", "n"), ("HSET", "h", "f", "v"), ("SETBIT", "h", 1, 1), ("GETBIT", "h", 1),
        ("SETBIT", "h", -1, 1), ("SETBIT",), ("GETBIT", "b"),
    ],
    "bitcount": [
        ("SET", "s", "foobar"), ("BITCOUNT", "s"), ("BITCOUNT", "s", 0, 0), ("BITCOUNT", "s", 1, 1),
        ("BITCOUNT", "s", 1, -1), ("BITCOUNT", "s", -2, -1), ("BITCOUNT", "s", -1, -2), ("BITCOUNT", "s", 3, 1),
        ("BITCOUNT", "s", 0, 100), ("BITCOUNT", "s", -100, 100), ("BITCOUNT", "s", 5, 30, "BIT"),
        ("BITCOUNT", "s", 5, 30, "bit"), ("BITCOUNT", "s", 0, 0, "BYTE"), ("BITCOUNT", "s", -5, -1, "BIT"),
        ("BITCOUNT", "s", 7, 7, "BIT"), ("BITCOUNT", "s", 9, 8, "BIT"), ("BITCOUNT", "s", 0, 47, "BIT"),
        ("BITCOUNT", "s", 0), ("BITCOUNT", "s", 0, 1, "WORD"), ("BITCOUNT", "s", "a", 1), ("BITCOUNT", "none"),
        ("BITCOUNT", "none", 0, 1), ("SET", "e", ""), ("BITCOUNT", "e"), ("BITCOUNT", "e", 0, -1),
        ("LPUSH", "l", "x"), ("BITCOUNT", "l"), ("BITCOUNT", "s", 0, 1, "BIT", "x"),
    ],
    "bitpos": [
        ("SET", "s", "\xff\xf0\x00"), ("BITPOS", "s", 0), ("BITPOS", "s", 1), ("BITPOS", "s", 0, 0),
        ("BITPOS", "s", 1, 2), ("BITPOS", "s", 1, 2, -1), ("BITPOS", "s", 0, 0, 0), ("BITPOS", "s", 0, 1, 1),
        ("BITPOS", "s", 0, 2, -1, "BYTE"), ("BITPOS", "s", 1, 7, 15, "BIT"), ("BITPOS", "s", 0, 7, 15, "BIT"),
        ("BITPOS", "s", 0, 3, 5, "BIT"), ("BITPOS", "s", 1, -5, -1, "BIT"), ("BITPOS", "s", 0, 5, "BIT"),
        ("SET", "ones", "\xff\xff"), ("BITPOS", "ones", 0), ("BITPOS", "ones", 0, 0), ("BITPOS", "ones", 0, 0, -1),
        ("BITPOS", "ones", 0, 3, 9, "BIT"), ("BITPOS", "ones", 0, 9, "BIT"), ("BITPOS", "ones", 1, 20, 30, "BIT"),
        ("SET", "zeros", "\x00\x00"), ("BITPOS", "zeros", 1), ("BITPOS", "zeros", 0), ("BITPOS", "zeros", 1, 1, 1),
        ("BITPOS", "none", 0), ("BITPOS", "none", 1), ("BITPOS", "none", 1, 5), ("BITPOS", "s", 2),
        ("BITPOS", "s", "x"), ("BITPOS", "s", 1, "a"), ("BITPOS", "s", 1, 0, 1, "bits"), ("SET", "e", ""),
        ("BITPOS", "e", 0), ("BITPOS", "e", 1), ("BITPOS", "e", 0, 0), ("SADD", "set", "m"), ("BITPOS", "set", 1),
        ("BITPOS", "s", 1, 0, 1, "BIT", "x"), ("BITPOS", "s", 1, 3, 2), ("BITPOS", "s", 0, -1, -2, "BIT"),
    ],
    "bitop": [
        ("SET", "a", "\xff\x0f"), ("SET", "b", "\x0f"), ("BITOP", "AND", "d", "a", "b"), ("GET", "d"),
        ("BITOP", "or", "d", "a", "b"), ("GET", "d"), ("BITOP", "XOR", "d", "a", "b", "a"), ("GET", "d"),
        ("BITOP", "NOT", "d", "a"), ("GET", "d"), ("BITOP", "NOT", "d", "a", "b"), ("BITOP", "NAND", "d", "a"),
        ("BITOP", "AND", "d", "a", "missing"), ("GET", "d"), ("BITOP", "OR", "d", "m1", "m2"), ("EXISTS", "d"),
        ("BITOP", "OR", "d", "m1"), ("EXPIRE", "a", 100), ("BITOP", "OR", "a", "a", "b"), ("TTL", "a"),
        ("LPUSH", "l", "x"), ("BITOP", "AND", "d", "a", "l"), ("BITOP", "AND", "l", "a"), ("TYPE", "l"),
        ("SET", "long", "0123456789abcdef0123456789abcdef0123456789"), ("BITOP", "AND", "d", "long", "a", "b"),
        ("GET", "d"), ("BITOP", "XOR", "d", "long", "long"), ("GET", "d"), ("BITOP", "AND", "d"),
    ],
    "bitfield": [
        ("BITFIELD", "f", "SET", "i8", 0, 100, "GET", "i8", 0), ("GET", "f"),
        ("BITFIELD", "f", "INCRBY", "i8", 0, 100), ("BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "i8", 0, 100),
        ("BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "i8", 0, 100, "GET", "i8", 0),
        ("BITFIELD", "f", "OVERFLOW", "WRAP", "INCRBY", "u2", 100, 1, "INCRBY", "u2", 100, 1,
         "INCRBY", "u2", 100, 1, "INCRBY", "u2", 100, 1),
        ("BITFIELD", "f", "SET", "u8", "#1", 255, "GET", "u4", "#2", "GET", "i4", 12), ("GET", "f"),
        ("BITFIELD", "f", "SET", "i64", 0, "-9223372036854775808", "GET", "i64", 0, "INCRBY", "i64", 0, -1),
        ("BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "i64", 0, -1, "INCRBY", "i64", 0, "9223372036854775807"),
        ("BITFIELD", "f", "OVERFLOW", "SAT", "SET", "i8", 0, "-9223372036854775808", "SET", "u8", 0, -1),
        ("BITFIELD", "f", "OVERFLOW", "WRAP", "SET", "i8", 0, 1000, "SET", "u8", 8, -3, "GET", "u63", 3),
        ("BITFIELD", "f", "OVERFLOW", "FAIL", "SET", "u3", 0, 8, "SET", "i3", 0, -5, "SET", "i3", 0, -4),
        ("BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "u5", 3, -40, "INCRBY", "u5", 3, 40, "INCRBY", "i5", 3, -40),
        ("BITFIELD", "f", "GET", "u64", 0), ("BITFIELD", "f", "GET", "i65", 0), ("BITFIELD", "f", "GET", "x8", 0),
        ("BITFIELD", "f", "GET", "i0", 0), ("BITFIELD", "f", "GET", "u8", -1), ("BITFIELD", "f", "GET", "u8"),
        ("BITFIELD", "f", "SET", "u8", 0), ("BITFIELD", "f", "OVERFLOW", "NONE", "GET", "u8", 0),
        ("BITFIELD", "f", "OVERFLOW"), ("BITFIELD", "f", "FOO", "u8", 0), ("BITFIELD", "f", "SET", "u8", 0, "z"),
        ("BITFIELD", "f", "INCRBY", "u8", "#x", 1), ("BITFIELD", "f"), ("BITFIELD", "nf", "GET", "u8", 0),
        ("EXISTS", "nf"), ("BITFIELD", "nf2", "OVERFLOW", "FAIL", "SET", "u2", 0, 9), ("GET", "nf2"),
        ("BITFIELD_RO", "f", "GET", "u8", 0, "GET", "i16", 4), ("BITFIELD_RO", "f", "SET", "u8", 0, 1),
        ("BITFIELD_RO", "f", "INCRBY", "u8", 0, 1), ("BITFIELD_RO", "nf3", "GET", "u8", 0),
        ("HSET", "h", "f", "v"), ("BITFIELD", "h", "GET", "u8", 0), ("BITFIELD", "h", "SET", "u8", 0, 1),
        ("BITFIELD_RO", "h", "GET", "u8", 0), ("BITFIELD", "f", "SET", "u8", "#-1", 1),
        ("BITFIELD", "f", "SET", "i5", 4294967296 * 8, 1),
    ],
}


def _same(redis_server: Any, fanout_broker: Any, script: list[tuple[Any, ...]], protocol: int) -> None:
    assert_same_replies(redis_server.port, fanout_broker.port, script, protocol=protocol)


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_bitmap_scripts(redis_server, fanout_broker, name: str, protocol: int) -> None:
    _same(redis_server, fanout_broker, SCRIPTS[name], protocol)


def test_bitmap_keyspace_events(redis_server, fanout_broker) -> None:
    script = [
        ("SETBIT", "b", 3, 1), ("SETBIT", "b", 3, 1), ("SETBIT", "b", 3, 0), ("SETBIT", "b", 30, 0),
        ("BITOP", "OR", "d", "b"), ("BITOP", "OR", "d", "none"), ("BITOP", "OR", "d", "none"),
        ("BITFIELD", "f", "SET", "u8", 0, 0), ("BITFIELD", "f", "SET", "u8", 0, 0),
        ("BITFIELD", "f", "SET", "u8", 0, 7, "INCRBY", "u8", 0, 1),
        ("BITFIELD", "g", "OVERFLOW", "FAIL", "SET", "u2", 0, 9), ("GETBIT", "missing", 1),
        # (a TTL that cannot run out before the end marker: with PX 1 whether either server's
        # expiry cycle fired first was a matter of the machine's load)
        ("BITCOUNT", "missing"), ("SET", "t", "x", "PX", 100_000), ("BITOP", "AND", "d", "b"),
    ]
    assert keyspace_events(fanout_broker.port, script) == keyspace_events(redis_server.port, script)


def test_bitmap_info_counts_hits_and_misses(redis_server, fanout_broker) -> None:
    def counts(port: int) -> list[Any]:
        from tests.support.resp_client import RespClient
        with RespClient(port) as client:
            client.call("FLUSHALL")
            client.call("CONFIG", "RESETSTAT")
            for command in (("SETBIT", "b", 1, 1), ("GETBIT", "b", 1), ("GETBIT", "x", 1), ("BITCOUNT", "x"),
                            ("BITPOS", "b", 1), ("BITOP", "AND", "d", "b", "x"), ("BITFIELD", "b", "GET", "u8", 0),
                            ("BITFIELD", "b", "SET", "u8", 0, 1), ("BITFIELD_RO", "y", "GET", "u8", 0)):
                client.call(*command)
            info = client.call("INFO", "stats").decode()
        return [line for line in info.splitlines() if line.startswith(("keyspace_hits", "keyspace_misses"))]

    assert counts(fanout_broker.port) == counts(redis_server.port)


# ------------------------------------------------------------- randomised

KEYS = st.sampled_from(["a", "b", "c", "h"])
OFFSETS = st.integers(min_value=0, max_value=70)
INDEXES = st.integers(min_value=-12, max_value=12)
UNITS = st.sampled_from([(), ("BYTE",), ("BIT",)])
FIELD = st.tuples(st.sampled_from(["i", "u"]), st.integers(min_value=1, max_value=64)).map(
    lambda t: f"{t[0]}{t[1]}")
AMOUNT = st.one_of(st.integers(min_value=-300, max_value=300),
                   st.sampled_from([2**63 - 1, -(2**63), 2**62, -(2**62)]))
FIELD_OP = st.one_of(
    st.tuples(st.just("GET"), FIELD, OFFSETS),
    st.tuples(st.sampled_from(["SET", "INCRBY"]), FIELD, OFFSETS, AMOUNT),
    st.tuples(st.just("OVERFLOW"), st.sampled_from(["WRAP", "SAT", "FAIL"])),
)
COMMANDS = st.one_of(
    st.tuples(st.just("SETBIT"), KEYS, OFFSETS, st.sampled_from([0, 1])),
    st.tuples(st.just("GETBIT"), KEYS, OFFSETS),
    st.tuples(st.just("SET"), KEYS, st.binary(max_size=9)),
    st.builds(lambda k, s, e, u: ("BITCOUNT", k, s, e, *u), KEYS, INDEXES, INDEXES, UNITS),
    st.builds(lambda k, b, s, e, u: ("BITPOS", k, b, s, e, *u), KEYS, st.sampled_from([0, 1]), INDEXES,
              INDEXES, UNITS),
    st.builds(lambda k, b, s: ("BITPOS", k, b, s), KEYS, st.sampled_from([0, 1]), INDEXES),
    st.builds(lambda op, d, srcs: ("BITOP", op, d, *srcs), st.sampled_from(["AND", "OR", "XOR"]), KEYS,
              st.lists(KEYS, min_size=1, max_size=3)),
    st.builds(lambda d, s: ("BITOP", "NOT", d, s), KEYS, KEYS),
    st.builds(lambda name, k, ops: (name, k, *[part for op in ops for part in op]),
              st.sampled_from(["BITFIELD", "BITFIELD_RO"]), KEYS, st.lists(FIELD_OP, min_size=1, max_size=4)),
)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(COMMANDS, min_size=1, max_size=20), protocol=st.sampled_from([2, 3]))
def test_random_bitmap_sessions(redis_server, fanout_broker, script, protocol) -> None:
    full = [("HSET", "h", "f", "v"), *script, ("GET", "a"), ("GET", "b"), ("GET", "c")]
    _same(redis_server, fanout_broker, full, protocol)
