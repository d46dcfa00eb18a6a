"""The aiohttp application: a thin shell over protocol, fanout, connection and auth.

``build_app`` wires one backend into the websocket endpoint ``/ws``, the HTTP API
and the static files of ``web/``; ``run_serve`` is ``fanout serve``: the embedded
broker (and its RESP port) plus this app on the HTTP port.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from broker.backend import Backend, BackendUnavailable
from gateway import http_api
from gateway.auth import Authenticator
from gateway.connection import Connection, Counters
from gateway.fanout import Hub
from gateway.protocol import BadRequest, Request, encode_error, encode_reply, parse_request
from gateway.ratelimit import TokenBucket
from gateway.state import STATE, GatewaySettings, GatewayState
from gateway.watch import LiveViews, handle_watch, watch_count
from gateway.wsserver import FrontProtocol, run_heartbeats

__all__ = ["build_app", "run_serve"]

log = logging.getLogger("fanout.gateway")
WEB_ROOT = Path(__file__).resolve().parent.parent / "web"


# ------------------------------------------------------------------ websocket

async def websocket_endpoint(request: web.Request) -> web.StreamResponse:
    """``/ws`` without a websocket upgrade (upgrades never reach aiohttp: see wsserver)."""
    return http_api.json_error(400, "bad_request", "expected a websocket upgrade (Upgrade: websocket)")


async def handle_message(state: GatewayState, connection: Connection, text: str) -> None:
    try:
        request = parse_request(text)
    except BadRequest as exc:
        connection.send_reply(encode_error(exc.request_id, exc.code, exc.message))
        return
    try:
        connection.send_reply(await _dispatch(state, connection, request))
    except BadRequest as exc:
        connection.send_reply(encode_error(request.id, exc.code, exc.message))
    except BackendUnavailable as exc:
        connection.send_reply(encode_error(request.id, "unavailable", f"the broker is unavailable: {exc}"))


async def _dispatch(state: GatewayState, connection: Connection, request: Request) -> bytes:
    op, target = request.op, request.target
    identity = connection.identity
    hub = state.hub
    if op == "subscribe" or op == "psubscribe":
        kind = "channel" if op == "subscribe" else "pattern"
        if not identity.can_subscribe(target):
            raise BadRequest("forbidden", f"not allowed to subscribe to {kind} {target!r}")
        if len(connection.channels) + len(connection.patterns) + watch_count(hub, connection) \
                >= state.settings.max_subscriptions:
            raise BadRequest("limit_exceeded", f"subscription limit of {state.settings.max_subscriptions} "
                             f"per connection reached; cannot subscribe to {kind} {target!r}")
        if op == "subscribe":
            await hub.subscribe(connection, target.encode())
            return encode_reply(request.id, channel=target)
        await hub.psubscribe(connection, target.encode())
        return encode_reply(request.id, pattern=target)
    if op == "unsubscribe":
        if not await hub.unsubscribe(connection, target.encode()):
            raise BadRequest("not_subscribed", f"not subscribed to channel {target!r}")
        return encode_reply(request.id, channel=target)
    if op == "punsubscribe":
        if not await hub.punsubscribe(connection, target.encode()):
            raise BadRequest("not_subscribed", f"not subscribed to pattern {target!r}")
        return encode_reply(request.id, pattern=target)
    if op == "publish":
        if not identity.can_publish(target):
            raise BadRequest("forbidden", f"not allowed to publish on channel {target!r}")
        bucket = connection.publish_bucket
        if bucket is None:  # made on the first publish: most connections only listen
            bucket = connection.publish_bucket = TokenBucket(state.settings.publish_rate,
                                                             state.settings.publish_burst)
        if not bucket.allow():
            raise BadRequest("rate_limited", f"publish rate limit of {bucket.rate:g}/s exceeded; "
                             f"retry in {bucket.retry_after():.3f}s")
        await state.backend.publish(target.encode(), request.data_json)
        state.counters.messages_in += 1
        return encode_reply(request.id, channel=target)
    if op == "watch" or op == "unwatch":
        return await handle_watch(hub, connection, request)
    if op == "ping":
        return encode_reply(request.id, pong=True)
    raise BadRequest("unknown_op", f"unknown op {op!r}")  # parse_request already refuses these


# ------------------------------------------------------------------- metrics

class _GatewayCollector:
    """Exposes the hub's plain counters in the Prometheus format at scrape time."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        state = self.state
        counters = state.counters
        yield GaugeMetricFamily("fanout_connections", "Open websocket connections", value=len(state.connections))
        yield GaugeMetricFamily("fanout_subscriptions", "Channel and pattern subscriptions of connections",
                                value=state.hub.subscription_count)
        yield GaugeMetricFamily("fanout_channels", "Channels with local subscribers",
                                value=len(state.hub.channels))
        yield CounterMetricFamily("fanout_connections_opened", "Websocket connections accepted",
                                  value=counters.connections_total)
        yield CounterMetricFamily("fanout_messages_in", "Messages published through the gateway",
                                  value=counters.messages_in)
        yield CounterMetricFamily("fanout_messages_out", "Events delivered to connections",
                                  value=counters.deliveries)
        yield CounterMetricFamily("fanout_messages_dropped", "Events skipped for slow connections",
                                  value=counters.dropped)
        disconnects = CounterMetricFamily("fanout_disconnects", "Closed connections by reason",
                                          labels=["reason"])
        for reason, count in sorted(counters.disconnects.items()):
            disconnects.add_metric([reason], count)
        yield disconnects
        rejected = CounterMetricFamily("fanout_rejected_connections", "Refused websocket upgrades by reason",
                                       labels=["reason"])
        for reason, count in sorted(counters.rejected.items()):
            rejected.add_metric([reason], count)
        yield rejected


# ----------------------------------------------------------------------- app

async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(WEB_ROOT / "index.html")


def build_app(backend: Backend, settings: GatewaySettings | None = None,
              auth: Authenticator | None = None) -> web.Application:
    settings = settings or GatewaySettings()
    counters = Counters()
    registry = CollectorRegistry(auto_describe=True)
    state = GatewayState(settings=settings, backend=backend, auth=auth or Authenticator(),
                         hub=Hub(backend, counters), counters=counters, registry=registry)
    registry.register(_GatewayCollector(state))  # type: ignore[arg-type]
    registry.register(LiveViews(state.hub, settings))
    app = web.Application(client_max_size=settings.max_message_size + 1)
    app[STATE] = state

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await backend.start()
        yield
        await backend.close()

    async def on_shutdown(app: web.Application) -> None:
        await shutdown_connections(state)

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/ws", websocket_endpoint)
    app.router.add_routes(http_api.routes())
    app.router.add_get("/", _index)
    if WEB_ROOT.is_dir():
        app.router.add_static("/", WEB_ROOT, show_index=False)
    return app


async def shutdown_connections(state: GatewayState) -> None:
    """Close every websocket with 1001 (going away), within the shutdown deadline."""
    state.shutting_down = True
    connections = list(state.connections)
    for connection in connections:
        connection.close_reason = "server_shutdown"
    if connections:
        await asyncio.wait([asyncio.ensure_future(c.close(1001, "server shutting down", "server_shutdown"))
                            for c in connections], timeout=state.settings.shutdown_timeout)


def settings_from_args(args: argparse.Namespace) -> GatewaySettings:
    settings = GatewaySettings()
    for name in vars(settings):
        value = getattr(args, name, None)
        if value is not None:
            setattr(settings, name, type(getattr(settings, name))(value))
    return settings


async def run_serve(args: argparse.Namespace) -> int:
    """``fanout serve``: embedded broker + RESP port + gateway; stops on SIGINT/SIGTERM."""
    from broker.backends import create_backend
    from broker.core import Broker
    from broker.server import RespServer, tune_gc
    from gateway.cli import port_error, stop_on_signals

    config = {"requirepass": args.requirepass} if args.requirepass else {}
    broker = Broker(config=config)
    stop = stop_on_signals()
    resp_server = None
    if args.resp_port >= 0:
        resp_server = RespServer(broker, args.host, args.resp_port)
        try:
            await resp_server.start()
        except OSError as exc:
            print(port_error("RESP", args.host, args.resp_port, exc), file=sys.stderr)
            return 1
    try:
        backend = create_backend(args.broker, broker)
    except ValueError as exc:
        print(f"fanout: {exc}", file=sys.stderr)
        return 2
    origins = [origin.strip() for origin in (args.allowed_origins or "").split(",") if origin.strip()]
    auth = Authenticator(args.token_secret, args.api_key, origins)
    if not args.token_secret and args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("no --token-secret: anyone who can reach %s may subscribe and publish anywhere", args.host)
    app = build_app(backend, settings_from_args(args), auth)
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=settings_from_args(args).shutdown_timeout)
    await runner.setup()
    state = app[STATE]
    http_factory = runner.server
    assert http_factory is not None
    loop = asyncio.get_running_loop()
    try:
        # Websocket upgrades are served by wsserver; everything else by aiohttp.
        http_server = await loop.create_server(lambda: FrontProtocol(state, http_factory), args.host,
                                               args.http_port, reuse_address=True, backlog=4096)
    except OSError as exc:
        print(port_error("HTTP", args.host, args.http_port, exc), file=sys.stderr)
        await runner.cleanup()
        if resp_server is not None:
            await resp_server.close()
        return 1
    heartbeats = asyncio.ensure_future(run_heartbeats(state))
    for sock in http_server.sockets:
        host, port = sock.getsockname()[:2]
        print(f"fanout serve: HTTP on http://{host}:{port}", flush=True)
    if resp_server is not None:
        for address in resp_server.addresses:
            print(f"fanout serve: RESP on {address}", flush=True)
    # Full collections over many connections otherwise show up as latency spikes
    # of tens of milliseconds (p99 28 ms -> 1 ms at 1,000 connections).
    tune_gc()
    await stop.wait()
    print("fanout serve: shutting down", flush=True)
    http_server.close()
    heartbeats.cancel()
    # Close websockets (1001) before aiohttp drops the remaining connections.
    await shutdown_connections(state)
    await runner.cleanup()
    if resp_server is not None:
        await resp_server.close()
    print("fanout serve: stopped", flush=True)
    return 0
