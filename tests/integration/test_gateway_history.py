"""History and recovery over real sockets: offsets, exact recovery (also while
publishing), refusal when history is gone, slow-consumer gaps, reads that agree."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from tests.support.backplane import Backplane
from tests.support.http import http_publish
from tests.support.servers import ServerProcess
from tests.support.ws import WsClient, connect


@pytest.fixture(scope="module")
def server(backplane: Backplane) -> Iterator[ServerProcess]:
    process = backplane.serve("--channel", "chat:*=history:1000", "--channel", "short:*=history:10",
                              "--channel", "plain:*=", "--max-buffer", "16384", "--slow-close-after", "60",
                              "--publish-rate", "100000", "--publish-burst", "100000")
    yield process
    process.stop()


_http_publish = http_publish


async def _events_until(client: WsClient, channel: str, offset: int) -> list[dict[str, Any]]:
    """Events of ``channel`` up to and including ``offset``."""
    events = []
    while not events or events[-1]["offset"] < offset:
        event = await client.event()
        assert event["channel"] == channel
        events.append(event)
    return events


async def test_publishes_return_offsets_and_events_carry_them(server):
    channel = "chat:offsets"
    subscriber = await connect(server.port)
    subscribed = await subscriber.request("subscribe", channel=channel)
    assert subscribed["offset"] == 0 and subscribed["epoch"] == ""  # nothing published yet
    publisher = await connect(server.port)
    first = await publisher.request("publish", channel=channel, data={"n": 1})
    async with aiohttp.ClientSession() as http:
        second = await _http_publish(http, server.port, channel, {"n": 2})
    assert (first["offset"], second["offset"]) == (1, 2) and first["epoch"] == second["epoch"] != ""
    assert await subscriber.event() == {"channel": channel, "offset": 1, "epoch": first["epoch"], "data": {"n": 1}}
    assert await subscriber.event() == {"channel": channel, "offset": 2, "epoch": first["epoch"], "data": {"n": 2}}
    plain = await publisher.request("publish", channel="plain:x", data=1)
    assert "offset" not in plain and plain["ok"] is True
    for client in (subscriber, publisher):
        await client.close()


async def test_a_reconnecting_client_gets_exactly_what_it_missed_then_live(server):
    channel = "chat:recover"
    client = await connect(server.port)
    position = await client.request("subscribe", channel=channel)
    publishers = [await connect(server.port) for _ in range(5)]
    await publishers[0].request("publish", channel=channel, data={"p": 0, "n": -1})
    last_seen = await client.event()
    await client.close()

    async def publish_many(index: int, publisher: WsClient) -> None:
        for n in range(100):
            await publisher.request("publish", channel=channel, data={"p": index, "n": n})

    await asyncio.gather(*(publish_many(index, publisher) for index, publisher in enumerate(publishers)))
    client = await connect(server.port)
    reply = await client.request("subscribe", channel=channel,
                                 recover={"offset": last_seen["offset"], "epoch": last_seen["epoch"]})
    assert reply["recovered"] is True and reply["epoch"] == last_seen["epoch"] and position["offset"] == 0
    assert reply["offset"] == last_seen["offset"] + 500
    missed = await _events_until(client, channel, reply["offset"])
    assert [event["offset"] for event in missed] == list(range(last_seen["offset"] + 1, reply["offset"] + 1))
    for index in range(5):  # every message once, each publisher's in its order
        assert [event["data"]["n"] for event in missed if event["data"]["p"] == index] == list(range(100))
    live = await publishers[1].request("publish", channel=channel, data="live")
    assert await client.event() == {"channel": channel, "offset": live["offset"], "epoch": live["epoch"],
                                    "data": "live"}
    for publisher in (client, *publishers):
        await publisher.close()


async def test_recovery_while_messages_keep_coming_has_no_gap_and_no_duplicate(server):
    channel = "chat:racing"
    client = await connect(server.port)
    await client.request("subscribe", channel=channel)
    async with aiohttp.ClientSession() as http:
        first = await _http_publish(http, server.port, channel, 0)
        seen = await client.event()
        await client.close()
        offsets: list[int] = [first["offset"]]
        started = asyncio.Event()

        async def keep_publishing() -> None:
            for n in range(1, 400):
                offsets.append((await _http_publish(http, server.port, channel, n))["offset"])
                if n == 100:
                    started.set()

        publishing = asyncio.ensure_future(keep_publishing())
        await started.wait()
        client = await connect(server.port)
        reply = await client.request("subscribe", channel=channel,
                                     recover={"offset": seen["offset"], "epoch": seen["epoch"]})
        assert reply["recovered"] is True
        await publishing
    received = await _events_until(client, channel, offsets[-1])
    assert [event["offset"] for event in received] == list(range(seen["offset"] + 1, offsets[-1] + 1))
    assert [event["data"] for event in received] == list(range(1, 400))
    await client.close()


async def test_trimmed_history_or_a_new_epoch_is_not_recovered(server):
    channel = "short:trim"
    client = await connect(server.port)
    publisher = await connect(server.port)
    first = await publisher.request("publish", channel=channel, data=0)
    for n in range(1, 300):  # MAXLEN ~ 10 trims whole nodes: 300 is surely past it
        last = await publisher.request("publish", channel=channel, data=n)
    reply = await client.request("subscribe", channel=channel, recover={"offset": first["offset"],
                                                                         "epoch": first["epoch"]})
    assert {key: reply[key] for key in ("recovered", "offset", "epoch")} == \
        {"recovered": False, "offset": last["offset"], "epoch": last["epoch"]}
    await client.request("unsubscribe", channel=channel)
    reply = await client.request("subscribe", channel=channel, recover={"offset": 299, "epoch": "1234"})
    assert (reply["recovered"], reply["offset"], reply["epoch"]) == (False, 300, last["epoch"])
    live = await publisher.request("publish", channel=channel, data="after")
    assert (await client.event())["offset"] == live["offset"]  # no replay after a refusal: live only
    for each in (client, publisher):
        await each.close()


async def test_a_skipped_slow_consumer_learns_where_its_gap_starts_and_recovers_it(server):
    channel = "chat:slow"
    slow = await connect(server.port)
    await slow.request("subscribe", channel=channel)
    publisher = await connect(server.port)
    big = "x" * 30000
    # Stops reading: the kernel's socket buffers, then the server's budget (16 KiB) fill up.
    slow.ws.transport.pause_reading()
    offsets = [(await publisher.request("publish", channel=channel, data={"n": n, "pad": big}))["offset"]
               for n in range(400)]
    slow.ws.transport.resume_reading()
    last = await publisher.request("publish", channel=channel, data={"n": 400})
    received: list[dict[str, Any]] = []
    gaps = []
    # until all 401 are accounted for, received or counted in a gap (the last one too
    # may be skipped, when it comes before the backlog has drained)
    while len(received) + sum(gap["dropped"] for gap in gaps) < 401:
        event = await slow.event()
        if "gap" in event:
            gaps.append(event["gap"])
        else:
            received.append(event)
    assert gaps and all(gap["dropped"] > 0 for gap in gaps)
    got = {event["offset"] for event in received}
    first_missed = gaps[0]["from_offset"]
    assert first_missed not in got and sum(gap["dropped"] for gap in gaps) == 401 - len(got)
    await slow.request("unsubscribe", channel=channel)
    reply = await slow.request("subscribe", channel=channel,
                               recover={"offset": first_missed - 1, "epoch": last["epoch"]})
    assert reply["recovered"] is True
    recovered = await _events_until(slow, channel, last["offset"])
    assert [event["offset"] for event in recovered] == list(range(first_missed, last["offset"] + 1))
    assert got | {event["offset"] for event in recovered} == set(offsets) | {last["offset"]}
    for client in (slow, publisher):
        await client.close()


async def test_history_reads_agree_over_websocket_http_and_xrange(server):
    channel = "chat:reads"
    client = await connect(server.port)
    for n in range(20):
        await client.request("publish", channel=channel, data={"n": n})
    over_ws = await client.request("history", channel=channel, since=5, limit=10)
    newest = await client.request("history", channel=channel, limit=3, reverse=True)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}/api/history/{channel}?since=5&limit=10") as response:
            over_http = await response.json()
        async with http.get(f"http://127.0.0.1:{server.port}/api/history/{channel}?limit=3&reverse=1") as response:
            newest_http = await response.json()
    redis = aioredis.Redis(port=server.extra_ports["resp"])
    entries = await redis.xrange(f"history:{{{channel}}}", "6-0", "+", count=10)
    await redis.aclose()
    over_resp = [{"offset": int(entry_id.split(b"-")[0]), "time": int(fields[b"t"]), "data": orjson.loads(fields[b"d"])}
                 for entry_id, fields in entries]
    assert over_ws["messages"] == over_http["messages"] == over_resp
    assert [message["data"]["n"] for message in over_ws["messages"]] == list(range(5, 15))
    assert [message["offset"] for message in newest["messages"]] == [20, 19, 18] == \
        [message["offset"] for message in newest_http["messages"]]
    assert over_ws["offset"] == over_http["offset"] == 20 and over_ws["epoch"] == over_http["epoch"]
    await client.close()


async def test_a_history_stream_overwritten_with_another_type_is_a_broker_error(server):
    # Someone SETs over a channel's stream: reads answer broker_error with Redis's
    # WRONGTYPE (was internal_error, a TypeError reading the reply), the node goes on.
    channel = "chat:overwritten"
    client = await connect(server.port)
    await client.request("publish", channel=channel, data=1)
    redis = aioredis.Redis(port=server.extra_ports["resp"])
    await redis.set(f"history:{{{channel}}}", "not a stream")
    wrongtype = "the broker refused: WRONGTYPE Operation against a key holding the wrong kind of value"
    for request in ({"limit": 5}, {"since": 0}, {"limit": 5, "reverse": True}):
        reply = await client.request("history", channel=channel, **request)
        assert reply["error"] == {"code": "broker_error", "message": wrongtype}, (request, reply)
    recover = await client.request("subscribe", channel=channel, recover={"offset": 0, "epoch": ""})
    assert recover["error"]["code"] == "broker_error", recover
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}/api/history/{channel}") as response:
            assert response.status == 500
            assert (await response.json())["error"] == {"code": "broker_error", "message": wrongtype}
    await redis.delete(f"history:{{{channel}}}:meta")
    await redis.hset(f"history:{{{channel}}}:meta", "offset", "banana")
    reply = await client.request("history", channel=channel, limit=5)
    assert reply["error"]["code"] == "broker_error" and "corrupt offset" in reply["error"]["message"], reply
    await redis.delete(f"history:{{{channel}}}", f"history:{{{channel}}}:meta")
    await redis.aclose()
    assert (await client.request("publish", channel=channel, data=2))["offset"] == 1  # a new history
    assert [m["data"] for m in (await client.request("history", channel=channel))["messages"]] == [2]
    await client.close()


async def test_history_errors_are_clear(server):
    client = await connect(server.port)
    reply = await client.request("history", channel="plain:none")
    assert reply["error"] == {"code": "not_enabled", "message": "history is not enabled on channel 'plain:none' "
                                                                "(see the server's channel rules)"}
    reply = await client.request("subscribe", channel="plain:none", recover={"offset": 1, "epoch": "e"})
    assert reply["error"]["code"] == "not_enabled"
    reply = await client.request("subscribe", channel="chat:bad", recover={"offset": "1"})
    assert reply["error"] == {"code": "bad_request",
                              "message": "'recover' must be {\"offset\": <integer >= 0>, \"epoch\": <string>}"}
    reply = await client.request("history", channel="chat:bad", since=-1)
    assert reply["error"] == {"code": "bad_request", "message": "'since' must be an offset (an integer >= 0)"}
    reply = await client.request("history", channel="chat:bad", limit=5000)
    assert reply["error"]["message"] == "'limit' must be an integer from 1 to 1000"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}/api/history/chat:bad?since=x") as response:
            assert response.status == 400
            assert (await response.json())["error"]["message"] == "'since' must be an integer, got 'x'"
        async with http.get(f"http://127.0.0.1:{server.port}/api/history/plain:none") as response:
            assert response.status == 404
    assert (await client.request("ping"))["pong"] is True
    await client.close()
