"""Endpoints for operators: liveness, readiness, server info, recent disconnects,
and the console's admin token.

- ``GET /healthz``: the process is alive (200 whenever it can answer).
- ``GET /readyz``: it can serve: a real PING through the backend answers within
  ``READY_TIMEOUT``, the broker is not loading, the node is not shutting down.
  503 with ``{"ready": false, "reason": ..., "message": ...}`` otherwise, so a load
  balancer stops sending traffic to a node that cannot publish.
- ``GET /api/info``: version, uptime, node id, broker kind, auth mode, workers, and
  ``broker_publishes``: messages published into the node's embedded broker by any
  client (the same count as /metrics' ``fanout_broker_publishes_total``).
- ``GET /api/subscriptions``: subscribers per channel and per pattern, watchers
  per watched key (``/api/channels`` has the channels alone).
- ``GET /api/disconnects``: the last ``RECENT_DISCONNECTS`` closed connections
  with their reasons (slow consumers, ping timeouts ...), newest first.
- ``GET /api/auth/check?token=...``: whether a websocket with this token (or
  none) is accepted, and its rights; public, for the demo pages' explanations.
- ``POST /api/console/token``: a short-lived token that may subscribe to and
  publish on every channel, for the console page's websocket (API key required).

With ``--workers N``, ``/healthz``, ``/metrics``, ``/api/channels`` and
``/api/subscriptions`` answer for the whole node: the worker that takes the request
gathers its siblings' answers (gateway.node_view). ``/readyz``, ``/api/info`` and
``/api/disconnects`` are the answering worker's and say so (``"worker": i,
"workers": N``): readiness is per process, and each process has its own broker link.
The embedded broker lives in the supervisor, which serves no HTTP: its count of
publishes (``fanout_broker_publishes_total``, ``broker_publishes``) is read from its
``INFO stats`` by the worker that answers, once per request, and is the node's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric

from broker.backend import BackendUnavailable, InProcess
from broker.resp import CommandError
from gateway import errors, http_api, node_view
from gateway.auth import AuthError, issue_token
from gateway.state import RECENT_DISCONNECTS, STATE, GatewayState, NodeInfo

__all__ = ["READY_TIMEOUT", "note_disconnect", "routes"]

log = logging.getLogger("fanout.gateway")

# A PING slower than this means the backplane cannot carry traffic now (a stopped
# or overloaded Redis): readiness fails rather than hang the load balancer's check.
READY_TIMEOUT = 1.0
# Lifetime of the console's admin token: long enough for a session, short if it leaks.
CONSOLE_TOKEN_TTL = 3600


def broker_publishes_metric(value: int) -> CounterMetricFamily:
    """The ``fanout_broker_publishes_total`` family (for the app's collector and for
    the node-wide part of a worker's /metrics)."""
    return CounterMetricFamily("fanout_broker_publishes", "Messages published into the embedded broker by any "
                               "client (gateway, RESP PUBLISH/SPUBLISH, scripts)", value=value)


def info_field(text: str, name: str) -> str | None:
    """The value of ``name`` in an INFO reply (``name:value`` lines), or None."""
    prefix = name + ":"
    for line in text.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None


async def broker_publishes(state: GatewayState) -> int | None:
    """Messages published into this node's embedded broker, from any client; None
    when the node has none (a shared Redis counts every node's, and does not say).

    In-process, the broker's own counter; a worker of ``--workers N`` asks the
    supervisor's broker (``INFO stats``, field ``fanout_client_publishes``) over its
    backend connection: one round trip per call, so call it once per scrape. None
    too when the broker does not answer in ``READY_TIMEOUT`` (the scrape still answers).
    """
    if isinstance(state.backend, InProcess):  # the embedded broker, in this process
        return int(state.backend.broker.stats.client_publishes)
    if state.node is None or not state.node.on_supervisor_broker:
        return None
    try:
        reply = await asyncio.wait_for(state.backend.execute("INFO", "stats"), READY_TIMEOUT)
    except (TimeoutError, BackendUnavailable, CommandError):
        return None
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    value = info_field(text, "fanout_client_publishes")
    return int(value) if value is not None and value.isdigit() else None


def _metrics_text(*families: Metric) -> bytes:
    """Prometheus text of these families alone."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))  # type: ignore[arg-type]
    return bytes(generate_latest(registry))


class _Families:
    def __init__(self, families: tuple[Metric, ...]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


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


def _gathering(request: web.Request, info: NodeInfo) -> bool:
    """True when this request is for the whole node (a worker, not asked by a sibling)."""
    return bool(info.worker_dir) and request.headers.get(node_view.LOCAL_HEADER) != "1"


async def _siblings(request: web.Request, info: NodeInfo, path: str) -> dict[int, Any]:
    return await node_view.fetch_all(info.worker_dir, info.worker, path, request.headers.get("Authorization"))


# GET /healthz
async def healthz(request: web.Request) -> web.Response:
    """Alive: 200 whenever this process answers; with workers, each one's state too
    (a worker being restarted shows as not answering; the node still serves)."""
    state = request.app[STATE]
    info = _node(state)
    own = {"ok": True, "status": "alive", "node": state.node_id, "connections": len(state.connections),
           **_worker_fields(info)}
    if not _gathering(request, info):
        return _json(own)
    answers = {info.worker: own, **await _siblings(request, info, "/healthz")}
    per_worker = [{"worker": index, "ok": bool(body and body.get("ok")),
                   "node": body.get("node") if body else None,
                   "connections": body.get("connections", 0) if body else 0}
                  for index, body in sorted(answers.items())]
    return _json({"ok": True, "status": "alive", "worker": info.worker, "workers": info.workers,
                  "workers_answering": sum(1 for entry in per_worker if entry["ok"]),
                  "connections": sum(entry["connections"] for entry in per_worker), "per_worker": per_worker})


# GET /metrics
async def metrics(request: web.Request) -> web.Response:
    """http_api's answer; with workers every worker's samples, labelled worker="<i>",
    then the node's own (``fanout_broker_publishes_total``) unlabelled."""
    local = await http_api.metrics(request)
    info = _node(request.app[STATE])
    if not _gathering(request, info) or local.status != 200 or not isinstance(local.body, bytes):
        return local
    others = await _siblings(request, info, "/metrics")
    texts = {info.worker: local.body.decode(), **others}
    merged = node_view.merge_metrics({index: body for index, body in sorted(texts.items())
                                      if isinstance(body, str)}).encode()
    # The node's own samples, once and unlabelled (each worker's would be the same count).
    published = await broker_publishes(request.app[STATE])
    if published is not None:
        merged += _metrics_text(broker_publishes_metric(published))
    return web.Response(body=merged, headers={"Content-Type": local.headers["Content-Type"]})


# GET /api/channels[?pattern=glob]
async def channels(request: web.Request) -> web.Response:
    """http_api's answer (this process's channels); with workers, the node's."""
    local = await http_api.channels(request)
    info = _node(request.app[STATE])
    if not _gathering(request, info) or local.status != 200 or not isinstance(local.body, bytes):
        return local
    counts = orjson.loads(local.body)["channels"]
    others = await _siblings(request, info, request.path_qs)
    merged = node_view.merge_counts([counts, *(body["channels"] for body in others.values() if body)])
    return _json({"channels": merged, "workers": info.workers,
                  "workers_answering": 1 + sum(1 for body in others.values() if body)})


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
        "watches": state.views.registry.watch_count,
        # The node's (with workers too: the supervisor's broker's); null on a shared Redis.
        "broker_publishes": await broker_publishes(state),
        "shutting_down": state.shutting_down,
    })


def subscription_counts(state: GatewayState) -> dict[str, dict[str, int]]:
    """Local subscribers per channel and per pattern, watchers per watched key."""
    hub = state.hub
    watches: dict[str, int] = {}
    for view in state.views.registry.views.values():
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
    info = _node(state)
    own = subscription_counts(state)
    if not _gathering(request, info):
        return _json({**own, "node": state.node_id, **_worker_fields(info)})
    others = [body for body in (await _siblings(request, info, "/api/subscriptions")).values() if body]
    merged = {kind: node_view.merge_counts([own[kind], *(body[kind] for body in others)])
              for kind in ("channels", "patterns", "watches")}
    return _json({**merged, "node": state.node_id, "workers": info.workers, "workers_answering": 1 + len(others)})


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
        return _json({"error": {"code": errors.FORBIDDEN, "message": "the console needs --api-key when "
                                "--token-secret is set (an admin token must not be free for the asking)"}},
                     403)
    token = issue_token(state.auth.token_secret, f"console:{state.node_id}", ttl_seconds=CONSOLE_TOKEN_TTL,
                        info={"console": True}, subscribe=["*"], publish=["*"])
    return _json({"token": token, "mode": "tokens", "ttl": CONSOLE_TOKEN_TTL})


def routes() -> list[web.RouteDef]:
    """Registered before http_api's routes (its /api/ catch-all would take these).
    /metrics and /api/channels wrap http_api's handlers, so that with workers they
    answer for the node; http_api does not route those paths itself."""
    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", metrics),
        web.get("/api/channels", channels),
        web.get("/api/info", server_info),
        web.get("/api/disconnects", disconnects),
        web.get("/api/subscriptions", subscriptions),
        web.post("/api/console/token", console_token),
        web.get("/api/auth/check", auth_check),
    ]
