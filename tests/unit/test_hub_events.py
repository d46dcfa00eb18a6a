"""The hub's event frames on the publish path (issue 15): each channel's event start
made once (Hub._heads, bounded), and the JSON re-parse skipped only for the very
object a publisher here made with orjson (Hub.json_data)."""

from __future__ import annotations

import asyncio

import orjson

from gateway import fanout
from gateway.connection import text_frame
from gateway.protocol import encode_event
from tests.unit.test_channel_batch import received, setup


async def test_events_are_encode_events_bytes_past_the_heads_limit(monkeypatch):
    monkeypatch.setattr(fanout, "HEADS_LIMIT", 3)
    broker, hub, (connection,), (transport,), _ = await setup(1 << 20)
    names = [b"a", "caf\u00e9".encode(), b'quote"back\\slash', b"d", b"e", b"a"]
    for name in names:
        await hub.subscribe(connection, name)
    for n, name in enumerate(names):
        broker.publish(name, b'{"n":%d}' % n)
    await asyncio.sleep(0)  # the iteration's flush
    assert b"".join(transport.written) == b"".join(
        text_frame(encode_event(name, b'{"n":%d}' % n)) for n, name in enumerate(names))
    assert len(hub._heads) <= 3


async def test_only_the_marked_object_skips_the_json_check():
    broker, hub, (connection,), (transport,), _ = await setup(1 << 20)
    await hub.subscribe(connection, b"c")
    marked = orjson.dumps({"x": 1})
    hub.json_data = marked
    broker.publish(b"c", marked)
    # Equal bytes but another object (e.g. a RESP publisher's): checked as before,
    # and text that is not JSON still goes out as a JSON string.
    hub.json_data = b"not json"
    broker.publish(b"c", bytes(bytearray(b"not json")))
    hub.json_data = None
    broker.publish(b"c", b"also not json")
    await asyncio.sleep(0)
    assert received(transport) == [("c", {"x": 1}), ("c", "not json"), ("c", "also not json")]
