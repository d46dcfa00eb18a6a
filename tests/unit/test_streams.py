"""Stream data structure and stream commands on the sans-I/O core: no sockets, a fake clock."""

from __future__ import annotations

from broker.core import BLOCKED, Broker
from broker.resp import NULL_ARRAY
from broker.stream import Stream
from tests.support.core import Clock, FakeClient, error, run


def filled(n: int) -> Stream:
    stream = Stream()
    for i in range(1, n + 1):
        stream.append((i, 0), [b"f", b"%d" % i])
    return stream


def test_range_is_inclusive_and_reverse() -> None:
    stream = filled(5)
    assert [e[0] for e in stream.range((2, 0), (4, 0))] == [b"2-0", b"3-0", b"4-0"]
    assert [e[0] for e in stream.range((2, 0), (4, 0), count=2, reverse=True)] == [b"4-0", b"3-0"]


def test_next_id_never_goes_backwards() -> None:
    stream = filled(5)
    assert stream.next_id(now_ms=3) == (5, 1)
    assert stream.next_id(now_ms=9) == (9, 0)
    assert stream.next_id(now_ms=9, ms=4) is None


def test_delete_keeps_last_id_and_records_max_deleted() -> None:
    stream = filled(3)
    assert stream.delete((3, 0)) is True
    assert stream.delete((3, 0)) is False
    assert len(stream) == 2 and stream.last_id == (3, 0) and stream.max_deleted_id == (3, 0)


def test_exact_trim_by_maxlen() -> None:
    stream = filled(10)
    stream.trim(maxlen=4)
    assert len(stream) == 4 and stream.first_id() == (7, 0)


def test_xadd_auto_ids_use_the_clock(broker: Broker, clock: Clock, client: FakeClient) -> None:
    ms = int(clock.now * 1000)
    assert run(broker, client, "XADD", "s", "*", "a", "1") == b"%d-0" % ms
    assert run(broker, client, "XADD", "s", "*", "a", "2") == b"%d-1" % ms
    clock.now += 1
    assert run(broker, client, "XADD", "s", "*", "a", "3") == b"%d-0" % (ms + 1000)
    assert run(broker, client, "XLEN", "s") == 3


def test_xadd_errors_and_nomkstream(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "XADD", "s", "5-5", "a", "1")
    assert error(run(broker, client, "XADD", "s", "5-5", "a", "1")) == (
        "ERR The ID specified in XADD is equal or smaller than the target stream top item")
    assert error(run(broker, client, "XADD", "s", "0-0", "a", "1")) == (
        "ERR The ID specified in XADD must be greater than 0-0")
    assert run(broker, client, "XADD", "n", "NOMKSTREAM", "*", "a", "1") is None
    assert run(broker, client, "EXISTS", "n") == 0


def test_xadd_maxlen_exact_and_xrange_exclusive(broker: Broker, client: FakeClient) -> None:
    for i in range(1, 6):
        run(broker, client, "XADD", "s", "MAXLEN", "=", "3", "%d-0" % i, "f", "v")
    assert run(broker, client, "XLEN", "s") == 3
    assert run(broker, client, "XRANGE", "s", "(3-0", "+") == [[b"4-0", [b"f", b"v"]], [b"5-0", [b"f", b"v"]]]
    assert run(broker, client, "XREVRANGE", "s", "+", "-", "COUNT", "1") == [[b"5-0", [b"f", b"v"]]]


def test_xread_block_woken_by_xadd(broker: Broker, client: FakeClient) -> None:
    waiter = FakeClient(broker)
    run(broker, client, "XADD", "s", "1-0", "f", "old")
    assert run(broker, waiter, "XREAD", "BLOCK", "0", "STREAMS", "s", "$") is BLOCKED
    run(broker, client, "XADD", "s", "2-0", "f", "new")
    assert waiter.resumed == [[[b"s", [[b"2-0", [b"f", b"new"]]]]]]


def test_xread_block_timeout_is_null(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "XREAD", "BLOCK", "10", "STREAMS", "s", "$") is BLOCKED
    broker.timeout_blocked(client)
    assert client.resumed == [NULL_ARRAY]
