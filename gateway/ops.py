"""Endpoints for operators: liveness, readiness, server info, recent disconnects,
and the console's admin token.

- ``GET /healthz``: the process is alive (200 whenever it can answer).
- ``GET /readyz``: it can serve: a real PING through the backend answers within
  ``READY_TIMEOUT``, the broker is not loading, the node is not shutting down.
  503 with ``{"ready": false, "reason": ..., "message": ...}`` otherwise, so a load
  balancer stops sending traffic to a node that cannot publish.
- ``GET /api/info``: version, uptime, node id, broker kind, auth mode, workers.
- ``GET /api/subscriptions``: subscribers per channel and per pattern, watchers
  per watched key (``/api/channels`` has the channels alone).
- ``GET /api/disconnects``: the last ``RECENT_DISCONNECTS`` closed connections
  with their reasons (slow consumers, ping timeouts ...), newest first.
- ``GET /api/auth/check?token=...``: whether a websocket with this token (or
  none) is accepted, and its rights; public, for the demo pages' explanations.
- ``POST /api/console/token``: a short-lived token that may subscribe to and
  publish on every channel, for the console page's websocket (API key required).

With ``--workers N`` each answer comes from the worker that took the request and
says so (``"worker": i, "workers": N``); ``/readyz`` and ``/healthz`` are about
that worker and the broker they all share.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from broker.backend import BackendUnavailable
from broker.resp import CommandError
from gateway.auth import AuthError, issue_token
from gateway.state import STATE, GatewayState

__all__ = ["NodeInfo", "READY_TIMEOUT", "RECENT_DISCONNECTS", "note_disconnect", "routes"]

log = logging.getLogger("fanout.gateway")

# A PING slower than this means the backplane cannot carry traffic now (a stopped
# or overloaded Redis): readiness fails rather than hang the load balancer's check.
READY_TIMEOUT = 1.0
# Disconnects kept for /api/disconnects and the console (bounded: a storm of
# closes must not grow memory).
RECENT_DISCONNECTS = 100
# Lifetime of the console's admin token: long enough for a session, short if it leaks.
CONSOLE_TOKEN_TTL = 3600


@dataclass
class NodeInfo:
    """What /api/info reports; set once by ``fanout serve``."""

    version: str = "unknown"
    broker_url: str = "memory://"
    worker: int = 0
    workers: int = 1
    started: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    # (time, connection id, user, reason), newest last.
    disconnects: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=RECENT_DISCONNECTS))

    @property
    def broker_kind(self) -> str:
        """memory, redis, rediss, unix or cluster (never the address or password)."""
        scheme = self.broker_url.split("://", 1)[0] if "://" in self.broker_url else self.broker_url
        return {"redis+cluster": "cluster"}.get(scheme, scheme)


def note_disconnect(info: NodeInfo, connection_id: str, user: str, reason: str) -> None:
    info.disconnects.append({"time": round(time.time(), 3), "connection": connection_id, "user": user,
                             "reason": reason})


def _node(state: GatewayState) -> NodeInfo:
    if state.node is None:  # an app built without run_serve (tests): defaults
        state.node = NodeInfo()
    return state.node


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _worker_fields(info: NodeInfo) -> dict[str, Any]:
    return {"worker": info.worker, "workers": info.workers} if info.workers > 1 else {}


def auth_mode(state: GatewayState) -> str:
    """"open" (no token secret: anyone on the network may subscribe), else "tokens";
    plus "+api-key" when the HTTP API needs a key."""
    mode = "tokens" if state.auth.token_secret else "open"
    return mode + ("+api-key" if state.auth.api_key else "")


def _check_key(request: web.Request) -> tuple[GatewayState, web.Response | None]:
    """The state, and the 401 to answer with when the API key is wrong."""
    state = request.app[STATE]
    try:
        state.auth.check_api_key(request.headers.get("Authorization"))
    except AuthError as exc:
        return state, _json({"error": {"code": exc.code, "message": exc.message}}, 401)
    return state, None


# GET /healthz
async def healthz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    info = _node(state)
    return _json({"ok": True, "status": "alive", "node": state.node_id, "connections": len(state.connections),
                  **_worker_fields(info)})


async def readiness(state: GatewayState) -> tuple[bool, dict[str, Any]]:
    """(ready, body) of /readyz: shutting down, then a real PING with a deadline."""
    if state.shutting_down:
        return False, {"reason": "shutting_down", "message": "the node is shutting down"}
    started = time.monotonic()
    try:
        await asyncio.wait_for(state.backend.execute("PING"), READY_TIMEOUT)
    except TimeoutError:
        return False, {"reason": "broker_timeout",
                       "message": f"the broker did not answer PING within {READY_TIMEOUT:g}s"}
    except BackendUnavailable as exc:
        return False, {"reason": "broker_unavailable", "message": f"the broker is unavailable: {exc}"}
    except CommandError as exc:
        if exc.message.startswith("LOADING"):
            return False, {"reason": "loading", "message": f"the broker is loading its data: {exc.message}"}
        return False, {"reason": "broker_error", "message": f"the broker refused PING: {exc.message}"}
    return True, {"broker_ping_ms": round((time.monotonic() - started) * 1000, 3)}


# GET /readyz
async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    ready, body = await readiness(state)
    body = {"ready": ready, **body, "node": state.node_id, **_worker_fields(_node(state))}
    return _json(body, 200 if ready else 503)


# GET /api/info
async def server_info(request: web.Request) -> web.Response:
    state, refused = _check_key(request)
    if refused is not None:
        return refused
    info = _node(state)
    hub = state.hub
    return _json({
        "version": info.version,
        "node": state.node_id,
        "started": round(info.started, 3),
        "uptime_seconds": round(time.monotonic() - info.started_monotonic, 3),
        "broker": info.broker_kind,
        "auth": auth_mode(state),
        "workers": info.workers,
        "worker": info.worker,
        "connections": len(state.connections),
        "channels": len(hub.channels),
        "patterns": len(hub.patterns),
        "watches": hub.views.registry.watch_count if hub.views is not None else 0,
        "shutting_down": state.shutting_down,
    })


def subscription_counts(state: GatewayState) -> dict[str, dict[str, int]]:
    """Local subscribers per channel and per pattern, watchers per watched key."""
    hub = state.hub
    watches: dict[str, int] = {}
    if hub.views is not None:
        for view in hub.views.registry.views.values():
            key = view.key.decode("utf-8", "replace")
            watches[key] = watches.get(key, 0) + len(view.watchers)
    return {"channels": hub.channel_counts(),
            "patterns": {name.decode("utf-8", "replace"): len(subscribers)
                         for name, subscribers in hub.patterns.items()},
            "watches": watches}


# GET /api/subscriptions
async def subscriptions(request: web.Request) -> web.Response:
    state, refused = _check_key(request)
    if refused is not None:
        return refused
    return _json({**subscription_counts(state), "node": state.node_id, **_worker_fields(_node(state))})


# GET /api/disconnects
async def disconnects(request: web.Request) -> web.Response:
    state, refused = _check_key(request)
    if refused is not None:
        return refused
    recent = list(_node(state).disconnects)
    recent.reverse()
    return _json({"disconnects": recent, "limit": RECENT_DISCONNECTS})


# GET /api/auth/check[?token=JWT][&name=NAME]
async def auth_check(request: web.Request) -> web.Response:
    """Would a websocket with this token (or none) be accepted, and with which rights?

    Public (no API key): a browser cannot read why a websocket upgrade was refused,
    so the demo pages ask here and explain it on the page. It tells the caller only
    about the token it already holds, and whether the server needs one.
    """
    state = request.app[STATE]
    try:
        identity = state.auth.authenticate(request.query.get("token") or None, request.query.get("name"))
    except AuthError as exc:
        return _json({"ok": False, "tokens": bool(state.auth.token_secret),
                      "error": {"code": exc.code, "message": exc.message}}, 401)
    return _json({"ok": True, "tokens": bool(state.auth.token_secret), "user": identity.user,
                  "subscribe": None if identity.subscribe is None else list(identity.subscribe),
                  "publish": None if identity.publish is None else list(identity.publish)})


# POST /api/console/token
async def console_token(request: web.Request) -> web.Response:
    state, refused = _check_key(request)
    if refused is not None:
        return refused
    if not state.auth.token_secret:  # open mode: the websocket takes no token
        return _json({"token": None, "mode": "open"})
    if not state.auth.api_key:
        return _json({"error": {"code": "forbidden", "message": "the console needs --api-key when "
                                "--token-secret is set (an admin token must not be free for the asking)"}},
                     403)
    token = issue_token(state.auth.token_secret, f"console:{state.node_id}", ttl_seconds=CONSOLE_TOKEN_TTL,
                        info={"console": True}, subscribe=["*"], publish=["*"])
    return _json({"token": token, "mode": "tokens", "ttl": CONSOLE_TOKEN_TTL})


def routes() -> list[web.RouteDef]:
    """Registered before http_api's routes (its /api/ catch-all would take these)."""
    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/api/info", server_info),
        web.get("/api/disconnects", disconnects),
        web.get("/api/subscriptions", subscriptions),
        web.post("/api/console/token", console_token),
        web.get("/api/auth/check", auth_check),
    ]
