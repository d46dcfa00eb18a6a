"""PresenceTracker: connections entering and leaving channels, kept in the broker.

The channel part of a join/leave is one atomic broker operation
(``Backend.presence_join``/``presence_leave``: FANOUT.JOIN/LEAVE or their Lua twins)
that also publishes the join/leave event on the channel, so events reach
subscribers in order with the channel's messages, and a reader never sees half
an update. It is idempotent: two nodes removing the same dead connection emit one
leave. The per-connection index (``conn:<id>``, ``node:<id>:conns``, ...) exists
only to find what to remove when a connection or a whole node goes away.
Broker work per join/leave is O(1) per channel.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from broker.backend import Backend
from broker.resp import CommandError
from presence import model

__all__ = ["PresenceTracker"]

log = logging.getLogger("fanout.presence")

# Presence hashes up to this size are read in one HGETALL; larger ones page with
# HSCAN, yielding to the event loop between pages so delivery is not held up.
PAGE = 1000


class PresenceTracker:
    def __init__(self, backend: Backend, node_id: str, heartbeat_ttl_ms: int = 15_000) -> None:
        self.backend = backend
        self.node_id = node_id
        self.heartbeat_ttl_ms = heartbeat_ttl_ms

    async def heartbeat(self, now_ms: int) -> bool:
        """Refresh this node's key (call it every ttl/3 or so).

        Returns:
            Whether the key was still there: False after the first heartbeat means
            the broker lost it (FLUSHALL, a restart), and with it this node's presence.
        """
        previous = await self.backend.execute("SET", model.node_key(self.node_id), str(now_ms),
                                              "PX", self.heartbeat_ttl_ms, "GET")
        return previous is not None

    async def connect(self, conn: str, user: str, info: Any, now_ms: int) -> None:
        """Index a connection (before its first join), so it can be cleaned up later."""
        await self.backend.execute("HSET", model.conn_key(conn), "user", user, "node", self.node_id,
                                   "connected_at", now_ms, "info", orjson.dumps(info))
        await self.backend.execute("SADD", model.node_conns_key(self.node_id), conn)
        await self.backend.execute("SADD", model.user_conns_key(user), conn)

    async def join(self, channel: str, conn: str, user: str, info: Any, now_ms: int) -> tuple[bool, bool]:
        """Put ``conn`` in ``channel``: (added, first connection of the user)."""
        await self.backend.execute("SADD", model.conn_channels_key(conn), channel)
        try:
            return await self.backend.presence_join(channel.encode(), conn, user,
                                                    model.encode_meta(user, info, self.node_id, conn, now_ms))
        except CommandError:  # e.g. WRONGTYPE: someone overwrote the channel's presence key
            await self.backend.execute("SREM", model.conn_channels_key(conn), channel)
            raise

    async def leave(self, channel: str, conn: str, user: str) -> tuple[bool, bool]:
        """Take ``conn`` out of ``channel``: (removed, last connection of the user)."""
        result = await self.backend.presence_leave(channel.encode(), conn, user)
        await self.backend.execute("SREM", model.conn_channels_key(conn), channel)
        return result

    async def disconnect(self, conn: str) -> int:
        """Remove a connection everywhere (also one of a dead node); the number of leaves."""
        fields = await self.backend.execute("HGETALL", model.conn_key(conn)) or {}
        user = fields.get(b"user", b"").decode()
        node = fields.get(b"node", b"").decode() or self.node_id
        channels = await self.backend.execute("SMEMBERS", model.conn_channels_key(conn)) or set()
        left = 0
        for channel in sorted(channels):
            try:
                removed, _ = await self.backend.presence_leave(channel, conn, user)
            except CommandError as exc:  # one broken channel key must not keep the rest behind
                log.warning("presence of %s in %r not removed: %s", conn, channel, exc.message)
                continue
            left += removed
        # One key per DEL: on a Redis Cluster the two keys live in different slots.
        await self.backend.execute("DEL", model.conn_key(conn))
        await self.backend.execute("DEL", model.conn_channels_key(conn))
        await self.backend.execute("SREM", model.node_conns_key(node), conn)
        if user:
            await self.backend.execute("SREM", model.user_conns_key(user), conn)
        return left

    async def cleanup_node(self, node_id: str) -> int:
        """Remove every connection of a node whose heartbeat key expired; the number of leaves."""
        conns = await self.backend.execute("SMEMBERS", model.node_conns_key(node_id)) or set()
        left = 0
        for conn in sorted(conns):
            left += await self.disconnect(conn.decode())
        await self.backend.execute("DEL", model.node_conns_key(node_id))
        return left

    async def cleanup_orphans(self) -> list[str]:
        """Nodes with connections but no heartbeat key (died while no node was watching)."""
        cleaned = []
        cursor = b"0"
        while True:
            cursor, keys = await self.backend.execute("SCAN", cursor, "MATCH", "node:*:conns", "COUNT", 1000)
            for key in keys:
                node_id = key.decode()[len("node:"):-len(":conns")]
                if node_id != self.node_id and not await self.backend.execute("EXISTS", model.node_key(node_id)):
                    await self.cleanup_node(node_id)
                    cleaned.append(node_id)
            if cursor in (b"0", 0):
                return cleaned

    async def stop(self) -> None:
        """A clean shutdown: leave everywhere now rather than after the heartbeat TTL."""
        await self.cleanup_node(self.node_id)
        await self.backend.execute("DEL", model.node_key(self.node_id))

    async def present(self, channel: str) -> dict[str, dict[str, Any]]:
        """user -> {"info", "conns"} for everyone in ``channel``."""
        key = model.channel_key(channel)
        if await self.backend.execute("HLEN", key) <= PAGE:
            return model.aggregate(await self.backend.execute("HGETALL", key) or {})
        entries: dict[bytes, bytes] = {}
        cursor: Any = b"0"
        while True:
            cursor, flat = await self.backend.execute("HSCAN", key, cursor, "COUNT", PAGE)
            entries.update(zip(flat[::2], flat[1::2]))
            if cursor in (b"0", 0):
                return model.aggregate(entries)
            await asyncio.sleep(0)

    async def stats(self, channel: str) -> dict[str, int]:
        """Number of users and connections, without reading the members."""
        users = await self.backend.execute("HLEN", model.users_key(channel))
        connections = await self.backend.execute("HLEN", model.channel_key(channel))
        return {"users": users, "connections": connections}
