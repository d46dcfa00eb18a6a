"""The hub's channel batch (issue 15): consecutive messages of one channel in a loop
iteration are queued to its subscribers together, and every connection still gets
exactly what it would get one message at a time, in the same order."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from broker.backends.memory import MemoryBackend
from broker.core import Broker
from gateway.auth import Identity
from gateway.connection import Connection, Counters, text_frame
from gateway.fanout import Hub
from tests.support.gateway import FakeTransport, FakeWs, decode_frames


async def setup(*budgets: int) -> tuple[Broker, Hub, list[Connection], list[FakeTransport], Counters]:
    broker = Broker()
    backend = MemoryBackend(broker)
    await backend.start()
    counters = Counters()
    hub = Hub(backend, counters)
    identity = Identity("u", None, ("*",), ("*",))
    transports = [FakeTransport() for _ in budgets]
    connections = [Connection(FakeWs(), transport, identity, counters, max_buffer=budget)  # type: ignore[arg-type]
                   for transport, budget in zip(transports, budgets)]
    return broker, hub, connections, transports, counters


def received(transport: FakeTransport) -> list[tuple[str, object]]:
    return [(frame.get("channel"), frame.get("data", frame.get("gap"))) for frame in
            decode_frames(b"".join(transport.written))]


async def test_a_run_of_one_channel_is_one_write_per_subscriber_in_order():
    broker, hub, connections, transports, counters = await setup(1 << 20, 1 << 20)
    for connection in connections:
        await hub.subscribe(connection, b"a")
    for n in range(5):
        broker.publish(b"a", b"%d" % n)
    await asyncio.sleep(0)  # the iteration's flush
    for transport in transports:
        assert len(transport.written) == 1
        assert received(transport) == [("a", n) for n in range(5)]
    assert counters.deliveries == 10 and hub.received == 5


async def test_interleaved_channels_keep_publish_order():
    broker, hub, connections, transports, _ = await setup(1 << 20, 1 << 20)
    both, only_a = connections
    await hub.subscribe(both, b"a")
    await hub.subscribe(both, b"b")
    await hub.subscribe(only_a, b"a")
    await hub.psubscribe(both, b"p*")
    for channel, data in ((b"a", b"1"), (b"a", b"2"), (b"b", b"3"), (b"pa", b"4"), (b"a", b"5")):
        broker.publish(channel, data)
    await asyncio.sleep(0)
    assert received(transports[0]) == [("a", 1), ("a", 2), ("b", 3), ("pa", 4), ("a", 5)]
    assert received(transports[1]) == [("a", 1), ("a", 2), ("a", 5)]


async def test_replies_and_other_frames_come_after_what_was_published_before_them():
    broker, hub, connections, transports, _ = await setup(1 << 20)
    connection = connections[0]
    await hub.subscribe(connection, b"a")
    broker.publish(b"a", b"1")
    connection.send_reply(orjson.dumps({"id": 7, "ok": True}))
    broker.publish(b"a", b"2")
    connection.flush()  # (a close flushes at once, not at the end of the iteration)
    frames = decode_frames(b"".join(transports[0].written))
    assert frames == [{"channel": "a", "data": 1}, {"id": 7, "ok": True}, {"channel": "a", "data": 2}]


async def test_a_subscription_change_mid_run_splits_it():
    broker, hub, connections, transports, _ = await setup(1 << 20, 1 << 20)
    early, late = connections
    await hub.subscribe(early, b"a")
    broker.publish(b"a", b"1")
    await hub.subscribe(late, b"a")  # after 1, before 2
    broker.publish(b"a", b"2")
    await hub.unsubscribe(early, b"a")  # after 2, before 3
    broker.publish(b"a", b"3")
    await asyncio.sleep(0)
    assert received(transports[0]) == [("a", 1), ("a", 2)]
    assert received(transports[1]) == [("a", 2), ("a", 3)]


async def test_the_budget_skips_a_run_message_by_message():
    frame_size = len(text_frame(b'{"channel":"a","data":"xxxxxxxxxxxxxxxxxxxx"}'))
    broker, hub, connections, transports, counters = await setup(1 << 20, 2 * frame_size)
    for connection in connections:
        await hub.subscribe(connection, b"a")
    for _ in range(5):
        broker.publish(b"a", b'"' + b"x" * 20 + b'"')
    await asyncio.sleep(0)
    assert len(received(transports[0])) == 5
    assert len(received(transports[1])) == 2  # what fits; the other 3 skipped and counted
    assert counters.dropped == 3 and connections[1].dropped == {b"a": 3}
    transports[1].buffered = 0  # the client read it all
    broker.publish(b"a", b"6")
    await asyncio.sleep(0)
    assert received(transports[1])[2:] == [("a", {"dropped": 3}), ("a", 6)]


class BrokenTransport(FakeTransport):
    def write(self, data: bytes) -> None:
        raise RuntimeError("the handler is closed")


async def test_at_the_flush_queued_output_goes_first_in_one_write_and_idle_ones_are_written_at_once():
    broker, hub, connections, transports, _ = await setup(1 << 20, 1 << 20)
    busy, idle = connections
    for connection in connections:
        await hub.subscribe(connection, b"a")
    busy.send_reply(orjson.dumps({"id": 1, "ok": True}))  # queued before the run
    for n in range(3):
        broker.publish(b"a", b"%d" % n)
    await asyncio.sleep(0)
    assert len(transports[0].written) == 1 and len(transports[1].written) == 1
    assert decode_frames(transports[0].written[0]) == [{"id": 1, "ok": True}] + [
        {"channel": "a", "data": n} for n in range(3)]
    assert received(transports[1]) == [("a", n) for n in range(3)]
    assert busy.queued_bytes == idle.queued_bytes == 0 and not busy.queue and not idle.queue
    assert not busy.flush_scheduled and not idle.flush_scheduled
    assert idle.transport_bytes == transports[1].buffered  # the budget sees what was written


_X20 = b'"' + b"x" * 20 + b'"'


async def _budget_of_two_frames_filled() -> tuple[Any, ...]:
    """One subscriber of "a" whose output budget is two frames, both written (unread)."""
    frame_size = len(text_frame(b'{"channel":"a","data":"xxxxxxxxxxxxxxxxxxxx"}'))
    broker, hub, connections, transports, counters = await setup(2 * frame_size)
    await hub.subscribe(connections[0], b"a")
    for _ in range(2):
        broker.publish(b"a", _X20)
    await asyncio.sleep(0)
    return frame_size, broker, connections, transports, counters


async def test_a_run_written_at_the_flush_counts_against_the_budget_of_the_next():
    _, broker, connections, transports, counters = await _budget_of_two_frames_filled()
    broker.publish(b"a", _X20)  # the client has read nothing
    await asyncio.sleep(0)
    assert len(received(transports[0])) == 2
    assert counters.dropped == 1 and connections[0].dropped == {b"a": 1}


async def test_a_closing_or_broken_transport_does_not_keep_the_others_from_their_run():
    broker, hub, connections, transports, _ = await setup(1 << 20, 1 << 20, 1 << 20)
    connections[1].transport = broken = BrokenTransport()  # type: ignore[assignment]
    transports[0].abort()
    for connection in connections:
        await hub.subscribe(connection, b"a")
    broker.publish(b"a", b"1")
    broker.publish(b"a", b"2")
    await asyncio.sleep(0)
    assert transports[0].written == [] and broken.written == []
    assert received(transports[2]) == [("a", 1), ("a", 2)]


async def test_a_client_that_read_its_output_is_not_refused_on_a_stale_estimate():
    frame_size, broker, connections, transports, counters = await _budget_of_two_frames_filled()
    transports[0].buffered = 0  # the client read it all; the connection's estimate still says 2 frames
    broker.publish(b"a", _X20)
    await asyncio.sleep(0)
    assert len(received(transports[0])) == 3 and counters.dropped == 0
    assert connections[0].transport_bytes == frame_size


async def test_a_reply_to_a_subscriber_ends_the_run_for_it_alone():
    # A publisher subscribed to its own channel gets each publish's reply after the
    # message; the others' run goes on (before, each reply queued the run to all).
    broker, hub, connections, transports, counters = await setup(1 << 20, 1 << 20)
    publisher, other = connections
    for connection in connections:
        await hub.subscribe(connection, b"a")
    for n in range(3):
        broker.publish(b"a", b"%d" % n)
        publisher.send_reply(orjson.dumps({"id": n, "ok": True}))
    assert not other.queue and other.queued_bytes == 0  # still in the run
    await asyncio.sleep(0)
    assert decode_frames(b"".join(transports[0].written)) == [
        frame for n in range(3) for frame in ({"channel": "a", "data": n}, {"id": n, "ok": True})]
    assert len(transports[1].written) == 1 and received(transports[1]) == [("a", n) for n in range(3)]
    assert counters.deliveries == 6


async def test_a_frame_for_a_connection_off_the_channel_leaves_the_run_alone():
    broker, hub, connections, transports, _ = await setup(1 << 20, 1 << 20)
    subscriber, elsewhere = connections
    await hub.subscribe(subscriber, b"a")
    await hub.subscribe(elsewhere, b"b")
    broker.publish(b"a", b"1")
    elsewhere.send_reply(orjson.dumps({"id": 1, "ok": True}))
    broker.publish(b"a", b"2")
    assert not subscriber.queue
    await asyncio.sleep(0)
    assert received(transports[0]) == [("a", 1), ("a", 2)]
    assert decode_frames(b"".join(transports[1].written)) == [{"id": 1, "ok": True}]


async def test_after_its_share_a_connection_leaving_or_flushing_mid_run_keeps_order():
    broker, hub, connections, transports, _ = await setup(1 << 20, 1 << 20, 1 << 20)
    leaver, flushed, other = connections
    for connection in connections:
        await hub.subscribe(connection, b"a")
    broker.publish(b"a", b"1")
    leaver.send_reply(orjson.dumps({"id": 1, "ok": True}))
    flushed.send_reply(orjson.dumps({"id": 2, "ok": True}))
    broker.publish(b"a", b"2")
    flushed.flush()  # (a close flushes at once)
    await hub.unsubscribe(leaver, b"a")  # after 2: it still gets 2
    broker.publish(b"a", b"3")
    await asyncio.sleep(0)
    assert decode_frames(b"".join(transports[0].written)) == [
        {"channel": "a", "data": 1}, {"id": 1, "ok": True}, {"channel": "a", "data": 2}]
    assert decode_frames(b"".join(transports[1].written)) == [
        {"channel": "a", "data": 1}, {"id": 2, "ok": True}, {"channel": "a", "data": 2}, {"channel": "a", "data": 3}]
    assert received(transports[2]) == [("a", 1), ("a", 2), ("a", 3)]


async def test_a_subscriber_over_budget_after_its_share_skips_the_rest_and_counts_it():
    frame_size = len(text_frame(b'{"channel":"a","data":"xxxxxxxxxxxxxxxxxxxx"}'))
    reply = orjson.dumps({"id": 1, "ok": True})
    broker, hub, connections, transports, counters = await setup(2 * frame_size + len(text_frame(reply)), 1 << 20)
    small, big = connections
    for connection in connections:
        await hub.subscribe(connection, b"a")
    for n in range(4):
        broker.publish(b"a", _X20)
        if n == 0:
            small.send_reply(reply)
    await asyncio.sleep(0)
    assert len(decode_frames(b"".join(transports[0].written))) == 3  # 1, the reply, 2; then 3 and 4 skipped
    assert counters.dropped == 2 and small.dropped == {b"a": 2}
    assert len(received(transports[1])) == 4


async def test_a_run_ended_by_another_channel_is_written_at_once_to_its_sole_followers():
    """_Flusher.settle(early=True): a subscriber of that channel alone, with nothing
    queued, is written to when the next channel's message comes; one following
    two channels (or a pattern) gets both runs queued, in one write at the flush."""
    broker, hub, connections, transports, _ = await setup(1 << 20, 1 << 20, 1 << 20, 1 << 20)
    only_a, both, patterned, replied = connections
    for connection in connections:
        await hub.subscribe(connection, b"a")
    await hub.subscribe(both, b"b")
    await hub.psubscribe(patterned, b"zz*")
    replied.send_reply(b'{"id":1}')  # queued before the run
    broker.publish(b"a", b"1")
    broker.publish(b"a", b"2")
    broker.publish(b"b", b"3")  # ends a's run: written at once to only_a
    assert transports[0].written == [text_frame(b'{"channel":"a","data":1}') + text_frame(b'{"channel":"a","data":2}')]
    assert all(not transport.written for transport in transports[1:])
    only_a.send_reply(b'{"id":2}')  # after it, as ever
    await asyncio.sleep(0)
    assert decode_frames(b"".join(transports[0].written)) == [
        {"channel": "a", "data": 1}, {"channel": "a", "data": 2}, {"id": 2}]
    assert received(transports[1]) == [("a", 1), ("a", 2), ("b", 3)] and len(transports[1].written) == 1
    assert received(transports[2]) == [("a", 1), ("a", 2)] and len(transports[2].written) == 1
    assert decode_frames(b"".join(transports[3].written)) == [
        {"id": 1}, {"channel": "a", "data": 1}, {"channel": "a", "data": 2}]
    assert len(transports[3].written) == 1


async def test_a_channel_with_runs_apart_in_an_iteration_is_queued_in_the_next():
    """The runs of a channel interleaved with another's: in the first iteration its sole
    followers get the first run at once and the rest at the flush (two writes); from
    the next iteration on, while it keeps coming apart, all of it at the flush (one)."""
    broker, hub, connections, transports, _ = await setup(1 << 20, 1 << 20)
    in_a, in_b = connections
    await hub.subscribe(in_a, b"a")
    await hub.subscribe(in_b, b"b")
    writes = []
    for iteration in range(3):
        for n in range(3):
            broker.publish(b"a", b"%d" % n)
            broker.publish(b"b", b"%d" % n)
        await asyncio.sleep(0)
        writes.append((len(transports[0].written), len(transports[1].written)))
        transports[0].written.clear()
        transports[1].written.clear()
    assert writes == [(2, 2), (1, 1), (1, 1)]
    broker.publish(b"a", b"x")  # alone in its iteration: it stops being busy after it
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    broker.publish(b"a", b"y")
    broker.publish(b"b", b"z")
    assert received(transports[0])[-1] == ("a", "y")  # written at once again


async def test_single_channel_follows_the_subscriptions():
    """Connection.single_channel (kept by the hub): one channel and no pattern."""
    broker, hub, connections, transports, _ = await setup(1 << 20, 1 << 20)
    connection = connections[0]
    await hub.subscribe(connections[1], b"other")
    steps = []
    for step in (hub.subscribe(connection, b"a"), hub.subscribe(connection, b"b"), hub.unsubscribe(connection, b"a"),
                 hub.psubscribe(connection, b"p*"), hub.punsubscribe(connection, b"p*"),
                 hub.unsubscribe(connection, b"b")):
        await step
        steps.append(connection.single_channel)
    assert steps == [True, False, True, False, True, False]
    await hub.subscribe(connection, b"a")

    async def refused(*_: Any) -> None:
        raise ConnectionError("backend down")

    hub.backend.subscribe = refused  # type: ignore[method-assign]
    hub.backend.psubscribe = refused  # type: ignore[method-assign]
    for failing in (hub.subscribe(connection, b"new"), hub.psubscribe(connection, b"new*")):
        try:
            await failing
        except ConnectionError:
            pass
        assert connection.single_channel  # back to what it was
    broker.publish(b"a", b"1")
    broker.publish(b"other", b"2")  # ends a's run: written at once
    assert received(transports[0]) == [("a", 1)]


async def test_a_run_with_a_replied_subscriber_ended_by_another_channel_keeps_everyones_order():
    """settle_for and the early write together: the replied publisher gets its share,
    its reply, then the rest; its co-subscriber of that channel alone gets the whole
    run written at once when the next channel's message ends it."""
    broker, hub, connections, transports, _ = await setup(1 << 20, 1 << 20, 1 << 20)
    publisher, sole, elsewhere = connections
    await hub.subscribe(publisher, b"a")
    await hub.subscribe(sole, b"a")
    await hub.subscribe(elsewhere, b"b")
    broker.publish(b"a", b"1")
    publisher.send_reply(orjson.dumps({"id": 1, "ok": True}))
    broker.publish(b"a", b"2")
    broker.publish(b"b", b"3")  # ends a's run
    assert received(transports[1]) == [("a", 1), ("a", 2)]  # written, not queued
    assert not sole.queue
    await asyncio.sleep(0)
    assert decode_frames(b"".join(transports[0].written)) == [
        {"channel": "a", "data": 1}, {"id": 1, "ok": True}, {"channel": "a", "data": 2}]
    assert received(transports[1]) == [("a", 1), ("a", 2)]
    assert received(transports[2]) == [("b", 3)]
