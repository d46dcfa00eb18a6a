"""RedisBackend: the Backend interface over RESP (see ``broker.backend.Backend``).

Works unchanged against our own ``fanout broker``, a real redis-server / Valkey,
and a Redis Cluster. Layout of one node's connections:

- commands (``execute``, ``transaction``, ``publish``, the FANOUT.* calls) go
  through a redis-py asyncio pool (RESP3, hiredis parser, no response callbacks:
  replies stay raw Python values like MemoryBackend's; RESP3 sets arrive as lists);
- every subscription rides ONE pub/sub connection per node (``PubSubLink``),
  whatever the number of channels, patterns and browsers; on a cluster, one per
  master, with sharded pub/sub (SSUBSCRIBE/SPUBLISH) so a publish travels only
  to the shard owning the channel's slot.

Faults: when the server drops or restarts, calls raise ``BackendUnavailable``
naming the address (after a timeout, the outcome of that call is unknown: the
server may still run it). A supervisor task reconnects the pub/sub connection with
exponential backoff and jitter (capped at ``max_backoff``), re-subscribes every
channel and pattern in one command each, then calls the reconnect handler so the
gateway can re-register presence and tell clients to recover from history
(messages published while the link was down are not delivered by pub/sub).

FANOUT.PUBLISH/JOIN/LEAVE: sent as such to our broker; a server that answers
"unknown command" (checked once) gets EVALSHA of ``broker.backends.scripts``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterator, Sequence
from urllib.parse import unquote, urlparse

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError, ResponseError, SlotNotCoveredError

from broker.backend import Backend, BackendUnavailable, MessageHandler
from broker.backends import scripts
from broker.backends.pubsub_link import PubSubLink, command_error
from broker.resp import CommandError

__all__ = ["RedisBackend", "ReconnectHandler", "backoff_delays"]

log = logging.getLogger("fanout.backend")

ReconnectHandler = Callable[[], "Awaitable[None] | None"]
Arg = bytes | str | int | float

CLUSTER_SCHEME = "redis+cluster"
# Channels Redis publishes on each node for its own keys (not sharded on a cluster).
KEYSPACE_PREFIXES = (b"__keyspace@", b"__keyevent@")


def backoff_delays(first: float, cap: float, rand: Callable[[float, float], float] = random.uniform) -> Iterator[float]:
    """Endless reconnect delays: doubling from ``first`` up to ``cap``, each jittered to [d/2, d].

    The jitter keeps nodes that lost the same server from reconnecting in lockstep.
    """
    delay = first
    while True:
        yield rand(delay / 2, delay)
        delay = min(delay * 2, cap)


def _ignore(channel: bytes, data: bytes, pattern: bytes | None) -> None:
    pass


# Key names as in broker.commands.fanout (not imported: that module loads the whole broker).
def _history_keys(channel: bytes) -> list[bytes]:
    stream = b"history:{" + channel + b"}"
    return [stream, stream + b":meta"]


def _presence_keys(channel: bytes) -> list[bytes]:
    members = b"presence:{" + channel + b"}"
    return [members, members + b":users"]


class RedisBackend:
    """See ``broker.backend.Backend`` and the module docstring.

    Args:
        url: ``redis://[user:pass@]host:port/db``, ``rediss://...``,
            ``unix:///path.sock?db=0`` or ``redis+cluster://host:port`` (any one node).
        connect_timeout: seconds for one connection attempt.
        command_timeout: seconds to wait for one reply (a hung server fails calls).
        min_backoff, max_backoff: reconnect delays, doubled per failure, with jitter.
        ping_interval: seconds between keepalive PINGs on the pub/sub connection(s);
            no reply within ``command_timeout`` counts as a lost connection.
        max_connections: command connections per node (calls beyond wait for one).
    """

    def __init__(self, url: str, *, connect_timeout: float = 2.0, command_timeout: float = 5.0,
                 min_backoff: float = 0.05, max_backoff: float = 2.0, ping_interval: float = 5.0,
                 max_connections: int = 32) -> None:
        self.url = url
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.command_timeout = command_timeout
        self.ping_interval = ping_interval
        self.cluster = urlparse(url).scheme == CLUSTER_SCHEME
        # No retries inside redis-py: a failed call surfaces at once as
        # BackendUnavailable; stale pooled connections are replaced on checkout.
        options: dict[str, Any] = dict(
            protocol=3, driver_info=None, socket_connect_timeout=connect_timeout,
            socket_timeout=command_timeout, retry=Retry(NoBackoff(), 0))
        self._client: Redis | RedisCluster
        if self.cluster:
            parsed = urlparse(url)
            host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
            self.address = f"{host}:{port}"
            cluster = RedisCluster(host=host, port=port, password=unquote(parsed.password or "") or None,
                                   username=unquote(parsed.username or "") or None, **options)
            callbacks = cluster.response_callbacks
            # Keep only what redis-py needs to route (topology, COMMAND key specs).
            for name in [n for n in callbacks if not str(n).upper().startswith(("CLUSTER", "COMMAND"))]:
                del callbacks[name]
            self._client = cluster
            self._pool: ConnectionPool | None = None
        else:
            # Bounded and blocking: a burst of concurrent calls (a disconnect storm)
            # waits for a free connection instead of failing or opening hundreds.
            self._pool = BlockingConnectionPool.from_url(url, max_connections=max_connections,
                                                         timeout=command_timeout, **options)
            kwargs = self._pool.connection_kwargs
            if "path" in kwargs:
                self.address = str(kwargs["path"])
            else:
                self.address = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
            self._client = Redis(connection_pool=self._pool)
            self._client.response_callbacks = {}
        self._handler: MessageHandler = _ignore
        self._on_reconnect: ReconnectHandler | None = None
        # Desired subscriptions: what a (re)connected link must carry.
        self._channels: set[bytes] = set()
        self._patterns: set[bytes] = set()
        # Pub/sub links: one for a single server; per master address on a cluster.
        self._links: dict[str, PubSubLink] = {}
        self._lost = asyncio.Event()
        self._cluster_ready = False
        self._up = False
        self._closed = False
        self._supervisor: asyncio.Task[None] | None = None
        # None until the first FANOUT.* call tells whether the server has them.
        self._native: bool | None = False if self.cluster else None
        self._publish_verb = b"SPUBLISH" if self.cluster else b"PUBLISH"

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect once (raises ``BackendUnavailable``), then keep reconnecting in the background."""
        await self._connect()
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise(), name="redis backend")

    async def close(self) -> None:
        self._closed = True
        self._lost.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            try:
                await self._supervisor
            except (asyncio.CancelledError, Exception):
                pass
        await self._close_links()
        await self._client.aclose()

    def set_handler(self, handler: MessageHandler) -> None:
        self._handler = handler
        for link in self._links.values():
            link.handler = handler

    def set_reconnect_handler(self, handler: ReconnectHandler | None) -> None:
        """``handler()`` (sync or async) runs after each reconnect and resubscribe, not the first connect."""
        self._on_reconnect = handler

    @property
    def connected(self) -> bool:
        return self._up

    @property
    def links(self) -> int:
        """Pub/sub connections open now: 1, or one per master on a cluster."""
        return len(self._links)

    @property
    def native_fanout(self) -> bool | None:
        """True: the server runs FANOUT.* itself; False: Lua scripts; None: not known yet."""
        return self._native

    # ------------------------------------------------------------ pub/sub

    async def publish(self, channel: bytes, data: bytes) -> int:
        reply: int = await self._command(self._publish_verb, channel, data)
        return reply

    async def subscribe(self, channel: bytes) -> None:
        await self._add(self._channels, b"SUBSCRIBE", channel)

    async def unsubscribe(self, channel: bytes) -> None:
        await self._remove(self._channels, b"UNSUBSCRIBE", channel)

    async def psubscribe(self, pattern: bytes) -> None:
        if self.cluster:
            raise CommandError("ERR pattern subscriptions are not supported on Redis Cluster: "
                               "sharded pub/sub (SSUBSCRIBE) has no patterns")
        await self._add(self._patterns, b"PSUBSCRIBE", pattern)

    async def punsubscribe(self, pattern: bytes) -> None:
        await self._remove(self._patterns, b"PUNSUBSCRIBE", pattern)

    # ------------------------------------------------------------ commands

    async def execute(self, *argv: Arg) -> Any:
        return await self._command(*argv)

    async def transaction(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        try:
            pipe = self._client.pipeline(transaction=True)
            for name, *args in commands:
                pipe.execute_command(name.decode() if isinstance(name, bytes) else str(name), *args)
            replies = await pipe.execute(raise_on_error=False)
        except ResponseError as error:
            raise command_error(error) from None
        except (RedisError, OSError, SlotNotCoveredError) as error:
            raise self._unavailable(error) from error
        except RedisClusterException as error:
            raise CommandError(f"ERR {error}") from None
        return [command_error(r) if isinstance(r, ResponseError) else r for r in replies]

    async def history_publish(self, channel: bytes, data: bytes, maxlen: int, ttl_ms: int) -> tuple[int, str]:
        """See Backend.history_publish."""
        offset, epoch = await self._fanout(
            [b"FANOUT.PUBLISH", channel, maxlen, ttl_ms, data],
            scripts.HISTORY_PUBLISH, _history_keys(channel), [channel, maxlen, ttl_ms, data, self._publish_verb])
        return int(offset), epoch.decode()

    async def presence_join(self, channel: bytes, conn: str, user: str, meta: bytes) -> tuple[bool, bool]:
        """See Backend.presence_join."""
        added, first = await self._fanout(
            [b"FANOUT.JOIN", channel, conn, user, meta],
            scripts.PRESENCE_JOIN, _presence_keys(channel), [channel, conn, user, meta, self._publish_verb])
        return bool(added), bool(first)

    async def presence_leave(self, channel: bytes, conn: str, user: str) -> tuple[bool, bool]:
        """See Backend.presence_leave."""
        removed, last = await self._fanout(
            [b"FANOUT.LEAVE", channel, conn, user],
            scripts.PRESENCE_LEAVE, _presence_keys(channel), [channel, conn, user, self._publish_verb])
        return bool(removed), bool(last)

    # ------------------------------------------------------------ internals: commands

    async def _command(self, name: Arg, *args: Arg) -> Any:
        # redis-py routes and looks up callbacks by a str command name.
        command = name.decode() if isinstance(name, bytes) else str(name)
        if self.cluster and args:
            # ... and by "CONFIG SET", "CLUSTER KEYSLOT" as one name (CONFIG SET goes to every node).
            sub = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            joined = f"{command} {sub}".upper()
            if joined in self._client.command_flags:  # type: ignore[union-attr]
                command, args = joined, args[1:]
            if command == "CONFIG SET":
                # Node-local settings (notify-keyspace-events ...) are meant for the whole cluster.
                return await self._on_all_nodes(command, *args)
        try:
            return await self._client.execute_command(command, *args)
        except ResponseError as error:
            raise command_error(error) from None
        except (RedisError, OSError, SlotNotCoveredError) as error:
            raise self._unavailable(error) from error
        except RedisClusterException as error:  # refused before sending: e.g. keys in several slots
            if "Missing key" in str(error):
                return await self._keyless(command, *args)
            raise CommandError(f"ERR {error}") from None

    async def _on_all_nodes(self, command: str, *args: Arg) -> Any:
        try:
            replies = await self._client.execute_command(command, *args, target_nodes=RedisCluster.ALL_NODES)
        except ResponseError as error:
            raise command_error(error) from None
        except (RedisError, OSError, RedisClusterException) as error:
            raise self._unavailable(error) from error
        # One reply per node when they differ; the common one when all agree (OK).
        if isinstance(replies, dict) and len(set(map(repr, replies.values()))) == 1:
            return next(iter(replies.values()))
        return replies

    async def _keyless(self, command: str, *args: Arg) -> Any:
        # A command with no key on a cluster (CLUSTER SLOTS, TIME, INFO ...): any node answers.
        cluster = self._client
        assert isinstance(cluster, RedisCluster)
        try:
            return await cluster.execute_command(command, *args, target_nodes=cluster.get_random_node())
        except ResponseError as error:
            raise command_error(error) from None
        except (RedisError, OSError, RedisClusterException) as error:
            raise self._unavailable(error) from error

    def _unavailable(self, error: BaseException) -> BackendUnavailable:
        return BackendUnavailable(f"broker at {self.address} unavailable: {error}")

    async def _fanout(self, native: list[Arg], script: scripts.Script, keys: list[bytes], args: list[Arg]) -> Any:
        if self._native is not False:
            try:
                reply = await self._command(*native)
                self._native = True
                return reply
            except CommandError as error:
                if self._native or "unknown command" not in str(error).lower():
                    raise
                self._native = False  # a real Redis / Valkey: run the Lua equivalents from now on
        try:
            return await self._command(b"EVALSHA", script.sha, len(keys), *keys, *args)
        except CommandError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
        # First use on this server (or after a restart / SCRIPT FLUSH): EVAL loads it.
        return await self._command(b"EVAL", script.source, len(keys), *keys, *args)

    # ------------------------------------------------------------ internals: subscriptions

    async def _add(self, names: set[bytes], verb: bytes, name: bytes) -> None:
        if name in names:
            return
        if not self._up:
            raise BackendUnavailable(f"broker at {self.address} unavailable: reconnecting")
        names.add(name)
        try:
            await self._send(verb, [name])
        except BaseException:
            names.discard(name)  # the caller forgets it too; a reconnect must not restore it
            raise

    async def _remove(self, names: set[bytes], verb: bytes, name: bytes) -> None:
        if name not in names:
            return
        names.discard(name)
        if not self._up:
            return  # gone with the connection, and not restored on reconnect
        try:
            await self._send(verb, [name])
        except BackendUnavailable:
            pass

    async def _send(self, verb: bytes, names: list[bytes]) -> None:
        if not self.cluster:
            link = self._links.get(self.address)
            if link is None:
                raise BackendUnavailable(f"broker at {self.address} unavailable: reconnecting")
            await link.command(verb, names)
            return
        # Sharded pub/sub: each channel on the master owning its slot, one per command.
        # Keyspace notifications are node-local plain pub/sub: every master, unsharded.
        sharded = b"S" + verb
        sends = []
        by_link: dict[str, list[bytes]] = {}
        for name in names:
            if name.startswith(KEYSPACE_PREFIXES):
                for link in self._links.values():
                    sends.append(link.command(verb, [name]))
            else:
                by_link.setdefault(self._shard_address(name), []).append(name)
        for address, group in by_link.items():
            link = self._links.get(address)
            if link is None:
                # A master we have no link to (failover, new node): reload the slot map.
                lost = BackendUnavailable(f"cluster node {address} has no pub/sub connection yet: reconnecting")
                if self._up:
                    self._link_lost(lost)
                raise lost
            sends.append(link.commands(sharded, group))
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, CommandError) and str(outcome).startswith("MOVED"):
                # The slot map changed (resharding, failover): reconnect to the new one.
                lost = BackendUnavailable(f"cluster at {self.address} resharded: {outcome}")
                self._link_lost(lost)
                raise lost
            if isinstance(outcome, BaseException):
                raise outcome

    def _shard_address(self, channel: bytes) -> str:
        cluster = self._client
        assert isinstance(cluster, RedisCluster)
        node = cluster.nodes_manager.get_node_from_slot(cluster.keyslot(channel))
        return f"{node.host}:{node.port}"

    # ------------------------------------------------------------ internals: connection

    async def _connect(self) -> None:
        """Open the pub/sub link(s) and restore every subscription; raises BackendUnavailable."""
        self._lost.clear()
        try:
            addresses = await self._link_addresses()
            for address in addresses:
                link = PubSubLink(self._new_connection(address), self._handler, self._link_lost, address)
                self._links[address] = link
                await link.open()
            try:
                # Bounded: a hung server accepts connections but never answers.
                await asyncio.wait_for(self._restore(), self.command_timeout)
            except asyncio.TimeoutError:
                raise BackendUnavailable(f"broker at {self.address} unavailable: no reply within "
                                         f"{self.command_timeout:g}s") from None
            if not all(link.alive for link in self._links.values()):
                raise BackendUnavailable(f"broker at {self.address} unavailable: lost while resubscribing")
        except BaseException:
            await self._close_links()
            raise
        self._up = True

    async def _restore(self) -> None:
        for link in self._links.values():
            await link.ping(self.command_timeout)
        if self.cluster:
            await self._send(b"SUBSCRIBE", sorted(self._channels))
        else:
            link = self._links[self.address]
            await link.command(b"SUBSCRIBE", sorted(self._channels))
            await link.command(b"PSUBSCRIBE", sorted(self._patterns))

    async def _link_addresses(self) -> list[str]:
        if not self.cluster:
            return [self.address]
        cluster = self._client
        assert isinstance(cluster, RedisCluster)
        try:
            if self._cluster_ready:
                # A fresh slot map: after a failover or resharding the masters changed.
                await cluster.nodes_manager.initialize()
            else:
                await cluster.initialize()
                self._cluster_ready = True
        except (RedisError, OSError, RedisClusterException) as error:
            raise self._unavailable(error) from error
        return [f"{node.host}:{node.port}" for node in cluster.get_primaries()]

    def _new_connection(self, address: str) -> AbstractConnection:
        # Same settings as the command connections (the timeout bounds the handshake),
        # but RESP2; the reader waits for messages with no timeout, keepalive PINGs
        # notice a dead peer.
        connection_class: type[AbstractConnection]
        if self.cluster:
            cluster = self._client
            assert isinstance(cluster, RedisCluster)
            node = cluster.get_node(node_name=address)
            assert node is not None
            kwargs = dict(node.connection_kwargs)
            kwargs.pop("response_callbacks", None)
            connection_class = node.connection_class
        else:
            assert self._pool is not None
            kwargs = dict(self._pool.connection_kwargs)
            connection_class = self._pool.connection_class
        kwargs.update(protocol=2)
        return connection_class(**kwargs)

    def _link_lost(self, error: Exception) -> None:
        if self._up:
            log.warning("%s", error)
        self._up = False
        self._lost.set()

    async def _close_links(self) -> None:
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.close()

    async def _keepalive(self) -> None:
        """Wait until a link is lost, PINGing the links every ``ping_interval``."""
        while not self._lost.is_set():
            try:
                await asyncio.wait_for(self._lost.wait(), self.ping_interval)
            except asyncio.TimeoutError:
                for link in list(self._links.values()):
                    try:
                        await link.ping(self.command_timeout)
                    except BackendUnavailable:
                        break  # the link reported itself lost

    async def _supervise(self) -> None:
        while not self._closed:
            await self._keepalive()
            if self._closed:
                return
            self._up = False
            await self._close_links()
            # The pool's connections died with the server: drop them rather than
            # letting the next calls find out one by one.
            if self._pool is not None:
                await self._pool.disconnect(inuse_connections=True)
            for delay in backoff_delays(self.min_backoff, self.max_backoff):
                if self._closed:
                    return
                await asyncio.sleep(delay)
                try:
                    await self._connect()
                except BackendUnavailable as error:
                    log.debug("reconnect to %s failed: %s", self.address, error)
                    continue
                log.warning("reconnected to %s; %d channels and %d patterns resubscribed",
                            self.address, len(self._channels), len(self._patterns))
                await self._notify_reconnect()
                break

    async def _notify_reconnect(self) -> None:
        if self._on_reconnect is None:
            return
        try:
            result = self._on_reconnect()
            if inspect.isawaitable(result):
                await result
        except Exception:  # noqa: BLE001 - the gateway's problem must not stop reconnecting
            log.exception("reconnect handler failed")


if TYPE_CHECKING:
    def _implements_backend(backend: RedisBackend) -> Backend:
        return backend  # mypy checks RedisBackend against the Backend protocol here
