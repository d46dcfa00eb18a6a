"""The hub delivers a history channel's messages once each and in offset order,
filling gaps from history (e.g. messages missed while the backplane link was down)."""

from __future__ import annotations

import asyncio
import time

from broker.backends.memory import MemoryBackend
from broker.core import Broker
from gateway import history
from gateway.channels import ChannelOptions
from gateway.connection import Counters
from gateway.fanout import Hub
from tests.support.gateway import FakeConnection

OPTIONS = ChannelOptions(history_size=100)


async def _setup(complete: bool = True) -> tuple[Hub, MemoryBackend, FakeConnection]:
    backend = MemoryBackend(Broker())
    await backend.start()
    hub = Hub(backend, Counters())

    async def fetch_missed(channel: bytes, offset: int, epoch: bytes) -> history.HistoryPage:
        page = await history.missed(backend, channel.decode(), OPTIONS, int(time.time() * 1000), offset, epoch.decode())
        if not complete:
            page.complete, page.entries = False, []
        return page

    hub.fetch_missed = fetch_missed
    connection = FakeConnection()
    await hub.subscribe(connection, b"chat:x")  # type: ignore[arg-type]
    return hub, backend, connection


async def _settled(hub: Hub) -> None:
    for _ in range(1000):  # bounded: the catch-up task needs a few loop turns
        if not hub.catching_up:
            return
        await asyncio.sleep(0)
    raise AssertionError("the hub never finished catching up")


async def test_a_gap_is_filled_from_history_before_what_came_after_it():
    hub, backend, connection = await _setup()
    await backend.history_publish(b"chat:x", b"1", 100, 60_000)
    await backend.unsubscribe(b"chat:x")  # the link drops: 2 and 3 are missed
    await backend.history_publish(b"chat:x", b"2", 100, 60_000)
    await backend.history_publish(b"chat:x", b"3", 100, 60_000)
    await backend.subscribe(b"chat:x")
    await backend.history_publish(b"chat:x", b"4", 100, 60_000)
    await backend.history_publish(b"chat:x", b"5", 100, 60_000)  # arrives while the gap is being read
    await _settled(hub)
    assert [frame["offset"] for frame in connection.frames] == [1, 2, 3, 4, 5]
    assert [frame["data"] for frame in connection.frames] == [1, 2, 3, 4, 5]


async def test_repeats_are_dropped():
    hub, backend, connection = await _setup()
    got: list[tuple[bytes, bytes]] = []
    backend.set_handler(lambda channel, data, pattern: got.append((channel, data)) or hub.on_message(
        channel, data, pattern))
    await backend.history_publish(b"chat:x", b"1", 100, 60_000)
    hub.on_message(*got[0], None)  # the same message again (e.g. from a second link)
    assert [frame["offset"] for frame in connection.frames] == [1]


async def test_after_a_reconnect_channels_that_moved_on_are_caught_up():
    hub, backend, connection = await _setup()
    await backend.history_publish(b"chat:x", b"1", 100, 60_000)
    await backend.unsubscribe(b"chat:x")
    await backend.history_publish(b"chat:x", b"2", 100, 60_000)
    await backend.subscribe(b"chat:x")
    await hub.check_positions()
    assert [frame["offset"] for frame in connection.frames] == [1, 2]


async def test_a_gap_history_cannot_fill_is_announced():
    hub, backend, connection = await _setup(complete=False)
    await backend.history_publish(b"chat:x", b"1", 100, 60_000)
    await backend.unsubscribe(b"chat:x")
    await backend.history_publish(b"chat:x", b"2", 100, 60_000)
    await backend.subscribe(b"chat:x")
    await backend.history_publish(b"chat:x", b"3", 100, 60_000)
    await _settled(hub)
    epoch = connection.frames[0]["epoch"]
    assert connection.frames[1] == {"channel": "chat:x", "gap": {"from_offset": 2, "epoch": epoch}}
    assert [frame.get("offset") for frame in connection.frames] == [1, None, 3]


async def test_messages_missed_before_the_first_one_arrived_are_caught_up_after_a_reconnect():
    hub, backend, connection = await _setup()
    hub.note_floor(b"chat:x", b"", 0)  # subscribed while the channel had no history
    await backend.unsubscribe(b"chat:x")  # the link drops before message 1 reaches this node
    for n in (b"1", b"2"):
        await backend.history_publish(b"chat:x", n, 100, 60_000)
    await backend.subscribe(b"chat:x")
    await hub.check_positions()
    await backend.history_publish(b"chat:x", b"3", 100, 60_000)
    assert [frame["offset"] for frame in connection.frames] == [1, 2, 3]
    assert not hub.floors and hub.positions[b"chat:x"][1] == 3


async def test_a_first_message_past_the_floor_fills_the_gap_before_it():
    hub, backend, connection = await _setup()
    for n in (b"1", b"2"):  # 1 before the subscribe; 2 lost on its way to this node
        await backend.history_publish(b"chat:x", n, 100, 60_000)
    connection.frames.clear()
    hub.positions.clear()
    epoch = (await history.read(backend, "chat:x", OPTIONS, int(time.time() * 1000))).epoch.encode()
    hub.note_floor(b"chat:x", epoch, 1)
    await backend.history_publish(b"chat:x", b"3", 100, 60_000)
    await _settled(hub)
    assert [frame["offset"] for frame in connection.frames] == [2, 3]


async def test_a_message_racing_the_subscribe_read_is_not_dropped_by_the_floor():
    hub, backend, connection = await _setup()
    in_flight: list[tuple[bytes, bytes]] = []
    backend.set_handler(lambda channel, data, pattern: in_flight.append((channel, data)))
    await backend.history_publish(b"chat:x", b"1", 100, 60_000)  # published after the upstream subscribe...
    page = await history.read(backend, "chat:x", OPTIONS, int(time.time() * 1000))
    hub.note_floor(b"chat:x", page.epoch.encode(), page.offset)  # ... read before it arrives
    hub.on_message(*in_flight[0], None)
    assert [frame["offset"] for frame in connection.frames] == [1]
    assert not hub.floors


async def _new_epoch(backend: MemoryBackend) -> None:
    """What a backplane restart without persistence does: the history is gone."""
    await backend.execute("DEL", "history:{chat:x}", "history:{chat:x}:meta")
    await asyncio.sleep(0.002)  # epochs are microsecond times: the next one differs


async def test_a_new_epoch_is_caught_up_from_its_first_offset():
    # Issue 13 item 1: the first new-epoch message seen here was taken as a baseline.
    hub, backend, connection = await _setup()
    await backend.history_publish(b"chat:x", b"1", 100, 60_000)
    await _new_epoch(backend)
    await backend.unsubscribe(b"chat:x")  # this node's link is down while the new epoch begins
    for n in (b"a", b"b", b"c"):
        await backend.history_publish(b"chat:x", n, 100, 60_000)
    await backend.subscribe(b"chat:x")
    await backend.history_publish(b"chat:x", b"d", 100, 60_000)
    await _settled(hub)
    old, new = connection.frames[0]["epoch"], connection.frames[-1]["epoch"]
    assert old != new
    assert [(f.get("epoch"), f.get("offset")) for f in connection.frames] == [
        (old, 1), (new, 1), (new, 2), (new, 3), (new, 4)]


async def test_after_a_reconnect_into_a_new_epoch_the_old_tail_is_a_gap_and_the_new_one_is_read():
    hub, backend, connection = await _setup()
    await backend.history_publish(b"chat:x", b"1", 100, 60_000)
    await backend.unsubscribe(b"chat:x")
    await backend.history_publish(b"chat:x", b"2", 100, 60_000)  # missed here, then lost with the history
    await _new_epoch(backend)
    await backend.history_publish(b"chat:x", b"a", 100, 60_000)
    await backend.subscribe(b"chat:x")
    await hub.check_positions()
    old = connection.frames[0]["epoch"]
    new = connection.frames[-1]["epoch"]
    assert connection.frames[1:] == [{"channel": "chat:x", "gap": {"from_offset": 2, "epoch": old}},
                                     {"channel": "chat:x", "offset": 1, "epoch": new, "data": "a"}]
