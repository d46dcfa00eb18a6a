"""The asyncio RESP server: read -> parse -> Broker.execute -> encode -> write.

A thin shell around ``broker.core``. Per connection it keeps one output list
that replies and pub/sub messages are appended to in order; replies to a read
batch are written once at the end of the batch, and messages published by other
clients are flushed once per event-loop iteration, however many arrive.

Limits, as Redis has them:
- a subscriber whose pending output passes the pub/sub hard limit, or stays over
  the soft limit for the soft period (``client-output-buffer-limit``, default
  32 MB / 8 MB / 60 s), is disconnected, so one reader that stopped reading
  cannot make the server's memory grow without bound;
- a client that does not read its replies stops being read from (TCP back
  pressure) until its socket drains;
- malformed RESP gets ``-ERR Protocol error: ...`` and only that connection closes;
- past ``maxclients`` a new connection gets ``-ERR max number of clients reached``;
  so does one past this port's share of file descriptors near the process's limit
  (``broker.fdlimit``).
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import socket
import time
from collections import deque
from typing import Any

from broker.config import ConfigApplyError, output_limits
from broker.client import BIG_READ, note_big_read
from broker.core import Broker, Client
from broker.fdlimit import FdBudget
from broker.persistence.aof import AppendOnlyFile
from broker.persistence.rdb import RdbError
from broker.pubsub import Message
from broker.resp import ProtocolError, QueryBufferFull, RequestParser, encode

__all__ = ["RespServer", "RespConnection", "load_snapshot", "LoadFailed"]

log = logging.getLogger("fanout.broker")

# How often the active expiry cycle runs (Redis: hz 10).
EXPIRE_INTERVAL = 0.1
# After the n-th wrong password on a connection, its next request waits n times
# this (at most AUTH_DELAY_MAX): a brute force of requirepass over one connection
# gets ~1 try a second instead of tens of thousands (Redis has no such delay).
AUTH_DELAY = 0.05
AUTH_DELAY_MAX = 1.0


class RespConnection(Client, asyncio.Protocol):
    """One RESP client connection."""

    def __init__(self, server: "RespServer") -> None:
        Client.__init__(self, server.broker)
        self.server = server
        self.loop = server.loop
        config = server.broker.config
        self.parser = RequestParser(int(config.get("proto-max-bulk-len")), int(config.get("client-query-buffer-limit")))
        self.transport: asyncio.Transport | None = None
        self.fd = -1
        # Encoded output not yet handed to the transport.
        self.out: list[bytes] = []
        self.flush_scheduled = False
        # Requests read while blocked (BLPOP ...), run once the client resumes.
        self.pending: deque[list[bytes]] = deque()
        self.block_timer: asyncio.TimerHandle | None = None
        # When this pub/sub client went over the soft output limit (ms), else None.
        self.soft_limit_since: int | None = None
        # While a wrong password's delay runs: input read meanwhile waits here.
        self.auth_timer: asyncio.TimerHandle | None = None
        self.held = b""

    # ------------------------------------------------------- asyncio hooks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1
        self.addr = _format_addr(transport.get_extra_info("peername"))
        self.laddr = _format_addr(transport.get_extra_info("sockname"))
        broker = self.broker
        if len(broker.clients) >= int(broker.config.get("maxclients")) \
                or not self.server.fd_budget.admit("resp"):
            broker.stats.rejected_connections += 1
            transport.write(b"-ERR max number of clients reached\r\n")
            transport.close()
            self.closed = True
            return
        broker.connect(self)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.block_timer is not None:
            self.block_timer.cancel()
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        self.broker.disconnect(self)
        self.server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self.auth_timer is not None:
            self.held += data
            return
        size = len(data)
        self.broker.stats.net_input_bytes += size
        if size > BIG_READ:
            note_big_read(self, size, self.broker.clock_ms())  # CLIENT LIST's qbuf-free
        parser = self.parser
        while True:
            # Until AUTH the parser has Redis's lower limits and returns one request at
            # a time, since each may be the AUTH that lifts them for the rest.
            # (authRequired: not while the default user needs no password and is on)
            parser.guest = not self.authenticated and not self.broker.acl.default_open()
            try:
                requests = parser.feed(data)
            except ProtocolError as exc:
                self._refuse(exc)
                return
            if self.pending or self.blocked is not None:
                self.pending.extend(requests)
                return
            failures = self.auth_failures
            done = self.broker.run_pipeline(self, requests, self.out, parser.raw)
            if self.blocked is None and not self.close_after_reply:
                self._flush()  # the common case, without _run's frame
            else:
                self._ran(requests, done)
                return
            if self.auth_failures != failures and not self.closed:
                self._delay_after_auth_failure()
                return
            if not parser.guest or self.closed or not requests or not parser.holds_data:
                return
            data = b""

    def _delay_after_auth_failure(self) -> None:
        """Stop reading for a while after a wrong password (the parser keeps what it holds)."""
        assert self.transport is not None
        self.transport.pause_reading()
        delay = min(AUTH_DELAY_MAX, AUTH_DELAY * self.auth_failures)
        self.auth_timer = self.loop.call_later(delay, self._after_auth_delay)

    def _after_auth_delay(self) -> None:
        self.auth_timer = None
        if self.closed or self.transport is None:
            return
        self.transport.resume_reading()
        data, self.held = self.held, b""
        self.data_received(data)

    def _refuse(self, exc: ProtocolError) -> None:
        """Run what came before the bad bytes, answer the error as Redis does, close."""
        if exc.before and not self.pending and self.blocked is None:
            self._run(exc.before)
        if not self.closed:
            if isinstance(exc, QueryBufferFull):
                self._close("query buffer limit")  # as Redis: no reply
            else:
                self._write_now(b"-ERR %s\r\n" % str(exc).encode("latin-1"))
                self._close("protocol error")

    def pause_writing(self) -> None:
        # The peer is not reading its replies: stop reading its requests.
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    # ----------------------------------------------------------- requests

    def _run(self, requests: list[list[bytes]]) -> None:
        self._ran(requests, self.broker.run_pipeline(self, requests, self.out))

    def _ran(self, requests: list[list[bytes]], done: int) -> None:
        """After run_pipeline ran ``done`` of ``requests``: block, close or flush."""
        if self.blocked is not None:
            self.pending.extend(requests[done:])
            self._arm_block_timer()
        elif self.close_after_reply:
            if self.server.aof.holding:
                # appendfsync always: the replies (QUIT's +OK too) leave after the fsync
                if self.transport is not None:
                    self.transport.pause_reading()
                self.server.aof.hold(self._flush_and_close)
                return
            self._flush_and_close()
            return
        self._flush()

    def _flush_and_close(self) -> None:
        self._flush()
        self._close("quit")

    def _arm_block_timer(self) -> None:
        blocked = self.blocked
        if blocked is not None and blocked.timeout_ms > 0:
            self.block_timer = self.loop.call_later(
                blocked.timeout_ms / 1000, self.broker.timeout_blocked, self)

    # ------------------------------------------------------ core callbacks

    def deliver(self, message: Message) -> None:
        # The fanout hot path: the frame (built once per message) is queued, and the
        # queue written once per loop iteration, when the output limits are checked
        # (what one iteration queues is the frames of one read's publishes, shared).
        self.out.append((message.frame2 if self.proto == 2 else message.frame3) or message.resp(self.proto))
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def resume(self, reply: Any) -> None:
        if self.block_timer is not None:
            self.block_timer.cancel()
            self.block_timer = None
        if self.closed:
            return
        self.out.append(encode(reply, self.proto))
        if self.pending:
            pending = list(self.pending)
            self.pending.clear()
            self._run(pending)
        else:
            self._flush()

    def kill(self, reason: str) -> None:
        self._close(reason)

    def output_buffer_size(self) -> int:
        size = sum(map(len, self.out))
        if self.transport is not None and not self.closed:
            size += self.transport.get_write_buffer_size()
        return size

    # -------------------------------------------------------------- output

    def _flush(self) -> None:
        self.flush_scheduled = False
        if not self.out or self.closed or self.transport is None:
            self.out.clear()
            return
        aof = self.server.aof
        if aof.holding:
            # appendfsync always: nothing leaves before the writes it may show are on
            # disk; the AOF's fsync at the end of this loop iteration releases it.
            if not self.flush_scheduled:
                self.flush_scheduled = True
                aof.hold(self._flush)
            return
        data = self.out[0] if len(self.out) == 1 else b"".join(self.out)
        self.out.clear()
        self.broker.stats.net_output_bytes += len(data)
        self.transport.write(data)
        if self.channels or self.patterns or self.shard_channels:
            self._check_limits()

    def _check_limits(self) -> None:
        server = self.server
        assert self.transport is not None
        pending = self.transport.get_write_buffer_size()
        if server.pubsub_hard_limit and pending > server.pubsub_hard_limit:
            self._over_limit()
        elif server.pubsub_soft_limit and pending > server.pubsub_soft_limit:
            now = self.broker.clock_ms()
            if self.soft_limit_since is None:
                self.soft_limit_since = now
            elif now - self.soft_limit_since >= server.pubsub_soft_seconds * 1000:
                self._over_limit()
        else:
            self.soft_limit_since = None

    def _over_limit(self) -> None:
        log.warning("client id=%d addr=%s closed for overcoming of output buffer limits", self.id, self.addr)
        self.broker.stats.client_output_limit_disconnections += 1
        self.out.clear()
        self._close("output buffer limit", abort=True)

    def _write_now(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def _close(self, reason: str, abort: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.out.clear()
        if self.transport is not None:
            if abort:
                self.transport.abort()  # drop what is buffered: that memory is the problem
            else:
                self.transport.close()
        self.broker.disconnect(self)


class RespServer:
    """Serves a Broker over TCP (and optionally a unix socket)."""

    def __init__(self, broker: Broker, host: str = "127.0.0.1", port: int = 6380,
                 unix_path: str | None = None, unix_trusted: bool = False,
                 fd_budget: FdBudget | None = None) -> None:
        self.broker = broker
        # Clients on the unix socket need no AUTH (for a socket in a private directory,
        # e.g. `fanout serve --workers`' link to its workers).
        self.unix_trusted = unix_trusted
        self.host = host
        self.port = port
        self.unix_path = unix_path
        self.loop = asyncio.get_event_loop()
        self.connections: set[RespConnection] = set()
        # Near the descriptor limit, clients past this port's share are refused as
        # past maxclients, so an HTTP flood in the same process cannot lock RESP out.
        self.fd_budget = fd_budget or FdBudget()
        self.fd_budget.register("resp", self.connections.__len__)
        self.servers: list[asyncio.AbstractServer] = []
        # the TCP listeners among them (CONFIG SET port / bind replaces them)
        self.tcp_servers: list[asyncio.AbstractServer] = []
        self._cron: asyncio.Task[None] | None = None
        # the append-only file (off unless appendonly yes); loaded by start()
        self.aof = broker.aof if broker.aof is not None else AppendOnlyFile(broker)
        self.pubsub_hard_limit = 0
        self.pubsub_soft_limit = 0
        self.pubsub_soft_seconds = 0
        broker.config.listeners.append(self._config_changed)
        self._config_changed("client-output-buffer-limit", broker.config.get("client-output-buffer-limit"))
        # BCAST invalidations go out once per loop iteration, after its reads (Redis's
        # beforeSleep): keys changed by several clients' commands share one message.
        broker.tracking.wake = lambda: self.loop.call_soon(broker.tracking.broadcast)

    @property
    def addresses(self) -> list[str]:
        addresses = []
        for server in self.servers:
            for sock in server.sockets:
                name = sock.getsockname()
                addresses.append(name if isinstance(name, str) else f"{name[0]}:{name[1]}")
        return addresses

    async def start(self) -> None:
        """Listen. Raises OSError (EADDRINUSE ...) if the port cannot be bound."""
        self.loop = asyncio.get_running_loop()
        self.aof.loop = self.loop
        if self.port >= 0:  # -1: no TCP port (a unix socket only, or just the expiry cycle)
            server = await self.loop.create_server(
                lambda: RespConnection(self), self.host, self.port, reuse_address=True, backlog=1024)
            self.servers.append(server)
            self.tcp_servers.append(server)
            self.port = server.sockets[0].getsockname()[1]
            self.broker.port = self.port  # type: ignore[attr-defined]
            # CONFIG GET port / bind: where this server listens (CONFIG SET moves it)
            self.broker.config.values["port"] = str(self.port)
            self.broker.config.values["bind"] = self.host
        if self.unix_path:
            if os.path.exists(self.unix_path):
                os.unlink(self.unix_path)
            self.servers.append(await self.loop.create_unix_server(self._unix_connection, self.unix_path,
                                                                   backlog=1024))
        # The AOF loads while the server listens (clients get -LOADING); AofLoadError
        # (nothing changed on disk) ends the start.
        try:
            await self.aof.start_async()
        except BaseException:
            await self.close()
            raise
        self._cron = asyncio.create_task(self._expire_cycle())
        tune_gc()

    def _unix_connection(self) -> "RespConnection":
        connection = RespConnection(self)
        connection.unix = True
        if self.unix_trusted:
            # the gateway's own workers: neither requirepass nor ACL rules are for them
            # (no user, as the in-process backend's clients), nor -OOM (Client.oom_exempt)
            connection.authenticated = True
            connection.user = None
            connection.oom_exempt = True
            connection.refresh_special()
        return connection

    async def _expire_cycle(self) -> None:
        persistence = self.broker.persistence
        while True:
            self.aof.cron()
            # serverCron's persistence part: reap a BGSAVE child, start due saves
            persistence.cron()
            expired = self.broker.active_expire()
            # What FLUSHALL dropped is freed a slice per iteration (broker.lazyfree).
            freeing = self.broker.lazyfree.free() if self.broker.lazyfree.queue else 0
            # Like Redis's fast cycle: go again at once while there is a backlog.
            # An eviction round that ran out of time goes on at once (evictionTimeProc).
            await asyncio.sleep(0 if expired >= 2000 or freeing or self.broker.evictor.running else EXPIRE_INTERVAL)

    async def close(self) -> None:
        if self._cron is not None:
            self._cron.cancel()
        self.aof.flush()  # the last iteration's writes, before anyone is told goodbye
        for server in self.servers:
            server.close()
        for connection in list(self.connections):
            connection.kill("server shutdown")
        for server in self.servers:
            await server.wait_closed()
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)
        self.aof.close()

    def _config_changed(self, name: str, value: str) -> None:
        if name in ("port", "bind"):
            self._rebind(name, value)
        elif name == "client-output-buffer-limit":
            hard, soft, seconds = output_limits(value, "pubsub")
            self.pubsub_hard_limit, self.pubsub_soft_limit, self.pubsub_soft_seconds = hard, soft, seconds
        elif name == "proto-max-bulk-len":
            for connection in self.connections:
                connection.parser.max_bulk_len = int(value)
        elif name == "client-query-buffer-limit":
            for connection in self.connections:
                connection.parser.query_limit = int(value)


    def _rebind(self, name: str, value: str) -> None:
        """CONFIG SET port / bind (Redis's updatePort / applyBind): listen on the new
        address first, then close the old listeners; connections already open stay.
        Port 0 closes the TCP listeners. Raises ConfigApplyError, listening where it
        did, when an address cannot be bound (CONFIG SET then puts the values back).
        """
        port, host = (int(value), self.host) if name == "port" else (self.port, value)
        if (port, host) == (self.port, self.host) and (self.tcp_servers or port <= 0):
            return  # unchanged: Redis applies only what changed
        sockets: list[socket.socket] = []
        if port > 0:
            try:
                sockets = listen_sockets(host.split(), port)
            except OSError as exc:
                log.warning("CONFIG SET %s %s: cannot listen: %s", name, value, exc)
                raise ConfigApplyError("Unable to listen on this port. Check server logs." if name == "port"
                                       else "Failed to bind to specified addresses.") from None
        for server in self.tcp_servers:
            server.close()
            self.servers.remove(server)
        self.tcp_servers = []
        self.port, self.host = port, host
        self.broker.port = port  # type: ignore[attr-defined]
        for sock in sockets:
            self.loop.create_task(self._serve_socket(sock))

    async def _serve_socket(self, sock: socket.socket) -> None:
        server = await self.loop.create_server(lambda: RespConnection(self), sock=sock, backlog=1024)
        self.servers.append(server)
        self.tcp_servers.append(server)


# Errors of an optional ("-" prefixed) bind address that only skip it (listenToPort)
_SKIPPABLE = {errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT, errno.ENOPROTOOPT, errno.ESOCKTNOSUPPORT,
              errno.EAFNOSUPPORT}


def listen_sockets(addresses: list[str], port: int) -> list[socket.socket]:
    """Listening sockets on ``port`` of each address, as Redis's ``bind``: ``*`` every
    IPv4 address, ``::*`` every IPv6 one, ``-`` before an address makes it optional;
    none given: ``* -::*``. All or nothing: OSError closes what was opened."""
    opened: list[socket.socket] = []
    try:
        for address in addresses or ["*", "-::*"]:
            optional = address.startswith("-")
            address = address.lstrip("-")
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            host = "" if address in ("*", "::*") else address
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)
            except OSError as exc:
                if optional and exc.errno in _SKIPPABLE:
                    continue
                raise
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((host, port))
                sock.listen(1024)
                sock.setblocking(False)
            except OSError as exc:
                sock.close()
                if optional and exc.errno in _SKIPPABLE:
                    continue
                raise
            opened.append(sock)
    except OSError:
        for sock in opened:
            sock.close()
        raise
    return opened


class LoadFailed(Exception):
    """The RDB file exists but cannot be loaded: the server must not start."""


async def load_snapshot(broker: Broker) -> None:
    """Load ``dir``/``dbfilename`` into ``broker`` at start-up, if it exists.

    The file is parsed in a worker thread while the event loop keeps answering
    (clients get ``-LOADING``), the log shows progress every second, and the
    parsed dataset is swapped in on the loop's thread at the end, all at once.

    Raises:
        LoadFailed: the file is corrupt or holds what fanout cannot load (the
            message names the file and the offset); nothing was loaded.
    """
    snapshots = broker.persistence
    path = snapshots.path
    if broker.config.get("appendonly") == "yes" or not os.path.exists(path):
        return  # with the AOF on, it alone is loaded (RespServer.start did), as Redis does
    started = time.monotonic()
    last_log = [started]

    def progress(keys: int, offset: int) -> None:
        now = time.monotonic()
        if now - last_log[0] >= 1.0:
            last_log[0] = now
            log.info("Loading RDB: %d keys, %d%% of %s", keys, offset * 100 // max(size, 1), path)

    log.info("Loading RDB produced by fanout from %s", path)
    snapshots.set_loading(True)
    try:
        data = await asyncio.to_thread(snapshots.read_file)
        size = len(data or b"")
        if data is None:
            return
        try:
            dbs, expires, report = await asyncio.to_thread(snapshots.parse, data, progress)
            snapshots.install(dbs, expires, report)
        except RdbError as exc:
            raise LoadFailed(f"cannot load {path}: {exc}") from None
    finally:
        snapshots.set_loading(False)
    log.info("Done loading RDB, keys loaded: %d, keys expired: %d.", report.keys, report.expired_skipped)
    log.info("DB loaded from disk: %.3f seconds", time.monotonic() - started)


def _format_addr(name: Any) -> str:
    if isinstance(name, tuple):
        return f"{name[0]}:{name[1]}"
    if isinstance(name, str):
        return f"{name}:0"
    return ""


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path.

    A keyspace holds millions of tracked objects (tuples of sorted sets, dicts of
    hashes); every full collection walks all of them, which shows up as pauses and
    lost throughput (ZADD into a 100k-member set ran at half speed). Objects that
    exist at start-up are frozen out of collection and collections run less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def install_uvloop() -> bool:
    """Use uvloop's event loop where it is installed (it is a dependency on Linux)."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
