"""RedisBackend: the Backend interface over RESP (see ``broker.backend.Backend``).

Works unchanged against our own ``fanout broker``, a real redis-server / Valkey,
and a Redis Cluster. Layout of one node's connections:

- commands (``execute``, ``transaction``, ``publish``, the FANOUT.* calls) share
  ONE auto-pipelined RESP3 connection (``CommandLink``): replies are raw hiredis
  values like MemoryBackend's (but simple strings arrive as bytes, RESP3 sets as
  lists). On a cluster, redis-py's RedisCluster client routes them by slot, with
  its response callbacks removed for the same raw values;
- every subscription rides ONE pub/sub connection per node (``PubSubLink``),
  whatever the number of channels, patterns and browsers; on a cluster, one per
  master, with sharded pub/sub (SSUBSCRIBE/SPUBLISH) so a publish travels only
  to the shard owning the channel's slot.

Faults: when the server drops or restarts, calls raise ``BackendUnavailable``
naming the address (after a timeout, the outcome of that call is unknown: the
server may still run it). Keepalive PINGs and a reply watchdog notice a hung
server or a half-open TCP connection. A supervisor task reconnects with
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
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence
from urllib.parse import urlparse

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from broker.backend import Backend, BackendUnavailable, MessageHandler, Pipelining, ReconnectHandler, Reconnecting
from broker.backends import scripts
from broker.backends.cluster import ClusterCommands
from broker.backends.command_link import CommandLink
from broker.backends.pubsub_link import PubSubLink
from broker.channel_keys import history_keys, once_key, presence_keys
from broker.resp import CommandError

__all__ = ["RedisBackend", "ReconnectHandler", "backoff_delays"]

log = logging.getLogger("fanout.backend")

Arg = bytes | str | int | float

CLUSTER_SCHEME = "redis+cluster"
# How long a failed node's pub/sub reader may take to deliver what it had received.
DRAIN_SECONDS = 0.2
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
    """

    def __init__(self, url: str, *, connect_timeout: float = 2.0, command_timeout: float = 5.0,
                 min_backoff: float = 0.05, max_backoff: float = 2.0, ping_interval: float = 5.0) -> None:
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
        # Cluster: redis-py's client routes commands (and knows the slot map).
        self._cluster: ClusterCommands | None = None
        # Single server: connection settings from the URL (never connects itself).
        self._pool: ConnectionPool | None = None
        if self.cluster:
            self._cluster = ClusterCommands(url, options)
            self.address = self._cluster.address
        else:
            self._pool = ConnectionPool.from_url(url, **options)
            kwargs = self._pool.connection_kwargs
            if "path" in kwargs:
                self.address = str(kwargs["path"])
            else:
                self.address = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        self._handler: MessageHandler = _ignore
        self._on_reconnect: ReconnectHandler | None = None
        # Desired subscriptions: what a (re)connected link must carry.
        self._channels: set[bytes] = set()
        self._patterns: set[bytes] = set()
        # Pub/sub links: one for a single server; per master address on a cluster.
        self._links: dict[str, PubSubLink] = {}
        # Single server: the one pipelined command connection (a cluster uses redis-py's client).
        self._commands: CommandLink | None = None
        self._lost = asyncio.Event()
        self._loss: BackendUnavailable | None = None
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
        if self._cluster is not None:
            await self._cluster.aclose()

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

    @property
    def pipelined(self) -> bool:
        """See Pipelining: one command connection to one server (not a cluster)."""
        return self._cluster is None

    def publish_nowait(self, channel: bytes, data: bytes) -> asyncio.Future[Any]:
        """See Pipelining.publish_nowait (single server only: ``pipelined``)."""
        return self._command_link().send(self._publish_verb, channel, data)

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
        if self._cluster is not None:
            return await self._cluster.transaction(commands)
        return await self._command_link().transaction(commands)

    async def history_publish(self, channel: bytes, data: bytes, maxlen: int, ttl_ms: int) -> tuple[int, str]:
        """See Backend.history_publish."""
        offset, epoch = await self._fanout(
            [b"FANOUT.PUBLISH", channel, maxlen, ttl_ms, data],
            scripts.HISTORY_PUBLISH, list(history_keys(channel)), [channel, maxlen, ttl_ms, data, self._publish_verb])
        return int(offset), epoch.decode()

    async def publish_once(self, channel: bytes, data: bytes, key: bytes, window_ms: int,
                           history: tuple[int, int] | None = None) -> tuple[bool, int, str]:
        """See Backend.publish_once."""
        once = once_key(channel, key)
        if history is not None:
            maxlen, ttl_ms = history
            reply = await self._fanout(
                [b"FANOUT.ONCE", once, window_ms, b"FANOUT.PUBLISH", channel, maxlen, ttl_ms, data],
                scripts.ONCE_HISTORY_PUBLISH, [*history_keys(channel), once],
                [channel, maxlen, ttl_ms, data, self._publish_verb, window_ms])
        else:
            reply = await self._fanout(
                [b"FANOUT.ONCE", once, window_ms, self._publish_verb, channel, data],
                scripts.ONCE_PUBLISH, [once], [channel, data, self._publish_verb, window_ms])
        duplicate, offset, epoch = reply
        return bool(duplicate), int(offset), epoch.decode() if isinstance(epoch, bytes) else str(epoch)

    async def presence_join(self, channel: bytes, conn: str, user: str, meta: bytes) -> tuple[bool, bool]:
        """See Backend.presence_join."""
        added, first = await self._fanout(
            [b"FANOUT.JOIN", channel, conn, user, meta],
            scripts.PRESENCE_JOIN, list(presence_keys(channel)), [channel, conn, user, meta, self._publish_verb])
        return bool(added), bool(first)

    async def presence_leave(self, channel: bytes, conn: str, user: str) -> tuple[bool, bool]:
        """See Backend.presence_leave."""
        removed, last = await self._fanout(
            [b"FANOUT.LEAVE", channel, conn, user],
            scripts.PRESENCE_LEAVE, list(presence_keys(channel)), [channel, conn, user, self._publish_verb])
        return bool(removed), bool(last)

    # ------------------------------------------------------------ internals: commands

    def _command_link(self) -> CommandLink:
        link = self._commands
        if link is None or not link.alive:
            raise BackendUnavailable(f"broker at {self.address} unavailable: reconnecting")
        return link

    async def _command(self, name: Arg, *args: Arg) -> Any:
        if self._cluster is not None:
            return await self._cluster.call(name, *args)
        return await self._command_link().call(name, *args)

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
        cluster = self._cluster
        if cluster is None:
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
                by_link.setdefault(cluster.shard_address(name), []).append(name)
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

    # ------------------------------------------------------------ internals: connection

    async def _connect(self) -> None:
        """Open the connections and restore every subscription; raises BackendUnavailable."""
        self._lost.clear()
        try:
            if self._pool is not None:
                self._commands = CommandLink(self._new_connection(self.address, protocol=3), self.address,
                                             self.command_timeout, self._link_lost)
                await self._commands.open()
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
            if not all(link.alive for link in self._links.values()) or (
                    self._commands is not None and not self._commands.alive):
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
        if self._cluster is None:
            return [self.address]
        return await self._cluster.masters()

    def _new_connection(self, address: str, protocol: int = 2) -> AbstractConnection:
        # Settings from the URL (the socket timeout bounds the handshake). Pub/sub
        # uses RESP2, so messages are plain arrays rather than RESP3 pushes.
        if self._cluster is not None:
            return self._cluster.connection(address, protocol)
        assert self._pool is not None
        kwargs = dict(self._pool.connection_kwargs, protocol=protocol)
        connection: AbstractConnection = self._pool.connection_class(**kwargs)
        return connection

    def _link_lost(self, error: Exception) -> None:
        if self._up:
            log.warning("%s", error)
            # What callers still waiting on the other connections are told.
            self._loss = error if isinstance(error, BackendUnavailable) else BackendUnavailable(str(error))
        self._up = False
        self._lost.set()

    async def _close_links(self, reason: BackendUnavailable | None = None) -> None:
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.close(reason)
        commands, self._commands = self._commands, None
        if commands is not None:
            await commands.close(reason)

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
            # Messages already received before the failure still reach the handler.
            await asyncio.gather(*(link.drain(DRAIN_SECONDS) for link in self._links.values()))
            await self._close_links(self._loss)
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

    def _reconnects(backend: RedisBackend) -> Reconnecting:
        return backend  # and against the Reconnecting capability

    def _pipelines(backend: RedisBackend) -> Pipelining:
        return backend  # and the Pipelining one
