"""A whole dataset read through commands (no DEBUG), to compare two servers key by key."""

from __future__ import annotations

from typing import Any

from tests.support.resp_client import RespClient

__all__ = ["dump_dataset", "assert_same_dataset"]


def _value(client: RespClient, key: bytes, kind: bytes) -> Any:
    if kind == b"string":
        return client.call("GET", key)
    if kind == b"list":
        return client.call("LRANGE", key, "0", "-1")
    if kind == b"set":
        return sorted(client.call("SMEMBERS", key))
    if kind == b"zset":
        return client.call("ZRANGE", key, "0", "-1", "WITHSCORES")
    if kind == b"hash":
        flat = client.call("HGETALL", key)
        return sorted(zip(flat[::2], flat[1::2]))
    if kind == b"stream":
        info = client.call("XINFO", "STREAM", key)
        fields = dict(zip(info[::2], info[1::2]))
        return (client.call("XRANGE", key, "-", "+"), fields[b"last-generated-id"], fields[b"entries-added"])
    raise AssertionError(f"unknown type {kind!r}")


def dump_dataset(port: int) -> dict[tuple[int, bytes], tuple[bytes, Any, int]]:
    """(db, key) -> (type, value, deadline) for every key of every db; the deadline is
    PEXPIRETIME (absolute ms, -1 without a TTL), so dumps taken apart in time compare."""
    data: dict[tuple[int, bytes], tuple[bytes, Any, int]] = {}
    with RespClient(port) as client:
        for db in range(16):
            client.call("SELECT", str(db))
            for key in client.call("KEYS", "*"):
                kind = client.call("TYPE", key)
                if isinstance(kind, bytes) and kind != b"none":
                    data[(db, key)] = (kind, _value(client, key, kind), client.call("PEXPIRETIME", key))
    return data


def assert_same_dataset(left: dict[Any, Any], right: dict[Any, Any], ttl_slack_ms: int = 1000) -> None:
    """Same keys, types and values; deadlines within ``ttl_slack_ms`` (-1 stays -1)."""
    assert sorted(left) == sorted(right)
    for key, (kind, value, ttl) in left.items():
        other_kind, other_value, other_ttl = right[key]
        assert (key, kind, value) == (key, other_kind, other_value)
        assert (ttl < 0) == (other_ttl < 0), (key, ttl, other_ttl)
        assert abs(ttl - other_ttl) <= ttl_slack_ms, (key, ttl, other_ttl)
