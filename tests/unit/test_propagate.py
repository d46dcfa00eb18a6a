"""What the propagation hook records for each kind of write (broker/propagate.py)."""

from __future__ import annotations

from typing import Any

import pytest

from broker.core import Broker
from broker.propagate import Op
from tests.support.core import Clock, FakeClient, run

NOW_MS = 1_700_000_000_000


@pytest.fixture
def units(broker: Broker) -> list[list[Op]]:
    recorded: list[list[Op]] = []
    broker.propagator.sinks.append(recorded.append)
    broker.propagating = True
    return recorded


def _ops(units: list[list[Op]]) -> list[tuple[int, list[bytes]]]:
    return [(db, argv) for unit in units for db, argv in unit]


def _last(units: list[list[Op]]) -> list[list[bytes]]:
    return [argv for _, argv in units[-1]]


@pytest.mark.parametrize("argv, recorded", [
    (("EXPIRE", "k", "10"), [b"PEXPIREAT", b"k", b"%d" % (NOW_MS + 10_000)]),
    (("PEXPIRE", "k", "10"), [b"PEXPIREAT", b"k", b"%d" % (NOW_MS + 10)]),
    (("EXPIREAT", "k", "1700000100"), [b"PEXPIREAT", b"k", b"1700000100000"]),
    (("SET", "k", "v", "EX", "5"), [b"SET", b"k", b"v", b"PXAT", b"%d" % (NOW_MS + 5000)]),
    (("SET", "k", "v", "PX", "5", "GET"), [b"SET", b"k", b"v", b"PXAT", b"%d" % (NOW_MS + 5)]),
    (("SET", "k", "w", "GET"), [b"SET", b"k", b"w"]),
    (("SETEX", "k", "7", "v"), [b"SET", b"k", b"v", b"PXAT", b"%d" % (NOW_MS + 7000)]),
    (("PSETEX", "k", "7", "v"), [b"SET", b"k", b"v", b"PXAT", b"%d" % (NOW_MS + 7)]),
    (("GETEX", "k", "EX", "3"), [b"PEXPIREAT", b"k", b"%d" % (NOW_MS + 3000)]),
    (("GETEX", "k", "PERSIST"), None),  # no TTL to drop: not a change
    (("GETDEL", "k"), [b"DEL", b"k"]),
    (("INCRBYFLOAT", "n", "1.5"), [b"SET", b"n", b"1.5", b"KEEPTTL"]),
    (("EXPIRE", "k", "-1"), [b"DEL", b"k"]),
])
def test_times_become_absolute_and_results_become_values(broker, client, units, argv, recorded):
    run(broker, client, "SET", "k", "v")
    units.clear()
    run(broker, client, *argv)
    if recorded is None:
        assert units == []
    else:
        assert _last(units) == [recorded]


def test_restore_is_recorded_with_its_deadline(broker, client, units):
    run(broker, client, "SET", "src", "v")
    payload = run(broker, client, "DUMP", "src")
    run(broker, client, "RESTORE", "dst", "5000", payload)
    assert _last(units) == [[b"RESTORE", b"dst", b"%d" % (NOW_MS + 5000), payload, b"ABSTTL"]]
    run(broker, client, "RESTORE", "dst", "0", payload, "REPLACE")
    assert _last(units) == [[b"RESTORE", b"dst", b"0", payload, b"REPLACE"]]


def test_spop_is_recorded_as_srem_of_what_it_popped(broker, client, units):
    run(broker, client, "SADD", "s", "a", "b", "c")
    popped = run(broker, client, "SPOP", "s", "2")
    assert _last(units) == [[b"SREM", b"s", *popped]]


def test_xadd_records_the_id_it_chose_and_exact_trimming(broker, client, units):
    entry = run(broker, client, "XADD", "x", "MAXLEN", "~", "5", "*", "f", "v")
    assert _last(units) == [[b"MULTI"], [b"XADD", b"x", entry, b"f", b"v"], [b"XTRIM", b"x", b"MAXLEN", b"=", b"1"],
                            [b"EXEC"]]


def test_a_blocked_pop_served_later_is_recorded_after_the_push_as_lpop(broker, client, units):
    waiter = FakeClient(broker)
    run(broker, waiter, "BLPOP", "q", "0")
    assert units == []
    run(broker, client, "RPUSH", "q", "a")
    assert waiter.resumed == [[b"q", b"a"]]
    assert [argv for _, argv in _ops(units)] == [[b"RPUSH", b"q", b"a"], [b"LPOP", b"q"]]


def test_exec_is_recorded_as_its_commands_in_multi_exec_with_their_dbs(broker, client, units):
    for argv in (("MULTI",), ("SET", "a", "1"), ("SELECT", "2"), ("INCR", "n"), ("EXEC",)):
        run(broker, client, *argv)
    assert _ops(units) == [(0, [b"MULTI"]), (0, [b"SET", b"a", b"1"]), (2, [b"INCR", b"n"]), (2, [b"EXEC"])]


def test_no_op_writes_and_reads_record_nothing(broker, client, units):
    run(broker, client, "DEL", "missing")
    run(broker, client, "SET", "k", "v", "NX")
    run(broker, client, "SET", "k", "w", "NX")
    run(broker, client, "GET", "k")
    assert [argv for _, argv in _ops(units)] == [[b"SET", b"k", b"v", b"NX"]]


def test_expiry_lazy_and_active_is_recorded_as_del(broker, client, units, clock: Clock):
    run(broker, client, "SET", "a", "1", "PX", "10")
    run(broker, client, "SET", "b", "1", "PX", "10")
    units.clear()
    clock.now += 1
    assert run(broker, client, "GET", "a") is None
    assert _ops(units) == [(0, [b"DEL", b"a"])]
    broker.active_expire()
    assert _ops(units)[-1] == (0, [b"DEL", b"b"])
    run(broker, client, "CONFIG", "SET", "lazyfree-lazy-expire", "yes")
    broker.propagator.lazy_expire = True
    run(broker, client, "SET", "c", "1", "PX", "10")
    clock.now += 1
    units.clear()
    run(broker, client, "SET", "c", "2")
    assert _last(units) == [[b"MULTI"], [b"UNLINK", b"c"], [b"SET", b"c", b"2"], [b"EXEC"]]


def test_fanout_commands_are_recorded_as_plain_commands_with_their_epoch_and_deadlines(broker, client, units):
    offset, epoch = run(broker, client, "FANOUT.PUBLISH", "ch", "10", "5000", "hello")
    ops = _last(units)
    assert ops[0] == [b"MULTI"] and ops[-1] == [b"EXEC"]
    assert [b"HSET", b"history:{ch}:meta", b"offset", b"1", b"epoch", epoch] in ops
    assert [b"XADD", b"history:{ch}", b"1-0", b"d", b"hello", b"t", b"%d" % NOW_MS] in ops
    assert [b"PEXPIREAT", b"history:{ch}", b"%d" % (NOW_MS + 5000)] in ops
    run(broker, client, "FANOUT.JOIN", "ch", "c1", "u1", "{}")
    assert _last(units)[1:-1] == [[b"HSET", b"presence:{ch}", b"c1", b"{}"],
                                  [b"HINCRBY", b"presence:{ch}:users", b"u1", b"1"]]
    run(broker, client, "FANOUT.LEAVE", "ch", "c1", "u1")
    assert _last(units)[1:-1] == [[b"HDEL", b"presence:{ch}", b"c1"], [b"HINCRBY", b"presence:{ch}:users", b"u1", b"-1"],
                                  [b"HDEL", b"presence:{ch}:users", b"u1"]]
    names = {argv[0] for _, argv in _ops(units)}
    assert not any(name.lower().startswith(b"fanout.") for name in names)


def _replay(units: list[list[Op]], clock: Clock) -> Broker:
    replica = Broker(clock=clock)
    client = FakeClient(replica)
    for unit in units:
        for db, argv in unit:
            run(replica, client, "SELECT", str(db))
            run(replica, client, *argv)
    return replica


def _plain(value: Any) -> Any:
    if hasattr(value, "ids"):  # a stream
        return (value.ids, value.values, value.last_id, value.entries_added)
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, (bytes, dict)):
        return value
    return list(value)


def _dataset(broker: Broker) -> list[Any]:
    return [(db.index, key, _plain(value), db.expires.get(key))
            for db in broker.dbs for key, value in sorted(db.data.items())]


def test_replaying_the_records_rebuilds_the_same_dataset(broker, client, units, clock: Clock):
    script = [("SET", "a", "1", "EX", "100"), ("INCRBYFLOAT", "f", "0.1"), ("RPUSH", "l", "1", "2", "3"), ("LPOP", "l"),
              ("SADD", "s", *"abcdef"), ("SPOP", "s"), ("ZADD", "z", "1", "a", "2", "b"), ("ZPOPMAX", "z"),
              ("HSET", "h", "a", "1"), ("HINCRBYFLOAT", "h", "x", "2.5"), ("XADD", "x", "*", "f", "v"),
              ("FANOUT.PUBLISH", "c", "2", "1000", "m1"), ("FANOUT.PUBLISH", "c", "2", "1000", "m2"),
              ("FANOUT.PUBLISH", "c", "2", "1000", "m3"), ("FANOUT.JOIN", "c", "k1", "u", "{}"),
              ("SELECT", "4"), ("SET", "k", "v"), ("MOVE", "k", "5")]
    for argv in script:
        run(broker, client, *argv)
        clock.now += 0.001
    assert _dataset(_replay(units, clock)) == _dataset(broker)


def test_the_other_types_writes_are_recorded_and_replay_to_the_same_dataset(broker, client, units, clock: Clock):
    script = [("SETBIT", "b", "7", "1"), ("SETBIT", "c", "100", "1"), ("BITOP", "OR", "d", "b", "c"),
              ("BITFIELD", "e", "INCRBY", "u8", "0", "300", "SET", "i4", "8", "-3"),
              ("GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
              ("GEOSEARCHSTORE", "g2", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"),
              ("PFADD", "h", "a", "b", "c"), ("PFADD", "h2", "c", "d"), ("PFMERGE", "h3", "h", "h2"),
              ("RPUSH", "l", "3", "1", "2"), ("SORT", "l", "STORE", "sorted")]
    for argv in script:
        run(broker, client, *argv)
    recorded = {argv[0].upper() for _, argv in _ops(units)}
    assert {b"SETBIT", b"BITOP", b"BITFIELD", b"GEOADD", b"GEOSEARCHSTORE", b"PFADD", b"PFMERGE", b"SORT"} <= recorded
    assert _dataset(_replay(units, clock)) == _dataset(broker)


def test_a_script_is_recorded_as_its_effects_in_one_multi_exec(broker, client, units):
    run(broker, client, "SADD", "s", "a")
    units.clear()
    run(broker, client, "EVAL", "redis.call('SET', KEYS[1], 'v', 'EX', 10); redis.call('INCR', 'n'); "
        "return redis.call('SPOP', 's')", "1", "k")
    assert _last(units) == [[b"MULTI"], [b"SET", b"k", b"v", b"PXAT", b"%d" % (NOW_MS + 10_000)],
                            [b"INCR", b"n"], [b"SREM", b"s", b"a"], [b"EXEC"]]
    units.clear()
    run(broker, client, "EVAL", "return redis.call('GET', 'k')", "0")
    assert units == []


def test_function_load_and_swapdb_are_recorded_though_they_change_no_key_in_place(broker, client, units):
    code = "#!lua name=l\nredis.register_function('f', function(keys, args) return 1 end)"
    run(broker, client, "FUNCTION", "LOAD", code)
    run(broker, client, "SWAPDB", "0", "1")
    assert [argv for _, argv in _ops(units)] == [[b"FUNCTION", b"LOAD", code.encode()], [b"SWAPDB", b"0", b"1"]]


# ------------------------------------------------ the pipeline's fast path

def _resp(*argv: bytes) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in argv)


def _pipeline(broker: Broker, client: FakeClient, *requests: list[bytes], raw: bytes | None = None) -> int:
    return broker.run_pipeline(client, [list(argv) for argv in requests], [], raw)


def test_a_pipeline_recorded_as_sent_is_handed_on_once_as_the_bytes_read(broker, client, units):
    requests = [[b"SET", b"a", b"1"], [b"HSET", b"h", b"f", b"v"], [b"INCR", b"n"], [b"RPUSH", b"l", b"x"]]
    raw = b"".join(_resp(*argv) for argv in requests)
    _pipeline(broker, client, *requests)  # a spelling seen the first time takes the slow path
    units.clear()
    assert _pipeline(broker, client, *requests, raw=raw) == 4
    assert units == [[(0, raw)]]
    # without the bytes (an inline read, say): the argvs, still in one hand-off
    units.clear()
    _pipeline(broker, client, *requests)
    assert units == [[(0, argv) for argv in requests]]


def test_a_pipeline_with_a_rewrite_a_refusal_or_a_select_hands_on_argvs_in_order(broker, client, units, clock):
    run(broker, client, "SET", "soon", "1", "PX", "10")
    _pipeline(broker, client, [b"LPUSH", b"l", b"x"], [b"SELECT", b"0"], [b"GET", b"x"])  # spellings seen
    units.clear()
    clock.now += 1
    requests = [[b"SET", b"a", b"1"], [b"GET", b"soon"], [b"LPUSH", b"a", b"x"], [b"SET", b"b", b"2", b"PX", b"500"],
                [b"SELECT", b"3"], [b"SET", b"c", b"3"]]
    raw = b"".join(_resp(*argv) for argv in requests)
    _pipeline(broker, client, *requests, raw=raw)
    deadline = b"%d" % (clock.now * 1000 + 500)
    assert _ops(units) == [(0, [b"SET", b"a", b"1"]), (0, [b"DEL", b"soon"]),  # the lazy expiry, in its place
                           (0, [b"SET", b"b", b"2", b"PXAT", deadline]), (3, [b"SET", b"c", b"3"])]
    assert all(type(argv) is list for _, argv in _ops(units))  # the refused LPUSH is not recorded


def test_the_parser_offers_a_read_as_raw_only_when_it_is_canonical_resp():
    from broker.resp import ProtocolError, RequestParser

    parser = RequestParser()
    canonical = _resp(b"SET", b"k", b"v") + _resp(b"SET", b"k2", b"")
    assert parser.feed(canonical) == [[b"SET", b"k", b"v"], [b"SET", b"k2", b""]] and parser.raw == canonical
    assert parser.feed(b"SET k v\r\n") == [[b"SET", b"k", b"v"]] and parser.raw is None  # inline
    # what is not canonical is refused (leading zeros, signs), as Redis refuses it,
    # so nothing that ran can be copied in another form than encode_command's
    for bad in (b"*3\r\n$03\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", b"*03\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
                b"*3\r\n$+3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"):
        with pytest.raises(ProtocolError):
            RequestParser().feed(bad)
    # a request cut by the read: neither part is offered
    head, tail = canonical[:10], canonical[10:]
    assert parser.feed(head) == [] and parser.raw is None
    assert parser.feed(tail) == [[b"SET", b"k", b"v"], [b"SET", b"k2", b""]] and parser.raw is None
