"""RedisBackend on a real 3-master Redis Cluster: sharded pub/sub, hash-tagged keys, faults."""

from __future__ import annotations

import asyncio
import itertools
import signal
from typing import AsyncIterator

import pytest
from redis.crc import key_slot

from broker.backend import BackendUnavailable
from broker.backends.redis import RedisBackend
from broker.resp import CommandError
from tests.support.backends import WAIT, Collector
from tests.support.cluster import RedisCluster
from tests.support.resp_client import RespClient

_names = itertools.count()


def unique(prefix: str) -> bytes:
    return f"{prefix}:cluster:{next(_names)}".encode()


@pytest.fixture
async def backend(redis_cluster: RedisCluster) -> AsyncIterator[RedisBackend]:
    instance = RedisBackend(redis_cluster.url, min_backoff=0.01, max_backoff=0.2)
    await instance.start()
    yield instance
    await instance.close()


def _channels_on_every_master(cluster: RedisCluster, per_master: int) -> list[bytes]:
    """Channel names whose slots are owned by each of the masters, ``per_master`` each."""
    with RespClient(cluster.nodes[0].port) as client:
        ranges = client.call("CLUSTER", "SLOTS")  # [[first, last, [host, port, id], ...], ...]
    owners: dict[int, list[bytes]] = {}
    for n in itertools.count():
        channel = unique(f"spread{n}")
        slot = key_slot(channel)
        owner = next(int(r[2][1]) for r in ranges if r[0] <= slot <= r[1])
        if len(owners.setdefault(owner, [])) < per_master:
            owners[owner].append(channel)
        if len(owners) == 3 and all(len(c) == per_master for c in owners.values()):
            return [c for group in owners.values() for c in group]
    raise AssertionError("unreachable")


async def test_sharded_pubsub_delivers_from_every_master_over_one_link_each(
        backend: RedisBackend, redis_cluster: RedisCluster) -> None:
    got = Collector()
    backend.set_handler(got)
    channels = _channels_on_every_master(redis_cluster, 2)
    for channel in channels:
        await backend.subscribe(channel)
        await backend.subscribe(channel)  # idempotent
    assert backend.links == 3  # one subscriber connection per master, not per channel
    for channel in channels:
        assert await backend.publish(channel, b"to " + channel) == 1
    assert sorted(await got.wait_for(len(channels))) == sorted((c, b"to " + c, None) for c in channels)
    await backend.unsubscribe(channels[0])
    assert await backend.publish(channels[0], b"nobody") == 0


async def test_history_and_presence_keys_share_the_channel_slot(backend: RedisBackend) -> None:
    got = Collector()
    backend.set_handler(got)
    channel = unique("chat")
    await backend.subscribe(channel)
    offset, epoch = await backend.history_publish(channel, b'{"n":1}', 100, 60_000)
    assert offset == 1 and epoch.isdigit()
    assert await backend.presence_join(channel, "c1", "alice", b'{"user":"alice"}') == (True, True)
    assert await backend.presence_leave(channel, "c1", "alice") == (True, True)
    assert [m[1] for m in await got.wait_for(3)] == [
        b"\x1eh1:" + epoch.encode() + b':{"n":1}', b'\x1epj1{"user":"alice"}', b'\x1epl1{"user":"alice"}']
    slots = {await backend.execute("CLUSTER", "KEYSLOT", key) for key in (
        channel, b"history:{" + channel + b"}", b"history:{" + channel + b"}:meta",
        b"presence:{" + channel + b"}", b"presence:{" + channel + b"}:users")}
    assert len(slots) == 1
    entries = await backend.execute("XRANGE", b"history:{" + channel + b"}", "-", "+")
    assert [e[0] for e in entries] == [b"1-0"]


async def test_transactions_run_in_one_slot_and_cross_slot_ones_are_refused(backend: RedisBackend) -> None:
    channel = unique("tx")
    members = b"presence:{" + channel + b"}"
    assert await backend.transaction([["HSET", members, "c", "m"], ["HLEN", members],
                                      ["HSET", members + b":users", "u", 1]]) == [1, 1, 1]
    with pytest.raises(CommandError, match="same slot"):
        await backend.transaction([["SET", "tx-a-" + channel.decode(), 1], ["SET", "tx-b-" + channel.decode(), 2]])


async def test_keyspace_notifications_come_from_every_master(
        backend: RedisBackend, redis_cluster: RedisCluster) -> None:
    """Expiry events are node-local plain pub/sub: subscribed on each master, not sharded."""
    got = Collector()
    backend.set_handler(got)
    await backend.execute("CONFIG", "SET", "notify-keyspace-events", "Ex")  # every node
    try:
        await backend.subscribe(b"__keyevent@0__:expired")
        keys = _channels_on_every_master(redis_cluster, 1)  # one key per master
        for key in keys:
            await backend.execute("SET", key, "v", "PX", 1)
        events = await got.wait_for(3)
        assert sorted(events) == sorted((b"__keyevent@0__:expired", key, None) for key in keys)
    finally:
        await backend.execute("CONFIG", "SET", "notify-keyspace-events", "")
        await backend.unsubscribe(b"__keyevent@0__:expired")


async def test_keyless_commands_answer_like_a_single_server(
        backend: RedisBackend, redis_cluster: RedisCluster) -> None:
    """What the presence sweep relies on: SCAN from 0 sees every master's keys, in the usual shape."""
    keys = _channels_on_every_master(redis_cluster, 2)  # "spread<n>:cluster:<n>" on each master
    for key in keys:
        await backend.execute("SADD", key, "member")
    cursor, found = await backend.execute("SCAN", 0, "MATCH", b"spread*", "COUNT", 1000)
    assert cursor == b"0" and set(keys) <= set(found)
    assert await backend.execute("PING") == b"PONG"
    assert await backend.execute("PUBSUB", "NUMSUB", "nobody") == [b"nobody", 0]
    assert len(await backend.execute("TIME")) == 2
    with pytest.raises(CommandError, match="cursor"):
        await backend.execute("SCAN", 17)


async def test_patterns_are_refused_with_a_clear_error(backend: RedisBackend) -> None:
    with pytest.raises(CommandError, match="not supported on Redis Cluster"):
        await backend.psubscribe(b"chat:*")


def _watched(backend: RedisBackend) -> tuple[Collector, asyncio.Event]:
    """The messages the backend delivers, and an event set when it reconnects."""
    got = Collector()
    backend.set_handler(got)
    reconnected = asyncio.Event()
    backend.set_reconnect_handler(reconnected.set)
    return got, reconnected


async def test_killed_master_restarted_resubscribes_its_channels(
        backend: RedisBackend, redis_cluster: RedisCluster) -> None:
    got, reconnected = _watched(backend)
    channels = _channels_on_every_master(redis_cluster, 1)
    for channel in channels:
        await backend.subscribe(channel)
    redis_cluster.restart(1, signal.SIGKILL)
    await asyncio.wait_for(reconnected.wait(), WAIT)
    for channel in channels:
        assert await backend.publish(channel, b"again " + channel) == 1
    assert sorted(await got.wait_for(3)) == sorted((c, b"again " + c, None) for c in channels)


def _move_slot(cluster: RedisCluster, slot: int) -> None:
    """Hand an (empty) slot to another master: IMPORTING/MIGRATING, then SETSLOT NODE everywhere."""
    ids: dict[int, bytes] = {}
    for node in cluster.nodes:
        with RespClient(node.port) as client:
            ids[node.port] = client.call("CLUSTER", "MYID")
    with RespClient(cluster.nodes[0].port) as client:
        ranges = client.call("CLUSTER", "SLOTS")
    source = next(int(r[2][1]) for r in ranges if r[0] <= slot <= r[1])
    target = next(port for port in ids if port != source)
    with RespClient(target) as client:
        client.call("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
    with RespClient(source) as client:
        client.call("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
    for port in (target, source, *[p for p in ids if p not in (source, target)]):
        with RespClient(port) as client:
            client.call("CLUSTER", "SETSLOT", slot, "NODE", ids[target])


async def test_moved_slot_is_followed_and_its_channel_resubscribed_on_the_new_owner(
        backend: RedisBackend, redis_cluster: RedisCluster) -> None:
    got, reconnected = _watched(backend)
    channel = unique("moving")
    await backend.subscribe(channel)
    _move_slot(redis_cluster, key_slot(channel))
    # The old owner drops the shard channel's subscribers (unasked SUNSUBSCRIBE):
    # the backend reloads the slot map and subscribes on the new owner.
    await asyncio.wait_for(reconnected.wait(), WAIT)
    assert await backend.publish(channel, b"moved") == 1
    assert await got.wait_for(1) == [(channel, b"moved", None)]


async def test_start_fails_naming_the_address_when_no_node_answers() -> None:
    backend = RedisBackend("redis+cluster://127.0.0.1:1")
    with pytest.raises(BackendUnavailable, match="127.0.0.1:1"):
        await backend.start()
    await backend.close()
