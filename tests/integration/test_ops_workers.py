"""With --workers N, /healthz, /metrics, /api/channels and /api/subscriptions answer for
the whole node, whichever worker takes the request (issue #17)."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.servers import ServerProcess, free_port, start_fanout
from tests.support.ws import connect

CLIENTS = 8


@pytest.fixture
def workers() -> Iterator[ServerProcess]:
    server = start_fanout("serve", "--workers", "2", "--http-port", str(free_port()), "--resp-port", "-1")
    yield server
    server.stop()


def fetch(port: int, path: str) -> str:
    # A new TCP connection each time, so the kernel may hand it to either worker.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.read().decode()


async def test_node_wide_answers_whichever_worker_takes_the_request(workers: ServerProcess):
    clients = [await connect(workers.port) for _ in range(CLIENTS)]
    try:
        for client in clients:
            assert (await client.request("subscribe", channel="node:all"))["ok"]
        assert (await clients[0].request("psubscribe", pattern="node:*"))["ok"]
        answered_by = set()
        for _ in range(12):
            health = json.loads(await asyncio.to_thread(fetch, workers.port, "/healthz"))
            answered_by.add(health["worker"])
            assert health["workers"] == 2 and health["workers_answering"] == 2
            assert health["connections"] == CLIENTS
            assert [entry["worker"] for entry in health["per_worker"]] == [1, 2]
            assert sum(entry["connections"] for entry in health["per_worker"]) == CLIENTS

            channels = json.loads(await asyncio.to_thread(fetch, workers.port, "/api/channels"))
            assert channels["channels"] == {"node:all": CLIENTS}

            subs = json.loads(await asyncio.to_thread(fetch, workers.port, "/api/subscriptions"))
            assert subs["channels"] == {"node:all": CLIENTS} and subs["patterns"] == {"node:*": 1}

            text = await asyncio.to_thread(fetch, workers.port, "/metrics")
            per_worker = {int(m[1]): float(m[2])
                          for m in re.finditer(r'^fanout_connections\{worker="(\d)"\} (\S+)$', text, re.M)}
            assert sorted(per_worker) == [1, 2] and sum(per_worker.values()) == CLIENTS
            assert text.count("# TYPE fanout_connections gauge") == 1  # one family, both workers' samples
        # Both workers took some of the requests (not guaranteed by the kernel, but over 48
        # fresh connections spread by SO_REUSEPORT a single worker taking all is ~1e-14).
        assert answered_by == {1, 2}
    finally:
        for client in clients:
            await client.close()


def broker_publishes(text: str) -> float:
    """The node's fanout_broker_publishes_total: one unlabelled sample (not one per worker)."""
    samples = re.findall(r"^fanout_broker_publishes_total(\{[^}]*\})? (\S+)$", text, re.M)
    assert [labels for labels, _ in samples] == [""], samples
    return float(samples[0][1])


async def test_broker_publishes_are_the_supervisors_whichever_worker_answers():
    """The embedded broker lives in the supervisor, which serves no HTTP: the worker
    that answers /metrics and /api/info reads its count from INFO stats."""
    import redis.asyncio as aioredis

    from tests.support.servers import MS

    resp_port = free_port()
    server = start_fanout("serve", "--workers", "2", "--http-port", str(free_port()), "--resp-port", str(resp_port))
    resp = aioredis.Redis(port=resp_port)
    client = await connect(server.port)
    try:
        # Each worker says once that it joined (PUBLISH fanout:nodes): wait for both, so
        # that nothing else publishes while the test counts.
        deadline = asyncio.get_running_loop().time() + 15000 * MS
        while (before := broker_publishes(await asyncio.to_thread(fetch, server.port, "/metrics"))) < 2:
            assert asyncio.get_running_loop().time() < deadline, "the workers never announced themselves"
            await resp.ping()  # a round trip between polls, not a sleep
        assert before == 2
        info = await resp.info("stats")
        assert info["fanout_client_publishes"] == 2

        for n in range(3):
            await resp.publish("room:a", f"resp {n}")                   # RESP PUBLISH into the supervisor
        await resp.execute_command("SPUBLISH", "shard:b", "sharded")  # SPUBLISH
        await resp.eval("return redis.call('PUBLISH', KEYS[1], ARGV[1])", 1, "room:e", '"script"')
        assert (await client.request("publish", channel="room:d", data="over ws"))["ok"]  # through a worker

        for _ in range(8):  # fresh connections: either worker answers
            text = await asyncio.to_thread(fetch, server.port, "/metrics")
            assert broker_publishes(text) - before == 6
            assert text.count("# TYPE fanout_broker_publishes_total counter") == 1
            body = json.loads(await asyncio.to_thread(fetch, server.port, "/api/info"))
            assert body["broker_publishes"] - before == 6 and body["worker"] in (1, 2)
        assert (await resp.info("stats"))["fanout_client_publishes"] == before + 6
    finally:
        await client.close()
        await resp.aclose()
        server.stop()
