"""PresenceTracker: join/leave of connections in channels, kept in the broker.

Every change is one atomic transaction over the keys of ``presence.model``, so a
reader never sees half an update, and the replies of that transaction say
whether the *user* joined or left (first / last connection) — which makes
cleanup idempotent: two nodes removing the same dead connection emit one leave.
Broker work per join/leave is O(1) per channel.
"""

from __future__ import annotations

from typing import Any

import orjson

from broker.backend import Backend
from presence import model

__all__ = ["PresenceTracker", "Change"]


class Change:
    """A user joined or left a channel (``kind`` is "join" or "leave")."""

    __slots__ = ("kind", "channel", "user", "info", "conn")

    def __init__(self, kind: str, channel: str, user: str, info: Any, conn: str) -> None:
        self.kind, self.channel, self.user, self.info, self.conn = kind, channel, user, info, conn

    def __repr__(self) -> str:
        return f"Change({self.kind}, {self.channel!r}, {self.user!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Change) and (self.kind, self.channel, self.user, self.conn) == (
            other.kind, other.channel, other.user, other.conn)


class PresenceTracker:
    def __init__(self, backend: Backend, node_id: str, heartbeat_ttl_ms: int = 15_000) -> None:
        self.backend = backend
        self.node_id = node_id
        self.heartbeat_ttl_ms = heartbeat_ttl_ms

    async def heartbeat(self, now_ms: int) -> None:
        """Refresh this node's key (call it every ttl/3 or so)."""
        await self.backend.execute("SET", model.node_key(self.node_id), str(now_ms), "PX", self.heartbeat_ttl_ms)

    async def connect(self, conn: str, user: str, info: Any, now_ms: int) -> None:
        await self.backend.transaction([
            ["HSET", model.conn_key(conn), "user", user, "node", self.node_id, "connected_at", now_ms,
             "info", orjson.dumps(info)],
            ["SADD", model.node_conns_key(self.node_id), conn],
        ])

    async def join(self, channel: str, conn: str, user: str, info: Any, now_ms: int) -> Change | None:
        """Put ``conn`` in ``channel``; a Change if the user was not there before."""
        replies = await self.backend.transaction([
            ["HSET", model.channel_key(channel), conn, model.encode_meta(user, info, self.node_id, conn, now_ms)],
            ["SADD", model.user_key(channel, user), conn],
            ["SCARD", model.user_key(channel, user)],
            ["SADD", model.conn_channels_key(conn), channel],
        ])
        if replies[1] == 1 and replies[2] == 1:
            return Change("join", channel, user, info, conn)
        return None

    async def leave(self, channel: str, conn: str, user: str, info: Any = None) -> Change | None:
        """Take ``conn`` out of ``channel``; a Change if it was the user's last connection."""
        replies = await self.backend.transaction([
            ["HDEL", model.channel_key(channel), conn],
            ["SREM", model.user_key(channel, user), conn],
            ["SCARD", model.user_key(channel, user)],
            ["SREM", model.conn_channels_key(conn), channel],
        ])
        if replies[1] == 1 and replies[2] == 0:
            return Change("leave", channel, user, info, conn)
        return None

    async def disconnect(self, conn: str) -> list[Change]:
        """Remove a connection everywhere (also for connections of a dead node)."""
        fields = await self.backend.execute("HGETALL", model.conn_key(conn))
        user = (fields or {}).get(b"user", b"").decode()
        info = orjson.loads(fields[b"info"]) if fields and b"info" in fields else None
        node = (fields or {}).get(b"node", b"").decode()
        channels = await self.backend.execute("SMEMBERS", model.conn_channels_key(conn)) or set()
        changes = []
        for channel in sorted(channels):
            change = await self.leave(channel.decode(), conn, user, info)
            if change is not None:
                changes.append(change)
        await self.backend.transaction([
            ["DEL", model.conn_key(conn), model.conn_channels_key(conn)],
            ["SREM", model.node_conns_key(node or self.node_id), conn],
        ])
        return changes

    async def cleanup_node(self, node_id: str) -> list[Change]:
        """Remove every connection of a node whose heartbeat key expired."""
        conns = await self.backend.execute("SMEMBERS", model.node_conns_key(node_id)) or set()
        changes: list[Change] = []
        for conn in sorted(conns):
            changes += await self.disconnect(conn.decode())
        await self.backend.execute("DEL", model.node_conns_key(node_id))
        return changes

    async def present(self, channel: str) -> dict[str, dict[str, Any]]:
        """user -> {"info", "conns"} for everyone in ``channel``."""
        return model.aggregate(await self.backend.execute("HGETALL", model.channel_key(channel)) or {})

    async def stats(self, channel: str) -> dict[str, int]:
        present = await self.present(channel)
        return {"users": len(present), "connections": sum(len(u["conns"]) for u in present.values())}
