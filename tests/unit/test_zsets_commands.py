"""Sorted set commands on the sans-I/O core: no sockets, a fake clock."""

from __future__ import annotations


import pytest

from broker.core import BLOCKED, Broker
from broker.resp import NULL_ARRAY, encode, format_double
from broker.zset import ZSet
from tests.support.core import Clock, FakeClient, error, run


# ------------------------------------------------------------- replies

@pytest.mark.parametrize("value, text", [
    (1.0, b"1"), (1.5, b"1.5"), (0.1, b"0.10000000000000001"), (1e20, b"1e+20"), (-0.0, b"-0"),
    (float("inf"), b"inf"), (float("-inf"), b"-inf"), (3.0000000000000004, b"3.0000000000000004"),
    (1e-5, b"1.0000000000000001e-05"), (123456789012345678.0, b"1.2345678901234568e+17"),
])
def test_format_double_matches_redis_7_0(value: float, text: bytes) -> None:
    assert format_double(value) == text


def test_scores_are_bulk_in_resp2_and_doubles_in_resp3(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "ZADD", "z", "0.1", "a")
    reply = run(broker, client, "ZSCORE", "z", "a")
    assert encode(reply, 2) == b"$19\r\n0.10000000000000001\r\n"
    assert encode(reply, 3) == b",0.10000000000000001\r\n"
    withscores = run(broker, client, "ZRANGE", "z", "0", "-1", "WITHSCORES")
    assert encode(withscores, 2) == b"*2\r\n$1\r\na\r\n$19\r\n0.10000000000000001\r\n"
    client.proto = 3
    nested = run(broker, client, "ZRANGE", "z", "0", "-1", "WITHSCORES")
    assert encode(nested, 3) == b"*1\r\n*2\r\n$1\r\na\r\n,0.10000000000000001\r\n"


def test_zincrby_replies_negative_zero_but_stores_zero(broker: Broker, client: FakeClient) -> None:
    assert format_double(run(broker, client, "ZINCRBY", "z", "-0", "m")) == b"-0"
    assert format_double(run(broker, client, "ZSCORE", "z", "m")) == b"0"


def test_incr_to_nan_is_refused(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "ZADD", "z", "inf", "m")
    assert error(run(broker, client, "ZINCRBY", "z", "-inf", "m")) == "ERR resulting score is not a number (NaN)"
    assert run(broker, client, "ZSCORE", "z", "m") == float("inf")


def test_leaderboard_flow(broker: Broker, client: FakeClient) -> None:
    for name, points in [("ann", 30), ("bob", 10), ("cid", 20), ("dee", 20)]:
        run(broker, client, "ZINCRBY", "lb", str(points), name)
    assert run(broker, client, "ZREVRANGE", "lb", "0", "2", "WITHSCORES") == [
        b"ann", 30.0, b"dee", 20.0, b"cid", 20.0]
    assert run(broker, client, "ZREVRANK", "lb", "bob") == 3
    assert run(broker, client, "ZINCRBY", "lb", "25", "bob") == 35.0
    assert run(broker, client, "ZREVRANK", "lb", "bob") == 0
    assert run(broker, client, "ZCOUNT", "lb", "(20", "+inf") == 2


# ---------------------------------------------------------- ZRANK WITHSCORE (7.2)

def test_zrank_withscore(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "ZADD", "z", "1", "a", "2.5", "b")
    assert run(broker, client, "ZRANK", "z", "b", "WITHSCORE") == [1, 2.5]
    assert run(broker, client, "ZREVRANK", "z", "b", "withscore") == [0, 2.5]
    assert run(broker, client, "ZRANK", "z", "nope", "WITHSCORE") is NULL_ARRAY
    assert run(broker, client, "ZRANK", "nokey", "a", "WITHSCORE") is NULL_ARRAY
    assert run(broker, client, "ZRANK", "nokey", "a") is None
    assert error(run(broker, client, "ZRANK", "z", "a", "WITHSCORES")) == "ERR syntax error"
    assert error(run(broker, client, "ZRANK", "z", "a", "WITHSCORE", "x")) == (
        "ERR wrong number of arguments for 'zrank' command")


# -------------------------------------------------------------- blocking

def test_bzpopmin_blocks_until_zadd(broker: Broker, client: FakeClient) -> None:
    other = FakeClient(broker)
    assert run(broker, client, "BZPOPMIN", "a", "b", "0") is BLOCKED
    assert client.blocked is not None
    run(broker, other, "ZADD", "b", "3", "x", "1", "y")
    assert client.resumed == [[b"b", b"y", 1.0]]
    assert client.blocked is None
    assert run(broker, other, "ZRANGE", "b", "0", "-1") == [b"x"]


def test_bzmpop_blocks_until_zadd_and_pops_count(broker: Broker, client: FakeClient) -> None:
    writer = FakeClient(broker)
    assert run(broker, client, "BZMPOP", "0", "2", "a", "b", "MAX", "COUNT", "2") is BLOCKED
    run(broker, writer, "ZADD", "b", "1", "x", "2", "y", "3", "z")
    assert client.resumed == [[b"b", [[b"z", 3.0], [b"y", 2.0]]]]
    assert run(broker, writer, "ZMPOP", "1", "b", "MIN", "COUNT", "5") == [b"b", [[b"x", 1.0]]]
    assert run(broker, writer, "ZMPOP", "1", "b", "MIN") is NULL_ARRAY


def test_bzpopmax_serves_waiters_oldest_first(broker: Broker, client: FakeClient) -> None:
    second, writer = FakeClient(broker), FakeClient(broker)
    run(broker, client, "BZPOPMAX", "k", "0")
    run(broker, second, "BZPOPMAX", "k", "0")
    run(broker, writer, "ZADD", "k", "1", "low", "2", "high")
    assert client.resumed == [[b"k", b"high", 2.0]]
    assert second.resumed == [[b"k", b"low", 1.0]]
    assert run(broker, writer, "EXISTS", "k") == 0


def test_bzpopmin_timeout_and_multi(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "BZPOPMIN", "k", "0.5") is BLOCKED
    assert client.blocked is not None and client.blocked.timeout_ms == 500
    broker.timeout_blocked(client)
    assert client.resumed == [NULL_ARRAY]
    run(broker, client, "MULTI")
    run(broker, client, "BZPOPMIN", "k", "0")
    assert run(broker, client, "EXEC") == [NULL_ARRAY]


def test_blocked_client_ignores_other_types(broker: Broker, client: FakeClient) -> None:
    writer = FakeClient(broker)
    run(broker, client, "BZPOPMIN", "k", "0")
    run(broker, writer, "SET", "k", "str")
    broker.signal_ready(0, b"k")
    broker.serve_blocked()
    assert client.resumed == [] and client.blocked is not None


def test_bzpop_argument_errors(broker: Broker, client: FakeClient) -> None:
    assert error(run(broker, client, "BZPOPMIN", "k", "x")) == "ERR timeout is not a float or out of range"
    assert error(run(broker, client, "BZPOPMIN", "k", "-1")) == "ERR timeout is negative"
    run(broker, client, "SET", "s", "v")
    assert error(run(broker, client, "BZPOPMIN", "s", "1")).startswith("WRONGTYPE")


# ------------------------------------------------------- keyspace, WATCH, TTL

def test_events_in_redis_order(broker: Broker, client: FakeClient) -> None:
    subscriber = FakeClient(broker)
    run(broker, client, "CONFIG", "SET", "notify-keyspace-events", "KEzgn")
    run(broker, subscriber, "PSUBSCRIBE", "__keyevent@0__:*")
    run(broker, client, "ZADD", "z", "1", "a")
    run(broker, client, "ZADD", "z", "1", "a")  # no change: no event
    run(broker, client, "ZINCRBY", "z", "1", "a")
    run(broker, client, "ZPOPMIN", "z")
    events = [m.channel.split(b":", 1)[1] for m in subscriber.messages]
    assert events == [b"new", b"zadd", b"zincr", b"zpopmin", b"del"]


def test_watch_is_invalidated_only_by_real_changes(broker: Broker, client: FakeClient) -> None:
    writer = FakeClient(broker)
    run(broker, writer, "ZADD", "z", "1", "a")
    run(broker, client, "WATCH", "z")
    run(broker, writer, "ZADD", "z", "NX", "5", "a")
    assert client.watch_dirty is False
    run(broker, writer, "ZADD", "z", "5", "a")
    assert client.watch_dirty is True


def test_store_replaces_value_and_drops_ttl(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "ZADD", "src", "1", "a")
    run(broker, client, "SET", "dst", "v", "EX", "100")
    assert run(broker, client, "ZUNIONSTORE", "dst", "1", "src") == 1
    assert client.db.deadline(b"dst") is None
    assert isinstance(client.db.lookup(b"dst"), ZSet)


def test_expired_zset_is_gone(broker: Broker, client: FakeClient, clock: Clock) -> None:
    run(broker, client, "ZADD", "z", "1", "a")
    client.db.set_expire(b"z", broker.now_ms + 1000)
    clock.now += 2
    assert run(broker, client, "ZCARD", "z") == 0
    assert run(broker, client, "ZRANGE", "z", "0", "-1") == []


def test_zunion_accepts_plain_sets_with_score_one(broker: Broker, client: FakeClient) -> None:
    client.db.add(b"plain", {b"a", b"b"})
    run(broker, client, "ZADD", "z", "5", "a")
    assert run(broker, client, "ZUNION", "2", "plain", "z", "WITHSCORES") == [b"b", 1.0, b"a", 6.0]
    assert run(broker, client, "ZINTER", "2", "plain", "z") == [b"a"]


# ------------------------------------------------------------------ ZSCAN

def test_zscan_pages_through_a_large_set_exactly_once(broker: Broker, client: FakeClient) -> None:
    argv = ["ZADD", "big"]
    for i in range(500):
        argv += [str(i % 7), f"m{i}"]
    run(broker, client, *argv)
    seen: list[bytes] = []
    cursor = b"0"
    for _ in range(1000):
        cursor, flat = run(broker, client, "ZSCAN", "big", cursor, "COUNT", "33")
        seen += flat[::2]
        if cursor == b"0":
            break
    assert sorted(seen) == sorted(f"m{i}".encode() for i in range(500))
    assert len(seen) == 500
    _, matched = run(broker, client, "ZSCAN", "big", "0", "MATCH", "m49*", "COUNT", "1000")
    assert sorted(matched[::2]) == [b"m49", b"m490", b"m491", b"m492", b"m493", b"m494", b"m495",
                                    b"m496", b"m497", b"m498", b"m499"]


def test_type_name_is_zset(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "ZADD", "z", "1", "a")
    assert ZSet.TYPE_NAME == b"zset"
    assert type(client.db.lookup(b"z")) is ZSet
