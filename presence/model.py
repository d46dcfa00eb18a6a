"""Presence data in the broker: key names and pure transforms (sans-I/O).

Keys (a backend service can read them with plain Redis commands):

- ``presence:{<channel>}``        hash: connection id -> JSON meta
  ``{"user":..., "info":..., "node":..., "conn":..., "joined_at": ms}``
- ``presence:{<channel>}:users``  hash: user -> number of the user's connections there
  (a user is present while it is in this hash: join on the first, leave on the last)
- ``conn:<id>``                   hash: user, node, connected_at (ms), info (JSON)
- ``conn:<id>:channels``          set of the channels the connection is present in
- ``user:<user>:conns``           set of the user's connection ids (all channels, all nodes)
- ``node:<id>``                   string with a TTL, refreshed by a live gateway node
- ``node:<id>:conns``             set of the node's connection ids

The braces are Redis Cluster hash tags: a channel's keys live in one slot, so its
join/leave (``FANOUT.JOIN``/``FANOUT.LEAVE``, see ``broker.commands.fanout``) is one
atomic operation that also publishes the join/leave event on the channel.
"""

from __future__ import annotations

from typing import Any

import orjson

from broker.channel_keys import presence_keys

__all__ = [
    "aggregate",
    "channel_key",
    "conn_channels_key",
    "conn_key",
    "encode_meta",
    "node_conns_key",
    "node_key",
    "user_conns_key",
    "users_key",
]


def channel_key(channel: str) -> str:
    return presence_keys(channel.encode())[0].decode()


def users_key(channel: str) -> str:
    return presence_keys(channel.encode())[1].decode()


def conn_key(conn_id: str) -> str:
    return f"conn:{conn_id}"


def conn_channels_key(conn_id: str) -> str:
    return f"conn:{conn_id}:channels"


def user_conns_key(user: str) -> str:
    return f"user:{user}:conns"


def node_key(node_id: str) -> str:
    return f"node:{node_id}"


def node_conns_key(node_id: str) -> str:
    return f"node:{node_id}:conns"


def encode_meta(user: str, info: Any, node: str, conn: str, joined_at: int) -> bytes:
    return orjson.dumps({"user": user, "info": info, "node": node, "conn": conn, "joined_at": joined_at})


def aggregate(entries: dict[bytes, bytes]) -> dict[str, dict[str, Any]]:
    """``presence:{channel}`` entries -> user -> {"info", "conns": [...]}.

    A user with three tabs is one entry with three connections; the info shown is
    the one of its most recent connection.
    """
    users: dict[str, dict[str, Any]] = {}
    latest: dict[str, int] = {}
    for conn, raw in entries.items():
        meta = orjson.loads(raw)
        user = meta["user"]
        entry = users.get(user)
        if entry is None:
            entry = users[user] = {"info": meta.get("info"), "conns": []}
            latest[user] = -1
        entry["conns"].append(conn.decode())
        joined_at = meta.get("joined_at", 0)
        if joined_at >= latest[user]:
            latest[user] = joined_at
            entry["info"] = meta.get("info")
    for entry in users.values():
        entry["conns"].sort()
    return users
