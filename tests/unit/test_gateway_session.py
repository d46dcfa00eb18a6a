"""gateway/session.py: every websocket op over MemoryBackend, without sockets (issue #16).

Each client is a real ``Connection`` on a fake transport and a fake websocket end
(``tests/support/gateway.py``); requests go through ``session.handle_message`` as
the websocket server hands them over, and what the connection wrote is decoded
from the transport. The broker and the connections' rate limits run on one fake
clock (seeded with the wall clock, since history entries carry the broker's time
and the gateway reads them against its own).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from broker.backends.memory import MemoryBackend
from broker.core import Broker
from gateway import node, session
from gateway.app import build_app
from gateway.auth import Identity
from gateway.connection import Connection
from gateway.protocol import Request
from gateway.ratelimit import TokenBucket
from gateway.settings import GatewaySettings
from gateway.state import STATE, GatewayState
from tests.support.core import Clock
from tests.support.gateway import FakeTransport, FakeWs, decode_frames

EVERYONE = Identity("alice", {"name": "Alice"}, None, None)
# Upper bound for one awaited event (tests wait for the event itself, never a time).
WAIT = 5.0


class Client:
    """One websocket client of the session: send a request, read what came back."""

    def __init__(self, state: GatewayState, clock: Clock, identity: Identity = EVERYONE) -> None:
        self.state = state
        self.transport = FakeTransport(drains=True)
        self.ws = FakeWs()
        self.connection = Connection(self.ws, self.transport, identity, state.counters,  # type: ignore[arg-type]
                                     state.settings.max_buffer, state.settings.slow_close_after, clock=clock)
        state.connections.add(self.connection)
        self._read = 0

    async def send(self, **message: Any) -> list[dict[str, Any]]:
        """Handle one request; everything the connection was sent meanwhile, in order."""
        await session.handle_message(self.state, self.connection, orjson.dumps(message).decode())
        return self.received()

    async def request(self, **message: Any) -> dict[str, Any]:
        """Handle one request whose only answer is its reply."""
        (reply,) = await self.send(**message)
        return reply

    async def next_write(self) -> list[dict[str, Any]]:
        """Wait for the connection's writer to write on its own (a push, not a reply)."""
        self.transport.changed.clear()
        await asyncio.wait_for(self.transport.changed.wait(), WAIT)
        return self.received()

    def received(self) -> list[dict[str, Any]]:
        self.connection.flush()  # the writer would on the next loop iteration
        data = b"".join(self.transport.written)
        new, self._read = data[self._read:], len(data)
        return decode_frames(new)


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.now = time.time()
    return clock


@pytest.fixture
async def state(clock: Clock) -> AsyncIterator[GatewayState]:
    yield await _start(clock, GatewaySettings())


async def _start(clock: Clock, settings: GatewaySettings) -> GatewayState:
    backend = MemoryBackend(Broker(clock=clock))
    state = build_app(backend, settings)[STATE]
    await backend.start()
    return state


def _error(reply: dict[str, Any]) -> str:
    return reply["error"]["code"]


# ------------------------------------------------------------- the table

def test_the_table_is_what_the_protocol_checks():
    assert list(session.REQUIRED) == ["subscribe", "psubscribe", "unsubscribe", "punsubscribe", "publish",
                                      "presence", "presence_stats", "history", "ping", "watch", "unwatch"]
    assert session.REQUIRED["publish"].data and session.REQUIRED["publish"].target == "channel"
    assert session.REQUIRED["ping"].target is None
    assert {op.fields.target for op in session.OPS.values()} == {"channel", "pattern", "key", "watch", None}


# ---------------------------------------------------------------- replies

async def test_ping(state, clock):
    assert await Client(state, clock).request(op="ping", id=1) == {"id": 1, "ok": True, "pong": True}


async def test_subscribe_publish_unsubscribe_on_a_plain_channel(state, clock):
    alice, bob = Client(state, clock), Client(state, clock)
    assert await alice.request(op="subscribe", channel="news", id=1) == {"id": 1, "ok": True, "channel": "news"}
    assert await bob.request(op="publish", channel="news", data={"text": "hi"}, id=2) == {
        "id": 2, "ok": True, "channel": "news"}
    assert alice.received() == [{"channel": "news", "data": {"text": "hi"}}]
    assert await alice.request(op="unsubscribe", channel="news", id=3) == {"id": 3, "ok": True, "channel": "news"}
    await bob.request(op="publish", channel="news", data=2)
    assert alice.received() == []
    assert _error(await alice.request(op="unsubscribe", channel="news", id=4)) == "not_subscribed"


async def test_subscribing_again_is_a_no_op(state, clock):
    alice = Client(state, clock)
    await alice.request(op="subscribe", channel="news")
    assert await alice.request(op="subscribe", channel="news", id=2) == {"id": 2, "ok": True, "channel": "news"}
    assert state.hub.channel_counts() == {"news": 1}


async def test_psubscribe_and_punsubscribe(state, clock):
    alice, bob = Client(state, clock), Client(state, clock)
    assert await alice.request(op="psubscribe", pattern="news:*", id=1) == {"id": 1, "ok": True, "pattern": "news:*"}
    await bob.request(op="publish", channel="news:eu", data="x")
    assert alice.received() == [{"channel": "news:eu", "pattern": "news:*", "data": "x"}]
    assert await alice.request(op="punsubscribe", pattern="news:*", id=2) == {"id": 2, "ok": True,
                                                                             "pattern": "news:*"}
    assert _error(await alice.request(op="punsubscribe", pattern="news:*")) == "not_subscribed"


async def test_a_history_channel_numbers_its_messages(state, clock):
    alice, bob = Client(state, clock), Client(state, clock)
    subscribed = await alice.request(op="subscribe", channel="chat:a", id=1)
    assert subscribed["offset"] == 0 and subscribed["epoch"] == ""  # no message yet
    published = await bob.request(op="publish", channel="chat:a", data={"n": 1}, id=2)
    assert published["offset"] == 1 and published["epoch"]
    assert alice.received() == [{"channel": "chat:a", "offset": 1, "epoch": published["epoch"], "data": {"n": 1}}]
    again = await alice.request(op="subscribe", channel="chat:a", id=3)
    assert (again["offset"], again["epoch"]) == (1, published["epoch"])


async def test_history(state, clock):
    alice = Client(state, clock)
    for n in range(1, 4):
        await alice.request(op="publish", channel="chat:h", data=n)
    page = await alice.request(op="history", channel="chat:h", since=1, id=5)
    assert (page["id"], page["ok"], page["channel"], page["offset"]) == (5, True, "chat:h", 3)
    assert [(m["offset"], m["data"]) for m in page["messages"]] == [(2, 2), (3, 3)]
    newest = await alice.request(op="history", channel="chat:h", limit=1, reverse=True)
    assert [m["data"] for m in newest["messages"]] == [3]
    assert _error(await alice.request(op="history", channel="chat:h", limit=0)) == "bad_request"


async def test_presence_and_presence_stats(state, clock):
    alice = Client(state, clock)
    bob = Client(state, clock, Identity("bob", None, None, None))
    await alice.request(op="subscribe", channel="chat:p")
    # bob's own join is delivered (he follows presence from before he joins), then the reply
    assert await bob.send(op="subscribe", channel="chat:p", presence=True, id=0) == [
        {"channel": "chat:p", "join": {"user": "bob", "info": None}},
        {"id": 0, "ok": True, "channel": "chat:p", "offset": 0, "epoch": ""}]
    present = await bob.request(op="presence", channel="chat:p", id=1)
    assert present["id"] == 1 and sorted(present["users"]) == ["alice", "bob"]
    assert present["users"]["alice"]["info"] == {"name": "Alice"}
    assert await bob.request(op="presence_stats", channel="chat:p", id=2) == {
        "id": 2, "ok": True, "channel": "chat:p", "users": 2, "connections": 2}
    # bob asked for presence events: alice's leave reaches him
    assert (await alice.request(op="unsubscribe", channel="chat:p"))["ok"]
    assert bob.received() == [{"channel": "chat:p", "leave": {"user": "alice", "info": {"name": "Alice"}}}]
    assert (await bob.request(op="presence_stats", channel="chat:p"))["users"] == 1


async def test_watch_and_unwatch(state, clock):
    alice = Client(state, clock)
    await state.backend.execute("SET", "greeting", "hello")
    watched = await alice.request(op="watch", key="greeting", view={"type": "string"}, id=1)
    assert (watched["id"], watched["key"], watched["value"]) == (1, "greeting", "hello")
    await state.backend.execute("SET", "greeting", "bye")
    assert await alice.next_write() == [{"watch": watched["watch"], "key": "greeting", "value": "bye"}]
    assert await alice.request(op="unwatch", watch=watched["watch"], id=2) == {
        "id": 2, "ok": True, "watch": watched["watch"]}
    assert _error(await alice.request(op="unwatch", watch=watched["watch"])) == "not_subscribed"


# ----------------------------------------------------------------- errors

@pytest.mark.parametrize("text, code, request_id", [
    ("not json", "bad_request", None),
    ('{"op":"teleport","id":7}', "unknown_op", 7),
    ('{"op":"subscribe","id":8}', "bad_request", 8),
    ('{"op":"publish","channel":"a","id":9}', "bad_request", 9),
    ('{"op":"subscribe","channel":"","id":10}', "bad_request", 10),
])
async def test_malformed_requests_get_an_error_reply_with_their_id(state, clock, text, code, request_id):
    alice = Client(state, clock)
    await session.handle_message(state, alice.connection, text)
    (reply,) = alice.received()
    assert reply.get("id") == request_id and _error(reply) == code


async def test_unknown_op_lists_the_tables_ops(state, clock):
    reply = await Client(state, clock).request(op="teleport")
    assert reply["error"]["message"] == ("unknown op 'teleport'; expected one of: subscribe, psubscribe, "
                                         "unsubscribe, punsubscribe, publish, presence, presence_stats, history, "
                                         "ping, watch, unwatch")


async def test_what_the_token_does_not_allow_is_forbidden(state, clock):
    guest = Client(state, clock, Identity("guest", None, ("chat:*",), ()))
    assert _error(await guest.request(op="subscribe", channel="admin")) == "forbidden"
    assert _error(await guest.request(op="psubscribe", pattern="*")) == "forbidden"
    assert _error(await guest.request(op="publish", channel="chat:a", data=1)) == "forbidden"
    assert _error(await guest.request(op="presence", channel="admin")) == "forbidden"
    assert _error(await guest.request(op="watch", key="admin", view={"type": "string"})) == "forbidden"
    assert (await guest.request(op="subscribe", channel="chat:a"))["ok"]


async def test_presence_and_history_of_a_channel_that_keeps_none_are_not_enabled(state, clock):
    alice = Client(state, clock)
    assert _error(await alice.request(op="presence", channel="news")) == "not_enabled"
    assert _error(await alice.request(op="history", channel="news")) == "not_enabled"
    assert _error(await alice.request(op="subscribe", channel="news", presence=True)) == "not_enabled"
    assert _error(await alice.request(op="subscribe", channel="news", recover={"offset": 1, "epoch": "e"})) \
        == "not_enabled"
    assert _error(await alice.request(op="subscribe", channel="chat:a", presence="sometimes")) == "bad_request"


async def test_subscriptions_over_the_limit(clock):
    state = await _start(clock, GatewaySettings(max_subscriptions=2))
    alice = Client(state, clock)
    assert (await alice.request(op="subscribe", channel="a"))["ok"]
    assert (await alice.request(op="psubscribe", pattern="b*"))["ok"]
    assert _error(await alice.request(op="subscribe", channel="c")) == "limit_exceeded"
    assert _error(await alice.request(op="watch", key="k", view={"type": "string"})) == "limit_exceeded"
    assert (await alice.request(op="subscribe", channel="a"))["ok"]  # again: a no-op, even at the limit


async def test_publish_rate_limit_on_the_connections_clock(clock):
    state = await _start(clock, GatewaySettings(publish_rate=1.0, publish_burst=2.0))
    alice = Client(state, clock)
    assert (await alice.request(op="publish", channel="a", data=1))["ok"]
    assert (await alice.request(op="publish", channel="a", data=2))["ok"]
    refused = await alice.request(op="publish", channel="a", data=3)
    assert refused["error"] == {"code": "rate_limited",
                                "message": "publish rate limit of 1/s exceeded; retry in 1.000s"}
    clock.now += 1.0
    assert (await alice.request(op="publish", channel="a", data=4))["ok"]


async def test_request_rate_limit_then_closed_for_ignoring_it(clock):
    state = await _start(clock, GatewaySettings(op_rate=1.0, op_burst=1.0))
    alice = Client(state, clock)
    assert (await alice.request(op="ping"))["ok"]
    refused = await alice.request(op="ping", id=2)
    assert refused["error"]["code"] == "rate_limited" and refused["id"] == 2
    assert await alice.send(op="ping") == []  # the refusals' bucket is empty too: closed, no reply
    await asyncio.wait_for(alice.ws.changed.wait(), WAIT)
    assert alice.ws.closed_with == (1008, b"request rate limit of 1/s exceeded")


async def test_a_broker_refusal_is_a_broker_error(state, clock):
    await state.backend.execute("SET", "presence:{chat:w}", "not a hash")  # overwritten over RESP, say
    reply = await Client(state, clock).request(op="presence", channel="chat:w")
    assert _error(reply) == "broker_error" and reply["error"]["message"].startswith("the broker refused: WRONGTYPE")


# ------------------------------------------------- subscribe with recover

async def _history(alice: Client, channel: str, count: int) -> str:
    epoch = ""
    for n in range(1, count + 1):
        epoch = (await alice.request(op="publish", channel=channel, data=n))["epoch"]
    return epoch


async def test_recover_sends_the_reply_then_the_missed_messages_then_live_ones(state, clock):
    alice, bob = Client(state, clock), Client(state, clock)
    epoch = await _history(alice, "chat:r", 3)
    frames = await bob.send(op="subscribe", channel="chat:r", recover={"offset": 1, "epoch": epoch}, id=1)
    assert frames == [{"id": 1, "ok": True, "channel": "chat:r", "recovered": True, "offset": 3, "epoch": epoch},
                      {"channel": "chat:r", "offset": 2, "epoch": epoch, "data": 2},
                      {"channel": "chat:r", "offset": 3, "epoch": epoch, "data": 3}]
    await alice.request(op="publish", channel="chat:r", data=4)
    assert bob.received() == [{"channel": "chat:r", "offset": 4, "epoch": epoch, "data": 4}]


async def test_live_messages_during_recovery_are_held_and_none_repeats(state, clock):
    """A message published while the missed ones are read comes after them, once."""
    alice, bob = Client(state, clock), Client(state, clock)
    epoch = await _history(alice, "chat:race", 3)
    backend = state.backend
    read_history = backend.transaction

    async def publish_during_the_read(commands: Any) -> list[Any]:
        replies = await read_history(commands)
        if any(command[0] == "XRANGE" for command in commands):
            backend.transaction = read_history  # type: ignore[method-assign]
            await backend.history_publish(b"chat:race", b"4", 1000, 600_000)  # live, while recovering
        return replies

    backend.transaction = publish_during_the_read  # type: ignore[method-assign]
    frames = await bob.send(op="subscribe", channel="chat:race", recover={"offset": 1, "epoch": epoch}, id=1)
    assert [frame.get("offset") for frame in frames] == [3, 2, 3, 4]  # the reply (at offset 3), 2, 3, then 4
    assert frames[0]["recovered"] is True and frames[-1]["data"] == 4


async def test_recover_from_another_epoch_is_not_recovered(state, clock):
    alice, bob = Client(state, clock), Client(state, clock)
    epoch = await _history(alice, "chat:e", 2)
    frames = await bob.send(op="subscribe", channel="chat:e", recover={"offset": 5, "epoch": "1"}, id=1)
    assert frames == [{"id": 1, "ok": True, "channel": "chat:e", "recovered": False, "offset": 2, "epoch": epoch}]


@pytest.mark.parametrize("recover", [{"offset": -1, "epoch": "e"}, {"offset": 1}, "1", {"offset": 2**63, "epoch": "e"}])
async def test_a_malformed_recover_is_refused_and_subscribes_nothing(state, clock, recover):
    alice = Client(state, clock)
    assert _error(await alice.request(op="subscribe", channel="chat:m", recover=recover)) == "bad_request"
    assert state.hub.channel_counts() == {}


async def test_a_subscribe_that_fails_leaves_nothing_behind(state, clock):
    """All or nothing: a broker error in the presence join undoes the subscription."""
    alice = Client(state, clock)
    await state.backend.execute("SET", "presence:{chat:f}", "not a hash")
    reply = await alice.request(op="subscribe", channel="chat:f", recover={"offset": 0, "epoch": ""})
    assert _error(reply) == "broker_error"
    assert state.hub.channel_counts() == {} and not alice.connection.channels
    assert not alice.connection.recovering


async def test_a_dropped_connection_leaves_presence_and_its_subscriptions(state, clock):
    alice, bob = Client(state, clock), Client(state, clock, Identity("bob", None, None, None))
    await alice.request(op="subscribe", channel="chat:d")
    await bob.request(op="subscribe", channel="chat:d")
    await node.drop_connection(state, alice.connection)
    assert (await bob.request(op="presence_stats", channel="chat:d"))["users"] == 1
    assert state.hub.channel_counts() == {"chat:d": 1}


async def test_the_request_bucket_made_at_the_second_request_decides_as_one_made_at_the_first(clock):
    # The first request of a connection takes its token without a bucket; the one made
    # later must decide every request as a bucket made at the first would.
    rng = random.Random(15)
    for burst, rate in ((1.0, 1.0), (3.0, 0.5), (2.5, 4.0), (0.5, 2.0), (50.0, 100.0)):
        state = await _start(clock, GatewaySettings(op_rate=rate, op_burst=burst))
        for _ in range(20):
            connection = Client(state, clock).connection
            reference = None
            for _ in range(rng.randint(1, 12)):
                clock.now += rng.choice((0.0, 0.001, 0.1, 0.3, 1.0, 5.0))
                if reference is None:
                    reference = TokenBucket(rate, burst, clock)
                refusal = session._refusal(state, connection, Request(op="ping", id=1))
                reference._refill()
                edge = abs(reference.tokens - 1.0) < 1e-9  # (where float rounding may decide either way)
                expected = reference.allow()
                if not edge:
                    assert (refusal is None) == expected, (burst, rate)
                if refusal == b"":
                    break  # closed for ignoring the limit
