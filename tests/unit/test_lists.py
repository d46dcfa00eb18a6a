"""List commands on the sans-I/O core: no sockets, a fake clock."""

from __future__ import annotations

from broker.core import BLOCKED, Broker
from broker.resp import NULL_ARRAY, OK
from tests.support.core import Clock, FakeClient, error, events, run


def test_push_pop_order_and_empty_list_is_deleted(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "RPUSH", "l", "a", "b") == 2
    assert run(broker, client, "LPUSH", "l", "z") == 3
    assert run(broker, client, "LRANGE", "l", "0", "-1") == [b"z", b"a", b"b"]
    assert run(broker, client, "LPOP", "l", "2") == [b"z", b"a"]
    assert run(broker, client, "RPOP", "l") == b"b"
    assert run(broker, client, "EXISTS", "l") == 0
    assert run(broker, client, "LPOP", "l", "2") is NULL_ARRAY


def test_pushx_only_on_existing(broker: Broker, client: FakeClient) -> None:
    assert run(broker, client, "LPUSHX", "l", "a") == 0
    assert run(broker, client, "EXISTS", "l") == 0
    run(broker, client, "RPUSH", "l", "a")
    assert run(broker, client, "RPUSHX", "l", "b", "c") == 3


def test_index_set_insert_rem_pos_trim(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "RPUSH", "l", "a", "b", "a", "c", "a")
    assert run(broker, client, "LINDEX", "l", "-1") == b"a"
    assert run(broker, client, "LINDEX", "l", "9") is None
    assert error(run(broker, client, "LSET", "l", "9", "x")) == "ERR index out of range"
    assert run(broker, client, "LINSERT", "l", "BEFORE", "c", "x") == 6
    assert run(broker, client, "LINSERT", "l", "AFTER", "nope", "x") == -1
    assert run(broker, client, "LPOS", "l", "a", "RANK", "-1") == 5
    assert run(broker, client, "LPOS", "l", "a", "COUNT", "0") == [0, 2, 5]
    assert run(broker, client, "LREM", "l", "-2", "a") == 2
    assert run(broker, client, "LRANGE", "l", "0", "-1") == [b"a", b"b", b"x", b"c"]
    assert run(broker, client, "LTRIM", "l", "1", "2") == OK
    assert run(broker, client, "LRANGE", "l", "0", "-1") == [b"b", b"x"]


def test_wrongtype(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SET", "s", "v")
    assert error(run(broker, client, "LPUSH", "s", "a")).startswith("WRONGTYPE")


def test_lmove_events_push_on_destination_first(broker: Broker, client: FakeClient) -> None:
    got = events(broker, client, ("RPUSH", "src", "a"), ("LMOVE", "src", "dst", "LEFT", "RIGHT"), flags="KEA")
    assert got == [(b"rpush", b"src"), (b"rpush", b"dst"), (b"lpop", b"src"), (b"del", b"src")]


def test_blpop_served_by_later_push_in_fifo_order(broker: Broker, client: FakeClient) -> None:
    first, second = FakeClient(broker), FakeClient(broker)
    assert run(broker, first, "BLPOP", "l", "0") is BLOCKED
    assert run(broker, second, "BLPOP", "l", "0") is BLOCKED
    assert run(broker, client, "RPUSH", "l", "a", "b") == 2
    assert first.resumed == [[b"l", b"a"]]
    assert second.resumed == [[b"l", b"b"]]
    assert run(broker, client, "EXISTS", "l") == 0


def test_blpop_timeout_reply_and_multi_does_not_block(broker: Broker, client: FakeClient) -> None:
    waiter = FakeClient(broker)
    assert run(broker, waiter, "BLPOP", "l", "0.5") is BLOCKED
    broker.timeout_blocked(waiter)
    assert waiter.resumed == [NULL_ARRAY]
    run(broker, client, "MULTI")
    run(broker, client, "BRPOP", "l", "1")
    assert run(broker, client, "EXEC") == [NULL_ARRAY]


def test_blmove_wakes_and_moves(broker: Broker, clock: Clock, client: FakeClient) -> None:
    waiter = FakeClient(broker)
    assert run(broker, waiter, "BLMOVE", "src", "dst", "RIGHT", "LEFT", "0") is BLOCKED
    run(broker, client, "LPUSH", "src", "v")
    assert waiter.resumed == [b"v"]
    assert run(broker, client, "LRANGE", "dst", "0", "-1") == [b"v"]


def test_lmpop_and_errors(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "RPUSH", "b", "1", "2", "3")
    assert run(broker, client, "LMPOP", "2", "a", "b", "RIGHT", "COUNT", "2") == [b"b", [b"3", b"2"]]
    assert error(run(broker, client, "LMPOP", "0", "a", "LEFT")) == "ERR numkeys should be greater than 0"
    assert error(run(broker, client, "BLPOP", "l", "-1")) == "ERR timeout is negative"
