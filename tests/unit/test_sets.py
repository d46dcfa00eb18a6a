"""Set commands on the sans-I/O core: no sockets, a fake clock."""

from __future__ import annotations


import pytest

from broker.core import Broker
from broker.resp import encode
from tests.support.core import Clock, FakeClient, error, events, run


def b(*members: str) -> set[bytes]:
    return {m.encode() for m in members}


# ------------------------------------------------------------------- basics

def test_sadd_srem_count_real_changes(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "SADD", "s", "a", "b", "a") == 2
    assert run(broker, client, "SADD", "s", "a") == 0
    assert run(broker, client, "SCARD", "s") == 2
    assert run(broker, client, "SREM", "s", "a", "a", "z") == 1
    assert run(broker, client, "SREM", "s", "b") == 1
    assert run(broker, client, "EXISTS", "s") == 0
    assert run(broker, client, "SREM", "s", "b") == 0


def test_membership(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SADD", "s", "a", "")
    assert run(broker, client, "SISMEMBER", "s", "a") == 1
    assert run(broker, client, "SISMEMBER", "s", "") == 1
    assert run(broker, client, "SISMEMBER", "nokey", "a") == 0
    assert run(broker, client, "SMISMEMBER", "s", "a", "z", "") == [1, 0, 1]
    assert run(broker, client, "SMISMEMBER", "nokey", "a") == [0]


def test_smembers_is_a_resp3_set_and_a_resp2_array(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SADD", "s", "only")
    reply = run(broker, client, "SMEMBERS", "s")
    assert reply == b("only")
    assert encode(reply, 3) == b"~1\r\n$4\r\nonly\r\n"
    assert encode(reply, 2) == b"*1\r\n$4\r\nonly\r\n"
    # SRANDMEMBER answers an array even in RESP3, as Redis does.
    assert encode(run(broker, client, "SRANDMEMBER", "s", "5"), 3) == b"*1\r\n$4\r\nonly\r\n"


def test_smembers_reply_is_a_copy(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SADD", "s", "a")
    reply = run(broker, client, "SMEMBERS", "s")
    run(broker, client, "SADD", "s", "b")
    assert reply == b("a")


def test_wrong_type(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SET", "str", "v")
    run(broker, client, "SADD", "s", "a")
    for argv in (("SADD", "str", "m"), ("SMEMBERS", "str"), ("SINTER", "nokey", "str"), ("SUNION", "s", "str"),
                 ("SDIFF", "nokey", "str"), ("SINTERSTORE", "d", "s", "str"), ("SMOVE", "s", "str", "a"),
                 ("SPOP", "str", "1"), ("SSCAN", "str", "0"), ("SINTERCARD", "2", "nokey", "str")):
        assert error(run(broker, client, *argv)).startswith("WRONGTYPE"), argv
    # A missing source answers 0 before the destination's type is looked at.
    assert run(broker, client, "SMOVE", "nokey", "str", "a") == 0


# ---------------------------------------------------------------- algebra

@pytest.fixture
def three(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SADD", "s1", "a", "b", "c", "d")
    run(broker, client, "SADD", "s2", "c", "d", "e")
    run(broker, client, "SADD", "s3", "d", "x")


@pytest.mark.usefixtures("three")
def test_inter_union_diff(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "SINTER", "s1", "s2") == b("c", "d")
    assert run(broker, client, "SINTER", "s1", "s2", "s3") == b("d")
    assert run(broker, client, "SINTER", "s1", "nokey") == set()
    assert run(broker, client, "SUNION", "s1", "s3", "nokey") == b("a", "b", "c", "d", "x")
    assert run(broker, client, "SDIFF", "s1", "s2", "s3") == b("a", "b")
    assert run(broker, client, "SDIFF", "nokey", "s1") == set()


@pytest.mark.usefixtures("three")
def test_sintercard_limit(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "SINTERCARD", "2", "s1", "s2") == 2
    assert run(broker, client, "SINTERCARD", "2", "s1", "s2", "LIMIT", "1") == 1
    assert run(broker, client, "SINTERCARD", "2", "s1", "s2", "LIMIT", "0") == 2
    assert run(broker, client, "SINTERCARD", "1", "nokey") == 0
    assert error(run(broker, client, "SINTERCARD", "0", "s1")) == "ERR numkeys should be greater than 0"
    assert error(run(broker, client, "SINTERCARD", "3", "s1")) == (
        "ERR Number of keys can't be greater than number of args")
    assert error(run(broker, client, "SINTERCARD", "1", "s1", "LIMIT", "-1")) == "ERR LIMIT can't be negative"
    assert error(run(broker, client, "SINTERCARD", "1", "s1", "LIMIT")) == "ERR syntax error"


@pytest.mark.usefixtures("three")
def test_stores_overwrite_any_type_and_drop_the_ttl(broker: Broker, client: FakeClient) -> None:
    db = broker.dbs[0]
    run(broker, client, "SET", "d", "string")
    db.set_expire(b"d", broker.now_ms + 60_000)
    assert run(broker, client, "SINTERSTORE", "d", "s1", "s2") == 2
    assert run(broker, client, "SMEMBERS", "d") == b("c", "d")
    assert db.deadline(b"d") is None
    assert run(broker, client, "SUNIONSTORE", "d", "s2", "s3") == 4
    assert run(broker, client, "SDIFFSTORE", "d", "s1", "s1") == 0
    assert run(broker, client, "EXISTS", "d") == 0
    # Storing into one of the sources reads first, then writes.
    assert run(broker, client, "SINTERSTORE", "s1", "s1", "s3") == 1
    assert run(broker, client, "SMEMBERS", "s1") == b("d")


@pytest.mark.usefixtures("three")
def test_store_result_is_not_shared_with_a_source(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SUNIONSTORE", "copy", "s3")
    run(broker, client, "SADD", "copy", "new")
    assert run(broker, client, "SMEMBERS", "s3") == b("d", "x")


# ------------------------------------------------------------- SMOVE, SPOP

def test_smove(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SADD", "src", "a", "b")
    run(broker, client, "SADD", "dst", "b")
    assert run(broker, client, "SMOVE", "src", "dst", "zz") == 0
    assert run(broker, client, "SMOVE", "src", "src", "a") == 1
    assert run(broker, client, "SMOVE", "src", "dst", "a") == 1
    assert run(broker, client, "SMOVE", "src", "dst", "b") == 1  # already there: only removed from src
    assert run(broker, client, "EXISTS", "src") == 0
    assert run(broker, client, "SMEMBERS", "dst") == b("a", "b")


def test_spop_with_and_without_count(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SADD", "s", "a", "b", "c", "d")
    one = run(broker, client, "SPOP", "s")
    assert one in b("a", "b", "c", "d")
    two = run(broker, client, "SPOP", "s", "2")
    assert isinstance(two, set) and len(two) == 2 and one not in two
    assert run(broker, client, "SCARD", "s") == 1
    assert run(broker, client, "SPOP", "s", "0") == set()
    rest = run(broker, client, "SPOP", "s", "10")
    assert rest | two | {one} == b("a", "b", "c", "d")
    assert run(broker, client, "EXISTS", "s") == 0
    assert run(broker, client, "SPOP", "s") is None
    assert run(broker, client, "SPOP", "s", "3") == set()
    assert error(run(broker, client, "SPOP", "s", "-1")) == "ERR value is out of range, must be positive"
    assert error(run(broker, client, "SPOP", "s", "1", "2")) == "ERR syntax error"


def test_srandmember_counts(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SADD", "s", "a", "b", "c")
    assert sorted(run(broker, client, "SRANDMEMBER", "s", "100")) == [b"a", b"b", b"c"]
    unique = run(broker, client, "SRANDMEMBER", "s", "2")
    assert len(set(unique)) == 2 and set(unique) <= b("a", "b", "c")
    repeated = run(broker, client, "SRANDMEMBER", "s", "-50")
    assert len(repeated) == 50 and set(repeated) <= b("a", "b", "c")
    assert run(broker, client, "SCARD", "s") == 3
    assert run(broker, client, "SRANDMEMBER", "nokey") is None
    assert run(broker, client, "SRANDMEMBER", "nokey", "-3") == []
    assert error(run(broker, client, "SRANDMEMBER", "s", "-9223372036854775808")) == (
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")


# ------------------------------------------------------------------- SSCAN

def test_sscan_pages_through_a_large_set_exactly_once(broker: Broker, client: FakeClient) -> None:
    members = [f"m{i}" for i in range(400)]
    run(broker, client, "SADD", "s", *members)
    seen: list[bytes] = []
    cursor = b"0"
    for _ in range(1000):
        cursor, page = run(broker, client, "SSCAN", "s", cursor, "COUNT", "33", "MATCH", "m1*")
        seen.extend(page)
        if cursor == b"0":
            break
    assert cursor == b"0"
    assert sorted(seen) == sorted(m.encode() for m in members if m.startswith("m1"))


def test_sscan_checks_cursor_then_key_then_options(broker: Broker, client: FakeClient) -> None:
    assert error(run(broker, client, "SSCAN", "nokey", "x", "BADOPT")) == "ERR invalid cursor"
    assert run(broker, client, "SSCAN", "nokey", "0", "BADOPT") == [b"0", []]
    run(broker, client, "SADD", "s", "a")
    assert error(run(broker, client, "SSCAN", "s", "0", "BADOPT")) == "ERR syntax error"
    assert error(run(broker, client, "SSCAN", "s", "0", "NOVALUES")) == "ERR syntax error"
    assert run(broker, client, "SSCAN", "s", "-1") == [b"0", [b"a"]]


# ------------------------------------------------------------ events, TTL

def test_keyspace_events_in_redis_order(broker: Broker, client: FakeClient) -> None:
    got = events(broker, client, ("SADD", "s", "a", "b"), ("SADD", "s", "a"), ("SREM", "s", "zz"),
                 ("SMOVE", "s", "t", "a"), ("SMOVE", "s", "t", "b"), ("SPOP", "t", "0"), ("SPOP", "t"),
                 ("SADD", "u", "x"), ("SINTERSTORE", "d", "u"), ("SINTERSTORE", "d", "nokey"),
                 ("SINTERSTORE", "d", "nokey"), ("SPOP", "u", "5"))
    assert got == [
        (b"new", b"s"), (b"sadd", b"s"),
        (b"srem", b"s"), (b"new", b"t"), (b"sadd", b"t"),
        (b"srem", b"s"), (b"del", b"s"), (b"sadd", b"t"),
        (b"spop", b"t"),  # SPOP t 0 emits nothing; SPOP t leaves one member
        (b"new", b"u"), (b"sadd", b"u"),
        (b"new", b"d"), (b"sinterstore", b"d"), (b"del", b"d"),
        (b"spop", b"u"), (b"del", b"u"),
    ]


def test_single_spop_of_the_last_member_deletes_the_key(broker: Broker, client: FakeClient) -> None:
    got = events(broker, client, ("SADD", "s", "a"), ("SPOP", "s"))
    assert got[-2:] == [(b"spop", b"s"), (b"del", b"s")]


def test_expired_set_reads_as_missing(broker: Broker, client: FakeClient, clock: Clock) -> None:
    run(broker, client, "SADD", "s", "a")
    broker.dbs[0].set_expire(b"s", broker.now_ms + 1000)
    assert run(broker, client, "SCARD", "s") == 1
    clock.now += 2
    assert run(broker, client, "SCARD", "s") == 0
    assert run(broker, client, "SMOVE", "s", "t", "a") == 0


def test_spop_drains_a_large_set_one_by_one(broker: Broker, client: FakeClient) -> None:
    members = {f"m{i}".encode() for i in range(1500)}
    run(broker, client, "SADD", "s", *members)
    popped = [run(broker, client, "SPOP", "s") for _ in range(1500)]
    assert set(popped) == members and len(popped) == 1500
    assert run(broker, client, "EXISTS", "s") == 0
