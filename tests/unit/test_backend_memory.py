"""MemoryBackend and the hub's reference-counted upstream subscriptions (no sockets)."""

import asyncio

import pytest

from broker.backends.memory import MemoryBackend
from broker.core import Broker
from broker.resp import OK, CommandError
from gateway.connection import Counters
from gateway.fanout import Hub
from tests.support.gateway import FakeConnection


async def test_handler_gets_channel_and_pattern_messages_and_commands_work():
    backend = MemoryBackend(Broker())
    await backend.start()
    got = []
    backend.set_handler(lambda channel, data, pattern: got.append((channel, data, pattern)))
    await backend.subscribe(b"a")
    await backend.psubscribe(b"a*")
    assert await backend.publish(b"a", b"x") == 2
    assert got == [(b"a", b"x", None), (b"a", b"x", b"a*")]
    assert await backend.execute("HSET", "h", "f", "v") == 1
    assert await backend.transaction([["SADD", "s", "m"], ["SCARD", "s"]]) == [1, 1]
    with pytest.raises(CommandError, match="WRONGTYPE"):
        await backend.execute("GET", "h")
    await backend.close()


async def test_in_process_clients_skip_requirepass_and_take_the_fast_path():
    broker = Broker(config={"requirepass": "secret"})
    backend = MemoryBackend(broker)
    await backend.start()
    # execute's fast path from the first command: no per-command auth, MULTI or subscription checks
    assert not backend._commands.special
    assert await backend.execute("SET", "k", "v") == OK
    assert await backend.execute("GET", "k") == b"v"
    assert broker.cmdstats.total_calls() == 2
    await backend.close()


async def test_hub_holds_one_upstream_subscription_per_channel_and_encodes_once():
    broker = Broker()
    backend = MemoryBackend(broker)
    await backend.start()
    hub = Hub(backend, Counters())
    connections = [FakeConnection() for _ in range(3)]
    for connection in connections:
        await hub.subscribe(connection, b"room")  # type: ignore[arg-type]
    assert broker.pubsub.numsub(b"room") == 1
    broker.publish(b"room", b'{"n":1}')
    await asyncio.sleep(0)  # handed over at the end of the loop iteration (the channel batch)
    frames = [c.raw[0] for c in connections]
    assert all(frame is frames[0] for frame in frames)  # the very same bytes object
    for connection in connections[:2]:
        await hub.unsubscribe(connection, b"room")  # type: ignore[arg-type]
    assert broker.pubsub.numsub(b"room") == 1
    await hub.drop(connections[2])  # type: ignore[arg-type]
    assert broker.pubsub.numsub(b"room") == 0
