"""A websocket client's publishes over a RESP backplane go out pipelined (issue #15).

A node on Redis (``--broker redis://``, and each worker of ``--workers``) sends a
plain publish without waiting for the replies of the ones before it, so a burst
costs one write to the broker and comes back as one read of messages. The replies
still come in request order, mixed with every other kind of reply.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import orjson
import pytest
import redis.asyncio as aioredis

from tests.support.servers import MS, ServerProcess, free_port, start_fanout, start_redis_server, until
from tests.support.ws import masked_text_frame, read_frame, silent_client

CHANNEL = "pipeline"


@pytest.fixture
def redis_node() -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """A redis-server of its own (the test pauses it) and one node on it."""
    server = start_redis_server()
    # --node-ttl 600: the node's heartbeat (every ttl / 3) never lands in a test's
    # paused window, where it would add its bytes to the query buffer counted below
    node = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", "-1", "--node-ttl", "600",
                        "--broker", f"redis://127.0.0.1:{server.port}/0").capture()
    yield server, node
    node.stop()
    server.stop()


def _publish(request_id: int, channel: str = CHANNEL, **extra: object) -> bytes:
    return masked_text_frame(orjson.dumps({"op": "publish", "id": request_id, "channel": channel,
                                           "data": {"n": request_id}, **extra}))


async def _read_messages(reader: asyncio.StreamReader, replies: int, events: int,
                         timeout: float = 30.0) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The next ``replies`` replies and ``events`` events, each list in arrival order."""
    got_replies: list[dict[str, object]] = []
    got_events: list[dict[str, object]] = []

    async def read() -> None:
        while len(got_replies) < replies or len(got_events) < events:
            opcode, payload = await read_frame(reader)
            if opcode != 1:
                continue
            message = orjson.loads(payload)
            (got_events if "data" in message and "id" not in message else got_replies).append(message)

    await asyncio.wait_for(read(), timeout)
    return got_replies, got_events


async def _subscribe(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    client = await silent_client(port)
    client.writer.write(masked_text_frame(orjson.dumps({"op": "subscribe", "id": 0, "channel": CHANNEL})))
    replies, _ = await _read_messages(client.reader, 1, 0)
    assert replies == [{"id": 0, "ok": True, "channel": CHANNEL}]
    return client.reader, client.writer


async def test_a_burst_of_publishes_reaches_the_broker_as_one_pipeline(
        redis_node: tuple[ServerProcess, ServerProcess]) -> None:
    server, node = redis_node
    redis = aioredis.Redis(port=server.port)
    reader, writer = await _subscribe(node.port)
    try:
        # Paused, Redis holds the first PUBLISH and leaves what follows it in the
        # connection's query buffer: the other nine are there only if they were sent
        # without waiting for the first one's reply.
        await redis.execute_command("CLIENT", "PAUSE", 20_000, "WRITE")
        writer.write(b"".join(_publish(n) for n in range(1, 11)))
        waiting = sum(len(b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
            len(CHANNEL), CHANNEL.encode(), len(data), data)) for data in (orjson.dumps({"n": n}) for n in range(2, 11)))
        queued = [0]

        async def arrived() -> bool:  # the paused broker's query buffer: only CLIENT LIST shows it
            clients = await redis.client_list()
            queued[0] = max((int(c["qbuf"]) for c in clients if c.get("cmd") == "publish"), default=0)
            return queued[0] >= waiting

        with contextlib.suppress(AssertionError):  # (the assertion below says how many)
            await until(arrived, "the publishes to reach the paused broker", timeout=10_000 * MS)
        assert queued[0] == waiting, f"{queued[0]} bytes of publishes queued at the paused broker, not {waiting}"
        await redis.execute_command("CLIENT", "UNPAUSE")
        replies, events = await _read_messages(reader, 10, 10)
        assert [reply["id"] for reply in replies] == list(range(1, 11))
        assert all(reply["ok"] is True for reply in replies)
        assert [event["data"] for event in events] == [{"n": n} for n in range(1, 11)]
    finally:
        writer.transport.abort()
        await redis.execute_command("CLIENT", "UNPAUSE")
        await redis.aclose()


@pytest.fixture(params=["redis", "workers"])
def node(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A node on a redis-server, or ``--workers 2`` (each worker on the supervisor's broker)."""
    if request.param == "redis":
        yield request.getfixturevalue("redis_node")[1]
        return
    server = start_fanout("serve", "--workers", "2", "--http-port", str(free_port()), "--resp-port", "-1").capture()
    yield server
    server.stop()


async def test_replies_keep_request_order_around_pipelined_publishes(node: ServerProcess) -> None:
    reader, writer = await _subscribe(node.port)
    try:
        burst = [
            _publish(1),
            _publish(2),
            masked_text_frame(b'{"op": "publish", "id": 3'),  # invalid JSON: refused at once
            _publish(4),
            masked_text_frame(orjson.dumps({"op": "ping", "id": 5})),
            _publish(6),
            _publish(7, idempotency_key="k7"),  # not pipelined: sent after 6's reply
            _publish(8),
            _publish(9, idempotency_key=""),  # a bad key: refused
            masked_text_frame(orjson.dumps({"op": "unsubscribe", "id": 10, "channel": "never"})),
            _publish(11),
            _publish(12, channel="chat:pipeline"),  # a history channel: not pipelined
            _publish(13),
        ]
        writer.write(b"".join(burst))
        replies, events = await _read_messages(reader, 13, 8)
        assert [reply.get("id") for reply in replies] == [1, 2, None, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
        errors = {reply.get("id"): reply["error"]["code"] for reply in replies if "error" in reply}
        assert errors == {None: "bad_request", 9: "bad_request", 10: "not_subscribed"}
        assert replies[4] == {"id": 5, "ok": True, "pong": True}
        assert "offset" in replies[11]
        assert [event["data"]["n"] for event in events] == [1, 2, 4, 6, 7, 8, 11, 13]  # type: ignore[index]
    finally:
        writer.transport.abort()


async def _read_frames(reader: asyncio.StreamReader, count: int, timeout: float = 30.0) -> list[dict[str, object]]:
    """The next ``count`` text frames, replies and events alike, in arrival order."""
    frames: list[dict[str, object]] = []

    async def read() -> None:
        while len(frames) < count:
            opcode, payload = await read_frame(reader)
            if opcode == 1:
                frames.append(orjson.loads(payload))

    await asyncio.wait_for(read(), timeout)
    return frames


async def test_one_process_a_subscribed_publisher_gets_each_event_before_its_reply() -> None:
    # In one process a publish is delivered before its reply is queued; the reply
    # ends the channel's batch for the publisher alone (gateway.connection
    # _Flusher.settle_for), so the other subscriber still gets every event in order.
    server = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", "-1").capture()
    try:
        publisher, publisher_writer = await _subscribe(server.port)
        other, other_writer = await _subscribe(server.port)
        try:
            publisher_writer.write(b"".join(_publish(n) for n in range(1, 31)))
            frames = await _read_frames(publisher, 60)
            assert frames == [frame for n in range(1, 31) for frame in (
                {"channel": CHANNEL, "data": {"n": n}}, {"id": n, "ok": True, "channel": CHANNEL})]
            assert await _read_frames(other, 30) == [{"channel": CHANNEL, "data": {"n": n}} for n in range(1, 31)]
        finally:
            publisher_writer.transport.abort()
            other_writer.transport.abort()
    finally:
        server.stop()
