"""Helpers of the persistence tests: a corpus that makes redis-server use every
encoding it writes to an RDB file, a key-by-key reading of a whole dataset (type,
value, TTL) through plain commands, and servers started on a snapshot directory."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from typing import Any

from tests.support.resp_client import RespClient, RespError
from tests.support.servers import ServerProcess, free_port, start_fanout, wait_redis_ready

__all__ = ["fill_corpus", "read_dataset", "assert_same_dataset", "start_fanout_on", "start_redis_on",
           "wait_loaded", "check_rdb"]


def fill_corpus(client: RespClient, now_ms: int) -> None:
    """Keys of every type and encoding (small/large, int/string, binary, empty, TTLs)."""
    call = client.call
    call("FLUSHALL")
    call("SET", "str", "hello")
    call("SET", "int8", "-7")
    call("SET", "int16", "12345")
    call("SET", "int32", "-2000000000")
    call("SET", "int64", "9223372036854775807")
    call("SET", "notint", "007")
    call("SET", "empty", "")
    call("SET", "bin", bytes(range(256)))
    call("SET", "compressible", "abc" * 200)
    call("SET", "random", random.Random(14).randbytes(300))  # the same bytes in every corpus
    call("SET", "ttl", "soon", "PX", 500_000)
    call("SET", "abs", "later", "PXAT", now_ms + 3_600_000)
    call("HSET", "hash:small", "a", "1", "b", "two", "", "empty", "n", "-12")
    call("HSET", "hash:big", *[x for i in range(600) for x in (f"f{i}", "v" * (i % 50))])  # > 512 fields
    call("HSET", "hash:longvalue", "f", "x" * 100)
    call("SADD", "set:int", 1, 2, 3, -5, 100000, 2**40, -(2**62))
    call("SADD", "set:str", "a", "b", "c", "")
    call("SADD", "set:bigint", *range(1000))
    call("ZADD", "zset:small", 1, "a", 2.5, "b", -3, "c", 1e20, "d", "inf", "e", "-inf", "f", 0, "g")
    call("ZADD", "zset:big", *[x for i in range(300) for x in (i / 3, f"m{i}")])
    call("ZADD", "zset:longmember", 1, "m" * 100)
    call("RPUSH", "list:small", "a", "b", 1, 2, "", -300)
    call("RPUSH", "list:big", *[f"item{i}" * 10 for i in range(3000)])
    call("RPUSH", "list:huge-item", "x" * 20000, "y")
    for i in range(250):
        call("XADD", "stream", f"{1000 + i // 7}-{i % 7}", *(("f", i, "g", "x") if i % 3 else ("other", i)))
    ids = [entry[0] for entry in call("XRANGE", "stream", "-", "+", "COUNT", 10)]
    call("XDEL", "stream", ids[2], ids[7])
    call("XADD", "stream:ids", "5-1", "a", "1")
    call("XADD", "stream:ids", "6-0", "a", "1", "b", "")
    call("XADD", "stream:empty", "1-1", "a", "1")
    call("XTRIM", "stream:empty", "MAXLEN", 0)
    call("PFADD", "hll", *[f"visitor{i}" for i in range(100)])  # a string in Redis's HLL encoding
    call("GEOADD", "geo", 13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania")  # a zset
    call("SETBIT", "bits", 1000, 1)
    call("PEXPIRE", "hash:small", 400_000)
    call("SELECT", 5)
    call("SET", "in5", "yes", "EX", 1000)
    call("RPUSH", "in5:list", "z")
    call("SELECT", 15)
    call("HSET", "in15", "k", "v")
    call("SELECT", 0)


def _value(call: Any, key: bytes, kind: bytes) -> Any:
    if kind == b"string":
        return call("GET", key)
    if kind == b"hash":
        flat = call("HGETALL", key)
        return dict(zip(flat[0::2], flat[1::2]))
    if kind == b"set":
        return set(call("SMEMBERS", key))
    if kind == b"zset":
        return call("ZRANGE", key, 0, -1, "WITHSCORES")
    if kind == b"list":
        return call("LRANGE", key, 0, -1)
    if kind == b"stream":
        info = call("XINFO", "STREAM", key)
        fields = dict(zip(info[0::2], info[1::2]))
        meta = {name: fields[name] for name in (b"length", b"last-generated-id", b"max-deleted-entry-id",
                                                b"entries-added", b"groups")}
        return meta, call("XRANGE", key, "-", "+")
    raise AssertionError(f"unexpected type {kind!r}")


def read_dataset(port: int) -> dict[tuple[int, bytes], tuple[bytes, Any, int]]:
    """(db, key) -> (type, value, absolute deadline in ms or -1) for every key."""
    out = {}
    with RespClient(port) as client:
        call = client.call
        for db in range(16):
            call("SELECT", db)
            for key in call("KEYS", "*"):
                kind = call("TYPE", key)
                kind = kind if isinstance(kind, bytes) else str(kind).encode()
                out[(db, key)] = (kind, _value(call, key, kind), call("PEXPIRETIME", key))
    return out


def assert_same_dataset(expected: dict[Any, Any], actual: dict[Any, Any]) -> None:
    """Same keys, types and values; deadlines within 1 s of each other."""
    assert sorted(actual) == sorted(expected)
    for name, (kind, value, deadline) in expected.items():
        got_kind, got_value, got_deadline = actual[name]
        assert got_kind == kind, name
        assert got_value == value, name
        if deadline < 0:
            assert got_deadline == deadline, name
        else:
            assert abs(got_deadline - deadline) <= 1000, name


def wait_loaded(server: ServerProcess, timeout: float = 30.0) -> None:
    """Until ``server`` (a fanout broker, output captured) has loaded its snapshot.

    It loads after it listens, setting -LOADING before its first read of a client: so
    a PONG means there was nothing to load, and a -LOADING means the "DB loaded from
    disk" line (or the process's exit, if the file cannot be loaded) is to come."""
    with RespClient(server.port) as client:
        reply = client.call("PING")
    if isinstance(reply, RespError):
        assert reply.message.startswith("LOADING"), reply
        server.wait_for_output("DB loaded from disk", timeout=timeout)


def start_fanout_on(directory: str, *flags: str) -> ServerProcess:
    """``fanout broker`` on ``directory`` (its dump.rdb loaded), once it has loaded."""
    server = start_fanout("broker", "--port", str(free_port()), "--dir", directory, *flags).capture()
    wait_loaded(server)
    return server


def start_redis_on(directory: str, dbfilename: str = "dump.rdb") -> ServerProcess:
    """redis-server loading ``directory``/``dbfilename``; no snapshots of its own."""
    port = free_port()
    process = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", directory, "--dbfilename", dbfilename,
         "--loglevel", "notice"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return wait_redis_ready(ServerProcess("redis-server", process, port))  # ready = loaded


def check_rdb(path: str) -> str:
    """redis-check-rdb's output; raises if it does not accept the file."""
    result = subprocess.run(["redis-check-rdb", path], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "RDB looks OK" in result.stdout, result.stdout + result.stderr
    return result.stdout
