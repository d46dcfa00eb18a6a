"""min-replicas-to-write against a real redis-server (neither has a replica): writes
refused with -NOREPLICAS at the top level, in MULTI (EXECABORT) and in scripts (a
script declaring flags at once unless ``no-writes``, one without flags at its first
write), reads and read-only scripts served; the refusals counted as Redis counts
them (rejected calls, errorstats). The Tcl test "not enough good replicas"."""

from __future__ import annotations

from typing import Any

from tests.support.resp_client import RespClient, error_stats

STEPS: list[tuple[Any, ...]] = [
    ("SET", "x", "some value"), ("CONFIG", "SET", "min-replicas-to-write", 1),
    ("GET", "x"), ("SET", "x", 1), ("DEL", "x"), ("PING",),
    ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get','x')", 1, "x"),
    ("EVAL", "return redis.call('get','x')", 1, "x"),
    ("EVAL", "#!lua\nreturn redis.call('get','x')", 1, "x"),
    ("EVAL", "return redis.call('set','x', 1)", 1, "x"),
    ("EVAL", "return redis.pcall('set','x', 1)", 1, "x"),
    ("EVAL", "redis.pcall('set','x', 1) return redis.call('get', 'x')", 1, "x"),
    ("MULTI",), ("SET", "a", 1), ("GET", "a"), ("EXEC",),
    ("CONFIG", "SET", "min-replicas-max-lag", 0), ("SET", "x", 2),  # no lag limit: no check
    ("CONFIG", "SET", "min-replicas-max-lag", 10), ("SET", "x", 3),
    ("CONFIG", "SET", "min-slaves-to-write", 0), ("SET", "x", 4), ("GET", "x"),
]



def _run(port: int) -> tuple[list[Any], dict[str, Any]]:
    with RespClient(port) as client:
        client.call("FLUSHALL")
        client.call("CONFIG", "RESETSTAT")
        try:
            replies = [client.call(*step) for step in STEPS]
        finally:
            client.call("CONFIG", "SET", "min-replicas-to-write", 0)
            client.call("CONFIG", "SET", "min-replicas-max-lag", 10)
        return replies, error_stats(client)


def test_min_replicas_refusals_as_redis(redis_server: Any, fanout_broker: Any) -> None:
    expected = _run(redis_server.port)
    actual = _run(fanout_broker.port)
    for step, want, got in zip(STEPS, expected[0], actual[0]):
        assert got == want, step
    assert actual[1] == expected[1]
