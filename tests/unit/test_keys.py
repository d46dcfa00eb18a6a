"""Generic key commands on the sans-I/O core: no sockets, a fake clock."""

from __future__ import annotations


import pytest

from broker.commands.keys import encoding_of
from broker.core import Broker
from broker.resp import NULL_ARRAY, OK, Simple
from tests.support.core import Clock, FakeClient, error, run


def subscribe_events(broker: Broker, client: FakeClient, flags: str = "KEAn") -> FakeClient:
    listener = FakeClient(broker)
    run(broker, client, "CONFIG", "SET", "notify-keyspace-events", flags)
    run(broker, listener, "PSUBSCRIBE", "__keyevent@*__:*")
    return listener


def seen(listener: FakeClient) -> list[tuple[bytes, bytes]]:
    """(channel suffix 'db:event', key) pairs received so far."""
    return [(m.channel[len(b"__keyevent@"):].replace(b"__:", b":"), m.data) for m in listener.messages]


# -------------------------------------------------------------- existence

def test_del_exists_touch_count_each_argument(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "MSET", "a", "1", "b", "2")
    assert run(broker, client, "EXISTS", "a", "a", "b", "c") == 3
    assert run(broker, client, "TOUCH", "a", "c") == 1
    assert run(broker, client, "DEL", "a", "a", "c") == 1
    assert run(broker, client, "UNLINK", "b") == 1
    assert run(broker, client, "EXISTS", "a", "b") == 0


def test_type_names_every_type(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SET", "s", "v")
    run(broker, client, "HSET", "h", "f", "v")
    run(broker, client, "SADD", "set", "m")
    run(broker, client, "ZADD", "z", "1", "m")
    names = [run(broker, client, "TYPE", key) for key in ("s", "h", "set", "z", "nokey")]
    assert names == [Simple("string"), Simple("hash"), Simple("set"), Simple("zset"), Simple("none")]


def test_del_of_an_expired_key_reports_expired_not_del(broker: Broker, client: FakeClient, clock: Clock) -> None:
    run(broker, client, "SET", "k", "v", "PX", "100")
    listener = subscribe_events(broker, client)
    clock.now += 0.1
    assert run(broker, client, "DEL", "k") == 0
    assert seen(listener) == [(b"0:expired", b"k")]


# -------------------------------------------------------------------- TTL

def test_ttl_replies_and_rounding(broker: Broker, client: FakeClient, clock: Clock) -> None:
    assert run(broker, client, "TTL", "nokey") == -2
    run(broker, client, "SET", "k", "v")
    assert run(broker, client, "TTL", "k") == -1
    assert run(broker, client, "PEXPIRE", "k", "10499") == 1
    assert run(broker, client, "TTL", "k") == 10
    assert run(broker, client, "PEXPIRE", "k", "10500") == 1
    assert run(broker, client, "TTL", "k") == 11  # seconds round to nearest, like Redis
    clock.now += 0.25
    assert run(broker, client, "PTTL", "k") == 10250
    now_ms = int(clock.now * 1000)
    assert run(broker, client, "PEXPIRETIME", "k") == now_ms + 10250
    assert run(broker, client, "EXPIRETIME", "k") == (now_ms + 10250 + 500) // 1000


def test_expire_in_the_past_deletes_with_only_a_del_event(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SET", "k", "v")
    listener = subscribe_events(broker, client)
    assert run(broker, client, "EXPIRE", "k", "-1") == 1
    assert run(broker, client, "EXISTS", "k") == 0
    assert seen(listener) == [(b"0:del", b"k")]


def test_expire_lazily_and_actively_with_expired_events(broker: Broker, client: FakeClient, clock: Clock) -> None:
    listener = FakeClient(broker)
    run(broker, client, "CONFIG", "SET", "notify-keyspace-events", "Ex")
    run(broker, listener, "SUBSCRIBE", "__keyevent@0__:expired")
    run(broker, client, "MSET", "lazy", "1", "active", "2", "kept", "3")
    run(broker, client, "EXPIRE", "lazy", "5")
    run(broker, client, "PEXPIREAT", "active", str(int(clock.now * 1000) + 5000))
    run(broker, client, "EXPIRE", "kept", "50")
    clock.now += 5
    assert run(broker, client, "GET", "lazy") is None
    assert [m.data for m in listener.messages] == [b"lazy"]
    assert broker.active_expire() == 1
    assert [m.data for m in listener.messages] == [b"lazy", b"active"]
    assert run(broker, client, "KEYS", "*") == [b"kept"]


def test_expired_keys_are_invisible_to_keys_scan_and_ttl(broker: Broker, client: FakeClient, clock: Clock) -> None:
    run(broker, client, "MSET", "a", "1", "b", "2")
    run(broker, client, "PEXPIRE", "a", "10")
    clock.now += 0.01
    assert run(broker, client, "KEYS", "*") == [b"b"]
    assert run(broker, client, "SCAN", "0") == [b"0", [b"b"]]
    assert run(broker, client, "TTL", "a") == -2
    assert run(broker, client, "RANDOMKEY") == b"b"


@pytest.mark.parametrize("option, current, new, applied", [
    ("NX", None, 100, True), ("NX", 50, 100, False), ("XX", None, 100, False), ("XX", 50, 100, True),
    ("GT", None, 100, False), ("GT", 50, 100, True), ("GT", 150, 100, False), ("GT", 100, 100, False),
    ("LT", None, 100, True), ("LT", 50, 100, False), ("LT", 150, 100, True), ("LT", 100, 100, False),
])
def test_expire_options(broker: Broker, client: FakeClient, option: str, current: int | None, new: int,
                        applied: bool) -> None:
    run(broker, client, "SET", "k", "v")
    if current is not None:
        run(broker, client, "EXPIRE", "k", str(current))
    assert run(broker, client, "EXPIRE", "k", str(new), option) == int(applied)
    assert run(broker, client, "TTL", "k") == (new if applied else current if current is not None else -1)


def test_expire_option_errors(broker: Broker, client: FakeClient) -> None:
    assert error(run(broker, client, "EXPIRE", "k", "1", "NX", "GT")) == (
        "ERR NX and XX, GT or LT options at the same time are not compatible")
    assert error(run(broker, client, "EXPIRE", "k", "1", "GT", "LT")) == (
        "ERR GT and LT options at the same time are not compatible")
    assert error(run(broker, client, "EXPIRE", "k", "1", "foo")) == "ERR Unsupported option foo"
    assert error(run(broker, client, "PEXPIREAT", "k", "x")) == "ERR value is not an integer or out of range"
    assert error(run(broker, client, "EXPIRE", "k", "9223372036854776")) == (
        "ERR invalid expire time in 'expire' command")


def test_persist(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SET", "k", "v", "EX", "10")
    listener = subscribe_events(broker, client)
    assert run(broker, client, "PERSIST", "k") == 1
    assert run(broker, client, "PERSIST", "k") == 0
    assert run(broker, client, "PERSIST", "nokey") == 0
    assert run(broker, client, "TTL", "k") == -1
    assert seen(listener) == [(b"0:persist", b"k")]


# ------------------------------------------------------------- iteration

def test_keys_glob(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "MSET", "user:1", "a", "user:2", "b", "room:1", "c", "a*b", "d")
    assert sorted(run(broker, client, "KEYS", "user:*")) == [b"user:1", b"user:2"]
    assert sorted(run(broker, client, "KEYS", "*:1")) == [b"room:1", b"user:1"]
    assert run(broker, client, "KEYS", "a\\*b") == [b"a*b"]
    assert run(broker, client, "KEYS", "nothing*") == []


def test_scan_pages_through_everything_once(broker: Broker, client: FakeClient) -> None:
    keys = [f"k{i}".encode() for i in range(250)]
    run(broker, client, "MSET", *[x for k in keys for x in (k, b"v")])
    run(broker, client, "HSET", "h", "f", "v")
    cursor, found, calls = b"0", [], 0
    while True:
        cursor, page = run(broker, client, "SCAN", cursor, "COUNT", "20")
        found += page
        calls += 1
        assert len(page) <= 20
        if cursor == b"0" or calls > 100:
            break
    assert sorted(found) == sorted(keys + [b"h"]) and len(found) == 251
    assert calls == 13
    assert run(broker, client, "SCAN", "0", "COUNT", "1000", "TYPE", "hash") == [b"0", [b"h"]]
    assert run(broker, client, "SCAN", "0", "COUNT", "1000", "MATCH", "k24?")[1] == [
        b"k240", b"k241", b"k242", b"k243", b"k244", b"k245", b"k246", b"k247", b"k248", b"k249"]
    assert error(run(broker, client, "SCAN", "0", "COUNT", "0")) == "ERR syntax error"
    assert error(run(broker, client, "SCAN", "x")) == "ERR invalid cursor"


def test_scan_expiring_keys_on_a_page_does_not_skip_live_ones(broker: Broker, client: FakeClient,
                                                               clock: Clock) -> None:
    keys = [f"k{i:03}".encode() for i in range(200)]
    run(broker, client, "MSET", *[x for k in keys for x in (k, b"v")])
    dying = keys[5:200:7]
    for key in dying:
        run(broker, client, "PEXPIRE", key, "10")
    clock.now += 0.01
    cursor, found = b"0", []
    for _ in range(100):
        cursor, page = run(broker, client, "SCAN", cursor, "COUNT", "10")
        found += page
        if cursor == b"0":
            break
    assert sorted(found) == sorted(set(keys) - set(dying))
    assert len(client.db.data) == 200 - len(dying)  # SCAN removed the expired keys it met


def test_randomkey(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "RANDOMKEY") is None
    run(broker, client, "MSET", "a", "1", "b", "2")
    picks = {run(broker, client, "RANDOMKEY") for _ in range(50)}
    assert picks <= {b"a", b"b"} and picks


# --------------------------------------------------------- rename / move / copy

def test_rename_moves_value_and_ttl_with_events(broker: Broker, client: FakeClient, clock: Clock) -> None:
    run(broker, client, "SET", "src", "v", "EX", "100")
    run(broker, client, "SET", "dst", "old")
    listener = subscribe_events(broker, client)
    assert run(broker, client, "RENAME", "src", "dst") == OK
    assert run(broker, client, "GET", "dst") == b"v"
    assert run(broker, client, "TTL", "dst") == 100
    assert run(broker, client, "EXISTS", "src") == 0
    # The overwritten destination is re-added: new, then rename_from/rename_to, no del.
    assert seen(listener) == [(b"0:new", b"dst"), (b"0:rename_from", b"src"), (b"0:rename_to", b"dst")]
    assert error(run(broker, client, "RENAME", "src", "x")) == "ERR no such key"
    assert run(broker, client, "RENAME", "dst", "dst") == OK
    assert run(broker, client, "RENAMENX", "dst", "dst") == 0


def test_renamenx(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "MSET", "a", "1", "b", "2")
    assert run(broker, client, "RENAMENX", "a", "b") == 0
    assert run(broker, client, "RENAMENX", "a", "c") == 1
    assert run(broker, client, "MGET", "a", "b", "c") == [None, b"2", b"1"]


def test_move_between_dbs(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SET", "k", "v", "PX", "5000")
    listener = subscribe_events(broker, client)
    assert run(broker, client, "MOVE", "k", "3") == 1
    assert run(broker, client, "EXISTS", "k") == 0
    assert broker.dbs[3].data[b"k"] == b"v" and broker.dbs[3].deadline(b"k") is not None
    assert seen(listener) == [(b"3:new", b"k"), (b"0:move_from", b"k"), (b"3:move_to", b"k")]
    assert run(broker, client, "MOVE", "k", "3") == 0
    assert error(run(broker, client, "MOVE", "k", "0")) == "ERR source and destination objects are the same"
    assert error(run(broker, client, "MOVE", "k", "16")) == "ERR DB index is out of range"


def test_copy_is_deep_and_keeps_ttl(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "HSET", "h", "f", "1")
    run(broker, client, "SADD", "s", "a")
    run(broker, client, "ZADD", "z", "1", "m")
    run(broker, client, "EXPIRE", "h", "100")
    for key in ("h", "s", "z"):
        assert run(broker, client, "COPY", key, key + "2") == 1
    run(broker, client, "HSET", "h2", "f", "2")
    run(broker, client, "SADD", "s2", "b")
    run(broker, client, "ZADD", "z2", "5", "m")
    assert run(broker, client, "HGET", "h", "f") == b"1"
    assert run(broker, client, "SCARD", "s") == 1
    assert run(broker, client, "ZSCORE", "z", "m") == 1.0
    assert run(broker, client, "TTL", "h2") == 100
    assert run(broker, client, "COPY", "h", "s") == 0
    assert run(broker, client, "COPY", "h", "s", "REPLACE") == 1
    assert run(broker, client, "TYPE", "s") == Simple("hash")
    assert run(broker, client, "COPY", "h", "h", "DB", "1") == 1
    assert broker.dbs[1].data[b"h"] == {b"f": b"1"}
    assert error(run(broker, client, "COPY", "h", "h")) == "ERR source and destination objects are the same"
    assert error(run(broker, client, "COPY", "h", "x", "DB")) == "ERR syntax error"


def test_watch_sees_rename_expire_and_del_but_not_no_ops(broker: Broker, client: FakeClient) -> None:
    other = FakeClient(broker)
    outcomes = []
    for write in (("RENAME", "a", "k"), ("EXPIRE", "k", "10"), ("DEL", "k"), ("PERSIST", "k"), ("EXISTS", "k"),
                  ("EXPIRE", "nokey", "10")):
        run(broker, other, "FLUSHALL")
        run(broker, other, "MSET", "a", "1", "k", "2")
        run(broker, client, "WATCH", "k")
        run(broker, other, *write)
        run(broker, client, "MULTI")
        run(broker, client, "PING")
        outcomes.append(run(broker, client, "EXEC"))
    assert outcomes == [NULL_ARRAY, NULL_ARRAY, NULL_ARRAY, [Simple("PONG")], [Simple("PONG")], [Simple("PONG")]]


# ----------------------------------------------------------------- OBJECT

@pytest.mark.parametrize("value, encoding", [
    (b"123", b"int"), (b"-5", b"int"), (b"007", b"embstr"), (b"x" * 44, b"embstr"), (b"x" * 45, b"raw"),
    ({b"f": b"v"}, b"listpack"), ({b"f": b"v" * 65}, b"hashtable"), ({b"1", b"2"}, b"intset"),
    ({b"a"}, b"hashtable"),
])
def test_object_encoding_best_effort(value: object, encoding: bytes) -> None:
    assert encoding_of(value) == encoding


def test_object_subcommands(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SET", "small", "42")
    run(broker, client, "SET", "text", "hello")
    assert run(broker, client, "OBJECT", "ENCODING", "small") == b"int"
    assert run(broker, client, "OBJECT", "REFCOUNT", "small") == 2**31 - 1
    assert run(broker, client, "OBJECT", "REFCOUNT", "text") == 1
    assert run(broker, client, "OBJECT", "IDLETIME", "text") == 0
    assert run(broker, client, "OBJECT", "ENCODING", "nokey") is None
    assert error(run(broker, client, "OBJECT", "FREQ", "text")).startswith("ERR An LFU maxmemory policy is not")
    assert error(run(broker, client, "OBJECT", "NOPE", "x")) == "ERR unknown subcommand 'NOPE'. Try OBJECT HELP."
    assert run(broker, client, "OBJECT", "HELP")[0] == Simple(
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
