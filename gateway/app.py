"""The aiohttp application: a thin shell over protocol, fanout, connection and auth.

``build_app`` wires one backend into the websocket endpoint ``/ws``, the HTTP API
and the static files of ``web/``; ``run_serve`` is ``fanout serve``: the embedded
broker (and its RESP port) plus this app on the HTTP port.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from broker.backend import Backend, BackendUnavailable
from broker.resp import CommandError
from gateway import history, http_api
from gateway.auth import Authenticator
from gateway.channels import ChannelOptions, ChannelPolicy
from gateway.connection import Connection, Counters, text_frame
from gateway.fanout import Hub, history_event
from gateway.notify_flags import ensure_notify_flags
from gateway.operations import history_query, now_ms, publish
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
    try:
        reply = await _dispatch(state, connection, request)
        if reply is not None:
            connection.send_reply(reply)
    except BadRequest as exc:
        connection.send_reply(encode_error(request.id, exc.code, exc.message))
    except BackendUnavailable as exc:
        connection.send_reply(encode_error(request.id, "unavailable", f"the broker is unavailable: {exc}"))
    except CommandError as exc:  # e.g. WRONGTYPE: a key the gateway uses was overwritten over RESP
        log.warning("broker error for op %r: %s", request.op, exc.message)
        connection.send_reply(encode_error(request.id, "broker_error", f"the broker refused: {exc.message}"))
    except Exception:
        log.exception("error while handling op %r", request.op)
        connection.send_reply(encode_error(request.id, "internal_error", f"op {request.op!r} failed on the server"))


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
        position = await publish(state, target, request.data_json)
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
        page = await history.read(state.backend, target, options, now_ms(), since, limit, reverse)
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
        page = await history.missed(state.backend, channel, options, now_ms(), *recover)
        state.hub.note_floor(name, page.epoch.encode(), page.offset)
    except BaseException:
        if connection.recovering is not None:
            connection.recovering.pop(name, None)
        if subscribed:  # all or nothing: the client was told it failed
            await state.hub.unsubscribe(connection, name)
            if connection.presence is not None and channel in connection.presence:
                connection.presence.discard(channel)
        raise
    connection.send_reply(encode_reply(request.id, channel=channel, recovered=page.complete,
                                       offset=page.offset, epoch=page.epoch))
    _replay(connection, name, page, recover[0])
    return None


def _replay(connection: Connection, channel: bytes, page: history.HistoryPage, offset: int) -> None:
    """Send the missed messages, then the live ones held meanwhile that came after them."""
    epoch = page.epoch.encode()
    last = offset if page.complete else page.offset
    for entry in page.entries:  # part of the reply: not subject to the output budget
        connection.send_frame(text_frame(history_event(channel, entry.offset, epoch, payload_json(entry.data))))
        last = entry.offset
    held = connection.recovering.get(channel) if connection.recovering is not None else None
    if type(held) is not list:  # unsubscribed meanwhile
        return
    for held_offset, held_epoch, frame in held:
        if held_epoch != epoch or held_offset > last:
            connection.send_event(frame, channel, held_offset)
            if held_epoch == epoch:
                last = held_offset
    connection.recovering[channel] = (epoch, last)  # type: ignore[index]


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

    await _enable_expired_events(state.backend)
    await state.hub.listen(b"__keyevent@0__:expired", on_expired)
    await tracker.heartbeat(now_ms())
    await tracker.cleanup_orphans()
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            await tracker.heartbeat(now_ms())
        except BackendUnavailable:
            log.warning("node heartbeat failed: the broker is unavailable")


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
    node_id = secrets.token_hex(4)
    state = GatewayState(settings=settings, backend=backend, auth=auth or Authenticator(),
                         hub=Hub(backend, counters), counters=counters, registry=registry,
                         channels=ChannelPolicy(settings.channel), node_id=node_id,
                         tracker=PresenceTracker(backend, node_id, int(settings.node_ttl * 1000)))
    registry.register(_GatewayCollector(state))  # type: ignore[arg-type]
    registry.register(LiveViews(state.hub, settings))
    app = web.Application(client_max_size=settings.max_message_size + 1, middlewares=[http_api.json_errors])
    app[STATE] = state

    async def fetch_missed(channel: bytes, offset: int, epoch: bytes) -> history.HistoryPage | None:
        name = channel.decode("utf-8", "replace")
        options = state.channels.options(name)
        if not options.history:
            return None
        return await history.missed(backend, name, options, now_ms(), offset, epoch.decode())

    state.hub.fetch_missed = fetch_missed
    if hasattr(backend, "set_reconnect_handler"):
        backend.set_reconnect_handler(lambda: on_backplane_reconnect(state))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await backend.start()
        upkeep = asyncio.ensure_future(run_presence_upkeep(state))
        yield
        upkeep.cancel()
        try:
            await state.tracker.stop()
        except BackendUnavailable:
            pass
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


async def run_serve(args: argparse.Namespace) -> int:
    """``fanout serve``: embedded broker + RESP port + gateway; stops on SIGINT/SIGTERM."""
    from broker.backends import create_backend
    from broker.core import Broker
    from broker.server import LoadFailed, RespServer, load_snapshot, tune_gc
    from gateway.cli import configure_persistence, on_shutdown_command, port_error, stop_on_signals

    try:
        ChannelPolicy(settings_from_args(args).channel)
    except ValueError as exc:
        print(f"fanout: {exc}", file=sys.stderr)
        return 2
    embedded = args.broker.startswith("memory")
    broker = Broker(config={"requirepass": args.requirepass} if args.requirepass else {}) if embedded else None
    if broker is not None:
        problem = configure_persistence(broker, args)
        if problem:
            print(f"fanout: {problem}", file=sys.stderr)
            return 2
    stop = stop_on_signals()
    saved = on_shutdown_command(broker, stop) if broker is not None else []
    resp_server = None
    if broker is not None:
        # Also with --resp-port -1: the server runs the broker's active expiry cycle
        # (expired node heartbeats are how dead nodes leave presence).
        resp_server = RespServer(broker, args.host, args.resp_port, unix_path=args.unix_socket or None)
        try:
            await resp_server.start()
        except OSError as exc:
            print(port_error("RESP", args.host, args.resp_port, exc), file=sys.stderr)
            return 1
        try:
            await load_snapshot(broker)
        except LoadFailed as exc:
            print(f"fanout: {exc}", file=sys.stderr, flush=True)
            await resp_server.close()
            return 1
        forget_dead_nodes(broker)
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
    try:
        await runner.setup()
    except (BackendUnavailable, OSError) as exc:
        print(f"fanout: cannot reach the broker at {args.broker}: {exc}", file=sys.stderr)
        if resp_server is not None:
            await resp_server.close()
        return 1
    state = app[STATE]
    http_factory = runner.server
    assert http_factory is not None
    loop = asyncio.get_running_loop()
    try:
        # Websocket upgrades are served by wsserver; everything else by aiohttp.
        http_server = await loop.create_server(lambda: FrontProtocol(state, http_factory), args.host,
                                               args.http_port, reuse_address=True, backlog=4096,
                                               reuse_port=bool(getattr(args, "reuse_port", False)))
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
    if broker is None:
        print(f"fanout serve: broker {_redacted(args.broker)} (node {state.node_id})", flush=True)
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
    if broker is not None and not saved:
        broker.persistence.save_on_shutdown()  # SIGTERM/SIGINT: as Redis, when a schedule is set
    if resp_server is not None:
        await resp_server.close()
    print("fanout serve: stopped", flush=True)
    return 0
