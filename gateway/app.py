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
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from broker.backend import Backend, BackendUnavailable, OutcomeUnknown
from broker.resp import CommandError
from gateway import history, http_api, ops
from gateway.auth import Authenticator
from gateway.channels import ChannelOptions, ChannelPolicy
from gateway.connection import Connection, ConnectionState, Counters, text_frame
from gateway.fanout import Hub, history_event
from gateway.httpguard import HttpGuard, QuietBadRequests
from gateway.notify_flags import ensure_notify_flags
from gateway.operations import MAX_OFFSET, history_query, idempotency_key, now_ms, publish
from gateway.own_keys import is_gateway_key
from gateway.protocol import (
    BadRequest,
    Request,
    encode_error,
    encode_reply,
    parse_request,
    payload_json,
)
from gateway.ratelimit import TokenBucket
from gateway.state import STATE, GatewaySettings, GatewayState
from gateway.watch import LiveViews, handle_watch, watch_count
from gateway.logs import fact
from gateway.node_view import socket_path
from gateway.fast_http import FastHttp
from gateway.wsserver import FrontProtocol, run_heartbeats
from presence.tracker import PresenceTracker

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
    if log.isEnabledFor(logging.DEBUG):
        log.debug("connection %s (%s): %s %s", conn_id(state, connection), connection.identity.user, request.op,
                  request.target or "")
    if not _allow_request(state, connection, request):
        return
    try:
        reply = await _dispatch(state, connection, request)
        if reply is not None:
            connection.send_reply(reply)
    except BadRequest as exc:
        log.debug("connection %s: %s %s refused: %s", conn_id(state, connection), request.op,
                  request.target or "", exc.code)
        connection.send_reply(encode_error(request.id, exc.code, exc.message))
    except OutcomeUnknown as exc:
        connection.send_reply(encode_error(request.id, "outcome_unknown", f"the broker did not answer: {exc}"))
    except BackendUnavailable as exc:
        connection.send_reply(encode_error(request.id, "unavailable", f"the broker is unavailable: {exc}"))
    except CommandError as exc:  # e.g. WRONGTYPE: a key the gateway uses was overwritten over RESP
        log.warning("broker error for op %r: %s", request.op, exc.message)
        connection.send_reply(encode_error(request.id, "broker_error", f"the broker refused: {exc.message}"))
    except Exception:
        log.exception("error while handling op %r", request.op)
        connection.send_reply(encode_error(request.id, "internal_error", f"op {request.op!r} failed on the server"))


def _allow_request(state: GatewayState, connection: Connection, request: Request) -> bool:
    """Every op takes a token of the connection's request bucket: pings, presence
    toggles and history reads cost the server as much as publishes.

    Refusals take tokens of a second bucket of the same size and rate: a client
    that keeps sending at more than twice the rate (it ignores ``rate_limited``)
    empties it and is closed with 1008, instead of costing a refusal per request.
    """
    if connection.op_bucket is None:
        rate, burst = state.settings.op_rate, state.settings.op_burst
        connection.op_bucket = TokenBucket(rate, burst)
        connection.refused = TokenBucket(rate, burst)
    bucket = connection.op_bucket
    if bucket.allow():
        return True
    if not connection.refused.allow():
        connection.close_soon(1008, f"request rate limit of {bucket.rate:g}/s exceeded", reason="rate_limited")
        return False
    connection.send_reply(encode_error(request.id, "rate_limited", f"request rate limit of {bucket.rate:g}/s "
                                       f"exceeded; retry in {bucket.retry_after():.3f}s"))
    return False


async def _dispatch(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
    op, target = request.op, request.target
    identity = connection.identity
    hub = state.hub
    if op == "subscribe":
        return await _subscribe(state, connection, request)
    if op == "psubscribe":
        _check_subscribe(state, connection, "pattern", target)
        try:
            await hub.psubscribe(connection, target.encode())
        except CommandError as exc:  # a Redis Cluster backplane: sharded pub/sub has no patterns
            raise BadRequest("bad_request", str(exc).removeprefix("ERR ")) from None
        return encode_reply(request.id, pattern=target)
    if op == "unsubscribe":
        if not await hub.unsubscribe(connection, target.encode()):
            raise BadRequest("not_subscribed", f"not subscribed to channel {target!r}")
        if connection.presence is not None and target in connection.presence:
            await _leave(state, connection, target)
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
        key = idempotency_key((request.options or {}).get("idempotency_key"))
        position = await publish(state, target, request.data_json, key)
        return encode_reply(request.id, channel=target, **position)
    if op == "presence" or op == "presence_stats":
        _check_enabled(state, connection, target, "presence")
        if op == "presence":
            return encode_reply(request.id, channel=target, users=await state.tracker.present(target))
        return encode_reply(request.id, channel=target, **await state.tracker.stats(target))
    if op == "history":
        options = _check_enabled(state, connection, target, "history")
        since, limit, reverse = history_query((request.options or {}).get("since"),
                                              (request.options or {}).get("limit", 100),
                                              (request.options or {}).get("reverse", False))
        page = await history.read(state.backend, target, options, now_ms(), since, limit, reverse,
                                  max_bytes=state.settings.max_buffer)
        head: dict[str, Any] = {"id": request.id, "ok": True} if request.id is not None else {"ok": True}
        return history.encode_page({**head, "channel": target}, page)
    if op == "watch" or op == "unwatch":
        return await handle_watch(hub, connection, request)
    if op == "ping":
        return encode_reply(request.id, pong=True)
    raise BadRequest("unknown_op", f"unknown op {op!r}")  # parse_request already refuses these


def _check_subscribe(state: GatewayState, connection: Connection, kind: str, target: str) -> None:
    identity = connection.identity
    # A pattern must stay inside the token's channels: every channel it can match
    # has to be allowed, not just the pattern's own name.
    if not (identity.can_psubscribe(target) if kind == "pattern" else identity.can_subscribe(target)):
        raise BadRequest("forbidden", f"not allowed to subscribe to {kind} {target!r}")
    if len(connection.channels) + len(connection.patterns) + watch_count(state.hub, connection) \
            >= state.settings.max_subscriptions:
        raise BadRequest("limit_exceeded", f"subscription limit of {state.settings.max_subscriptions} "
                         f"per connection reached; cannot subscribe to {kind} {target!r}")


def _check_enabled(state: GatewayState, connection: Connection, channel: str, feature: str) -> ChannelOptions:
    if not connection.identity.can_subscribe(channel):
        raise BadRequest("forbidden", f"not allowed to read the {feature} of channel {channel!r}")
    options = state.channels.options(channel)
    if not (options.presence if feature == "presence" else options.history):
        raise BadRequest("not_enabled", f"{feature} is not enabled on channel {channel!r} "
                         "(see the server's channel rules)")
    return options


def _recover_option(value: Any) -> tuple[int, str]:
    if not isinstance(value, dict) or type(value.get("offset")) is not int or value["offset"] < 0 \
            or not isinstance(value.get("epoch"), str):
        raise BadRequest("bad_request", "'recover' must be {\"offset\": <integer >= 0>, \"epoch\": <string>}")
    if value["offset"] > MAX_OFFSET:
        raise BadRequest("bad_request", f"'recover' offset {value['offset']} is over the largest offset, {MAX_OFFSET}")
    return value["offset"], value["epoch"]


async def _subscribe(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
    channel = request.target
    name = channel.encode()
    if name not in connection.channels:  # subscribing again is a no-op, even at the limit
        _check_subscribe(state, connection, "channel", channel)
    extra = request.options or {}
    options = state.channels.options(channel)
    mode = extra.get("presence", False)
    if mode is None:
        mode = False
    if not (mode is True or mode is False or mode == "connections"):
        raise BadRequest("bad_request", "'presence' must be true, false or \"connections\"")
    if mode and not options.presence:
        raise BadRequest("not_enabled", f"presence is not enabled on channel {channel!r} "
                         "(see the server's channel rules)")
    recover = None
    if extra.get("recover") is not None:
        if not options.history:
            raise BadRequest("not_enabled", f"history is not enabled on channel {channel!r}, "
                             "so there is nothing to recover from")
        recover = _recover_option(extra["recover"])
    if name in connection.channels:  # already subscribed: a no-op, like Redis
        if options.history:
            page = await history.read(state.backend, channel, options, now_ms(), limit=1, reverse=True)
            return encode_reply(request.id, channel=channel, offset=page.offset, epoch=page.epoch)
        return encode_reply(request.id, channel=channel)
    if recover is not None:
        if connection.recovering is None:
            connection.recovering = {}
        connection.recovering[name] = []  # hold live events until the missed ones are out
    subscribed = False
    try:
        subscribed = await state.hub.subscribe(connection, name)
        if mode:
            state.hub.watch_presence(connection, name, "connections" if mode == "connections" else "users")
        if options.presence:
            await _join(state, connection, channel)
        if not options.history:
            return encode_reply(request.id, channel=channel)
        if recover is None:
            page = await history.read(state.backend, channel, options, now_ms(), limit=1, reverse=True)
            state.hub.note_floor(name, page.epoch.encode(), page.offset)
            return encode_reply(request.id, channel=channel, offset=page.offset, epoch=page.epoch)
        page = await history.missed(state.backend, channel, options, now_ms(), *recover,
                                    batch_bytes=history.batch_bytes(state.backend, state.settings.max_buffer))
        state.hub.note_floor(name, page.epoch.encode(), page.offset)
    except BaseException:
        if connection.recovering is not None:
            connection.release_held(name)
            connection.recovering.pop(name, None)
        if subscribed:  # all or nothing: the client was told it failed
            await state.hub.unsubscribe(connection, name)
            if connection.presence is not None and channel in connection.presence:
                connection.presence.discard(channel)
        raise
    connection.send_reply(encode_reply(request.id, channel=channel, recovered=page.complete,
                                       offset=page.offset, epoch=page.epoch))
    await _replay(state, connection, name, page, recover[0])
    return None


async def _replay(state: GatewayState, connection: Connection, channel: bytes, page: history.HistoryPage,
                  offset: int) -> None:
    """Send the missed messages, then the live ones held meanwhile that came after them.

    The missed ones are part of the reply (never skipped), but they are encoded
    and queued only while the connection's output is within its budget: a client
    that does not read its recovery holds one budget of it, not all of it. Over
    RESP the page is read a batch (about one budget) at a time, each batch once
    the previous one is queued, so the node holds one batch of it too. Messages
    that are gone by the time their batch is read (trimmed meanwhile, or the
    history was lost) are announced as a gap.
    """
    epoch = page.epoch.encode()
    last = offset if page.complete else page.offset
    name = channel.decode("utf-8", "replace")
    batch = page.entries
    while True:
        for entry in batch:
            if not await _output_room(connection):
                return  # closed as a slow consumer
            connection.send_frame(text_frame(history_event(channel, entry.offset, epoch, payload_json(entry.data))))
            last = entry.offset
        if not page.next_offset or connection.state is not ConnectionState.OPEN:
            break
        if not await _output_room(connection):
            return
        try:
            batch = await history.more(state.backend, name, page)
        except (BackendUnavailable, CommandError) as exc:
            log.warning("recovery of %r stopped at offset %d: %s", name, page.next_offset, exc)
            page.lost_from, page.next_offset = page.next_offset, 0
            batch = []
    if page.lost_from:
        gap = {"from_offset": page.lost_from, "epoch": page.epoch}
        connection.send_frame(text_frame(orjson.dumps({"channel": name, "gap": gap})))
        last = page.lost_from - 1
    held = connection.release_held(channel)
    if held is None:  # unsubscribed meanwhile
        return
    for held_offset, held_epoch, frame, *run in held:
        if frame is None:  # held past the budget: skipped as send_event would skip them
            for skipped in range(held_offset, held_offset + run[0]):
                if held_epoch != epoch or skipped > last:
                    connection.skip_event(channel, skipped)
                    if held_epoch == epoch:
                        last = skipped
            continue
        if held_epoch != epoch or held_offset > last:
            connection.send_event(frame, channel, held_offset)
            if held_epoch == epoch:
                last = held_offset
    connection.recovering[channel] = (epoch, last)  # type: ignore[index]


async def _output_room(connection: Connection) -> bool:
    """Wait while the connection's output is over its budget; False if it was closed meanwhile."""
    if connection.queued_bytes + connection.transport_bytes > connection.max_buffer:
        wait = getattr(connection.ws, "output_room", None)
        if wait is not None and not await wait(connection):
            return False
    return True


# ------------------------------------------------------------------- presence

def conn_id(state: GatewayState, connection: Connection) -> str:
    return f"{state.node_id}-{connection.id}"


async def _join(state: GatewayState, connection: Connection, channel: str) -> None:
    identity = connection.identity
    now = now_ms()
    if connection.presence is None:
        connection.presence = set()
        await state.tracker.connect(conn_id(state, connection), identity.user, identity.info, now)
    await state.tracker.join(channel, conn_id(state, connection), identity.user, identity.info, now)
    connection.presence.add(channel)


async def _leave(state: GatewayState, connection: Connection, channel: str) -> None:
    assert connection.presence is not None
    connection.presence.discard(channel)
    await state.tracker.leave(channel, conn_id(state, connection), connection.identity.user)


async def drop_connection(state: GatewayState, connection: Connection) -> None:
    """A connection closed (or its ping timed out): unsubscribe, leave presence."""
    reason = connection.close_reason or getattr(connection.ws, "reason", "") or "closed"
    node = state.node
    if node is not None:
        ops.note_disconnect(node, conn_id(state, connection), connection.identity.user, reason)
    if reason == "slow_consumer":
        log.info("closed slow consumer %s (%s): over its output budget of %d bytes for %gs",
                 conn_id(state, connection), connection.identity.user, state.settings.max_buffer,
                 state.settings.slow_close_after)
    else:
        log.debug("connection %s (%s) closed: %s", conn_id(state, connection), connection.identity.user, reason)
    await state.hub.drop(connection)
    if connection.presence is not None:
        try:
            await state.tracker.disconnect(conn_id(state, connection))
        except BackendUnavailable:
            log.warning("presence of connection %s not removed yet: the broker is unavailable",
                        conn_id(state, connection))
            state.pending_leaves.add(conn_id(state, connection))


async def on_backplane_reconnect(state: GatewayState) -> None:
    """The broker link came back (maybe a restarted broker that lost everything):
    heartbeat, put this node's connections back in presence, remove the ones that
    closed meanwhile, and fill the history gaps of the channels followed here."""
    log.warning("broker connection restored: re-registering presence and filling history gaps")
    tracker = state.tracker
    await _enable_expired_events(state.backend)
    await tracker.heartbeat(now_ms())
    for connection in list(state.connections):
        if connection.presence:
            identity = connection.identity
            await tracker.connect(conn_id(state, connection), identity.user, identity.info, now_ms())
            for channel in list(connection.presence):
                await tracker.join(channel, conn_id(state, connection), identity.user, identity.info, now_ms())
    for conn in list(state.pending_leaves):
        await tracker.disconnect(conn)
        state.pending_leaves.discard(conn)
    if state.hub.views is not None:
        await state.hub.views.restore()
    await state.hub.check_positions()


async def run_presence_upkeep(state: GatewayState) -> None:
    """Heartbeat this node; remove the connections of nodes whose heartbeat expired.

    Dead nodes are noticed through the broker's ``expired`` keyspace notification
    (no polling); orphans left while no node was up are swept once at start.
    """
    tracker = state.tracker
    ttl = state.settings.node_ttl

    def on_expired(channel: bytes, key: bytes) -> None:
        if key.startswith(b"node:") and key.count(b":") == 1 and key != f"node:{state.node_id}".encode():
            asyncio.ensure_future(_cleanup_node(state, key[len(b"node:"):].decode()))

    def on_node(channel: bytes, message: bytes) -> None:
        event, _, node = message.decode("utf-8", "replace").partition(" ")
        if node != state.node_id and event in ("joined", "left"):
            log.info("node %s %s", node, event)

    await _enable_expired_events(state.backend)
    await state.hub.listen(b"__keyevent@0__:expired", on_expired)
    await state.hub.listen(NODES_CHANNEL, on_node)
    await state.backend.publish(NODES_CHANNEL, f"joined {state.node_id}".encode())
    await tracker.heartbeat(now_ms())
    await tracker.cleanup_orphans()
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            await _upkeep(state)
        except BackendUnavailable:
            log.warning("node heartbeat failed: the broker is unavailable")
        except Exception as exc:  # e.g. a key of ours overwritten: the next round tries again
            log.warning("node upkeep failed: %s", " ".join(str(exc).split())[:200])


async def _upkeep(state: GatewayState) -> None:
    """One heartbeat, and the checks that notice an administrator's actions: a
    FLUSHALL took this node's keys (its heartbeat key was gone: put everything back,
    as after a reconnect); notification flags were removed (put them back)."""
    if not await state.tracker.heartbeat(now_ms()):
        log.warning("this node's heartbeat key was gone (FLUSHALL or lost broker data): re-registering")
        await on_backplane_reconnect(state)
        return
    await ensure_notify_flags(state.backend, "Ex", "presence cleanup of dead nodes", restore=True)
    if state.hub.views is not None:
        await state.hub.views.check_notifications()


# Nodes say when they join and leave here, so the others can log it (a node that dies
# says nothing: its heartbeat expires, see on_expired).
NODES_CHANNEL = b"fanout:nodes"


async def _cleanup_node(state: GatewayState, node_id: str) -> None:
    left = await state.tracker.cleanup_node(node_id)
    log.info("node %s stopped sending heartbeats: removed it from presence (%d leaves)", node_id, left)


async def _enable_expired_events(backend: Backend) -> None:
    """Keyevent notifications of expired keys (E and x): how dead nodes are noticed."""
    await ensure_notify_flags(backend, "Ex", "presence cleanup of dead nodes")


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
        yield GaugeMetricFamily("fanout_patterns", "Patterns with local subscribers (psubscribe)",
                                value=len(state.hub.patterns))
        yield CounterMetricFamily("fanout_messages_received", "Messages from the broker that reached local "
                                  "subscribers, from any publisher (websocket, HTTP, RESP, scripts, other nodes); "
                                  "one per matching channel or pattern subscription",
                                  value=state.hub.received)
        broker = getattr(state.backend, "broker", None)  # the embedded broker, in this process
        if broker is not None:  # (a worker's is in the supervisor: ops.metrics adds it, node-wide)
            yield ops.broker_publishes_metric(broker.stats.client_publishes)
        node = state.node
        if node is not None and node.workers > 1:
            yield GaugeMetricFamily("fanout_worker", "This worker's index (these metrics are this worker's)",
                                    value=node.worker)
        yield CounterMetricFamily("fanout_connections_opened", "Websocket connections accepted",
                                  value=counters.connections_total)
        yield CounterMetricFamily("fanout_messages_in", "Messages published through this gateway (websocket "
                                  "and HTTP API)",
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
    registry.register(_GatewayCollector(state))  # type: ignore[arg-type]
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
        backend.set_reconnect_handler(lambda: on_backplane_reconnect(state))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await backend.start()
        upkeep = asyncio.ensure_future(run_presence_upkeep(state))
        yield
        upkeep.cancel()
        try:
            await backend.publish(NODES_CHANNEL, f"left {state.node_id}".encode())
            await state.tracker.stop()
        except BackendUnavailable:
            pass
        await backend.close()

    async def on_shutdown(app: web.Application) -> None:
        await shutdown_connections(state)

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
        broker.evictor.set_exempt(is_gateway_key)
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
    fast = FastHttp(state, http_factory)  # POST /api/publish without aiohttp; the rest handed to it
    guard = HttpGuard(settings.http_header_timeout, settings.max_pending_requests, fd_budget,
                      lambda: len(http_factory.connections) + len(state.connections)  # type: ignore[attr-defined]
                      + len(fast.connections))
    try:
        # Websocket upgrades are served by wsserver; everything else by aiohttp.
        http_server = await loop.create_server(lambda: FrontProtocol(state, fast, guard), args.host,
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
    fast.close()
    if private is not None:
        private.close()
        os.unlink(socket_path(state.node.worker_dir, state.node.worker))
    heartbeats.cancel()
    # Close websockets (1001) before aiohttp drops the remaining connections.
    await shutdown_connections(state)
    await runner.cleanup()
    if broker is not None and not saved:
        broker.persistence.save_on_shutdown()  # SIGTERM/SIGINT: as Redis, when a schedule is set
    if resp_server is not None:
        await resp_server.close()
    fact("fanout serve: stopped")
    return 0
