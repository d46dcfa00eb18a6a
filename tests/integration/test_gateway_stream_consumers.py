"""The gateway pattern "a backend consumes a chat channel's history with a consumer group".

A history channel's messages are kept in the stream ``history:{<ch>}`` (entry id
``<offset>-0``, fields ``d`` data and ``t`` time). A backend service makes a
consumer group on it and gets every message published by browsers (websocket),
by HTTP and over RESP (FANOUT.PUBLISH; on a real Redis the same Lua script the
gateway uses) exactly once, keeps what a crashed consumer held pending until
another claims it, and sees trimming by the history cap as Redis shows it.

Runs on the embedded broker and on a real redis-server backplane.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from broker.backends import scripts
from broker.channel_keys import history_keys
from tests.support.backplane import EMBEDDED, REDIS, Backplane
from tests.support.http import http_publish
from tests.support.resp_client import RespClient
from tests.support.servers import ServerProcess
from tests.support.ws import connect

BACKPLANES = (EMBEDDED, REDIS)
CAP = 10  # the history cap of short:* channels
TTL_MS = 3_600_000


@pytest.fixture(scope="module")
def server(backplane: Backplane) -> Iterator[ServerProcess]:
    process = backplane.serve("--channel", "chat:*=history:1000", "--channel", f"short:*=history:{CAP}",
                              "--publish-rate", "100000", "--publish-burst", "100000")
    yield process
    process.stop()


def stream_of(channel: str) -> str:
    return history_keys(channel.encode())[0].decode()


def meta_of(channel: str) -> str:
    return history_keys(channel.encode())[1].decode()


async def resp_publish(client: aioredis.Redis, channel: str, data: Any, maxlen: int) -> int:
    """Publish into a history channel over RESP, as a backend service would."""
    payload = orjson.dumps(data)
    try:
        reply = await client.execute_command("FANOUT.PUBLISH", channel, maxlen, TTL_MS, payload)
    except ResponseError as error:
        if "unknown command" not in str(error).lower():
            raise
        keys = [key.decode() for key in history_keys(channel.encode())]
        reply = await client.eval(scripts.HISTORY_PUBLISH.source, 2, *keys, channel, maxlen, TTL_MS, payload,
                                  "PUBLISH")
    return int(reply[0])


async def publish_all_ways(server: ServerProcess, client: aioredis.Redis, channel: str, n: int,
                           maxlen: int = 1000) -> list[dict[str, Any]]:
    """``n`` messages by each path: websocket, HTTP, RESP. Returns the data, in publish order."""
    sent: list[dict[str, Any]] = []
    browser = await connect(server.port)
    async with aiohttp.ClientSession() as http:
        for i in range(n):
            for source in ("ws", "http", "resp"):
                data = {"src": source, "n": i}
                if source == "ws":
                    await browser.request("publish", channel=channel, data=data)
                elif source == "http":
                    await http_publish(http, server.port, channel, data)
                else:
                    await resp_publish(client, channel, data, maxlen)
                sent.append(data)
    await browser.close()
    return sent


def decoded(entries: list[Any]) -> list[dict[str, Any]]:
    """The published data of redis-py's (id, {field: value}) entries."""
    return [orjson.loads(fields[b"d"]) for _, fields in entries]


async def test_every_message_reaches_the_group_once_and_survives_a_consumer_crash(server, backplane):
    channel = "chat:backend"
    stream = stream_of(channel)
    client = backplane.client(server)
    # The group is made once the channel's history exists (the first message starts
    # an epoch, and a new epoch starts a new stream), at 0 to take everything since.
    first = await publish_all_ways(server, client, channel, 1)
    assert await client.xgroup_create(stream, "backend", id="0") is True
    sent = first + await publish_all_ways(server, client, channel, 20)
    # Consumer A takes 40 and acknowledges 25, then dies: 15 stay pending, owned by A.
    crashed = await client.xreadgroup("backend", "a", {stream: ">"}, count=40)
    taken_by_a = crashed[0][1]
    await client.xack(stream, "backend", *[entry_id for entry_id, _ in taken_by_a[:25]])
    # Consumer B reads the rest as new, then claims what A left.
    rest = await client.xreadgroup("backend", "b", {stream: ">"})
    taken_by_b = rest[0][1]
    await client.xack(stream, "backend", *[entry_id for entry_id, _ in taken_by_b])
    assert (await client.xpending(stream, "backend"))["pending"] == 15
    cursor, claimed, deleted = await client.execute_command("XAUTOCLAIM", stream, "backend", "b", 0, "0-0")
    assert (cursor, deleted) == (b"0-0", [])
    assert [entry_id for entry_id, _ in claimed] == [entry_id for entry_id, _ in taken_by_a[25:]]
    await client.xack(stream, "backend", *[entry_id for entry_id, _ in claimed])
    # Every message, from every path, once as new, in publish order; the offsets are the ids.
    assert decoded(taken_by_a) + decoded(taken_by_b) == sent
    assert [entry_id for entry_id, _ in taken_by_a + taken_by_b] == [b"%d-0" % n for n in range(1, len(sent) + 1)]
    assert (await client.xpending(stream, "backend"))["pending"] == 0
    assert await client.xreadgroup("backend", "c", {stream: ">"}) == []
    info = (await client.xinfo_groups(stream))[0]
    assert (info["lag"], info["entries-read"], info["last-delivered-id"]) == (0, len(sent), b"%d-0" % len(sent))
    await client.aclose()


async def test_trimming_by_the_history_cap_is_visible_to_the_group(server, backplane):
    channel = "short:trimmed"
    stream = stream_of(channel)
    client = backplane.client(server)
    await publish_all_ways(server, client, channel, 1, maxlen=CAP)
    await client.xgroup_create(stream, "backend", id="0")
    held = (await client.xreadgroup("backend", "a", {stream: ">"}))[0][1]
    assert [entry_id for entry_id, _ in held] == [b"1-0", b"2-0", b"3-0"]
    # 120 more messages: "MAXLEN ~ 10" trims whole nodes of 100, the held ids among them.
    await publish_all_ways(server, client, channel, 40, maxlen=CAP)
    assert await client.xlen(stream) == 23
    assert (await client.xrange(stream, count=1))[0][0] == b"101-0"
    # The pending ids outlive their entries, as in Redis.
    summary = await client.xpending(stream, "backend")
    assert (summary["pending"], summary["min"], summary["max"]) == (3, b"1-0", b"3-0")
    with RespClient(server.extra_ports["resp"]) as raw:  # redis-py would show a nil entry as {}
        history = raw.call("XREADGROUP", "GROUP", "backend", "a", "STREAMS", stream, "0")
    assert history == [[stream.encode(), [[b"1-0", None], [b"2-0", None], [b"3-0", None]]]]
    # Trimming leaves no tombstone mark (only XDEL would): the lag stays known.
    info = (await client.xinfo_groups(stream))[0]
    assert (info["entries-read"], info["lag"]) == (3, 120)
    # XCLAIM drops a trimmed id silently; XAUTOCLAIM names the ones it drops.
    assert await client.execute_command("XCLAIM", stream, "backend", "b", 0, "1-0") == []
    reply = await client.execute_command("XAUTOCLAIM", stream, "backend", "b", 0, "0-0")
    assert reply == [b"0-0", [], [b"2-0", b"3-0"]]
    assert (await client.xpending(stream, "backend"))["pending"] == 0
    # New reads resume at the oldest message still kept.
    fresh = (await client.xreadgroup("backend", "b", {stream: ">"}, count=2))[0][1]
    assert [entry_id for entry_id, _ in fresh] == [b"101-0", b"102-0"]
    await client.aclose()


async def test_a_group_made_before_the_first_message_keeps_every_message(server, backplane):
    """A backend may make its group (XGROUP CREATE ... MKSTREAM) before the channel's
    first message: the first message starts the history's epoch on that stream, so
    the group stays and a reader blocked on it gets the messages."""
    channel = "chat:early"
    stream = stream_of(channel)
    client = backplane.client(server)
    reader = backplane.client(server)
    await client.xgroup_create(stream, "backend", id="$", mkstream=True)
    pending_read = asyncio.ensure_future(reader.xreadgroup("backend", "r", {stream: ">"}, block=0))
    for _ in range(2000):
        if (await client.info("clients"))["blocked_clients"] == 1:
            break
    sent = await publish_all_ways(server, client, channel, 2)
    first = (await pending_read)[0][1]
    rest = (await client.xreadgroup("backend", "r", {stream: ">"}) or [[None, []]])[0][1]
    assert decoded(first + rest) == sent
    assert (await client.xpending(stream, "backend"))["pending"] == len(sent)
    await client.aclose()
    await reader.aclose()


async def test_a_group_on_a_stream_of_an_old_epoch_is_remade_at_0_and_misses_nothing(server, backplane):
    """When the history starts a new epoch over a stream that held an older one's
    messages, the stream (and its group) is replaced: XGROUP CREATE ... 0 MKSTREAM
    on NOGROUP reads from the new epoch's first message."""
    channel = "chat:epochs"
    stream = stream_of(channel)
    client = backplane.client(server)
    await publish_all_ways(server, client, channel, 1)
    await client.xgroup_create(stream, "backend", id="$")
    await client.delete(meta_of(channel))  # the history's epoch is gone (as when its TTL passes)
    sent = await publish_all_ways(server, client, channel, 1)
    with pytest.raises(ResponseError, match="NOGROUP"):
        await client.xreadgroup("backend", "r", {stream: ">"})
    await client.xgroup_create(stream, "backend", id="0", mkstream=True)
    got = (await client.xreadgroup("backend", "r", {stream: ">"}))[0][1]
    assert decoded(got) == sent
    await client.aclose()
