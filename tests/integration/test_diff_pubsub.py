"""Pub/sub and connection commands compared with a real redis-server, RESP2 and RESP3."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.differential import assert_same_replies
from tests.support.resp_client import RespClient, wait_until


def _session(port: int, protocol: int) -> list:
    """Two clients: a subscriber and a publisher; returns everything the subscriber read."""
    seen = []
    with RespClient(port, protocol=protocol) as sub, RespClient(port) as pub:
        pub.call("FLUSHALL")
        sub.send("SUBSCRIBE", "news", "chat")
        seen += [sub.read(), sub.read()]
        sub.send("PSUBSCRIBE", "ch*", "n?ws", "[nc]*")
        seen += [sub.read() for _ in range(3)]
        sub.send("SUBSCRIBE", "news")  # again: same count
        seen.append(sub.read())
        seen.append(sub.call("PING"))
        seen.append(sub.call("PING", "hello"))
        if protocol == 2:
            seen.append(sub.call("GET", "x"))  # refused in RESP2 subscribed mode
        else:
            seen.append(sub.call("SET", "x", "1"))  # RESP3 may run commands
        seen.append(pub.call("PUBLISH", "news", "n1"))
        seen.append(sub.read())  # message first, then pmessages
        patterns = sorted(repr(sub.read()) for _ in range(2))
        seen.append(patterns)
        seen.append(pub.call("PUBLISH", "chat", "c1"))
        seen += [sub.read()] + sorted(repr(sub.read()) for _ in range(2))
        seen.append(pub.call("PUBLISH", "nobody", "x"))
        seen.append(pub.call("PUBSUB", "NUMSUB", "news", "chat", "none"))
        seen.append(pub.call("PUBSUB", "NUMPAT"))
        seen.append(sorted(pub.call("PUBSUB", "CHANNELS")))
        seen.append(sorted(pub.call("PUBSUB", "CHANNELS", "n*")))
        sub.send("UNSUBSCRIBE", "chat")
        seen.append(sub.read())
        sub.send("PUNSUBSCRIBE")
        replies = [sub.read() for _ in range(3)]
        seen.append(sorted(r[1] for r in replies))
        seen.append([r[2] for r in replies])  # counts go down one by one
        sub.send("UNSUBSCRIBE")
        seen.append(sub.read())
        sub.send("UNSUBSCRIBE")
        seen.append(sub.read())  # nothing left: one reply with a null channel
        seen.append(sub.call("PING"))  # out of subscribed mode
        sub.send("SSUBSCRIBE", "shard")
        seen.append(sub.read())
        seen.append(pub.call("SPUBLISH", "shard", "s1"))
        seen.append(sub.read())
        seen.append(pub.call("PUBSUB", "SHARDCHANNELS"))
        seen.append(pub.call("PUBSUB", "SHARDNUMSUB", "shard"))
        sub.send("SUNSUBSCRIBE")
        seen.append(sub.read())
        seen.append(pub.call("PUBSUB", "NOPE"))
        seen.append(pub.call("SUBSCRIBE"))
    return seen


@pytest.mark.parametrize("protocol", [2, 3])
def test_pubsub_session_matches_redis(redis_server, fanout_broker, protocol):
    assert _session(fanout_broker.port, protocol) == _session(redis_server.port, protocol)


def test_connection_and_server_commands(redis_server, fanout_broker):
    script = [
        ("PING",), ("PING", "a", "b"), ("ECHO", "hi"), ("ECHO",), ("SELECT", "1"), ("SET", "k", "v"),
        ("DBSIZE",), ("SELECT", "0"), ("DBSIZE",), ("SELECT", "16"), ("SELECT", "-1"),
        ("CLIENT", "SETNAME", "my-app"), ("CLIENT", "GETNAME"), ("CLIENT", "SETNAME", "bad name"),
        ("CLIENT", "REPLY", "maybe"), ("CLIENT", "KILL", "1.2.3.4:5"), ("CLIENT", "BOGUS"),
        ("CONFIG", "SET", "notify-keyspace-events", "KEA"), ("CONFIG", "GET", "notify-keyspace-events"),
        ("CONFIG", "SET", "notify-keyspace-events", "Kgx"), ("CONFIG", "GET", "notify-keyspace-events"),
        ("CONFIG", "SET", "notify-keyspace-events", "KEAn"), ("CONFIG", "GET", "notify-keyspace-events"),
        ("CONFIG", "SET", "notify-keyspace-events", "Q"), ("CONFIG", "SET", "notify-keyspace-events", ""),
        ("CONFIG", "SET", "no-such-thing", "1"), ("CONFIG", "GET", "maxclients"),
        ("CONFIG", "GET", "proto-max-bulk-len"), ("CONFIG", "SET", "maxclients", "abc"),
        ("MULTI",), ("SET", "a", "1"), ("INCR", "a"), ("GET", "a"), ("EXEC",),
        ("MULTI",), ("MULTI",), ("DISCARD",), ("EXEC",), ("DISCARD",),
        ("MULTI",), ("SET", "a"), ("SET", "b", "2"), ("EXEC",), ("EXISTS", "b"),
        ("MULTI",), ("WATCH", "x"), ("DISCARD",),
        ("WATCH", "a"), ("SET", "a", "changed"), ("MULTI",), ("GET", "a"), ("EXEC",),
        ("HELLO", "4"), ("HELLO", "x"), ("AUTH", "pw"), ("AUTH", "u", "pw"),
        ("FLUSHDB", "BOGUS"), ("FLUSHALL",), ("DBSIZE",),
    ]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


def test_watch_is_invalidated_by_another_client(redis_server, fanout_broker):
    def run(port: int) -> list:
        with RespClient(port) as a, RespClient(port) as b:
            a.call("FLUSHALL")
            a.call("SET", "balance", "10")
            out = [a.call("WATCH", "balance"), b.call("INCRBY", "balance", "5"), a.call("MULTI"),
                   a.call("SET", "balance", "0"), a.call("EXEC"), a.call("GET", "balance")]
            out += [a.call("WATCH", "balance"), a.call("MULTI"), a.call("SET", "balance", "1"),
                    a.call("EXEC"), a.call("GET", "balance")]
            return out
    assert run(fanout_broker.port) == run(redis_server.port)


def test_client_reply_off_or_skip_does_not_silence_subscription_confirmations(redis_server, fanout_broker) -> None:
    """Issue 20 (three of Redis's pubsub tests hung on it): SUBSCRIBE's confirmations
    are pushed whatever CLIENT REPLY says; other replies are silenced as asked."""
    def run(port: int) -> list[Any]:
        seen: list[Any] = []
        for mode, channel in (("OFF", "a"), ("SKIP", "b")):
            with RespClient(port) as subscriber, RespClient(port) as publisher:
                subscriber_id = subscriber.call("CLIENT", "ID")
                subscriber.send("CLIENT", "REPLY", mode)
                subscriber.send("SUBSCRIBE", channel)
                subscriber.send("PING")
                subscriber.send("PSUBSCRIBE", channel + "*")
                # until the server shows both subscriptions (bounded in time: the client's
                # later packets wait for a delayed ACK, since nothing is answered)
                wait_until(lambda: b" sub=1 psub=1 " in publisher.call("CLIENT", "LIST", "ID", subscriber_id),
                           "both subscriptions show")
                publisher.call("PUBLISH", channel, "end")
                while True:
                    message = subscriber.read()
                    seen.append(message)
                    if message[0] == b"pmessage":
                        break
        return seen

    assert run(fanout_broker.port) == run(redis_server.port)
