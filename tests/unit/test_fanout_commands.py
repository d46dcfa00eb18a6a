"""FANOUT.PUBLISH / FANOUT.JOIN / FANOUT.LEAVE on the sans-I/O core."""

from __future__ import annotations

from broker.core import Broker
from tests.support.core import Clock, FakeClient, error, events, run


def test_publish_numbers_messages_and_keeps_them_in_a_capped_stream(broker: Broker, client: FakeClient,
                                                                   clock: Clock) -> None:
    listener = FakeClient(broker)
    run(broker, listener, "SUBSCRIBE", "chat:a")
    first = run(broker, client, "FANOUT.PUBLISH", "chat:a", "1000", "60000", '"hi"')
    clock.now += 1
    second = run(broker, client, "FANOUT.PUBLISH", "chat:a", "1000", "60000", '"yo"')
    assert first[0] == 1 and second[0] == 2 and first[1] == second[1] == b"1700000000000000"
    entries = run(broker, client, "XRANGE", "history:{chat:a}", "-", "+")
    assert entries == [[b"1-0", [b"d", b'"hi"', b"t", b"1700000000000"]],
                       [b"2-0", [b"d", b'"yo"', b"t", b"1700000001000"]]]
    assert run(broker, client, "PTTL", "history:{chat:a}") == 60000
    assert run(broker, client, "PTTL", "history:{chat:a}:meta") == 60000
    assert [m.data for m in listener.messages] == [b'\x1eh1:1700000000000000:"hi"', b'\x1eh2:1700000000000000:"yo"']


def test_publish_trims_to_about_maxlen(broker: Broker, client: FakeClient) -> None:
    for n in range(1000):
        run(broker, client, "FANOUT.PUBLISH", "c", "100", "60000", str(n))
    length = run(broker, client, "XLEN", "history:{c}")
    assert 100 <= length < 200
    last = run(broker, client, "XREVRANGE", "history:{c}", "+", "-", "COUNT", "1")
    assert last[0][0] == b"1000-0"


def test_lost_meta_starts_a_new_epoch_and_a_fresh_stream(broker: Broker, client: FakeClient, clock: Clock) -> None:
    run(broker, client, "FANOUT.PUBLISH", "c", "100", "60000", "1")
    run(broker, client, "DEL", "history:{c}:meta")
    clock.now += 5
    offset, epoch = run(broker, client, "FANOUT.PUBLISH", "c", "100", "60000", "2")
    assert (offset, epoch) == (1, b"1700000005000000")
    assert run(broker, client, "XLEN", "history:{c}") == 1


def test_history_expires_after_ttl_without_publishes(broker: Broker, client: FakeClient, clock: Clock) -> None:
    run(broker, client, "FANOUT.PUBLISH", "c", "100", "1000", "1")
    clock.now += 2
    assert run(broker, client, "EXISTS", "history:{c}", "history:{c}:meta") == 0


def test_publish_errors(broker: Broker, client: FakeClient) -> None:
    assert error(run(broker, client, "FANOUT.PUBLISH", "c", "x", "1", "d")) == \
        "ERR value is not an integer or out of range"
    assert error(run(broker, client, "FANOUT.PUBLISH", "c", "0", "1", "d")) == "ERR maxlen and ttl must be positive"
    assert error(run(broker, client, "FANOUT.PUBLISH", "c", "1")) == \
        "ERR wrong number of arguments for 'fanout.publish' command"
    run(broker, client, "SET", "history:{w}:meta", "x")
    assert error(run(broker, client, "FANOUT.PUBLISH", "w", "1", "1", "d")).startswith("WRONGTYPE")


def test_join_and_leave_count_users_not_connections(broker: Broker, client: FakeClient) -> None:
    listener = FakeClient(broker)
    run(broker, listener, "SUBSCRIBE", "room")
    assert run(broker, client, "FANOUT.JOIN", "room", "c1", "alice", '{"u":1}') == [1, 1]
    assert run(broker, client, "FANOUT.JOIN", "room", "c2", "alice", '{"u":2}') == [1, 0]
    assert run(broker, client, "FANOUT.JOIN", "room", "c2", "alice", '{"u":2}') == [0, 0]  # idempotent
    assert run(broker, client, "FANOUT.JOIN", "room", "c3", "bob", '{"u":3}') == [1, 1]
    assert run(broker, client, "HGETALL", "presence:{room}:users") == {b"alice": b"2", b"bob": b"1"}
    assert run(broker, client, "HLEN", "presence:{room}") == 3
    assert run(broker, client, "FANOUT.LEAVE", "room", "c1", "alice") == [1, 0]
    assert run(broker, client, "FANOUT.LEAVE", "room", "c1", "alice") == [0, 0]  # idempotent
    assert run(broker, client, "FANOUT.LEAVE", "room", "c2", "alice") == [1, 1]
    assert run(broker, client, "HGETALL", "presence:{room}:users") == {b"bob": b"1"}
    assert [m.data for m in listener.messages] == [
        b'\x1epj1{"u":1}', b'\x1epj0{"u":2}', b'\x1epj1{"u":3}', b'\x1epl0{"u":1}', b'\x1epl1{"u":2}']


def test_fanout_commands_emit_the_events_of_their_parts(broker: Broker, client: FakeClient) -> None:
    got = events(broker, client, ("FANOUT.JOIN", "r", "c1", "u", "{}"), ("FANOUT.LEAVE", "r", "c1", "u"))
    assert got == [(b"new", b"presence:{r}"), (b"hset", b"presence:{r}"),
                   (b"new", b"presence:{r}:users"), (b"hincrby", b"presence:{r}:users"),
                   (b"hdel", b"presence:{r}"), (b"del", b"presence:{r}"),
                   (b"hincrby", b"presence:{r}:users"), (b"hdel", b"presence:{r}:users"),
                   (b"del", b"presence:{r}:users")]


def test_fanout_commands_run_inside_multi(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "MULTI")
    run(broker, client, "FANOUT.JOIN", "r", "c1", "u", "{}")
    run(broker, client, "FANOUT.PUBLISH", "r", "10", "1000", "x")
    assert list(run(broker, client, "EXEC")) == [[1, 1], [1, b"1700000000000000"]]


def _composed_publish(broker: Broker, client: FakeClient, channel: str, maxlen: str, ttl: str, data: str) -> None:
    """FANOUT.PUBLISH spelled out as the commands it stands for."""
    stream, meta = f"history:{{{channel}}}", f"history:{{{channel}}}:meta"
    offset = run(broker, client, "HINCRBY", meta, "offset", "1")
    epoch = None if offset == 1 else run(broker, client, "HGET", meta, "epoch")
    if epoch is None:
        if offset == 1:
            run(broker, client, "DEL", stream)
        run(broker, client, "HSET", meta, "epoch", "1700000000000000")
    run(broker, client, "XADD", stream, "MAXLEN", "~", maxlen, f"{offset}-0", "d", data, "t", "1700000000000")
    run(broker, client, "PEXPIRE", stream, ttl)
    run(broker, client, "PEXPIRE", meta, ttl)
    run(broker, client, "PUBLISH", channel, f"\x1eh{offset}:1700000000000000:{data}")


def test_publish_has_exactly_the_effects_and_events_of_the_commands_it_stands_for() -> None:
    results = []
    for composed in (False, True):
        broker = Broker(clock=Clock())
        client = FakeClient(broker)
        run(broker, client, "SET", "history:{c}", "stale")  # a leftover: the first publish deletes it
        run(broker, client, "DEL", "history:{c}")
        script = [("c", "100", "5000", str(n)) for n in range(250)]
        listener = FakeClient(broker)
        run(broker, client, "CONFIG", "SET", "notify-keyspace-events", "KEA")
        run(broker, listener, "PSUBSCRIBE", "__keyevent@0__:*")
        for args in script:
            if composed:
                _composed_publish(broker, client, *args)
            else:
                run(broker, client, "FANOUT.PUBLISH", *args)
        got = [(m.channel, m.data) for m in listener.messages]
        listener_keys = (run(broker, client, "XRANGE", "history:{c}", "-", "+"),
                         run(broker, client, "HGETALL", "history:{c}:meta"),
                         run(broker, client, "PTTL", "history:{c}"), run(broker, client, "PTTL", "history:{c}:meta"))
        results.append((got, listener_keys))
    assert results[0] == results[1]
