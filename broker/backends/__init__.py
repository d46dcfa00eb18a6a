"""Backend implementations, picked by URL.

Layout: ``memory`` (in-process broker, direct calls), ``redis`` (RESP to our
``fanout broker``, redis-server / Valkey, or a Redis Cluster), with its
``pubsub_link`` (the one subscriber connection) and ``scripts`` (Lua for FANOUT.*).
"""

from __future__ import annotations

from typing import Any

from broker.backend import Backend

__all__ = ["create_backend", "RESP_SCHEMES"]

# redis+cluster: any node of a Redis Cluster; sharded pub/sub for channels.
RESP_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://")


def create_backend(url: str, broker: Any = None, **options: Any) -> Backend:
    """Pick a backend by URL.

    ``memory://`` uses the given in-process ``broker``; ``redis://host:port/db``,
    ``rediss://...``, ``unix:///path.sock?db=0`` and ``redis+cluster://host:port``
    speak RESP (``RedisBackend``, given ``options`` such as ``command_timeout``).
    """
    if url.startswith("memory://") or url == "memory":
        from broker.backends.memory import MemoryBackend
        from broker.core import Broker

        return MemoryBackend(broker if broker is not None else Broker())
    if url.startswith(RESP_SCHEMES):
        from broker.backends.redis import RedisBackend

        return RedisBackend(url, **options)
    raise ValueError(f"unsupported broker URL {url!r}: use memory://, redis://host:port/db, rediss://, "
                     "unix:///path.sock?db=0 or redis+cluster://host:port")
