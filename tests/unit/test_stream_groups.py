"""Consumer groups on the sans-I/O core with a fake clock: the idle and delivery
times that the differential tests must mask are checked here exactly."""

from __future__ import annotations

from typing import Any

from broker.core import BLOCKED, Broker
from broker.resp import NULL_ARRAY
from broker.stream import Stream, estimate_distance, lag
from broker.stream_groups import INVALID_ENTRIES_READ, ConsumerGroup, Nack, Pel
from tests.support.core import Clock, FakeClient, error, events, run


def setup(broker: Broker, client: FakeClient, n: int = 5) -> None:
    for i in range(1, n + 1):
        run(broker, client, "XADD", "s", f"{i}-1", "n", str(i))
    run(broker, client, "XGROUP", "CREATE", "s", "g", "0")


def now_ms(clock: Clock) -> int:
    return int(clock.now * 1000)


def as_dict(reply: Any) -> dict[bytes, Any]:
    return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2]))


# ------------------------------------------------------------------ model


def filled(n: int) -> Stream:
    stream = Stream()
    for i in range(1, n + 1):
        stream.append((i, 0), [b"f", b"v"])
    return stream


def test_estimate_distance_cases_of_redis() -> None:
    stream = filled(5)
    assert estimate_distance(Stream(), (9, 9)) == 0  # never used
    assert estimate_distance(stream, (5, 0)) == 5  # the last id
    assert estimate_distance(stream, (6, 0)) == INVALID_ENTRIES_READ  # the future
    assert estimate_distance(stream, (1, 0)) == 1  # the first entry, no tombstones
    assert estimate_distance(stream, (3, 0)) == INVALID_ENTRIES_READ  # in the middle
    stream.trim(maxlen=3)
    assert estimate_distance(stream, (1, 0)) == 2  # before the first: added - length
    stream.delete((4, 0))
    assert estimate_distance(stream, (3, 0)) == INVALID_ENTRIES_READ  # fragmented


def test_lag_is_unknown_past_a_tombstone_then_known_again() -> None:
    stream = filled(5)
    group = ConsumerGroup((0, 0), 0)
    assert lag(stream, group) == 5
    stream.delete((3, 0))
    assert lag(stream, group) is None  # reads counted from 0 may cross the hole
    group.last_id, group.entries_read = (5, 0), INVALID_ENTRIES_READ
    assert lag(stream, group) == 0  # unknown counter, but last id == stream's last id: exact


def test_trimming_does_not_move_max_deleted_id() -> None:
    stream = filled(5)
    stream.trim(maxlen=2)
    assert stream.max_deleted_id == (0, 0)


def test_pending_moves_to_the_new_reader_with_count_reset(clock: Clock) -> None:
    group = ConsumerGroup((0, 0))
    a = group.create_consumer(b"a", 1)
    b = group.create_consumer(b"b", 1)
    assert a is not None and b is not None
    group.add_pending((1, 0), a, 10).delivery_count = 4
    nack = group.add_pending((1, 0), b, 20)
    assert (nack.consumer, nack.delivery_time, nack.delivery_count) == (b, 20, 1)
    assert list(a.pel) == [] and list(b.pel) == [(1, 0)]
    assert group.delete_consumer(b) == 1 and not group.pel


def test_pel_keeps_id_order_through_out_of_order_inserts_deletes_and_revivals() -> None:
    pel = Pel()
    nack = Nack(None, 0)
    for ms in (5, 1, 9, 3):
        pel[(ms, 0)] = nack
    assert list(pel) == [(1, 0), (3, 0), (5, 0), (9, 0)]
    pel.pop((3, 0))
    pel[(3, 0)] = nack  # a dead id comes back: listed once
    assert list(pel) == [(1, 0), (3, 0), (5, 0), (9, 0)] and len(pel.keys) == 4
    assert list(pel.irange((2, 0), (5, 0))) == [(3, 0), (5, 0)]
    assert (pel.first(), pel.last()) == ((1, 0), (9, 0))
    pel.pop((9, 0))
    assert pel.last() == (5, 0) and (9, 0) not in pel


def test_pel_drops_dead_ids_and_a_walk_survives_the_rebuild() -> None:
    pel = Pel()
    for ms in range(1, 201):
        pel[(ms, 0)] = Nack(None, 0)
    walked = []
    for stream_id in pel.irange():  # deleting as we go, as XAUTOCLAIM does
        walked.append(stream_id)
        if stream_id[0] <= 150:
            pel.pop(stream_id)
    assert walked == [(ms, 0) for ms in range(1, 201)]
    assert len(pel) == 50 and len(pel.keys) <= 2 * 50 + 32  # rebuilt on the way
    assert list(pel) == [(ms, 0) for ms in range(151, 201)]


# --------------------------------------------------------------- commands


def test_xpending_idle_and_min_idle_follow_the_clock(broker: Broker, client: FakeClient, clock: Clock) -> None:
    setup(broker, client)
    run(broker, client, "XREADGROUP", "GROUP", "g", "a", "COUNT", "2", "STREAMS", "s", ">")
    clock.now += 1.5
    run(broker, client, "XREADGROUP", "GROUP", "g", "b", "STREAMS", "s", ">")
    clock.now += 0.25
    assert run(broker, client, "XPENDING", "s", "g", "-", "+", "10") == [
        [b"1-1", b"a", 1750, 1], [b"2-1", b"a", 1750, 1],
        [b"3-1", b"b", 250, 1], [b"4-1", b"b", 250, 1], [b"5-1", b"b", 250, 1]]
    assert [p[0] for p in run(broker, client, "XPENDING", "s", "g", "IDLE", "1750", "-", "+", "10")] == [
        b"1-1", b"2-1"]
    assert run(broker, client, "XPENDING", "s", "g", "IDLE", "1751", "-", "+", "10") == []


def test_xclaim_min_idle_boundary_and_idle_time_options(broker: Broker, client: FakeClient, clock: Clock) -> None:
    setup(broker, client)
    run(broker, client, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">")
    clock.now += 1.0
    assert run(broker, client, "XCLAIM", "s", "g", "b", "1001", "1-1", "JUSTID") == []
    assert run(broker, client, "XCLAIM", "s", "g", "b", "1000", "1-1", "JUSTID") == [b"1-1"]
    # IDLE sets the idle time; TIME the delivery time; a future TIME means now
    run(broker, client, "XCLAIM", "s", "g", "b", "0", "2-1", "IDLE", "5000")
    run(broker, client, "XCLAIM", "s", "g", "b", "0", "3-1", "TIME", str(now_ms(clock) - 700))
    run(broker, client, "XCLAIM", "s", "g", "b", "0", "4-1", "TIME", str(now_ms(clock) + 10_000))
    pending = {p[0]: p for p in run(broker, client, "XPENDING", "s", "g", "-", "+", "10")}
    assert pending[b"1-1"] == [b"1-1", b"b", 0, 1]  # JUSTID does not count a delivery
    assert pending[b"2-1"] == [b"2-1", b"b", 5000, 2]
    assert pending[b"3-1"] == [b"3-1", b"b", 700, 2]
    assert pending[b"4-1"] == [b"4-1", b"b", 0, 2]
    assert pending[b"5-1"] == [b"5-1", b"a", 1000, 1]


def test_xautoclaim_claims_only_idle_enough_entries(broker: Broker, client: FakeClient, clock: Clock) -> None:
    setup(broker, client)
    run(broker, client, "XREADGROUP", "GROUP", "g", "a", "COUNT", "3", "STREAMS", "s", ">")
    clock.now += 10.0
    run(broker, client, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">")
    clock.now += 1.0
    reply = run(broker, client, "XAUTOCLAIM", "s", "g", "b", "5000", "0", "JUSTID")
    assert reply == [b"0-0", [b"1-1", b"2-1", b"3-1"], []]
    reply = run(broker, client, "XAUTOCLAIM", "s", "g", "b", "5000", "0", "COUNT", "1")
    assert reply == [b"0-0", [], []]  # 1-1..3-1 were just claimed, 4-1 and 5-1 are 1 s idle
    reply = run(broker, client, "XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "2", "JUSTID")
    assert reply == [b"3-1", [b"1-1", b"2-1"], []]  # the cursor is the next pending id


def test_consumer_idle_refreshes_on_read_and_claim_not_on_pending(broker: Broker, client: FakeClient,
                                                                  clock: Clock) -> None:
    setup(broker, client)
    run(broker, client, "XGROUP", "CREATECONSUMER", "s", "g", "a")
    clock.now += 2.0
    run(broker, client, "XPENDING", "s", "g", "-", "+", "10", "a")

    def idle() -> int:
        return as_dict(run(broker, client, "XINFO", "CONSUMERS", "s", "g")[0])[b"idle"]

    assert idle() == 2000
    run(broker, client, "XREADGROUP", "GROUP", "g", "a", "COUNT", "1", "STREAMS", "s", "0")
    assert idle() == 0
    clock.now += 0.3
    run(broker, client, "XCLAIM", "s", "g", "a", "999999", "1-1")  # nothing claimed: a is not looked up
    assert idle() == 300


def test_xinfo_full_shows_delivery_and_seen_times(broker: Broker, client: FakeClient, clock: Clock) -> None:
    setup(broker, client, 2)
    start = now_ms(clock)
    run(broker, client, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">")
    clock.now += 0.5
    run(broker, client, "XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", "0")  # history: deliveries again
    info = as_dict(run(broker, client, "XINFO", "STREAM", "s", "FULL"))
    group = as_dict(info[b"groups"][0])
    assert group[b"pending"] == [[b"1-1", b"a", start + 500, 2], [b"2-1", b"a", start + 500, 2]]
    consumer = as_dict(group[b"consumers"][0])
    assert consumer[b"seen-time"] == start + 500
    assert consumer[b"pending"] == [[b"1-1", start + 500, 2], [b"2-1", start + 500, 2]]


def test_blocked_xreadgroup_times_out_and_is_woken(broker: Broker, client: FakeClient, clock: Clock) -> None:
    run(broker, client, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    reader = FakeClient(broker)
    assert run(broker, reader, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "100", "STREAMS", "s", ">") is BLOCKED
    broker.timeout_blocked(reader)
    assert reader.resumed == [NULL_ARRAY]
    assert run(broker, reader, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">") is BLOCKED
    run(broker, client, "XADD", "s", "1-1", "f", "v")
    assert reader.resumed[-1] == [[b"s", [[b"1-1", [b"f", b"v"]]]]]


def test_xreadgroup_block_in_multi_does_not_block(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    run(broker, client, "MULTI")
    run(broker, client, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">")
    assert run(broker, client, "EXEC") == [NULL_ARRAY]


def test_autocreated_consumer_emits_createconsumer_once(broker: Broker, client: FakeClient) -> None:
    setup(broker, client, 2)
    seen = events(broker, client,
                  ("XREADGROUP", "GROUP", "g", "new", "COUNT", "1", "STREAMS", "s", ">"),
                  ("XREADGROUP", "GROUP", "g", "new", "STREAMS", "s", ">"),
                  ("XCLAIM", "s", "g", "other", "0", "1-1"))
    assert seen == [(b"xgroup-createconsumer", b"s"), (b"xgroup-createconsumer", b"s")]


def test_errors_name_key_and_group(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "XADD", "s", "1-1", "f", "v")
    assert error(run(broker, client, "XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")) == (
        "NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option")
    assert error(run(broker, client, "XGROUP", "SETID", "s", "g", "0")) == (
        "NOGROUP No such consumer group 'g' for key name 's'")
