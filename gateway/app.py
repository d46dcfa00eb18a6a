"""The aiohttp application: a thin shell over protocol, fanout, connection and auth.

``build_app`` wires one backend into the websocket endpoint ``/ws``, the HTTP API
and the static files of ``web/``; ``run_serve`` is ``fanout serve``: the embedded
broker (and its RESP port) plus this app on the HTTP port.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from prometheus_client import CollectorRegistry

from broker.backend import Backend, BackendUnavailable
from gateway import history, http_api, node, ops
from gateway.auth import Authenticator
from gateway.channels import ChannelPolicy
from gateway.connection import Counters
from gateway.fanout import Hub
from gateway.httpguard import HttpGuard, QuietBadRequests
from gateway.operations import now_ms
from gateway.state import STATE, GatewaySettings, GatewayState
from gateway.watch import LiveViews
from gateway.logs import fact
from gateway.metrics import GatewayCollector
from gateway.node_view import socket_path
from gateway.wsserver import FrontProtocol, run_heartbeats
from presence.tracker import PresenceTracker

__all__ = ["build_app", "run_serve"]

log = logging.getLogger("fanout.gateway")
WEB_ROOT = Path(__file__).resolve().parent.parent / "web"


# ------------------------------------------------------------------ websocket

async def websocket_endpoint(request: web.Request) -> web.StreamResponse:
    """``/ws`` without a websocket upgrade (upgrades never reach aiohttp: see wsserver)."""
    return http_api.json_error(400, "bad_request", "expected a websocket upgrade (Upgrade: websocket)")


# ----------------------------------------------------------------------- app

_STARTED = web.RequestKey("fanout_started", float)


@web.middleware
async def _log_requests(request: web.Request, handler: Any) -> web.StreamResponse:
    """At debug, note when a request started (logged by ``_log_response``)."""
    if log.isEnabledFor(logging.DEBUG):
        request[_STARTED] = time.perf_counter()
    return await handler(request)


async def _log_response(request: web.Request, response: web.StreamResponse) -> None:
    """At debug, one line per HTTP request: method, path, status, time. Logged as
    the response is prepared, when its status is final (a static file's 404 is
    decided only then)."""
    if log.isEnabledFor(logging.DEBUG):
        started = request.get(_STARTED)
        took = f" ({(time.perf_counter() - started) * 1000:.1f} ms)" if started is not None else ""
        log.debug("HTTP %s %s -> %d%s", request.method, request.path_qs, response.status, took)


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(WEB_ROOT / "index.html")


def build_app(backend: Backend, settings: GatewaySettings | None = None,
              auth: Authenticator | None = None) -> web.Application:
    settings = settings or GatewaySettings()
    counters = Counters()
    registry = CollectorRegistry(auto_describe=True)
    node_id = secrets.token_hex(4)
    state = GatewayState(settings=settings, backend=backend, auth=auth or Authenticator(),
                         hub=Hub(backend, counters), counters=counters, registry=registry,
                         channels=ChannelPolicy(settings.channel), node_id=node_id,
                         tracker=PresenceTracker(backend, node_id, int(settings.node_ttl * 1000)))
    registry.register(GatewayCollector(state))  # type: ignore[arg-type]
    registry.register(LiveViews(state.hub, settings))
    app = web.Application(client_max_size=settings.max_message_size + 1,
                          middlewares=[_log_requests, http_api.json_errors])
    app[STATE] = state

    async def fetch_missed(channel: bytes, offset: int, epoch: bytes) -> history.HistoryPage | None:
        name = channel.decode("utf-8", "replace")
        options = state.channels.options(name)
        if not options.history:
            return None
        return await history.missed(backend, name, options, now_ms(), offset, epoch.decode(),
                                    batch_bytes=history.batch_bytes(backend, settings.max_buffer))

    state.hub.fetch_missed = fetch_missed
    if hasattr(backend, "set_reconnect_handler"):
        backend.set_reconnect_handler(lambda: node.on_backplane_reconnect(state))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async for _ in node.lifetime(state):
            yield

    async def on_shutdown(app: web.Application) -> None:
        await node.shutdown_connections(state)

    app.cleanup_ctx.append(lifecycle)
    app.on_response_prepare.append(_log_response)
    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/ws", websocket_endpoint)
    app.router.add_routes(ops.routes())  # before http_api's /api/ catch-all
    app.router.add_routes(http_api.routes())
    app.router.add_get("/", _index)
    if WEB_ROOT.is_dir():
        app.router.add_static("/", WEB_ROOT, show_index=False)
    return app


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
    from gateway.cli import port_error

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
    from gateway.cli import (broker_config, configure_persistence, on_shutdown_command, persistence_words,
                             port_error, stop_on_signals)

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
    from gateway.cli import version
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
