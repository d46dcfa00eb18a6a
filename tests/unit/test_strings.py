"""String commands on the sans-I/O core: no sockets, a fake clock."""

from __future__ import annotations


import pytest

from broker.core import Broker
from broker.resp import NULL_ARRAY, OK
from tests.support.core import Clock, FakeClient, error, events, run


# ---------------------------------------------------------------- GET / SET

def test_set_get_roundtrip_is_binary_safe(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "GET", "k") is None
    assert run(broker, client, "SET", "k", b"a\x00\r\nb") == OK
    assert run(broker, client, "GET", "k") == b"a\x00\r\nb"


def test_set_overwrites_any_type_but_get_refuses_non_strings(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "HSET", "h", "f", "v")
    assert error(run(broker, client, "GET", "h")).startswith("WRONGTYPE")
    assert error(run(broker, client, "SET", "h", "x", "GET")).startswith("WRONGTYPE")
    assert run(broker, client, "HGET", "h", "f") == b"v"  # a failed SET ... GET changed nothing
    assert run(broker, client, "SET", "h", "x") == OK
    assert run(broker, client, "GET", "h") == b"x"


def test_set_nx_xx_get_replies(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "SET", "k", "1", "XX") is None
    assert run(broker, client, "SET", "k", "1", "NX") == OK
    assert run(broker, client, "SET", "k", "2", "NX") is None
    assert run(broker, client, "SET", "k", "2", "NX", "GET") == b"1"
    assert run(broker, client, "SET", "k", "3", "XX", "GET") == b"1"
    assert run(broker, client, "SETNX", "k", "4") == 0
    assert run(broker, client, "SETNX", "j", "4") == 1
    assert run(broker, client, "GET", "k") == b"3"
    assert error(run(broker, client, "SET", "k", "v", "NX", "XX")) == "ERR syntax error"


def test_set_option_conflicts_and_repeats(broker: Broker, client: FakeClient) -> None:
    assert error(run(broker, client, "SET", "k", "v", "EX", "1", "PX", "1")) == "ERR syntax error"
    assert error(run(broker, client, "SET", "k", "v", "KEEPTTL", "EX", "1")) == "ERR syntax error"
    assert error(run(broker, client, "SET", "k", "v", "EX")) == "ERR syntax error"
    assert error(run(broker, client, "SET", "k", "v", "PERSIST")) == "ERR syntax error"
    # Redis accepts the same TTL option twice; the last one wins.
    assert run(broker, client, "SET", "k", "v", "EX", "10", "EX", "20") == OK
    assert run(broker, client, "TTL", "k") == 20


@pytest.mark.parametrize("argv", [("SET", "k", "v", "EX", "0"), ("SET", "k", "v", "PX", "-1"),
                                  ("SET", "k", "v", "EX", "9223372036854776"),
                                  ("SET", "k", "v", "PX", "9223372036854775807")])
def test_set_invalid_expire_times(broker: Broker, client: FakeClient, argv: tuple[str, ...]) -> None:
    assert error(run(broker, client, *argv)) == "ERR invalid expire time in 'set' command"
    assert run(broker, client, "EXISTS", "k") == 0


def test_setex_errors_name_their_command(broker: Broker, client: FakeClient) -> None:
    assert error(run(broker, client, "SETEX", "k", "0", "v")) == "ERR invalid expire time in 'setex' command"
    assert error(run(broker, client, "PSETEX", "k", "0", "v")) == "ERR invalid expire time in 'psetex' command"
    assert error(run(broker, client, "SETEX", "k", "x", "v")) == "ERR value is not an integer or out of range"


# ---------------------------------------------------------------------- TTL

def test_set_ex_expires_lazily_with_an_expired_event(broker: Broker, client: FakeClient, clock: Clock) -> None:
    listener = FakeClient(broker)
    run(broker, client, "CONFIG", "SET", "notify-keyspace-events", "Ex")
    run(broker, listener, "SUBSCRIBE", "__keyevent@0__:expired")
    run(broker, client, "SET", "k", "v", "PX", "1500")
    clock.now += 1.499
    assert run(broker, client, "GET", "k") == b"v"
    assert listener.messages == []
    clock.now += 0.001
    assert run(broker, client, "GET", "k") is None
    assert [(m.channel, m.data) for m in listener.messages] == [(b"__keyevent@0__:expired", b"k")]


def test_active_expire_removes_due_keys_and_notifies(broker: Broker, client: FakeClient, clock: Clock) -> None:
    listener = FakeClient(broker)
    run(broker, client, "CONFIG", "SET", "notify-keyspace-events", "Ex")
    run(broker, listener, "SUBSCRIBE", "__keyevent@0__:expired")
    run(broker, client, "SETEX", "a", "10", "1")
    run(broker, client, "PSETEX", "b", "20000", "2")
    run(broker, client, "SET", "forever", "3")
    clock.now += 10
    assert broker.active_expire() == 1
    assert [m.data for m in listener.messages] == [b"a"]
    assert b"a" not in client.db.data and b"b" in client.db.data
    clock.now += 10
    assert broker.active_expire() == 1
    assert broker.active_expire() == 0
    assert [m.data for m in listener.messages] == [b"a", b"b"]
    assert run(broker, client, "DBSIZE") == 1


def test_keepttl_and_plain_set(broker: Broker, client: FakeClient, clock: Clock) -> None:
    run(broker, client, "SET", "k", "v", "EX", "100")
    run(broker, client, "SET", "k", "w", "KEEPTTL")
    assert run(broker, client, "TTL", "k") == 100
    run(broker, client, "APPEND", "k", "x")
    run(broker, client, "SETRANGE", "k", "0", "z")
    assert run(broker, client, "TTL", "k") == 100
    run(broker, client, "SET", "k", "plain")
    assert run(broker, client, "TTL", "k") == -1


def test_exat_pxat_in_the_past_store_an_already_expired_key(broker: Broker, client: FakeClient) -> None:
    assert events(broker, client, ("SET", "k", "v", "EXAT", "1"), ("GET", "k")) == [
        (b"new", b"k"), (b"set", b"k"), (b"expire", b"k"), (b"expired", b"k")]
    assert run(broker, client, "EXISTS", "k") == 0


def test_counters_keep_their_ttl(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SET", "n", "1", "EX", "100")
    assert run(broker, client, "INCR", "n") == 2
    assert run(broker, client, "INCRBYFLOAT", "n", "0.5") == b"2.5"
    assert run(broker, client, "TTL", "n") == 100
    run(broker, client, "GETSET", "n", "x")
    assert run(broker, client, "TTL", "n") == -1


def test_getex_sets_and_removes_ttls(broker: Broker, client: FakeClient, clock: Clock) -> None:
    run(broker, client, "SET", "k", "v")
    assert run(broker, client, "GETEX", "k", "PX", "2500") == b"v"
    assert run(broker, client, "PTTL", "k") == 2500
    assert run(broker, client, "GETEX", "k", "EXAT", str(int(clock.now) + 50)) == b"v"
    assert run(broker, client, "TTL", "k") == 50
    assert run(broker, client, "GETEX", "k", "PERSIST") == b"v"
    assert run(broker, client, "TTL", "k") == -1
    assert run(broker, client, "GETEX", "k", "PXAT", str(int(clock.now * 1000))) == b"v"
    assert run(broker, client, "EXISTS", "k") == 0
    assert run(broker, client, "GETEX", "k", "EX", "0") is None  # a missing key wins over the bad time


# ------------------------------------------------------------------ events

def test_string_events_in_redis_order(broker: Broker, client: FakeClient) -> None:
    seen = events(broker, client, ("SET", "a", "1", "EX", "10"), ("SET", "a", "2", "NX"), ("INCR", "a"),
                  ("INCRBY", "b", "2"), ("INCRBYFLOAT", "b", "1.5"), ("APPEND", "c", "x"), ("APPEND", "c", ""),
                  ("SETRANGE", "c", "0", ""), ("SETRANGE", "c", "3", "y"), ("MSET", "d", "1", "a", "2"),
                  ("MSETNX", "d", "1", "e", "2"), ("GETDEL", "d"), ("GETEX", "a", "EX", "5"),
                  ("GETEX", "a", "PERSIST"), ("GETEX", "a", "PERSIST"), ("GETSET", "f", "1"))
    assert seen == [
        (b"new", b"a"), (b"set", b"a"), (b"expire", b"a"), (b"incrby", b"a"),
        (b"new", b"b"), (b"incrby", b"b"), (b"incrbyfloat", b"b"),
        (b"new", b"c"), (b"append", b"c"), (b"append", b"c"), (b"setrange", b"c"),
        (b"new", b"d"), (b"set", b"d"), (b"set", b"a"), (b"del", b"d"),
        (b"expire", b"a"), (b"persist", b"a"), (b"new", b"f"), (b"set", b"f")]


def test_keymiss_only_with_m_and_not_for_writes(broker: Broker, client: FakeClient) -> None:
    seen = events(broker, client, ("GET", "x"), ("MGET", "x", "y"), ("INCR", "z"), ("STRLEN", "x"), flags="Em")
    assert seen == [(b"keymiss", b"x"), (b"keymiss", b"x"), (b"keymiss", b"y"), (b"keymiss", b"x")]


def test_reads_count_hits_and_misses(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SET", "k", "v")
    run(broker, client, "GET", "k")
    run(broker, client, "MGET", "k", "x", "y")
    run(broker, client, "GETRANGE", "k", "0", "1")
    run(broker, client, "SET", "k", "w")  # writes are not reads
    run(broker, client, "INCR", "n")
    assert (broker.stats.keyspace_hits, broker.stats.keyspace_misses) == (3, 2)


def test_watch_is_invalidated_by_a_string_write(broker: Broker, client: FakeClient) -> None:
    other = FakeClient(broker)
    run(broker, client, "SET", "k", "1")
    run(broker, client, "WATCH", "k")
    run(broker, other, "GET", "k")
    run(broker, other, "APPEND", "k", "2")
    run(broker, client, "MULTI")
    run(broker, client, "INCR", "k")
    assert run(broker, client, "EXEC") is NULL_ARRAY
    assert run(broker, client, "GET", "k") == b"12"


# ---------------------------------------------------------------- counters

def test_incr_decr_and_overflow(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "INCR", "n") == 1
    assert run(broker, client, "DECRBY", "n", "11") == -10
    assert run(broker, client, "GET", "n") == b"-10"
    run(broker, client, "SET", "max", "9223372036854775807")
    assert error(run(broker, client, "INCR", "max")) == "ERR increment or decrement would overflow"
    assert error(run(broker, client, "DECRBY", "n", "-9223372036854775808")) == "ERR decrement would overflow"
    run(broker, client, "SET", "s", " 1")
    assert error(run(broker, client, "INCR", "s")) == "ERR value is not an integer or out of range"


@pytest.mark.parametrize("start, increment, result", [
    (None, "0.1", b"0.1"), ("0.1", "0.2", b"0.3"), ("10.50", "0.1", b"10.6"), ("5.0e3", "2.0e2", b"5200"),
    ("1", "-1", b"0"), ("-0.0", "0", b"0"), ("3", "1e-17", b"3.00000000000000001"),
    ("1e20", "1", b"100000000000000000000"), ("1e18", "1", b"1000000000000000001"), ("0", "1.5e-18", b"0"),
])
def test_incrbyfloat_formats_like_redis(broker: Broker, client: FakeClient, start: str | None,
                                        increment: str, result: bytes) -> None:
    if start is not None:
        run(broker, client, "SET", "f", start)
    assert run(broker, client, "INCRBYFLOAT", "f", increment) == result
    assert run(broker, client, "GET", "f") == result


@pytest.mark.parametrize("start, increment, message", [
    ("1", "abc", "ERR value is not a valid float"), ("abc", "1", "ERR value is not a valid float"),
    ("1", "nan", "ERR value is not a valid float"), ("1", "inf", "ERR increment would produce NaN or Infinity"),
    ("inf", "1", "ERR increment would produce NaN or Infinity"),
    ("1e4932", "1e4932", "ERR increment would produce NaN or Infinity"),
    ("\x001", "1", "ERR value is not a valid float"), ("1", "1\x002", "ERR value is not a valid float"),
])
def test_incrbyfloat_errors(broker: Broker, client: FakeClient, start: str, increment: str, message: str) -> None:
    run(broker, client, "SET", "f", start)
    assert error(run(broker, client, "INCRBYFLOAT", "f", increment)) == message
    assert run(broker, client, "GET", "f") == start.encode()


# -------------------------------------------------------------- byte ranges

def test_setrange_pads_with_zero_bytes_and_getrange_clamps(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "SETRANGE", "k", "3", "ab") == 5
    assert run(broker, client, "GET", "k") == b"\x00\x00\x00ab"
    assert run(broker, client, "SETRANGE", "k", "1", "XYZW") == 5
    assert run(broker, client, "GET", "k") == b"\x00XYZW"
    assert run(broker, client, "SETRANGE", "nokey", "10", "") == 0
    assert run(broker, client, "EXISTS", "nokey") == 0
    assert error(run(broker, client, "SETRANGE", "k", "536870912", "x")) == (
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    run(broker, client, "SET", "s", "Hello")
    assert run(broker, client, "GETRANGE", "s", "-3", "-1") == b"llo"
    assert run(broker, client, "GETRANGE", "s", "1", "100") == b"ello"
    assert run(broker, client, "GETRANGE", "s", "-1", "-5") == b""
    assert run(broker, client, "GETRANGE", "s", "-100", "0") == b"H"
    assert run(broker, client, "SUBSTR", "s", "0", "1") == b"He"
    assert run(broker, client, "GETRANGE", "nokey", "0", "-1") == b""


def test_append_and_strlen(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "APPEND", "k", "ab") == 2
    assert run(broker, client, "APPEND", "k", "cd") == 4
    assert run(broker, client, "STRLEN", "k") == 4
    assert run(broker, client, "STRLEN", "nokey") == 0


def test_mset_arity_and_msetnx_all_or_nothing(broker: Broker, client: FakeClient) -> None:
    assert error(run(broker, client, "MSET", "a", "1", "b")) == "ERR wrong number of arguments for 'mset' command"
    assert run(broker, client, "MSETNX", "a", "1", "b", "2") == 1
    assert run(broker, client, "MSETNX", "b", "3", "c", "4") == 0
    assert run(broker, client, "MGET", "a", "b", "c") == [b"1", b"2", None]


@pytest.mark.parametrize("write", [("SET", "k", "v"), ("MSET", "k", "v"), ("GETSET", "k", "v"), ("SETNX", "k", "v")])
def test_write_over_an_expired_key_emits_expired_then_new(broker: Broker, client: FakeClient, clock: Clock,
                                                          write: tuple[str, ...]) -> None:
    run(broker, client, "SET", "k", "old", "PX", "10")
    clock.now += 0.01
    assert events(broker, client, write) == [(b"expired", b"k"), (b"new", b"k"), (b"set", b"k")]
    assert run(broker, client, "TTL", "k") == -1
