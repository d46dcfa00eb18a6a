"""MIGRATE against a real redis-server: the same commands on each as the source,
moving keys into a third server (a redis-server, then our broker as the target
too), replies and both sides' keys compared.

The target is emptied before each run; it has a password-less default user, so
AUTH is the target's error, as is a db index out of range and RESTORE's BUSYKEY.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.resp_client import RespClient
from tests.support.servers import ServerProcess, free_port, start_redis_server


@pytest.fixture(scope="module")
def target() -> Iterator[ServerProcess]:
    server = start_redis_server()
    yield server
    server.stop()


def _script(port: int) -> list[tuple[Any, ...]]:
    host = "127.0.0.1"
    return [
        ("SET", "k", "v"), ("PEXPIRE", "k", 100000), ("RPUSH", "l", "a", "b", "c"), ("HSET", "h", "f", "1"),
        ("MIGRATE", host, port, "k", 0, 1000), ("EXISTS", "k"),
        ("MIGRATE", host, port, "", 0, 1000, "KEYS", "l", "nosuch", "h"), ("EXISTS", "l", "h"),
        ("MIGRATE", host, port, "nosuch", 0, 1000),
        ("SET", "k", "v2"), ("MIGRATE", host, port, "k", 0, 1000),  # BUSYKEY at the target
        ("MIGRATE", host, port, "k", 0, 1000, "COPY", "REPLACE"), ("GET", "k"),
        ("MIGRATE", host, port, "k", 5, 1000, "COPY"),
        ("MIGRATE", host, port, "k", 0, 1000, "AUTH", "pw"),
        ("MIGRATE", host, port, "k", 0, 1000, "AUTH2", "user", "pw"),
        ("MIGRATE", host, port, "k", 0, 1000, "KEYS", "a"),
        ("MIGRATE", host, port, "", 0, 1000, "COPY", "foo"),
        ("MIGRATE", host, port, "k", 0, 1000, "AUTH"),
        ("MIGRATE", host, port, "k", "x", 1000), ("MIGRATE", host, port, "k", 0, "x"),
        ("MIGRATE", host, port, "k", 99, 1000),
        ("MIGRATE", host, free_port(), "k", 0, 200),  # nobody listening
        ("COMMAND", "GETKEYS", "MIGRATE", host, port, "", 0, 0, "KEYS", "a", "b"),
        ("COMMAND", "GETKEYS", "MIGRATE", host, port, "k", 0, 0),
    ]


def _target_state(port: int) -> list[Any]:
    with RespClient(port) as client:
        state = []
        for db in (0, 5):
            client.call("SELECT", db)
            for key in sorted(client.call("KEYS", "*")):
                ttl = client.call("PTTL", key)
                state.append((db, key, client.call("DUMP", key), ttl > 90000 if ttl > 0 else ttl))
        return state


def _run(source: int, target: int) -> tuple[list[Any], list[Any], list[Any]]:
    with RespClient(target) as client:
        client.call("FLUSHALL")
    with RespClient(source) as client:
        client.call("FLUSHALL")
        replies = [client.call(*step) for step in _script(target)]
        keys = sorted(client.call("KEYS", "*"))
    return replies, keys, _target_state(target)


def test_migrate_into_redis_as_redis(redis_server: Any, fanout_broker: Any, target: ServerProcess) -> None:
    expected = _run(redis_server.port, target.port)
    actual = _run(fanout_broker.port, target.port)
    assert actual[0] == expected[0]
    assert actual[1:] == expected[1:]


def test_migrate_into_fanout_as_into_redis(redis_server: Any, fanout_broker: Any, target: ServerProcess) -> None:
    """Redis as the source, our broker as the target: the same keys arrive."""
    expected = _run(redis_server.port, target.port)
    actual = _run(redis_server.port, fanout_broker.port)
    assert actual[0] == expected[0]
    assert actual[1:] == expected[1:]
