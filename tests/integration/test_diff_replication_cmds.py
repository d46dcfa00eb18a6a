"""WAIT, ROLE, REPLICAOF NO ONE and SWAPDB against a real redis-server (a master with no replicas)."""

from __future__ import annotations

import threading

from tests.support.differential import assert_same_replies
from tests.support.resp_client import RespClient, client_flags, wait_until

SCRIPT = [
    ("ROLE",), ("WAIT", 0, 0), ("WAIT", 0, 100), ("WAIT", -1, 0), ("WAIT", "x", 0), ("WAIT", 1, -1),
    ("WAIT", 1, "x"), ("WAIT", 1, 1.5), ("WAIT", 1, 20), ("MULTI",), ("WAIT", 3, 0), ("EXEC",),
    ("SET", "a", "in-0"), ("SELECT", 1), ("SET", "b", "in-1"), ("EXPIRE", "b", 100), ("SWAPDB", 0, 1),
    ("GET", "a"), ("GET", "b"), ("TTL", "b"), ("SELECT", 0), ("GET", "a"), ("GET", "b"), ("TTL", "b"),
    ("SWAPDB", 0, 0), ("SWAPDB", 0, 16), ("SWAPDB", -1, 0), ("SWAPDB", "x", 0), ("SWAPDB", 0, "y"),
    ("SWAPDB", 4294967296, 0), ("SWAPDB", 0, 2147483648), ("DBSIZE",), ("SWAPDB", 1, 0), ("DBSIZE",),
    ("KEYS", "*"), ("ROLE", "x"), ("SWAPDB", 1),
    ("REPLICAOF", "NO", "ONE"), ("replicaof", "no", "one"), ("SLAVEOF", "NO", "ONE"), ("ROLE",),
    ("REPLICAOF", "NO"), ("REPLICAOF", "localhost", "port"), ("REPLICAOF", "localhost", 70000),
    ("REPLICAOF", "localhost", -1), ("MULTI",), ("REPLICAOF", "NO", "ONE"), ("EXEC",),
]


def test_wait_role_swapdb(redis_server, fanout_broker) -> None:
    for protocol in (2, 3):
        assert_same_replies(redis_server.port, fanout_broker.port, SCRIPT, protocol=protocol)


def test_swapdb_fails_watch_and_wakes_a_blocked_pop(redis_server, fanout_broker) -> None:
    def run(port: int) -> list[object]:
        with RespClient(port) as admin, RespClient(port) as watcher, RespClient(port) as waiter:
            admin.call("FLUSHALL")
            admin.call("SELECT", 1)
            admin.call("RPUSH", "jobs", "j1")
            watcher.call("WATCH", "jobs")          # in db 0, where jobs does not exist yet
            waiter.send("BLPOP", "jobs", 0)        # also db 0
            # PING through the waiter's own connection would queue behind BLPOP; ask the
            # server instead until the waiter shows as blocked
            wait_until(lambda: b"cmd=blpop" in admin.call("CLIENT", "LIST"), "the BLPOP is blocked")
            popped: list[object] = []
            reader = threading.Thread(target=lambda: popped.append(waiter.read()))
            reader.start()
            admin.call("SWAPDB", 0, 1)
            reader.join(10)
            watcher.call("MULTI")
            watcher.call("PING")
            return [popped, watcher.call("EXEC"), admin.call("LLEN", "jobs")]

    assert run(fanout_broker.port) == run(redis_server.port)


def test_client_unblock(redis_server, fanout_broker) -> None:
    def run(port: int) -> list[object]:
        with RespClient(port) as admin, RespClient(port) as waiter:
            admin.call("FLUSHALL")
            waiter_id = waiter.call("CLIENT", "ID")
            replies: list[object] = [admin.call("CLIENT", "UNBLOCK", waiter_id)]
            for command, reason in ((("BLPOP", "q", 0), ()), (("XREAD", "BLOCK", 0, "STREAMS", "s", "$"), ("ERROR",)),
                                    (("WAIT", 1, 0), ("TIMEOUT",)), (("BZPOPMIN", "z", 0), ("error",))):
                waiter.send(*command)
                wait_until(lambda: b"b" in client_flags(admin, waiter_id), f"{command[0]} is blocked")
                replies.append(admin.call("CLIENT", "UNBLOCK", waiter_id, *reason))
                replies.append(waiter.read())
            replies += [admin.call("CLIENT", "UNBLOCK", waiter_id, "SOMETIMES"),
                        admin.call("CLIENT", "UNBLOCK", "x"), admin.call("CLIENT", "UNBLOCK", 999999),
                        admin.call("CLIENT", "UNBLOCK", waiter_id, "ERROR", "more")]
            return replies

    assert run(fanout_broker.port) == run(redis_server.port)


def test_save_and_shutdown_are_refused_inside_multi(redis_server, fanout_broker) -> None:
    """Issue 20: SAVE and SHUTDOWN are flagged no_multi; inside MULTI they are refused
    and the transaction aborts (Redis's "MULTI with SHUTDOWN" stopped our broker)."""
    script = [("MULTI",), ("SET", "k", "v"), ("SHUTDOWN",), ("SAVE",), ("EXEC",), ("GET", "k"), ("PING",)]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


def test_client_kill_type(redis_server, fanout_broker) -> None:
    script = [("CLIENT", "KILL", "TYPE", "bogus"), ("CLIENT", "KILL", "TYPE", "master"),
              ("CLIENT", "KILL", "TYPE", "replica"), ("CLIENT", "KILL", "TYPE", "slave"),
              ("CLIENT", "KILL", "TYPE", "pubsub"), ("CLIENT", "KILL", "TYPE", "PubSub", "SKIPME", "yes"),
              ("PING",)]
    assert_same_replies(redis_server.port, fanout_broker.port, script)
