"""maxmemory against redis-server (issue 18): the same settings, equal replies and
errors; eviction equal in kind (sampling differs by nature, and so does what a key
costs: each server's limit is set from its own used_memory)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.support.differential import assert_same_replies
from tests.support.resp_client import RespClient, RespError
from tests.support.servers import MS, ServerProcess, poll

OOM = "OOM command not allowed when used memory > 'maxmemory'."
POLICIES = ("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu",
            "volatile-random", "volatile-ttl")


def _reset(port: int) -> None:
    with RespClient(port) as client:
        for name, value in (("maxmemory", "0"), ("maxmemory-policy", "noeviction"), ("lfu-log-factor", "10"),
                            ("notify-keyspace-events", "")):
            client.call("CONFIG", "SET", name, value)
        client.call("FUNCTION", "FLUSH")
        client.call("FLUSHALL")


@pytest.fixture
def servers(redis_server: ServerProcess, fanout_broker: ServerProcess) -> Iterator[tuple[int, int]]:
    """The session's two servers, put back to no limit afterwards (they are shared)."""
    yield redis_server.port, fanout_broker.port
    for port in (redis_server.port, fanout_broker.port):
        _reset(port)


def test_noeviction_refuses_denyoom_commands_and_scripts(servers: tuple[int, int]) -> None:
    script: list[tuple[Any, ...]] = [
        ("SET", "k", "v"), ("HSET", "h", "f", "v"),
        ("CONFIG", "SET", "maxmemory", "1"),
        ("SET", "a", "b"), ("SETNX", "a", "b"), ("INCR", "n"), ("LPUSH", "l", "x"), ("HSET", "h", "g", "v"),
        ("SADD", "s", "m"), ("ZADD", "z", "1", "m"), ("XADD", "x", "*", "f", "v"), ("APPEND", "k", "more"),
        ("GET", "k"), ("HGETALL", "h"), ("EXISTS", "k"), ("EXPIRE", "k", "100"), ("PERSIST", "k"),
        ("PUBLISH", "ch", "m"), ("HDEL", "h", "f"), ("DEL", "nokey"),
        ("EVAL", "return redis.call('set', 'a', 'b')", "0"),
        ("EVAL", "return redis.call('get', 'k')", "0"),
        ("EVAL", "redis.call('del', 'zz'); return redis.call('set', 'c', 'd')", "0"),
        ("EVAL", "#!lua\nreturn 1", "0"),
        ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get', 'k')", "0"),
        ("EVAL", "#!lua flags=allow-oom\nreturn redis.call('set', 'a', 'b')", "0"),
        ("EVAL_RO", "return redis.call('get', 'k')", "0"),
        ("SCRIPT", "LOAD", "#!lua\nreturn 2"),
        ("EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"),
        ("GET", "a"), ("GET", "c"),
        ("MULTI",), ("GET", "a"), ("EXEC",),
        ("INFO", "keyspace"),
        ("CONFIG", "SET", "maxmemory", "0"),
        ("SET", "a", "again"), ("GET", "a"),
    ]
    replies = assert_same_replies(*servers, script)
    assert replies[3] == RespError(OOM)


def test_functions_follow_their_flags(servers: tuple[int, int]) -> None:
    library = ("#!lua name=lib\n"
               "redis.register_function('w', function() return redis.call('set', 'a', 'b') end)\n"
               "redis.register_function{function_name='r', callback=function() return 1 end, flags={'no-writes'}}\n"
               "redis.register_function{function_name='o', callback=function() return redis.call('set', 'a', 'c') end,"
               " flags={'allow-oom'}}\n")
    script: list[tuple[Any, ...]] = [
        ("FUNCTION", "LOAD", "REPLACE", library), ("CONFIG", "SET", "maxmemory", "1"),
        ("FCALL", "w", "0"), ("FCALL", "r", "0"), ("FCALL_RO", "r", "0"), ("FCALL", "o", "0"), ("GET", "a"),
        ("CONFIG", "SET", "maxmemory", "0"),
    ]
    assert_same_replies(*servers, script)


def test_exec_of_a_transaction_with_denyoom_commands_is_aborted(servers: tuple[int, int]) -> None:
    outcomes = []
    for port in servers:
        with RespClient(port) as client, RespClient(port) as admin:
            client.call("FLUSHALL")
            seen = [client.call("MULTI"), client.call("SET", "a", "b"), client.call("GET", "a")]
            seen.append(admin.call("CONFIG", "SET", "maxmemory", "1"))
            seen += [client.call("EXEC"), client.call("GET", "a"), client.call("DISCARD")]
            seen += [client.call("MULTI"), client.call("GET", "a"), admin.call("CONFIG", "SET", "maxmemory", "1")]
            seen += [client.call("EXEC"), admin.call("CONFIG", "SET", "maxmemory", "0")]
            outcomes.append(seen)
    assert outcomes[1] == outcomes[0]
    assert outcomes[0][4] == RespError("EXECABORT Transaction discarded because of: " + OOM)


def test_object_freq_and_idletime_follow_the_policy(servers: tuple[int, int]) -> None:
    script: list[tuple[Any, ...]] = [
        ("SET", "k", "v"), ("OBJECT", "IDLETIME", "k"), ("OBJECT", "FREQ", "k"),
        ("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"), ("CONFIG", "SET", "lfu-log-factor", "0"),
        ("SET", "f", "v"), ("OBJECT", "FREQ", "f"), ("GET", "f"), ("GET", "f"), ("HGET", "f", "x"),
        ("OBJECT", "FREQ", "f"), ("TYPE", "f"), ("EXISTS", "f"), ("TTL", "f"), ("OBJECT", "FREQ", "f"),
        ("SET", "f", "w"), ("OBJECT", "FREQ", "f"), ("TOUCH", "f"), ("OBJECT", "FREQ", "f"),
        ("OBJECT", "IDLETIME", "f"), ("OBJECT", "FREQ", "nokey"),
        ("RENAME", "f", "f2"), ("OBJECT", "FREQ", "f2"), ("MOVE", "f2", "3"), ("SELECT", "3"),
        ("OBJECT", "FREQ", "f2"), ("COPY", "f2", "f3"), ("OBJECT", "FREQ", "f3"), ("OBJECT", "FREQ", "f2"),
        ("SELECT", "0"),
        ("CONFIG", "SET", "maxmemory-policy", "volatile-lru"), ("SET", "g", "v"), ("GET", "g"),
        ("OBJECT", "IDLETIME", "g"),
    ]
    replies = assert_same_replies(*servers, script)
    assert replies[6] == 5 and replies[10] == 8


def test_idletime_is_real_by_default(servers: tuple[int, int]) -> None:
    """With no limit and noeviction, as Redis's introspection-2 tests: an idle key
    reads its idle seconds (TYPE, EXISTS, TTL, OBJECT leave it), a read or TOUCH
    brings it back to 0. The idle time is real time, so bounds, not exact values."""
    clients = [RespClient(port) for port in servers]
    try:
        for client in clients:
            client.call("FLUSHALL")
            for key in ("read", "touched", "left", "written"):
                client.call("SET", key, "v")
            client.call("HSET", "h", "f", "v")
        # The keys idle on both servers until each says "left" has been idle 2 s (OBJECT
        # IDLETIME does not touch it: the assertions below check that too).
        poll(lambda: all(client.call("OBJECT", "IDLETIME", "left") >= 2 for client in clients),
             "two idle seconds on both servers", timeout=10, interval=50 * MS)
        seen = []
        for client in clients:
            for argv in (("TYPE", "left"), ("EXISTS", "left"), ("TTL", "left"), ("OBJECT", "ENCODING", "left"),
                         ("GET", "read"), ("TOUCH", "touched"), ("SET", "written", "w"), ("HGET", "h", "f")):
                client.call(*argv)
            keys = ("left", "read", "touched", "written", "h")
            seen.append({key: client.call("OBJECT", "IDLETIME", key) for key in keys})
    finally:
        for client in clients:
            client.close()
    for idle in seen:
        assert 2 <= idle["left"] <= 4, seen
        assert all(idle[key] <= 1 for key in ("read", "touched", "written", "h")), seen


def test_restore_sets_the_field_of_the_policy(servers: tuple[int, int]) -> None:
    outcomes = []
    for port in servers:
        with RespClient(port) as client:
            client.call("FLUSHALL")
            client.call("SET", "k", "v")
            payload = client.call("DUMP", "k")
            seen = [client.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"),
                    client.call("RESTORE", "f", "0", payload, "FREQ", "42"), client.call("OBJECT", "FREQ", "f"),
                    client.call("RESTORE", "i", "0", payload, "IDLETIME", "30"), client.call("OBJECT", "FREQ", "i"),
                    client.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"),
                    client.call("RESTORE", "j", "0", payload, "IDLETIME", "30"),
                    client.call("OBJECT", "IDLETIME", "j")]
            outcomes.append(seen)
    assert outcomes[1] == outcomes[0]
    assert outcomes[0][2] == 42 and outcomes[0][4] == 5 and outcomes[0][7] == 30


# ------------------------------------------------------------- eviction in kind

def _used_memory(client: RespClient) -> int:
    info = client.call("INFO", "memory").decode()
    return int(info.split("used_memory:")[1].split()[0])


def _fill_past_limit(port: int, policy: str) -> dict[str, Any]:
    """100 keys without a TTL, a limit 150 kB over used memory, then 3000 writes of
    ~200 bytes, half with a TTL: what got evicted, refused, kept."""
    with RespClient(port) as client, RespClient(port) as events:
        client.call("FLUSHALL")
        client.call("CONFIG", "RESETSTAT")
        client.call("CONFIG", "SET", "notify-keyspace-events", "Ee")
        events.call("SUBSCRIBE", "__keyevent@0__:evicted")
        for i in range(100):
            client.call("SET", f"keep{i}", "x" * 200)
        client.call("CONFIG", "SET", "maxmemory-policy", policy)
        client.call("CONFIG", "SET", "maxmemory", str(_used_memory(client) + 150_000))
        refused = 0
        for i in range(1500):
            for reply in (client.call("SET", f"ttl{i}", "x" * 200, "EX", "1000"),
                          client.call("SET", f"plain{i}", "x" * 200)):
                if isinstance(reply, RespError):
                    assert reply == RespError(OOM), reply
                    refused += 1
        client.call("CONFIG", "SET", "maxmemory", "0")  # (itself evicts first when over)
        stats = client.call("INFO", "stats").decode()
        evicted_keys = int(stats.split("evicted_keys:")[1].split()[0])
        client.call("PUBLISH", "__keyevent@0__:evicted", "end")
        evicted = []
        while True:
            message = events.read()
            if message[2] == b"end":
                break
            evicted.append(message[2].decode())
        kept = sum(1 for i in range(100) if client.call("EXISTS", f"keep{i}"))
        return {"evicted": evicted, "evicted_keys": evicted_keys, "refused": refused, "kept": kept}


@pytest.mark.parametrize("policy", POLICIES)
def test_eviction_is_equal_in_kind(servers: tuple[int, int], policy: str) -> None:
    for port in servers:
        result = _fill_past_limit(port, policy)
        evicted = result["evicted"]
        where = f"{policy} on port {port}"
        assert len(evicted) == result["evicted_keys"], where  # one event per evicted key
        if policy == "noeviction":
            assert not evicted and result["refused"] > 0 and result["kept"] == 100, where
        elif policy.startswith("volatile"):
            # only keys with a TTL go; once they are gone, writes are refused
            assert evicted and all(key.startswith("ttl") for key in evicted), where
            assert result["kept"] == 100 and result["refused"] > 0, where
        else:
            assert len(evicted) > 1000 and result["refused"] == 0, where
            assert {key.rstrip("0123456789") for key in evicted} >= {"ttl", "plain"}, where
