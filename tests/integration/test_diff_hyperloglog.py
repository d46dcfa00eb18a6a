"""HyperLogLog against a real redis-server: replies, errors, events, and the bytes.

Every script reads the HLL values back with GET, so the sparse and dense
representations must be Redis's byte for byte (the cached cardinality in the
header included), not only the counts. Values also cross between the servers:
an HLL made by redis-server is SET into ours and grown on both.
"""

from __future__ import annotations

import random

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.differential import assert_same_replies, keyspace_events
from tests.support.resp_client import RespClient

SCRIPTS: dict[str, list[tuple[Any, ...]]] = {
    "add_count": [
        ("PFADD", "h"), ("GET", "h"), ("PFADD", "h"), ("PFADD", "h", "a", "b", "c"), ("GET", "h"),
        ("PFCOUNT", "h"), ("GET", "h"), ("PFADD", "h", "a"), ("PFCOUNT", "h"), ("PFADD", "h", "d", "\x00\xff", ""),
        ("PFCOUNT", "h"), ("PFCOUNT", "missing"), ("PFCOUNT", "h", "missing"), ("GET", "h"),
        ("PFADD", "h2", *[f"e{i}" for i in range(300)]), ("PFCOUNT", "h2"), ("PFCOUNT", "h", "h2"),
        ("PFDEBUG", "ENCODING", "h2"), ("PFDEBUG", "DECODE", "h"), ("GET", "h2"), ("PFCOUNT",), ("PFADD",),
    ],
    "errors": [
        ("SET", "s", "not an hll"), ("PFADD", "s", "a"), ("PFCOUNT", "s"), ("PFCOUNT", "s", "x"),
        ("PFMERGE", "d", "s"), ("PFMERGE", "s"), ("LPUSH", "l", "x"), ("PFADD", "l", "a"), ("PFCOUNT", "l"),
        ("PFMERGE", "d", "l"), ("PFDEBUG", "ENCODING", "l"), ("PFDEBUG", "ENCODING", "nokey"),
        ("PFADD", "h", "a"), ("PFDEBUG", "NOPE", "h"), ("PFDEBUG", "GETREG"), ("SET", "hyll", "HYLL"),
        ("PFADD", "hyll", "a"), ("SET", "bad-encoding", "HYLL\x02" + "\x00" * 11), ("PFCOUNT", "bad-encoding"),
        ("SET", "short-dense", "HYLL\x00" + "\x00" * 11 + "\x00" * 100), ("PFCOUNT", "short-dense"),
        ("SET", "n", "12345"), ("PFADD", "n", "x"),
    ],
    "corrupted_sparse": [
        # a sparse stream covering too few registers (Redis's own corruption tests use SETRANGE)
        ("PFADD", "h", "a", "b", "c"), ("SETRANGE", "h", 4, "\x01"), ("PFADD", "c1", "x"),
        ("SET", "c1", "HYLL\x01" + "\x00" * 11 + "\x7f\x00"), ("PFCOUNT", "c1"), ("PFADD", "c1", "zz"),
        ("PFMERGE", "d", "c1"), ("PFDEBUG", "GETREG", "c1"), ("PFDEBUG", "DECODE", "c1"),
        ("SET", "c2", "HYLL\x01" + "\x00" * 11 + "\x7f\xff\x80"), ("PFCOUNT", "c2"), ("PFCOUNT", "c2", "h"),
        ("PFADD", "c2", "q"), ("SET", "c3", "HYLL\x01" + "\x00" * 11 + "\x7f"), ("PFCOUNT", "c3"),
        ("PFDEBUG", "DECODE", "c3"), ("SET", "c4", "HYLL\x01" + "\x00" * 11 + "\xff" * 5000), ("PFCOUNT", "c4"),
        ("PFDEBUG", "TODENSE", "c4"), ("GET", "h"),
    ],
    "merge": [
        ("PFADD", "a", "1", "2", "3"), ("PFADD", "b", "3", "4", "5"), ("PFMERGE", "m", "a", "b"), ("GET", "m"),
        ("PFCOUNT", "m"), ("PFMERGE", "m"), ("GET", "m"), ("PFMERGE", "new"), ("GET", "new"),
        ("PFMERGE", "a", "b"), ("GET", "a"), ("PFADD", "big", *[f"x{i}" for i in range(2500)]),
        ("PFDEBUG", "ENCODING", "big"), ("PFMERGE", "m2", "a", "big"), ("PFDEBUG", "ENCODING", "m2"), ("GET", "m2"),
        ("PFCOUNT", "m2"), ("PFMERGE", "big", "a"), ("GET", "big"), ("PFMERGE", "m3", "missing", "a"),
        ("GET", "m3"), ("PFCOUNT", "a", "b", "big", "missing"), ("EXPIRE", "a", 100), ("PFMERGE", "a", "b"),
        ("TTL", "a"),
    ],
    "debug": [
        ("PFADD", "h", "a", "b", "c"), ("PFDEBUG", "ENCODING", "h"), ("PFDEBUG", "DECODE", "h"),
        ("PFDEBUG", "GETREG", "h"), ("PFDEBUG", "ENCODING", "h"), ("GET", "h"), ("PFDEBUG", "DECODE", "h"),
        ("PFDEBUG", "TODENSE", "h"), ("PFADD", "g", "x"), ("PFDEBUG", "TODENSE", "g"), ("PFDEBUG", "TODENSE", "g"),
        ("GET", "g"), ("PFCOUNT", "g"), ("pfdebug", "encoding", "g"),
    ],
    "promotion": [
        ("CONFIG", "SET", "hll-sparse-max-bytes", "40"), ("CONFIG", "GET", "hll-sparse-max-bytes"),
        ("PFADD", "h", *[f"p{i}" for i in range(8)]), ("GET", "h"), ("PFDEBUG", "ENCODING", "h"),
        ("PFADD", "h2", *[f"p{i}" for i in range(30)]), ("PFDEBUG", "ENCODING", "h2"), ("GET", "h2"),
        ("PFMERGE", "m", "h"), ("PFDEBUG", "ENCODING", "m"), ("CONFIG", "SET", "hll-sparse-max-bytes", "3000"),
        ("PFMERGE", "m4", "h"), ("PFDEBUG", "ENCODING", "m4"), ("GET", "m4"),
        ("CONFIG", "SET", "hll-sparse-max-bytes", "1kb"), ("CONFIG", "GET", "hll-sparse-max-bytes"),
        ("CONFIG", "SET", "hll-sparse-max-bytes", "3000"),
    ],
}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_hyperloglog_scripts(redis_server, fanout_broker, name: str, protocol: int) -> None:
    assert_same_replies(redis_server.port, fanout_broker.port, SCRIPTS[name], protocol=protocol)


def test_hyperloglog_keyspace_events(redis_server, fanout_broker) -> None:
    script = [("PFADD", "h", "a"), ("PFADD", "h", "a"), ("PFADD", "h"), ("PFCOUNT", "h"), ("PFMERGE", "m", "h"),
              ("PFMERGE", "m"), ("PFCOUNT", "none"), ("PFDEBUG", "TODENSE", "h")]
    assert keyspace_events(fanout_broker.port, script) == keyspace_events(redis_server.port, script)


def test_pfcount_refreshing_its_cache_touches_watch(redis_server, fanout_broker) -> None:
    """PFCOUNT writes the fresh count into the value: a WATCH on the key fails."""
    def run(port: int) -> list[Any]:
        with RespClient(port) as client, RespClient(port) as other:
            client.call("FLUSHALL")
            client.call("PFADD", "h", "a", "b")
            client.call("WATCH", "h")
            other.call("PFCOUNT", "h")          # stale cache: recomputed and stored
            client.call("MULTI")
            client.call("PING")
            first = client.call("EXEC")
            client.call("WATCH", "h")
            other.call("PFCOUNT", "h")          # fresh cache: nothing written
            client.call("MULTI")
            client.call("PING")
            return [first, client.call("EXEC")]

    assert run(fanout_broker.port) == run(redis_server.port)


@pytest.mark.parametrize("size", [5, 900, 5000, 40_000])
def test_hll_values_cross_between_servers(redis_server, fanout_broker, size: int) -> None:
    """An HLL made by redis-server, SET into fanout, counts and grows the same."""
    rng = random.Random(size)
    elements = [rng.randbytes(rng.randrange(0, 24)) for _ in range(size)]
    more = [rng.randbytes(8) for _ in range(300)]
    with RespClient(redis_server.port) as redis, RespClient(fanout_broker.port) as ours:
        for client in (redis, ours):
            client.call("FLUSHALL")
        for start in range(0, size, 1000):
            redis.call("PFADD", "h", *elements[start:start + 1000])
        made_by_redis = redis.call("GET", "h")
        ours.call("SET", "h", made_by_redis)
        assert ours.call("PFCOUNT", "h") == redis.call("PFCOUNT", "h")
        for client in (redis, ours):
            client.call("PFADD", "h", *more)
        assert ours.call("GET", "h") == redis.call("GET", "h")
        assert ours.call("PFCOUNT", "h") == redis.call("PFCOUNT", "h")
        # and the other way: ours made from scratch equals redis's
        for start in range(0, size, 1000):
            ours.call("PFADD", "fresh", *elements[start:start + 1000])
        assert ours.call("GET", "fresh") == made_by_redis


# ------------------------------------------------------------- randomised

POOL = st.sampled_from([f"e{i}" for i in range(400)])
KEYS = st.sampled_from(["a", "b", "c"])
COMMANDS = st.one_of(
    st.builds(lambda k, es: ("PFADD", k, *es), KEYS, st.lists(POOL, max_size=40)),
    st.builds(lambda k, n: ("PFADD", k, *[f"r{n}-{i}" for i in range(n)]), KEYS, st.integers(0, 400)),
    st.builds(lambda ks: ("PFCOUNT", *ks), st.lists(KEYS, min_size=1, max_size=3)),
    st.builds(lambda d, ks: ("PFMERGE", d, *ks), KEYS, st.lists(KEYS, max_size=3)),
    st.builds(lambda k: ("PFDEBUG", "ENCODING", k), KEYS),
    st.builds(lambda k: ("GET", k), KEYS),
    st.builds(lambda n: ("CONFIG", "SET", "hll-sparse-max-bytes", str(n)), st.sampled_from([20, 64, 300, 3000])),
)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(COMMANDS, min_size=1, max_size=20))
def test_random_hyperloglog_sessions(redis_server, fanout_broker, script) -> None:
    full = [*script, ("GET", "a"), ("GET", "b"), ("GET", "c"), ("PFCOUNT", "a", "b", "c"),
            ("CONFIG", "SET", "hll-sparse-max-bytes", "3000")]
    assert_same_replies(redis_server.port, fanout_broker.port, full)


# Sparse streams around one register, SET as raw values, then one PFADD that lands
# in them: the split of ZERO/VAL runs, the promotion check and the merge of equal
# neighbours (Redis scans five opcodes from the one before the change) all show in
# the bytes.
def _element_for_count(count: int) -> tuple[bytes, int]:
    from broker.hyperloglog import pattern
    for n in range(1_000_000):
        element = b"n%d" % n
        index, run = pattern(element)
        if run == count and 200 <= index < REGION_LIMIT:
            return element, index
    raise AssertionError(count)


REGION_LIMIT = 16384 - 400
OPS = st.one_of(
    st.tuples(st.just("v"), st.integers(1, 32), st.integers(1, 4)),
    st.tuples(st.just("z"), st.integers(1, 64), st.just(0)),
)


def _stream(ops: list[tuple[str, int, int]], before: int) -> bytes:
    def zeros(run: int) -> bytes:
        out = b""
        while run:
            part = min(run, 16384)
            out += bytes((0x40 | (part - 1) >> 8, (part - 1) & 0xFF)) if part > 64 else bytes((part - 1,))
            run -= part
        return out
    body = zeros(before)
    covered = before
    for kind, a, b in ops:
        if kind == "v":
            body += bytes((0x80 | (a - 1) << 2 | (b - 1),))
            covered += b
        else:
            body += bytes((a - 1,))
            covered += a
    return body + zeros(16384 - covered)


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, min_size=1, max_size=12), count=st.integers(1, 6), shift=st.integers(0, 40),
       limit=st.sampled_from([3000, 60]))
def test_sparse_neighbourhoods(redis_server, fanout_broker, ops, count, shift, limit) -> None:
    element, index = _ELEMENTS[count]
    width = sum(b if kind == "v" else a for kind, a, b in ops)
    before = max(index - min(shift, width - 1), 0)
    value = b"HYLL\x01" + bytes(10) + b"\x80" + _stream(ops, before)
    script = [("CONFIG", "SET", "hll-sparse-max-bytes", str(limit)), ("SET", "k", value), ("PFADD", "k", element),
              ("GET", "k"), ("PFDEBUG", "ENCODING", "k"), ("PFCOUNT", "k"), ("GET", "k"),
              ("CONFIG", "SET", "hll-sparse-max-bytes", "3000")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


_ELEMENTS = {count: _element_for_count(count) for count in range(1, 7)}


# PFADD of many elements hashes the elements of one length together (128-bit lanes
# of one integer): elements of a few lengths, many of each, binary, into a sparse
# and into a dense HLL, must leave the bytes Redis leaves.
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(elements=st.lists(st.one_of(st.binary(max_size=3), st.binary(min_size=7, max_size=9),
                                   st.binary(min_size=14, max_size=17), st.binary(min_size=30, max_size=33)),
                         min_size=1, max_size=120),
       dense=st.booleans())
def test_pfadd_of_many_elements(redis_server, fanout_broker, elements, dense) -> None:
    script: list[tuple[Any, ...]] = [("DEL", "k")]
    if dense:
        script += [("PFADD", "k", *[b"d%d" % i for i in range(4000)]), ("PFDEBUG", "ENCODING", "k")]
    script += [("PFADD", "k", *elements), ("GET", "k"), ("PFCOUNT", "k"), ("PFADD", "k", *elements)]
    assert_same_replies(redis_server.port, fanout_broker.port, script)
