"""Running a node: ``fanout serve`` (``run_serve``) and ``fanout broker`` (``run_broker``).

The process around the app: the embedded broker and its RESP port, the HTTP
port's front door (``gateway.wsserver``), signal handling, port errors and the
start-up lines. ``--workers N`` is ``gateway.workers``, which starts the embedded
broker the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from broker.backend import BackendUnavailable
from gateway import node, ops, version
from gateway.app import build_app
from gateway.auth import Authenticator
from gateway.channels import ChannelPolicy
from gateway.fast_http import FastHttp
from gateway.httpguard import HttpGuard, QuietBadRequests
from gateway.logs import fact
from gateway.node_view import socket_path
from gateway.options import SETTINGS, Kind
from gateway.own_keys import is_gateway_key
from gateway.settings import GatewaySettings
from gateway.state import STATE, GatewayState, NodeInfo
from gateway.wsserver import FrontProtocol, cap_send_buffer, run_heartbeats

__all__ = ["EmbeddedBroker", "StartFailed", "port_error", "run_broker", "run_serve", "start_embedded_broker",
           "stop_on_signals"]

log = logging.getLogger("fanout.gateway")


def settings_from_args(args: argparse.Namespace) -> GatewaySettings:
    """The settings the flags give (``gateway.options.SETTINGS``, each parsed by its option)."""
    values: dict[str, Any] = {}
    for option in SETTINGS:
        value = getattr(args, option.dest)
        if value is None:  # --channel not given: GatewaySettings' rules
            continue
        values[option.dest] = tuple(value) if option.kind is Kind.LIST else value
    return GatewaySettings(**values)


def _auth_words(args: argparse.Namespace) -> str:
    """The auth mode in words, for the start-up line."""
    if args.token_secret:
        sockets = "websockets need a token signed with --token-secret (make one with fanout token)"
    else:
        sockets = "open: no --token-secret, so any websocket may subscribe and publish anywhere (demo mode)"
    api = "the HTTP API needs --api-key" if args.api_key else "the HTTP API needs no key"
    resp = "the RESP port needs --requirepass" if args.requirepass else "the RESP port needs no password"
    return f"{sockets}; {api}; {resp}"


def _redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def forget_dead_nodes(broker: Any) -> None:
    """After a snapshot load, drop the heartbeat keys (``node:<id>``) it brought back.

    The embedded broker lives and dies with this process, so every node in a
    loaded snapshot is dead, even if its heartbeat TTL has not run out: without
    its heartbeat the startup sweep (``cleanup_orphans``) removes its connections
    from presence at once, with leave events, instead of showing ghosts for up to
    ``--node-ttl``.
    """
    db = broker.dbs[0]
    for key in [key for key in db.data if key.startswith(b"node:") and key.count(b":") == 1]:
        db.delete(key)
        broker.propagator.deletion(0, key)  # in the AOF too, when it is on
    broker.propagator.flush(wrap=False)


class StartFailed(Exception):
    """The node cannot start; the message says why (printed on stderr), ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class EmbeddedBroker:
    """The in-process broker and the RESP server around it."""

    server: Any  # broker.server.RespServer (imported lazily: a worker on a unix:// broker never loads the core)
    # [True] once a SHUTDOWN command stopped the process: it has saved already.
    saved: list[bool]

    @property
    def broker(self) -> Any:
        return self.server.broker

    async def close(self) -> None:
        """Save as Redis does on SIGTERM/SIGINT (when a schedule is set, and SHUTDOWN did
        not save already), then close the RESP server."""
        if not self.saved:
            self.broker.persistence.save_on_shutdown()
        await self.server.close()


async def start_embedded_broker(args: argparse.Namespace, port: int, stop: asyncio.Event, *,
                                unix_path: str | None = None, unix_trusted: bool = False,
                                fd_budget: Any = None, for_gateway: bool = True,
                                listening: Callable[[Any], None] | None = None) -> EmbeddedBroker:
    """The embedded broker of ``fanout serve`` (one process or ``--workers N``) and of
    ``fanout broker``: configured from the flags, SHUTDOWN wired to ``stop``, its RESP
    server started (which loads the AOF, when it is on), then its snapshot loaded.

    Args:
        port: the RESP port (-1: none; the server still runs the broker's active
            expiry cycle, and expired node heartbeats are how dead nodes leave presence).
        unix_path, unix_trusted, fd_budget: as ``RespServer`` takes them.
        for_gateway: drop the dead nodes' heartbeats from the loaded snapshot
            (``forget_dead_nodes``); not for ``fanout broker``, which may be the
            shared backplane of nodes still alive.
        listening: called with the server once it listens, before the snapshot loads.
    Raises:
        StartFailed: a refused persistence flag (exit code 2), an unreadable
            --aclfile, a port in use, an AOF or snapshot that cannot be loaded (1).
    """
    from broker.core import Broker
    from broker.persistence.aof import AofLoadError
    from broker.server import LoadFailed, RespServer, load_snapshot

    try:
        broker = Broker(config=broker_config(args))
    except ValueError as exc:  # an unreadable --aclfile
        raise StartFailed(str(exc)) from None
    if for_gateway:
        broker.evictor.set_exempt(is_gateway_key)  # never evicted: see gateway/own_keys.py
    problem = configure_persistence(broker, args)
    if problem:
        raise StartFailed(f"fanout: {problem}", 2)
    saved = on_shutdown_command(broker, stop)
    server = RespServer(broker, args.host, port, unix_path=unix_path, unix_trusted=unix_trusted,
                        fd_budget=fd_budget)
    try:
        await server.start()  # loads the AOF, when it is on
    except AofLoadError as exc:
        raise StartFailed(f"fanout {args.command}: {exc}") from None
    except OSError as exc:
        raise StartFailed(port_error("RESP", args.host, port, exc)) from None
    if listening is not None:
        listening(server)
    try:
        await load_snapshot(broker)
    except LoadFailed as exc:
        await server.close()
        raise StartFailed(f"fanout: {exc}") from None
    if for_gateway:
        forget_dead_nodes(broker)
    return EmbeddedBroker(server, saved)


async def run_serve(args: argparse.Namespace) -> int:
    """``fanout serve``: embedded broker + RESP port + gateway; stops on SIGINT/SIGTERM.

    Returns:
        The exit code: 0 after a clean stop, 1 when a port or the broker cannot be
        used, 2 for a refused setting (each printed on stderr).
    """
    from broker.fdlimit import FdBudget
    from broker.server import tune_gc

    settings = settings_from_args(args)
    try:
        ChannelPolicy(settings.channel)
    except ValueError as exc:
        print(f"fanout: {exc}", file=sys.stderr)
        return 2
    stop = stop_on_signals()
    fd_budget = FdBudget()  # the HTTP and RESP ports share the descriptors fairly
    embedded: EmbeddedBroker | None = None
    try:
        if args.broker.startswith("memory"):
            embedded = await start_embedded_broker(args, args.resp_port, stop, unix_path=args.unix_socket or None,
                                                   fd_budget=fd_budget)
        node_server = await _start_node(args, settings, embedded, fd_budget)
    except StartFailed as exc:
        print(exc, file=sys.stderr, flush=True)
        if embedded is not None:
            await embedded.server.close()  # not saved: it never served
        return exc.code
    _announce(args, node_server, embedded)
    # Full collections over many connections otherwise show up as latency spikes
    # of tens of milliseconds (p99 28 ms -> 1 ms at 1,000 connections).
    tune_gc()
    await stop.wait()
    fact("fanout serve: shutting down")
    await node_server.close()
    if embedded is not None:
        await embedded.close()
    fact("fanout serve: stopped")
    return 0


@dataclass
class _NodeServer:
    """The gateway's listeners: the HTTP port, and a worker's private socket."""

    state: GatewayState
    runner: web.AppRunner
    http_server: asyncio.Server
    fast: FastHttp
    private: asyncio.Server | None
    heartbeats: asyncio.Future[None]

    async def close(self) -> None:
        state = self.state
        state.shutting_down = True  # /readyz says so from here on
        self.http_server.close()
        self.fast.close()
        if self.private is not None:
            assert state.node is not None
            self.private.close()
            # (from Python 3.13 on, closing a unix server removes its socket file itself)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(socket_path(state.node.worker_dir, state.node.worker))
        self.heartbeats.cancel()
        # Close websockets (1001) before aiohttp drops the remaining connections.
        await node.shutdown_connections(state)
        await self.runner.cleanup()


async def _start_node(args: argparse.Namespace, settings: GatewaySettings, embedded: EmbeddedBroker | None,
                      fd_budget: Any) -> _NodeServer:
    """The backend, the app and its HTTP port (and a worker's private socket).

    Raises:
        StartFailed: a bad --broker URL (2), a broker that cannot be reached or an
            HTTP port in use (1).
    """
    from broker.backends import create_backend

    try:
        backend = create_backend(args.broker, embedded.broker if embedded is not None else None,
                                 command_timeout=args.broker_timeout)
    except ValueError as exc:
        raise StartFailed(f"fanout: {exc}", 2) from None
    origins = [origin.strip() for origin in (args.allowed_origins or "").split(",") if origin.strip()]
    auth = Authenticator(args.token_secret, args.api_key, origins)
    if not args.token_secret and args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("no --token-secret: anyone who can reach %s may subscribe and publish anywhere", args.host)
    app = build_app(backend, settings, auth)
    # keepalive_timeout: an idle kept-alive connection holds a descriptor like a
    # half-sent request does, so it gets no longer than a request head would.
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=settings.shutdown_timeout,
                           keepalive_timeout=settings.http_header_timeout)
    logging.getLogger("aiohttp.server").addFilter(QuietBadRequests())
    try:
        await runner.setup()
    except (BackendUnavailable, OSError) as exc:
        raise StartFailed(f"fanout: cannot reach the broker at {args.broker}: {exc}") from None
    state = app[STATE]
    state.node = NodeInfo(version=version(), broker_url=args.broker, worker=args.worker_index,
                              workers=args.worker_count or 1, worker_dir=args.worker_dir)
    http_factory = runner.server
    assert http_factory is not None
    loop = asyncio.get_running_loop()
    fast = FastHttp(state, http_factory)  # POST /api/publish without aiohttp; the rest handed to it
    guard = HttpGuard(settings.http_header_timeout, settings.max_pending_requests, fd_budget,
                      lambda: len(http_factory.connections) + len(state.connections)  # type: ignore[attr-defined]
                      + len(fast.connections))
    try:
        # Websocket upgrades are served by wsserver, POST /api/publish by fast_http,
        # everything else by aiohttp.
        http_server = await loop.create_server(lambda: FrontProtocol(state, fast, guard), args.host,
                                               args.http_port, reuse_address=True, backlog=4096,
                                               reuse_port=args.reuse_port)
    except OSError as exc:
        await runner.cleanup()
        raise StartFailed(port_error("HTTP", args.host, args.http_port, exc)) from None
    for sock in http_server.sockets:  # inherited by every accepted connection
        cap_send_buffer(sock, settings.max_buffer)
    private = None
    if state.node.worker_dir:  # siblings ask this worker here for its part of node-wide answers
        private_path = socket_path(state.node.worker_dir, state.node.worker)
        if os.path.exists(private_path):
            os.unlink(private_path)  # left by this worker's previous life
        private = await loop.create_unix_server(http_factory, private_path)
    heartbeats = asyncio.ensure_future(run_heartbeats(state))
    return _NodeServer(state, runner, http_server, fast, private, heartbeats)


def _announce(args: argparse.Namespace, node_server: _NodeServer, embedded: EmbeddedBroker | None) -> None:
    """The start-up lines (facts): where it listens, the broker, persistence, auth."""
    state = node_server.state
    assert state.node is not None
    for sock in node_server.http_server.sockets:
        host, port = sock.getsockname()[:2]
        fact(f"fanout serve: HTTP on http://{host}:{port}", http=f"{host}:{port}")
    if embedded is not None:
        for address in embedded.server.addresses:
            fact(f"fanout serve: RESP on {address}", resp=address)
        fact(f"fanout serve: broker embedded, in memory (node {state.node_id})", broker="memory://",
             node=state.node_id)
        fact(f"fanout serve: persistence {persistence_words(args)}", save=args.save,
             rdb=os.path.join(args.dir, args.dbfilename))
    else:
        fact(f"fanout serve: broker {_redacted(args.broker)} (node {state.node_id})",
             broker=_redacted(args.broker), node=state.node_id)
    fact(f"fanout serve: auth {_auth_words(args)}", auth=ops.auth_mode(state))
    fact(f"fanout serve: version {state.node.version}, log level {args.log_level}, "
         f"console at /console.html, readiness at /readyz", version=state.node.version)


def port_error(what: str, host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"fanout: cannot listen for {what} on {host}:{port}: the port is already in use"
    return f"fanout: cannot listen for {what} on {host}:{port}: {exc.strerror or exc}"


def stop_on_signals() -> asyncio.Event:
    """An event set on SIGINT or SIGTERM; install it before saying we listen."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_broker(args: argparse.Namespace) -> int:
    """``fanout broker``: the RESP broker alone; stops on SIGINT/SIGTERM or SHUTDOWN."""

    def listening(server: Any) -> None:
        for address in server.addresses:
            fact(f"fanout broker: RESP on {address}", resp=address)
        fact(f"fanout broker: persistence {persistence_words(args)}", save=args.save,
             rdb=os.path.join(args.dir, args.dbfilename))

    stop = stop_on_signals()
    try:
        embedded = await start_embedded_broker(args, args.port, stop, unix_path=args.unix_socket or None,
                                               for_gateway=False, listening=listening)
    except StartFailed as exc:
        print(exc, file=sys.stderr, flush=True)
        return exc.code
    await stop.wait()
    await embedded.close()
    fact("fanout broker: stopped")
    return 0


def persistence_words(args: argparse.Namespace) -> str:
    """The embedded broker's persistence in words, for the start-up line."""
    path = os.path.join(args.dir, args.dbfilename)
    aof = ""
    if args.appendonly == "yes":
        aof = f"; AOF in {os.path.join(args.dir, args.appenddirname)} (appendfsync {args.appendfsync})"
    if not args.save.strip():
        return f"off: no snapshots (--save \"\"); SAVE and BGSAVE still write {path}{aof}"
    return f"RDB snapshots to {path} (save {args.save}; and on shutdown){aof}"


def configure_persistence(broker: Any, args: argparse.Namespace) -> str | None:
    """Apply --dir/--dbfilename/--save to ``broker``; the problem, if one is refused."""
    from broker.resp import CommandError

    try:
        broker.config.set_many(persistence_config(args))
    except CommandError as exc:
        return exc.message.removeprefix("ERR ")
    return None


def on_shutdown_command(broker: Any, stop: asyncio.Event) -> list[bool]:
    """Let SHUTDOWN stop the process; the list becomes [True] once it did (it has
    saved already, so the exit path must not save again)."""
    done: list[bool] = []

    def shutdown() -> None:
        done.append(True)
        stop.set()

    broker.on_shutdown = shutdown
    return done


def persistence_config(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The CONFIG parameters the persistence flags set (validated by ``Config.set_many``)."""
    return [("dir", args.dir), ("dbfilename", args.dbfilename), ("save", args.save),
            ("appendonly", args.appendonly), ("appendfsync", args.appendfsync)]


def broker_config(args: argparse.Namespace) -> dict[str, str]:
    """The embedded broker's start-up CONFIG values: requirepass, and appenddirname
    (immutable at runtime, so not among ``persistence_config``)."""
    config = {"requirepass": args.requirepass} if args.requirepass else {}
    if args.aclfile:
        # relative to --dir, as Redis reads it after changing into its dir
        config["aclfile"] = args.aclfile
        config["dir"] = args.dir
    config["appenddirname"] = args.appenddirname
    config["maxmemory"] = str(args.maxmemory)
    config["maxmemory-policy"] = args.maxmemory_policy
    return config
