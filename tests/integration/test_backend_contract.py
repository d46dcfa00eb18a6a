"""The Backend contract suite: every test runs against MemoryBackend, RedisBackend ->
redis-server and RedisBackend -> ``fanout broker`` (real processes on loopback ports).
What is RedisBackend's alone is in test_backend_redis.py."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest

from broker.backend import Backend
from broker.backends import create_backend
from broker.backends.memory import MemoryBackend
from broker.backends.redis import RedisBackend
from broker.core import Broker
from broker.resp import CommandError, Simple
from tests.support.backends import Collector, unique
from tests.support.servers import ServerProcess


@pytest.fixture(params=["memory", "redis-server", "fanout-broker"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        instance: Backend = MemoryBackend(Broker())
    else:
        server: ServerProcess = request.getfixturevalue(
            "redis_server" if request.param == "redis-server" else "fanout_broker")
        instance = create_backend(f"redis://127.0.0.1:{server.port}/0")
        assert isinstance(instance, RedisBackend)
    await instance.start()
    yield instance
    await instance.close()


# ------------------------------------------------------------------ pub/sub

async def test_subscribe_delivers_published_messages(backend: Backend) -> None:
    got = Collector()
    backend.set_handler(got)
    channel = unique("ch")
    await backend.subscribe(channel)
    assert await backend.publish(channel, b"one") == 1
    assert await backend.publish(channel, b"two") == 1
    assert await got.wait_for(2) == [(channel, b"one", None), (channel, b"two", None)]


async def test_pattern_and_channel_subscription_each_deliver_once(backend: Backend) -> None:
    got = Collector()
    backend.set_handler(got)
    channel = unique("room")
    pattern = channel[:-1] + b"*"
    await backend.subscribe(channel)
    await backend.psubscribe(pattern)
    assert await backend.publish(channel, b"x") == 2
    assert sorted(await got.wait_for(2), key=repr) == sorted(
        [(channel, b"x", None), (channel, b"x", pattern)], key=repr)


async def test_subscribe_and_psubscribe_are_idempotent(backend: Backend) -> None:
    got = Collector()
    backend.set_handler(got)
    channel, other = unique("idem"), unique("idem-p")
    for _ in range(3):
        await backend.subscribe(channel)
        await backend.psubscribe(other)
    assert await backend.publish(channel, b"a") == 1  # one upstream subscription, not three
    assert await backend.publish(other, b"b") == 1
    assert await backend.execute("PUBSUB", "NUMSUB", channel) == [channel, 1]
    await backend.publish(channel, b"end")
    assert await got.wait_until(b"end") == [(channel, b"a", None), (other, b"b", other)]


async def test_concurrent_subscribes_and_unsubscribes_all_take_effect(backend: Backend) -> None:
    """Many browsers subscribing at once: every confirmation reaches its own caller."""
    got = Collector()
    backend.set_handler(got)
    channels = [unique("many") + b":end" for _ in range(300)]

    def pattern(channel: bytes) -> bytes:  # matches this channel only ("...:1:e*" not "...:11:end")
        return channel[:-2] + b"*"

    await asyncio.gather(*(backend.subscribe(c) for c in channels), *(backend.psubscribe(pattern(c)) for c in channels))
    await asyncio.gather(*(backend.unsubscribe(c) for c in channels[::2]),
                         *(backend.punsubscribe(pattern(c)) for c in channels[::2]))
    counts = await asyncio.gather(*(backend.publish(c, b"x") for c in channels))
    assert counts == [0 if n % 2 == 0 else 2 for n in range(len(channels))]
    received = await got.wait_for(len(channels))  # two each for the odd half
    assert sorted(m[0] for m in received) == sorted(c for c in channels[1::2] for _ in range(2))


async def test_unsubscribe_stops_delivery(backend: Backend) -> None:
    got = Collector()
    backend.set_handler(got)
    channel, pattern, sentinel = unique("gone"), unique("gone-p"), unique("sentinel")
    await backend.subscribe(channel)
    await backend.psubscribe(pattern)
    await backend.subscribe(sentinel)
    await backend.unsubscribe(channel)
    await backend.punsubscribe(pattern)
    await backend.unsubscribe(channel)  # again: a no-op
    assert await backend.publish(channel, b"lost") == 0
    assert await backend.publish(pattern, b"lost") == 0
    await backend.publish(sentinel, b"end")
    # One connection delivers in order: had "lost" arrived, it would come before "end".
    assert await got.wait_until(b"end") == []


async def test_messages_with_binary_payloads_arrive_unchanged(backend: Backend) -> None:
    got = Collector()
    backend.set_handler(got)
    channel = unique("bin") + b"\xff\x00"
    payload = bytes(range(256)) * 64 + b"\r\n"
    await backend.subscribe(channel)
    await backend.publish(channel, payload)
    assert await got.wait_for(1) == [(channel, payload, None)]


# ------------------------------------------------------------------ commands

async def test_execute_returns_plain_python_values(backend: Backend) -> None:
    key, zkey = unique("h"), unique("z")
    assert await backend.execute("HSET", key, "f", "v", "g", b"\x00") == 2
    assert await backend.execute("HGETALL", key) == {b"f": b"v", b"g": b"\x00"}
    assert await backend.execute("HINCRBY", key, "n", 5) == 5
    assert await backend.execute("ZADD", zkey, 1.5, "m") == 1
    assert await backend.execute("ZSCORE", zkey, "m") == 1.5
    assert await backend.execute("GET", unique("missing")) is None
    assert await backend.execute(b"EXISTS", key) == 1
    assert sorted(await backend.execute("HKEYS", key)) == [b"f", b"g", b"n"]


async def test_a_burst_of_concurrent_calls_all_succeed(backend: Backend) -> None:
    """Like a disconnect storm: hundreds of callers at once wait for a connection, none fails."""
    key = unique("burst")

    async def caller(n: int) -> Any:
        await backend.execute("HSET", key, n, n)
        return await backend.execute("HGET", key, n)

    assert await asyncio.gather(*(caller(n) for n in range(500))) == [b"%d" % n for n in range(500)]
    assert await backend.execute("HLEN", key) == 500


async def test_transaction_runs_commands_in_order_and_returns_errors_in_place(backend: Backend) -> None:
    key, counter = unique("t"), unique("c")
    replies = await backend.transaction([
        ["HSET", key, "a", "1"],
        ["INCR", counter],
        ["INCRBY", counter, 10],
        ["GET", key],  # WRONGTYPE at run time: the others still apply
        ["HGET", key, "a"],
    ])
    assert replies[:3] == [1, 1, 11]
    assert isinstance(replies[3], CommandError) and str(replies[3]).startswith("WRONGTYPE")
    assert replies[4] == b"1"
    assert await backend.execute("GET", counter) == b"11"


async def test_a_transaction_refused_when_queued_runs_nothing_and_leaves_the_backend_usable(
        backend: Backend) -> None:
    key = unique("aborted")
    for bad in (["NOSUCHCOMMAND"], ["GET"]):
        with pytest.raises(CommandError, match="^ERR "):
            await backend.transaction([["SET", key, "1"], bad, ["INCR", key]])
        assert await backend.execute("GET", key) is None  # nothing of it ran
    assert await backend.transaction([["SET", key, "1"], ["INCR", key]]) == [backend_ok(backend), 2]


def backend_ok(backend: Backend) -> Any:
    """+OK as this backend returns it: Simple("OK") in-process, b"OK" over RESP."""
    return Simple("OK") if isinstance(backend, MemoryBackend) else b"OK"


async def test_errors_are_command_errors_with_their_code(backend: Backend) -> None:
    key = unique("e")
    await backend.execute("HSET", key, "f", "v")
    with pytest.raises(CommandError, match=r"^WRONGTYPE "):
        await backend.execute("GET", key)
    with pytest.raises(CommandError, match=r"^ERR unknown command"):
        await backend.execute("NOSUCHCOMMAND", key)
    with pytest.raises(CommandError, match=r"^ERR wrong number of arguments"):
        await backend.execute("GET")
    with pytest.raises(CommandError, match=r"^ERR value is not an integer"):
        await backend.execute("INCRBY", unique("n"), "x")


# ------------------------------------------------------------------ FANOUT.* (native or Lua)

async def test_history_publish_numbers_messages_and_publishes_the_envelope(backend: Backend) -> None:
    got = Collector()
    backend.set_handler(got)
    channel = unique("hist")
    await backend.subscribe(channel)
    first = await backend.history_publish(channel, b'{"n":1}', 100, 60_000)
    second = await backend.history_publish(channel, b'{"n":2}', 100, 60_000)
    assert first[0] == 1 and second == (2, first[1]) and first[1].isdigit()
    epoch = first[1].encode()
    assert await got.wait_for(2) == [(channel, b"\x1eh1:" + epoch + b':{"n":1}', None),
                                     (channel, b"\x1eh2:" + epoch + b':{"n":2}', None)]
    entries = await backend.execute("XRANGE", b"history:{" + channel + b"}", "-", "+")
    assert [(entry[0], entry[1][:2]) for entry in entries] == [
        (b"1-0", [b"d", b'{"n":1}']), (b"2-0", [b"d", b'{"n":2}'])]
    assert 0 < await backend.execute("PTTL", b"history:{" + channel + b"}:meta") <= 60_000


async def test_presence_join_and_leave_count_users(backend: Backend) -> None:
    got = Collector()
    backend.set_handler(got)
    channel = unique("pres")
    await backend.subscribe(channel)
    assert await backend.presence_join(channel, "c1", "alice", b'{"conn":"c1"}') == (True, True)
    assert await backend.presence_join(channel, "c1", "alice", b'{"conn":"c1"}') == (False, False)
    assert await backend.presence_join(channel, "c2", "alice", b'{"conn":"c2"}') == (True, False)
    assert await backend.execute("HGET", b"presence:{" + channel + b"}:users", "alice") == b"2"
    assert await backend.presence_leave(channel, "c1", "alice") == (True, False)
    assert await backend.presence_leave(channel, "c1", "alice") == (False, False)
    assert await backend.presence_leave(channel, "c2", "alice") == (True, True)
    assert await backend.execute("EXISTS", b"presence:{" + channel + b"}:users") == 0
    assert [m[1] for m in await got.wait_for(4)] == [
        b'\x1epj1{"conn":"c1"}', b'\x1epj0{"conn":"c2"}', b'\x1epl0{"conn":"c1"}', b'\x1epl1{"conn":"c2"}']
