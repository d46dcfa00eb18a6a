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


async def test_publish_now_counts_and_delivers_as_broker_publish_does():
    """publish_now's shortcut (a channel only the gateway follows, no pattern anywhere)
    and Broker.publish give the same replies, deliveries and INFO counts."""
    from broker.core import Client

    def counts(broker: Broker) -> tuple[int, int, int]:
        stats = broker.stats
        return stats.pubsub_messages, stats.pubsub_deliveries, stats.client_publishes

    results = []
    for shortcut in (True, False):
        broker = Broker()
        backend = MemoryBackend(broker)
        await backend.start()
        got: list[tuple[bytes, bytes, bytes | None]] = []
        backend.set_handler(lambda channel, data, pattern: got.append((channel, data, pattern)))
        await backend.subscribe(b"a")
        other = Client(broker)  # a RESP subscriber of b"b"
        other.deliver = lambda message: got.append((b"other", message.data, message.pattern))  # type: ignore
        broker.connect(other)
        broker.pubsub.subscribe(other, b"b")
        await backend.subscribe(b"b")
        publish = backend.publish_now if shortcut else (
            lambda channel, data: (setattr(broker.stats, "client_publishes", broker.stats.client_publishes + 1),
                                   broker.publish(channel, data))[1])
        replies = [publish(b"a", b"1"), publish(b"b", b"2"), publish(b"none", b"3")]
        backend.set_handler(None)  # type: ignore[arg-type]
        replies.append(publish(b"a", b"4"))  # (no handler: counted, delivered to nobody)
        backend.set_handler(lambda channel, data, pattern: got.append((channel, data, pattern)))
        await backend.psubscribe(b"a*")
        replies.append(publish(b"a", b"5"))
        results.append((replies, sorted(got, key=repr), counts(broker)))
        await backend.close()
    assert results[0] == results[1]
    assert results[0][0] == [1, 2, 0, 1, 2]
