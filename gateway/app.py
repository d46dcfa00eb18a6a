"""The aiohttp application: its construction, and nothing else.

``build_app`` wires one backend into the websocket endpoint ``/ws``, the HTTP API
and the static files of ``web/``. ``fanout serve`` (``gateway.serve.run_serve``)
runs it on the HTTP port.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from broker.backend import Backend, InProcess, Pipelining, Reconnecting
from gateway import errors, history, http_api, node, ops
from gateway.auth import Authenticator
from gateway.channels import ChannelPolicy
from gateway.connection import Counters
from gateway.fanout import Hub, MissedReader
from gateway.operations import now_ms
from gateway.settings import GatewaySettings
from gateway.state import STATE, GatewayState
from gateway.watch import LiveViews
from gateway.metrics import GatewayCollector
from presence.tracker import PresenceTracker

__all__ = ["build_app"]

log = logging.getLogger("fanout.gateway")
WEB_ROOT = Path(__file__).resolve().parent.parent / "web"


# ------------------------------------------------------------------ websocket

async def websocket_endpoint(request: web.Request) -> web.StreamResponse:
    """``/ws`` without a websocket upgrade (upgrades never reach aiohttp: see wsserver)."""
    return http_api.json_error(400, errors.BAD_REQUEST, "expected a websocket upgrade (Upgrade: websocket)")


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


def missed_reader(backend: Backend, channels: ChannelPolicy, max_buffer: int) -> MissedReader:
    """The hub's way to read what it missed of a channel (``Hub.fetch_missed``):
    the history after (offset, epoch), in batches of about one output budget."""

    async def fetch_missed(channel: bytes, offset: int, epoch: bytes) -> history.HistoryPage | None:
        name = channel.decode("utf-8", "replace")
        options = channels.options(name)
        if not options.history:
            return None
        return await history.missed(backend, name, options, now_ms(), offset, epoch.decode(),
                                    batch_bytes=history.batch_bytes(backend, max_buffer))

    return fetch_missed


def build_app(backend: Backend, settings: GatewaySettings | None = None,
              auth: Authenticator | None = None) -> web.Application:
    """The app of one gateway node over ``backend``: its state (``app[STATE]``), the
    node's lifetime as a cleanup context, and the routes."""
    settings = settings or GatewaySettings()
    counters = Counters()
    registry = CollectorRegistry(auto_describe=True)
    node_id = secrets.token_hex(4)
    channels = ChannelPolicy(settings.channel)
    hub = Hub(backend, counters, fetch_missed=missed_reader(backend, channels, settings.max_buffer))
    state = GatewayState(settings=settings, backend=backend, auth=auth or Authenticator(), hub=hub,
                         counters=counters, registry=registry, channels=channels, node_id=node_id,
                         tracker=PresenceTracker(backend, node_id, int(settings.node_ttl * 1000)),
                         views=LiveViews(hub, settings),
                         pipeline=backend if isinstance(backend, Pipelining) and backend.pipelined else None,
                         in_process=isinstance(backend, InProcess))
    registry.register(GatewayCollector(state))  # type: ignore[arg-type]
    registry.register(state.views)
    app = web.Application(client_max_size=settings.max_message_size + 1,
                          middlewares=[_log_requests, http_api.json_errors])
    app[STATE] = state
    if isinstance(backend, Reconnecting):
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


