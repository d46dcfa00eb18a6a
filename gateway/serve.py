"""Running a node: ``fanout serve`` (``run_serve``) and ``fanout broker`` (``run_broker``).

The process around the app: the embedded broker and its RESP port, the HTTP
port's front door (``gateway.wsserver``), signal handling, port errors and the
start-up lines. ``--workers N`` is ``gateway.workers``, which starts the embedded
broker the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from broker.backend import BackendUnavailable
from gateway import node, ops, version
from gateway.app import build_app
from gateway.auth import Authenticator
from gateway.channels import ChannelPolicy
from gateway.httpguard import HttpGuard, QuietBadRequests
from gateway.logs import fact
from gateway.node_view import socket_path
from gateway.state import STATE, GatewaySettings
from gateway.wsserver import FrontProtocol, run_heartbeats

__all__ = ["port_error", "run_broker", "run_serve", "start_embedded", "stop_on_signals"]

log = logging.getLogger("fanout.gateway")


def settings_from_args(args: argparse.Namespace) -> GatewaySettings:
    settings = GatewaySettings()
    for name in vars(settings):
        value = getattr(args, name, None)
        if value is not None:
            setattr(settings, name, type(getattr(settings, name))(value))
    return settings


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


async def start_embedded(resp_server: Any, host: str, port: int) -> int | None:
    """Start the embedded broker's RESP server (which loads the AOF, when it is on),
    load its snapshot (if any) and drop the dead nodes' heartbeats from it
    (``forget_dead_nodes``).

    Args:
        resp_server: a broker.server.RespServer around the embedded broker.
        host, port: as given, for the message when the port is taken.
    Returns:
        None when it serves; else the exit code, after printing why on stderr.
    """
    from broker.persistence.aof import AofLoadError
    from broker.server import LoadFailed, load_snapshot

    try:
        await resp_server.start()  # loads the AOF, when it is on
    except AofLoadError as exc:
        print(f"fanout serve: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(port_error("RESP", host, port, exc), file=sys.stderr)
        return 1
    try:
        await load_snapshot(resp_server.broker)
    except LoadFailed as exc:
        print(f"fanout: {exc}", file=sys.stderr, flush=True)
        await resp_server.close()
        return 1
    forget_dead_nodes(resp_server.broker)
    return None


async def run_serve(args: argparse.Namespace) -> int:
    """``fanout serve``: embedded broker + RESP port + gateway; stops on SIGINT/SIGTERM."""
    from broker.backends import create_backend
    from broker.core import Broker
    from broker.fdlimit import FdBudget
    from broker.server import RespServer, tune_gc

    try:
        ChannelPolicy(settings_from_args(args).channel)
    except ValueError as exc:
        print(f"fanout: {exc}", file=sys.stderr)
        return 2
    embedded = args.broker.startswith("memory")
    broker = Broker(config=broker_config(args)) if embedded else None
    if broker is not None:
        problem = configure_persistence(broker, args)
        if problem:
            print(f"fanout: {problem}", file=sys.stderr)
            return 2
    stop = stop_on_signals()
    saved = on_shutdown_command(broker, stop) if broker is not None else []
    resp_server = None
    fd_budget = FdBudget()  # the HTTP and RESP ports share the descriptors fairly
    if broker is not None:
        # Also with --resp-port -1: the server runs the broker's active expiry cycle
        # (expired node heartbeats are how dead nodes leave presence).
        resp_server = RespServer(broker, args.host, args.resp_port, unix_path=args.unix_socket or None,
                                 fd_budget=fd_budget)
        failed = await start_embedded(resp_server, args.host, args.resp_port)
        if failed is not None:
            return failed
    try:
        backend = create_backend(args.broker, broker, command_timeout=getattr(args, "broker_timeout", 5.0))
    except ValueError as exc:
        print(f"fanout: {exc}", file=sys.stderr)
        return 2
    origins = [origin.strip() for origin in (args.allowed_origins or "").split(",") if origin.strip()]
    auth = Authenticator(args.token_secret, args.api_key, origins)
    if not args.token_secret and args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("no --token-secret: anyone who can reach %s may subscribe and publish anywhere", args.host)
    app = build_app(backend, settings_from_args(args), auth)
    settings = settings_from_args(args)
    # keepalive_timeout: an idle kept-alive connection holds a descriptor like a
    # half-sent request does, so it gets no longer than a request head would.
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=settings.shutdown_timeout,
                           keepalive_timeout=settings.http_header_timeout)
    logging.getLogger("aiohttp.server").addFilter(QuietBadRequests())
    try:
        await runner.setup()
    except (BackendUnavailable, OSError) as exc:
        print(f"fanout: cannot reach the broker at {args.broker}: {exc}", file=sys.stderr)
        if resp_server is not None:
            await resp_server.close()
        return 1
    state = app[STATE]
    state.node = ops.NodeInfo(version=version(), broker_url=args.broker,
                              worker=int(getattr(args, "worker_index", 0) or 0),
                              workers=int(getattr(args, "worker_count", 0) or 1),
                              worker_dir=getattr(args, "worker_dir", "") or "")
    http_factory = runner.server
    assert http_factory is not None
    loop = asyncio.get_running_loop()
    guard = HttpGuard(settings.http_header_timeout, settings.max_pending_requests, fd_budget,
                      lambda: len(http_factory.connections) + len(state.connections))  # type: ignore[attr-defined]
    try:
        # Websocket upgrades are served by wsserver; everything else by aiohttp.
        http_server = await loop.create_server(lambda: FrontProtocol(state, http_factory, guard), args.host,
                                               args.http_port, reuse_address=True, backlog=4096,
                                               reuse_port=bool(getattr(args, "reuse_port", False)))
    except OSError as exc:
        print(port_error("HTTP", args.host, args.http_port, exc), file=sys.stderr)
        await runner.cleanup()
        if resp_server is not None:
            await resp_server.close()
        return 1
    private = None
    if state.node.worker_dir:  # siblings ask this worker here for its part of node-wide answers
        private_path = socket_path(state.node.worker_dir, state.node.worker)
        if os.path.exists(private_path):
            os.unlink(private_path)  # left by this worker's previous life
        private = await loop.create_unix_server(http_factory, private_path)
    heartbeats = asyncio.ensure_future(run_heartbeats(state))
    for sock in http_server.sockets:
        host, port = sock.getsockname()[:2]
        fact(f"fanout serve: HTTP on http://{host}:{port}", http=f"{host}:{port}")
    if resp_server is not None:
        for address in resp_server.addresses:
            fact(f"fanout serve: RESP on {address}", resp=address)
    if broker is None:
        fact(f"fanout serve: broker {_redacted(args.broker)} (node {state.node_id})",
             broker=_redacted(args.broker), node=state.node_id)
    else:
        fact(f"fanout serve: broker embedded, in memory (node {state.node_id})", broker="memory://",
             node=state.node_id)
        fact(f"fanout serve: persistence {persistence_words(args)}", save=args.save,
             rdb=os.path.join(args.dir, args.dbfilename))
    fact(f"fanout serve: auth {_auth_words(args)}", auth=ops.auth_mode(state))
    fact(f"fanout serve: version {state.node.version}, log level {args.log_level}, "
         f"console at /console.html, readiness at /readyz", version=state.node.version)
    # Full collections over many connections otherwise show up as latency spikes
    # of tens of milliseconds (p99 28 ms -> 1 ms at 1,000 connections).
    tune_gc()
    await stop.wait()
    fact("fanout serve: shutting down")
    state.shutting_down = True  # /readyz says so from here on
    http_server.close()
    if private is not None:
        private.close()
        os.unlink(socket_path(state.node.worker_dir, state.node.worker))
    heartbeats.cancel()
    # Close websockets (1001) before aiohttp drops the remaining connections.
    await node.shutdown_connections(state)
    await runner.cleanup()
    if broker is not None and not saved:
        broker.persistence.save_on_shutdown()  # SIGTERM/SIGINT: as Redis, when a schedule is set
    if resp_server is not None:
        await resp_server.close()
    fact("fanout serve: stopped")
    return 0


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
    from broker.core import Broker
    from broker.persistence.aof import AofLoadError
    from broker.server import LoadFailed, RespServer, load_snapshot

    broker = Broker(config=broker_config(args))
    problem = configure_persistence(broker, args)
    if problem:
        print(f"fanout: {problem}", file=sys.stderr)
        return 2
    stop = stop_on_signals()
    saved = on_shutdown_command(broker, stop)
    server = RespServer(broker, args.host, args.port, unix_path=args.unix_socket or None)
    try:
        await server.start()
    except AofLoadError as exc:
        print(f"fanout broker: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(port_error("RESP", args.host, args.port, exc), file=sys.stderr)
        return 1
    for address in server.addresses:
        fact(f"fanout broker: RESP on {address}", resp=address)
    fact(f"fanout broker: persistence {persistence_words(args)}", save=args.save,
         rdb=os.path.join(args.dir, args.dbfilename))
    try:
        await load_snapshot(broker)
    except LoadFailed as exc:
        print(f"fanout: {exc}", file=sys.stderr, flush=True)
        await server.close()
        return 1
    await stop.wait()
    if not saved:
        broker.persistence.save_on_shutdown()
    await server.close()
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
    config["appenddirname"] = args.appenddirname
    return config
