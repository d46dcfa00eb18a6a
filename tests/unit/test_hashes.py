"""Hash commands on the sans-I/O core: no sockets, a fake clock."""

from __future__ import annotations

from fractions import Fraction


from broker.longdouble import format_long_double, parse_long_double
from broker.core import Broker
from broker.resp import NULL_ARRAY, OK, encode
from tests.support.core import Clock, FakeClient, error, events, run


# ------------------------------------------------------------------- basics

def test_hset_counts_new_fields_and_hget_reads_them(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "HSET", "h", "a", "1", "b", "2") == 2
    assert run(broker, client, "HSET", "h", "a", "9", "c", "3") == 1
    assert run(broker, client, "HGET", "h", "a") == b"9"
    assert run(broker, client, "HGET", "h", "nope") is None
    assert run(broker, client, "HMGET", "h", "a", "nope", "c") == [b"9", None, b"3"]
    assert run(broker, client, "HLEN", "h") == 3
    assert run(broker, client, "HSTRLEN", "h", "a") == 1


def test_hset_with_a_dangling_field_names_the_command(broker: Broker, client: FakeClient) -> None:
    assert error(run(broker, client, "HSET", "h", "a", "1", "b")) == "ERR wrong number of arguments for 'hset' command"
    assert error(run(broker, client, "HMSET", "h", "a")) == "ERR wrong number of arguments for 'hmset' command"
    assert run(broker, client, "EXISTS", "h") == 0


def test_hmset_replies_ok(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "HMSET", "h", "a", "1") == OK


def test_hsetnx_only_sets_missing_fields(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "HSETNX", "h", "a", "1") == 1
    assert run(broker, client, "HSETNX", "h", "a", "2") == 0
    assert run(broker, client, "HGET", "h", "a") == b"1"


def test_hgetall_is_a_map_in_resp3_and_flat_in_resp2(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "HSET", "h", "z", "1", "a", "2")
    reply = run(broker, client, "HGETALL", "h")
    assert reply == {b"z": b"1", b"a": b"2"}
    assert encode(reply, 3) == b"%2\r\n$1\r\nz\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n2\r\n"
    assert encode(reply, 2) == b"*4\r\n$1\r\nz\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n2\r\n"
    assert encode(run(broker, client, "HGETALL", "nokey"), 3) == b"%0\r\n"


def test_insertion_order_survives_updates(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "HSET", "h", "z", "1", "a", "2", "m", "3")
    run(broker, client, "HSET", "h", "a", "20")
    run(broker, client, "HDEL", "h", "z")
    run(broker, client, "HSET", "h", "z", "4")
    assert run(broker, client, "HKEYS", "h") == [b"a", b"m", b"z"]
    assert run(broker, client, "HVALS", "h") == [b"20", b"3", b"4"]


def test_hdel_removes_the_key_with_its_last_field(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "HSET", "h", "a", "1", "b", "2")
    assert run(broker, client, "HDEL", "h", "a", "a", "nope") == 1
    assert run(broker, client, "HDEL", "h", "b") == 1
    assert run(broker, client, "EXISTS", "h") == 0
    assert run(broker, client, "HDEL", "h", "b") == 0


def test_wrong_type(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SET", "s", "v")
    for argv in (("HSET", "s", "f", "v"), ("HGET", "s", "f"), ("HGETALL", "s"), ("HDEL", "s", "f"),
                 ("HINCRBY", "s", "f", "1"), ("HSCAN", "s", "0"), ("HRANDFIELD", "s")):
        assert error(run(broker, client, *argv)).startswith("WRONGTYPE"), argv


# ---------------------------------------------------------------- counters

def test_hincrby_and_its_errors(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "HINCRBY", "h", "n", "5") == 5
    assert run(broker, client, "HINCRBY", "h", "n", "-7") == -2
    assert run(broker, client, "HGET", "h", "n") == b"-2"
    run(broker, client, "HSET", "h", "s", "abc", "max", "9223372036854775807", "lead", "01")
    assert error(run(broker, client, "HINCRBY", "h", "s", "1")) == "ERR hash value is not an integer"
    assert error(run(broker, client, "HINCRBY", "h", "lead", "1")) == "ERR hash value is not an integer"
    assert error(run(broker, client, "HINCRBY", "h", "max", "1")) == "ERR increment or decrement would overflow"
    assert error(run(broker, client, "HINCRBY", "h", "n", "1.5")) == "ERR value is not an integer or out of range"


def test_hincrbyfloat_prints_like_redis_long_double(broker: Broker, client: FakeClient) -> None:
    # Expected strings were read from redis-server 7.0 on x86-64.
    assert run(broker, client, "HINCRBYFLOAT", "h", "a", "0.1") == b"0.1"
    assert run(broker, client, "HINCRBYFLOAT", "h", "a", "0.2") == b"0.3"
    assert run(broker, client, "HINCRBYFLOAT", "h", "b", "1.23456789012345678901") == b"1.23456789012345679"
    assert run(broker, client, "HINCRBYFLOAT", "h", "c", "10.5") == b"10.5"
    assert run(broker, client, "HINCRBYFLOAT", "h", "c", "-10.5") == b"0"
    assert run(broker, client, "HINCRBYFLOAT", "h", "d", "0x1p-70") == b"0"
    assert run(broker, client, "HINCRBYFLOAT", "h", "g2", "1.5e-17") == b"0.00000000000000002"
    assert run(broker, client, "HINCRBYFLOAT", "h", "g3", "2.5e-17") == b"0.00000000000000002"
    twice = run(broker, client, "HINCRBYFLOAT", "h", "e", "1.7976931348623157e308")
    assert twice.startswith(b"17976931348623156999592104677410443404838644694432917848531442076517662852312")
    doubled = run(broker, client, "HINCRBYFLOAT", "h", "e", "1.7976931348623157e308")
    assert len(doubled) == 309 and doubled.startswith(b"3595386269724631399918420935482088680967728938886")
    assert run(broker, client, "HGET", "h", "e") == doubled


def test_hincrbyfloat_errors(broker: Broker, client: FakeClient) -> None:
    assert error(run(broker, client, "HINCRBYFLOAT", "h", "f", "inf")) == "ERR value is NaN or Infinity"
    assert error(run(broker, client, "HINCRBYFLOAT", "h", "f", "nan")) == "ERR value is not a valid float"
    assert error(run(broker, client, "HINCRBYFLOAT", "h", "f", " 1")) == "ERR value is not a valid float"
    assert error(run(broker, client, "HINCRBYFLOAT", "h", "f", "1e5000")) == "ERR value is not a valid float"
    assert error(run(broker, client, "HINCRBYFLOAT", "h", "f", "1e-5000")) == "ERR value is not a valid float"
    run(broker, client, "HSET", "h", "s", "abc", "i", "inf")
    assert error(run(broker, client, "HINCRBYFLOAT", "h", "s", "1")) == "ERR hash value is not a float"
    assert error(run(broker, client, "HINCRBYFLOAT", "h", "i", "1")) == "ERR increment would produce NaN or Infinity"
    run(broker, client, "HINCRBYFLOAT", "h", "big", "1e4932")
    assert error(run(broker, client, "HINCRBYFLOAT", "h", "big", "1e4932")) == (
        "ERR increment would produce NaN or Infinity")


def test_long_double_parsing_rounds_to_64_bit_significand() -> None:
    assert parse_long_double(b"1") == 1
    assert parse_long_double(b"0x10") == 16
    assert parse_long_double(b"-.5") == Fraction(-1, 2)
    # 2**64 + 1 needs 65 significant bits: ties to even, down to 2**64.
    assert parse_long_double(b"18446744073709551617") == 2**64
    assert parse_long_double(b"18446744073709551619") == 2**64 + 4
    assert parse_long_double(b"1\x00junk") is None  # strtold must consume the whole length
    for refused in (b"", b" 1", b"1 ", b"1e", b"0x", b"nan", b"1_0", b"abc", b"+", b"."):
        assert parse_long_double(refused) is None, refused
    assert parse_long_double(b"-Infinity") == float("-inf")


def test_format_long_double_trims_zeros_and_negative_zero() -> None:
    assert format_long_double(Fraction(5, 2)) == b"2.5"
    assert format_long_double(Fraction(100)) == b"100"
    assert format_long_double(Fraction(-1, 10**20)) == b"0"
    assert format_long_double(Fraction(-3, 4)) == b"-0.75"
    # A 4933-digit integer part (past Python's default str/int digit limit).
    huge = parse_long_double(b"1e4932")
    assert isinstance(huge, Fraction)
    assert len(format_long_double(huge)) == 4933


# -------------------------------------------------------------- HRANDFIELD

def test_hrandfield_shapes(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "HSET", "h", "a", "1", "b", "2", "c", "3")
    assert run(broker, client, "HRANDFIELD", "h") in (b"a", b"b", b"c")
    assert run(broker, client, "HRANDFIELD", "h", "10") == [b"a", b"b", b"c"]
    assert sorted(run(broker, client, "HRANDFIELD", "h", "2")) in ([b"a", b"b"], [b"a", b"c"], [b"b", b"c"])
    assert len(run(broker, client, "HRANDFIELD", "h", "-7")) == 7
    flat = run(broker, client, "HRANDFIELD", "h", "-2", "WITHVALUES")
    assert len(flat) == 4 and all(int(v) == ord(f) - ord("a") + 1 for f, v in zip(flat[::2], flat[1::2]))
    client.proto = 3
    pairs = run(broker, client, "HRANDFIELD", "h", "5", "WITHVALUES")
    assert pairs == [[b"a", b"1"], [b"b", b"2"], [b"c", b"3"]]
    assert run(broker, client, "HRANDFIELD", "nokey", "3") == []
    assert run(broker, client, "HRANDFIELD", "nokey") is None
    assert error(run(broker, client, "HRANDFIELD", "h", "1", "WITHSCORES")) == "ERR syntax error"
    assert error(run(broker, client, "HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES")) == (
        "ERR value is out of range")


# ------------------------------------------------------------------- HSCAN

def test_hscan_small_hash_in_one_page_with_match_and_novalues(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "HSET", "h", "name", "ada", "nick", "a", "age", "36")
    assert run(broker, client, "HSCAN", "h", "0", "COUNT", "1") == [
        b"0", [b"name", b"ada", b"nick", b"a", b"age", b"36"]]
    assert run(broker, client, "HSCAN", "h", "0", "MATCH", "n*") == [b"0", [b"name", b"ada", b"nick", b"a"]]
    # NOVALUES is Redis 7.4 syntax: fields only.
    assert run(broker, client, "HSCAN", "h", "0", "NOVALUES") == [b"0", [b"name", b"nick", b"age"]]
    assert run(broker, client, "HSCAN", "nokey", "0", "BADOPT") == [b"0", []]
    assert error(run(broker, client, "HSCAN", "h", "0", "BADOPT")) == "ERR syntax error"
    assert error(run(broker, client, "HSCAN", "h", "x")) == "ERR invalid cursor"


def test_hscan_pages_through_a_large_hash_exactly_once(broker: Broker, client: FakeClient) -> None:
    fields = [f"f{i}" for i in range(500)]
    run(broker, client, "HSET", "h", *[x for f in fields for x in (f, f + "v")])
    seen: list[bytes] = []
    cursor = b"0"
    for _ in range(1000):
        cursor, items = run(broker, client, "HSCAN", "h", cursor, "COUNT", "37")
        assert all(value == field + b"v" for field, value in zip(items[::2], items[1::2]))
        seen.extend(items[::2])
        if cursor == b"0":
            break
    assert cursor == b"0"
    assert sorted(seen) == sorted(f.encode() for f in fields)


# ------------------------------------------------------------ events, TTL

def test_keyspace_events_in_redis_order(broker: Broker, client: FakeClient) -> None:
    got = events(broker, client, ("HSET", "h", "a", "1"), ("HSET", "h", "a", "1"), ("HSETNX", "h", "a", "2"),
                 ("HINCRBY", "h", "n", "1"), ("HINCRBYFLOAT", "h", "n", "1"), ("HDEL", "h", "x"),
                 ("HDEL", "h", "a", "n"), ("HINCRBY", "h", "n", "x"))
    assert got == [(b"new", b"h"), (b"hset", b"h"), (b"hset", b"h"), (b"hincrby", b"h"),
                   (b"hincrbyfloat", b"h"), (b"hdel", b"h"), (b"del", b"h")]


def test_expired_hash_reads_as_missing_and_is_recreated(broker: Broker, client: FakeClient, clock: Clock) -> None:
    run(broker, client, "HSET", "h", "a", "1")
    broker.dbs[0].set_expire(b"h", broker.now_ms + 1000)
    clock.now += 2
    assert run(broker, client, "HGET", "h", "a") is None
    assert run(broker, client, "HSET", "h", "b", "2") == 1
    assert run(broker, client, "HGETALL", "h") == {b"b": b"2"}
    assert broker.dbs[0].deadline(b"h") is None


def test_hset_keeps_the_ttl_of_an_existing_hash(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "HSET", "h", "a", "1")
    deadline = broker.now_ms + 60_000
    broker.dbs[0].set_expire(b"h", deadline)
    run(broker, client, "HSET", "h", "b", "2")
    run(broker, client, "HINCRBY", "h", "c", "1")
    assert broker.dbs[0].deadline(b"h") == deadline


def test_watch_sees_hash_writes(broker: Broker, client: FakeClient) -> None:
    other = FakeClient(broker)
    run(broker, client, "WATCH", "h")
    run(broker, other, "HSET", "h", "a", "1")
    run(broker, client, "MULTI")
    run(broker, client, "HGET", "h", "a")
    assert run(broker, client, "EXEC") is NULL_ARRAY
