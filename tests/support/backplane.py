"""What a test's ``fanout serve`` nodes share: the embedded broker, a redis-server, or a Redis Cluster.

The gateway integration suite runs once per backplane (see ``pytest_generate_tests``
in tests/conftest.py): ``Backplane.serve`` starts a node the same way whatever the
kind, and ``extra_ports["resp"]`` is always where a backend service would talk
RESP to it (the embedded broker's port, or the redis-server's).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from broker.backends.scripts import PRESENCE_JOIN
from tests.support.cluster import RedisCluster
from tests.support.servers import ServerProcess, free_port, start_fanout

__all__ = ["Backplane", "EMBEDDED", "REDIS", "CLUSTER"]

EMBEDDED, REDIS, CLUSTER = "embedded", "redis", "cluster"


@dataclass
class Backplane:
    kind: str
    # The redis-server (kind "redis") or the cluster (kind "cluster") the nodes share.
    redis: ServerProcess | None = None
    cluster: RedisCluster | None = None

    @property
    def url(self) -> str:
        if self.cluster is not None:
            return self.cluster.url
        if self.redis is not None:
            return f"redis://127.0.0.1:{self.redis.port}/0"
        return "memory://"

    @property
    def shared(self) -> bool:
        """True when nodes share state through Redis (so it outlives a node)."""
        return self.kind != EMBEDDED

    def serve(self, *args: str, http_port: int | None = None, resp_port: int | None = None,
              resp: bool = True) -> ServerProcess:
        """``fanout serve *args`` on this backplane, on a free HTTP port (or ``http_port``).

        Embedded: with its own RESP port (``resp_port`` or a free one; none if not
        ``resp``). Redis: ``--broker redis://...`` and no RESP port of its own.
        """
        http = ["--http-port", str(http_port or free_port())]
        if self.kind == EMBEDDED:
            port = resp_port or free_port()
            server = start_fanout("serve", *http, "--resp-port", str(port) if resp else "-1", *args)
            if resp:
                server.extra_ports["resp"] = port
            return server
        server = start_fanout("serve", *http, "--broker", self.url, "--resp-port", "-1", *args)
        server.extra_ports["resp"] = self.port
        return server

    @property
    def port(self) -> int:
        """A RESP port of the backplane (any node, on a cluster)."""
        if self.cluster is not None:
            return self.cluster.nodes[0].port
        assert self.redis is not None
        return self.redis.port

    def client(self, server: ServerProcess, **options: Any) -> Any:
        """A redis-py asyncio client for what ``server`` runs on (a cluster client on a cluster)."""
        if self.cluster is not None:
            return aioredis.RedisCluster(host="127.0.0.1", port=self.port, **options)
        return aioredis.Redis(port=server.extra_ports["resp"], **options)

    async def publish(self, client: Any, channel: str, data: bytes) -> int:
        """PUBLISH as a backend service would: SPUBLISH on a cluster (channels are sharded there)."""
        if self.cluster is not None:
            return int(await client.execute_command("SPUBLISH", channel, data))
        return int(await client.publish(channel, data))

    async def config_set(self, client: Any, name: str, value: str) -> None:
        """CONFIG SET on every node (keyspace notification flags are node-local on a cluster)."""
        if self.cluster is not None:
            await client.config_set(name, value, target_nodes=aioredis.RedisCluster.ALL_NODES)
        else:
            await client.config_set(name, value)

    async def fanout_join(self, client: Any, channel: str, conn: str, user: str, meta: bytes) -> list[int]:
        """FANOUT.JOIN over RESP: the native command on our broker, its Lua twin on Redis."""
        if self.kind == EMBEDDED:
            return list(await client.execute_command("FANOUT.JOIN", channel, conn, user, meta))
        keys = [f"presence:{{{channel}}}", f"presence:{{{channel}}}:users"]
        verb = "SPUBLISH" if self.cluster is not None else "PUBLISH"
        return list(await client.eval(PRESENCE_JOIN.source, len(keys), *keys, channel, conn, user, meta, verb))

    def flush(self) -> None:
        """Forget every key (and keyspace event flags): a module starts from an empty backplane."""
        nodes = self.cluster.nodes if self.cluster is not None else [self.redis] if self.redis else []
        for node in nodes:
            for command in (["FLUSHALL"], ["CONFIG", "SET", "notify-keyspace-events", ""]):
                subprocess.run(["redis-cli", "-p", str(node.port), *command], capture_output=True,
                               timeout=30, check=True)
