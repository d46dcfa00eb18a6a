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
