"""Presence data in the broker: key names and pure transforms (sans-I/O).

Keys (a backend service can read them with plain Redis commands):

- ``presence:{<channel>}``              hash: connection id -> JSON meta
  ``{"user":..., "info":..., "node":..., "conn":..., "joined_at": ms}``
- ``presence:{<channel>}:user:<user>``  set of the user's connection ids in the channel
  (a user is present while it is non-empty: join on the first, leave on the last)
- ``conn:<id>``                         hash: user, node, connected_at, info (JSON)
- ``conn:<id>:channels``                set of channels the connection is present in
- ``node:<id>``                         string with a TTL, refreshed by a live node
- ``node:<id>:conns``                   set of the node's connection ids

The braces are Redis Cluster hash tags: a channel's keys live in one slot.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = [
    "channel_key", "user_key", "conn_key", "conn_channels_key", "node_key", "node_conns_key",
    "encode_meta", "aggregate",
]


def channel_key(channel: str) -> str:
    return f"presence:{{{channel}}}"


def user_key(channel: str, user: str) -> str:
    return f"presence:{{{channel}}}:user:{user}"


def conn_key(conn_id: str) -> str:
    return f"conn:{conn_id}"


def conn_channels_key(conn_id: str) -> str:
    return f"conn:{conn_id}:channels"


def node_key(node_id: str) -> str:
    return f"node:{node_id}"


def node_conns_key(node_id: str) -> str:
    return f"node:{node_id}:conns"


def encode_meta(user: str, info: Any, node: str, conn: str, joined_at: int) -> bytes:
    return orjson.dumps({"user": user, "info": info, "node": node, "conn": conn, "joined_at": joined_at})


def aggregate(entries: dict[bytes, bytes]) -> dict[str, dict[str, Any]]:
    """HGETALL of ``presence:{channel}`` -> user -> {"info", "conns": [...]}.

    A user with three tabs is one entry with three connections; the info shown is
    the one of its most recent connection.
    """
    users: dict[str, dict[str, Any]] = {}
    for conn, raw in entries.items():
        meta = orjson.loads(raw)
        entry = users.setdefault(meta["user"], {"info": meta.get("info"), "conns": [], "_at": -1})
        entry["conns"].append(conn.decode())
        if meta.get("joined_at", 0) >= entry["_at"]:
            entry["_at"] = meta.get("joined_at", 0)
            entry["info"] = meta.get("info")
    for entry in users.values():
        entry["conns"].sort()
        del entry["_at"]
    return users
