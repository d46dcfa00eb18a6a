"""Commands on a Redis Cluster for RedisBackend: redis-py's RedisCluster with our conventions.

redis-py routes each command to the master owning its keys' slot and follows
MOVED/ASK; this wrapper makes its results look like ``CommandLink``'s: raw
replies (response callbacks removed, except the ones redis-py itself needs to
read the topology), error replies as ``CommandError`` with their code,
failures as ``BackendUnavailable``. It also knows the slot map, so the backend
can put each sharded subscription on the right master.

Cluster conventions applied here:
- a node-local command without keys (TIME, INFO, DBSIZE, KEYS, PUBSUB ...)
  runs on one node: its answer is that node's;
- ``CONFIG SET`` goes to every node (notify-keyspace-events is node-local), and
  so do what redis-py sends to every master (FLUSHALL, SCRIPT LOAD ...);
- ``SCAN 0`` returns every master's keys in one reply;
- keys of one transaction must share a slot (hash tags ``{<channel>}`` do).
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence
from urllib.parse import unquote, urlparse

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import (
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
)

from broker.backend import BackendUnavailable
from broker.backends.pubsub_link import command_error
from broker.resp import CommandError

__all__ = ["ClusterCommands"]

Arg = bytes | str | int | float

# Calls in flight at once, below redis-py's 100 connections per node.
IN_FLIGHT = 64


def _text(arg: Arg) -> str:
    return arg.decode() if isinstance(arg, bytes) else str(arg)


def _agreed(replies: Any) -> Any:
    """Per-node replies ({node: reply}): the common reply when all agree, else all of them."""
    if isinstance(replies, dict) and replies and len({repr(r) for r in replies.values()}) == 1:
        return next(iter(replies.values()))
    return replies


class ClusterCommands:
    """See the module docstring.

    Args:
        url: ``redis+cluster://[user:pass@]host:port``, any node of the cluster.
        options: connection settings for every node (timeouts, protocol, retry).
    """

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        parsed = urlparse(url)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
        self.address = f"{host}:{port}"
        self.client = RedisCluster(host=host, port=port, password=unquote(parsed.password or "") or None,
                                   username=unquote(parsed.username or "") or None, **options)
        callbacks = self.client.response_callbacks
        # Keep only what redis-py needs to route (topology, COMMAND key specs).
        for name in [n for n in callbacks if not str(n).upper().startswith(("CLUSTER", "COMMAND"))]:
            del callbacks[name]
        # No merging of per-node results into redis-py's shapes: see call().
        self.client.result_callbacks = {}
        self._initialized = False
        # redis-py opens at most max_connections (100) per node and then fails the call
        # (MaxConnectionsError) instead of waiting: a burst of joins (a reconnect wave)
        # waits here instead. One permit per call, however many nodes it reaches.
        self._in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def masters(self) -> list[str]:
        """Addresses of the masters, from a freshly read slot map. Raises ``BackendUnavailable``."""
        try:
            if self._initialized:
                # After a failover or resharding the masters changed.
                await self.client.nodes_manager.initialize()
            else:
                await self.client.initialize()
                self._initialized = True
        except (RedisError, OSError, RedisClusterException) as error:
            raise self._unavailable(error) from error
        return [f"{node.host}:{node.port}" for node in self.client.get_primaries()]

    def shard_address(self, channel: bytes) -> str:
        """The master owning ``channel``'s slot (sharded pub/sub: SSUBSCRIBE goes there)."""
        node = self.client.nodes_manager.get_node_from_slot(self.client.keyslot(channel))
        return f"{node.host}:{node.port}"

    def connection(self, address: str, protocol: int) -> AbstractConnection:
        """A new, unconnected connection to one node, with the cluster's settings."""
        node = self.client.get_node(node_name=address)
        assert node is not None, address
        kwargs = dict(node.connection_kwargs)
        kwargs.pop("response_callbacks", None)
        kwargs.update(protocol=protocol)
        connection: AbstractConnection = node.connection_class(**kwargs)
        return connection

    async def call(self, name: Arg, *args: Arg) -> Any:
        async with self._in_flight:
            return await self._call(name, *args)

    async def _call(self, name: Arg, *args: Arg) -> Any:
        # redis-py routes by a str name, and by "CONFIG SET" / "CLUSTER KEYSLOT" as one name.
        command = _text(name)
        if args:
            joined = f"{command} {_text(args[0])}".upper()
            if joined in self.client.command_flags:
                command, args = joined, args[1:]
        if command == "CONFIG SET":
            return await self._on_all_nodes(command, *args)
        if command == "SCAN":
            return await self._scan(args)
        try:
            reply = await self.client.execute_command(command, *args)
            # Commands redis-py sends to every master (FLUSHALL, SCRIPT LOAD ...) come
            # back per node: one reply when they agree.
            return _agreed(reply) if self.client.command_flags.get(command) == "primaries" else reply
        except ResponseError as error:
            raise command_error(error) from None
        except (RedisError, OSError, SlotNotCoveredError) as error:
            raise self._unavailable(error) from error
        except RedisClusterException as error:  # refused before sending: e.g. keys in several slots
            if "Missing key" in str(error):
                return await self._on_any_node(command, *args)
            raise CommandError(f"ERR {error}") from None

    async def transaction(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        async with self._in_flight:
            return await self._transaction(commands)

    async def _transaction(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        try:
            pipe = self.client.pipeline(transaction=True)
            for name, *args in commands:
                pipe.execute_command(_text(name), *args)
            replies = await pipe.execute(raise_on_error=False)
        except ResponseError as error:
            raise command_error(error) from None
        except (RedisError, OSError, SlotNotCoveredError) as error:
            raise self._unavailable(error) from error
        except RedisClusterException as error:
            raise CommandError(f"ERR {error}") from None
        return [command_error(r) if isinstance(r, ResponseError) else r for r in replies]

    async def aclose(self) -> None:
        await self.client.aclose()

    # ------------------------------------------------------------ internals

    async def _on_all_nodes(self, command: str, *args: Arg) -> Any:
        return _agreed(await self._targeted(command, args, RedisCluster.ALL_NODES))

    async def _scan(self, args: Sequence[Arg]) -> list[Any]:
        """SCAN 0 [MATCH p] [COUNT n] [TYPE t] over every master at once: ``[b"0", keys]``.

        Cursors are per node on a cluster; rather than invent a combined cursor,
        the first call walks every master to the end (the gateway scans rarely).
        """
        if not args or _text(args[0]) != "0":
            raise CommandError("ERR invalid cursor: on a cluster SCAN returns everything from cursor 0")
        keys: list[Any] = []
        for node in self.client.get_primaries():
            cursor: Any = b"0"
            while True:
                cursor, batch = await self._targeted("SCAN", [cursor, *args[1:]], node)
                keys.extend(batch)
                if cursor in (b"0", 0):
                    break
        return [b"0", keys]

    async def _on_any_node(self, command: str, *args: Arg) -> Any:
        return await self._targeted(command, args, self.client.get_random_node())

    async def _targeted(self, command: str, args: Sequence[Arg], target: Any) -> Any:
        try:
            return await self.client.execute_command(command, *args, target_nodes=target)
        except ResponseError as error:
            raise command_error(error) from None
        except (RedisError, OSError, RedisClusterException) as error:
            raise self._unavailable(error) from error

    def _unavailable(self, error: BaseException) -> BackendUnavailable:
        return BackendUnavailable(f"cluster at {self.address} unavailable: {error}")
