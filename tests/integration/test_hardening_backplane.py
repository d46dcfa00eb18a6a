"""Issue 13 item 1: no silent loss across backplane restarts (two nodes, a real redis-server).

redis-server (no persistence) is restarted three times while both nodes publish
concurrently; its history epoch changes each time. Every offset a node
acknowledged must reach the subscribers of both nodes exactly once and in order,
or be covered by a ``gap`` event that names its epoch (only the tail of an epoch
that died with the server may be lost, never the start of a new one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.support.servers import MS, ServerProcess, free_port, start_fanout, start_redis_server
from tests.support.ws import WsClient, connect

CHANNEL = "chat:restarts"
RESTARTS = 3


def _node(url: str) -> ServerProcess:
    return start_fanout("serve", "--http-port", str(free_port()), "--broker", url, "--resp-port", "-1",
                        "--node-ttl", "1.5").capture()


@pytest.fixture
def cluster() -> Iterator[dict[str, Any]]:
    redis = start_redis_server()
    url = f"redis://127.0.0.1:{redis.port}/0"
    state: dict[str, Any] = {"redis": redis, "nodes": [_node(url), _node(url)]}
    yield state
    for node in state["nodes"]:
        node.stop()
        assert "Traceback" not in node.log()
    state["redis"].stop()


async def _moved(progress: asyncio.Condition) -> None:
    async with progress:
        progress.notify_all()


async def _until(progress: asyncio.Condition, check: Any, what: str, timeout: float = 30.0) -> None:
    """Until ``check()`` holds, woken by ``progress`` each time the test's own counters
    move (a publish acknowledged, a message received), not by a timer."""
    async with progress:
        try:
            await asyncio.wait_for(progress.wait_for(check), timeout)
        except TimeoutError:
            raise AssertionError(what) from None


class Publisher:
    """Publishes 0, 1, 2 ... over HTTP, alternating between the nodes; keeps what was acknowledged."""

    def __init__(self, nodes: list[ServerProcess], progress: asyncio.Condition) -> None:
        self.nodes = nodes
        self.progress = progress
        self.acked: list[tuple[str, int, int]] = []  # (epoch, offset, data)
        self.refused = 0
        self.running = True
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        count = 0
        async with aiohttp.ClientSession() as http:
            while self.running:
                node = self.nodes[count % len(self.nodes)]
                try:
                    async with http.post(f"http://127.0.0.1:{node.port}/api/publish",
                                         json={"channel": CHANNEL, "data": count}) as response:
                        body = await response.json()
                except aiohttp.ClientError:
                    body = {}
                if body.get("ok"):
                    self.acked.append((body["epoch"], body["offset"], count))
                    await _moved(self.progress)
                else:
                    self.refused += 1
                    await asyncio.sleep(10 * MS)  # the backplane is down: the load paced, not a wait
                count += 1

    async def stop(self) -> None:
        self.running = False
        await self.task


def _check(name: str, messages: list[dict[str, Any]], acked: list[tuple[str, int, int]]) -> dict[str, int]:
    received: list[tuple[str, int]] = []
    gaps: list[tuple[str, int]] = []
    for message in messages:
        if "gap" in message:
            gaps.append((message["gap"].get("epoch", ""), message["gap"]["from_offset"]))
        else:
            received.append((message["epoch"], message["offset"]))
    assert len(received) == len(set(received)), f"{name}: a message was delivered twice"
    epochs: list[str] = []
    for (epoch, offset), previous in zip(received, [None, *received]):
        if previous is not None and previous[0] == epoch:
            assert offset > previous[1], f"{name}: {epoch}/{offset} after {previous}"
        elif epoch in epochs:
            raise AssertionError(f"{name}: epoch {epoch} came back after a newer one")
        else:
            epochs.append(epoch)
    seen = set(received)
    missing = [(e, o) for e, o, _ in acked if (e, o) not in seen]
    uncovered = [(e, o) for e, o in missing if not any(ge == e and go <= o for ge, go in gaps)]
    assert not uncovered, f"{name}: acknowledged but never delivered, and no gap said so: {uncovered[:10]}"
    return {"received": len(received), "gaps": len(gaps), "lost_with_gap": len(missing)}


def _covered(messages: list[dict[str, Any]], acked: list[tuple[str, int, int]]) -> bool:
    got = {(m["epoch"], m["offset"]) for m in messages if "offset" in m}
    gaps = [(m["gap"].get("epoch"), m["gap"]["from_offset"]) for m in messages if "gap" in m]
    return all((e, o) in got or any(ge == e and go <= o for ge, go in gaps) for e, o, _ in acked)


async def _drain(client: WsClient, into: list[dict[str, Any]], progress: asyncio.Condition) -> None:
    while True:
        into.append(await client.event(timeout=3600))
        await _moved(progress)


async def test_restarts_under_concurrent_publishes_lose_nothing_silently(cluster):
    a, b = cluster["nodes"]
    subscribers = {}
    for name, node in (("A", a), ("B", b)):
        client = await connect(node.port)
        assert (await client.request("subscribe", channel=CHANNEL))["ok"] is True
        subscribers[name] = client
    inbox: dict[str, list[dict[str, Any]]] = {name: [] for name in subscribers}
    progress = asyncio.Condition()
    readers = [asyncio.ensure_future(_drain(c, inbox[n], progress)) for n, c in subscribers.items()]
    publisher = Publisher([a, b], progress)
    try:
        for restart in range(1, RESTARTS + 1):
            target = len(publisher.acked) + 20
            await _until(progress, lambda: len(publisher.acked) >= target, "publishes were not acknowledged")
            redis = cluster["redis"]
            redis.stop()
            cluster["redis"] = start_redis_server(port=redis.port)
            for node in (a, b):  # each node logs its reconnection
                await node.logged("broker connection restored", count=restart)
        target = len(publisher.acked) + 20
        await _until(progress, lambda: len(publisher.acked) >= target, "publishes after the last restart")
    finally:
        await publisher.stop()
    epochs = {epoch for epoch, _, _ in publisher.acked}
    assert len(epochs) >= RESTARTS + 1, epochs  # each restart began a new epoch
    for name in subscribers:
        await _until(progress, lambda: _covered(inbox[name], publisher.acked),
                     f"node {name}'s subscriber is behind")
    # A late duplicate would come before a marker published now (each node delivers the
    # channel in order, a replay ahead of what it holds back): once every subscriber has
    # the marker, exactly the marker is new.
    quiet = [len(messages) for messages in inbox.values()]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{a.port}/api/publish", json={"channel": CHANNEL, "data": "end"}) as response:
            marker = await response.json()
    assert marker.get("ok") is True, marker
    publisher.acked.append((marker["epoch"], marker["offset"], -1))
    for name in subscribers:
        await _until(progress, lambda name=name: any(m.get("data") == "end" for m in inbox[name]),
                     f"node {name}'s end marker")
    assert [len(messages) for messages in inbox.values()] == [count + 1 for count in quiet]
    for reader in readers:
        reader.cancel()
    stats = {name: _check(name, messages, publisher.acked) for name, messages in inbox.items()}
    print(f"{len(publisher.acked)} acknowledged in {len(epochs)} epochs, {publisher.refused} refused; {stats}")
    for client in subscribers.values():
        await client.close()
