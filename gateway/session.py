"""The websocket session: one client's ops, as a table (the way ``broker.table`` has commands).

``OPS`` (at the end) maps each op to its handler and the fields its requests must
carry; ``gateway.protocol.parse_request`` validates a message against it, so an
op is declared in that one place. ``handle_message`` is the whole path of one
text frame: parse, the connection's request rate limit, the handler, and the
reply or error reply (a failure of the broker link becomes its error code through
``gateway.errors.failure``, as in the HTTP API).

Handlers take ``(state, connection, request)`` and return the reply's bytes, or
None when they sent it themselves (``subscribe`` with ``recover``: the reply, then
the missed messages, then the live ones held meanwhile, in that order). Presence
joins and leaves are ``gateway.node``'s; watch and unwatch are ``gateway.watch``'s.

Over a pipelining backend (RESP: ``--workers``, ``--broker redis://``) a plain
publish does not wait for the replies before it: ``publish_now`` sends it at once
and ``publish_reply`` answers it when its reply is in; the websocket shell
(``gateway.wsserver``) sends every reply in request order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from broker.backend import BackendUnavailable
from broker.resp import CommandError
from gateway import errors, history, node
from gateway.channels import ChannelOptions
from gateway.connection import Connection, ConnectionState, text_frame
from gateway.fanout import history_event
from gateway.operations import MAX_OFFSET, history_query, idempotency_key, now_ms, publish
from gateway.protocol import BadRequest, Fields, Request, encode_error, encode_reply, parse_request, payload_json
from gateway.ratelimit import TokenBucket
from gateway.state import GatewayState

__all__ = ["OPS", "Op", "REQUIRED", "Sent", "handle_message", "handle_request", "parse", "publish_now", "publish_reply"]

log = logging.getLogger("fanout.gateway")


async def handle_message(state: GatewayState, connection: Connection, text: str) -> None:
    """One text frame of ``connection``: its reply or error reply is queued on it
    (never raised: one bad request must not cost the connection)."""
    try:
        request = parse(text)
    except BadRequest as exc:
        connection.send_reply(encode_error(exc.request_id, exc.code, exc.message))
        return
    await handle_request(state, connection, request)


async def handle_request(state: GatewayState, connection: Connection, request: Request) -> None:
    """``handle_message`` from a parsed request on."""
    _log_request(state, connection, request)
    refusal = _refusal(state, connection, request)
    if refusal is not None:
        if refusal:
            connection.send_reply(refusal)
        return
    try:
        reply = await OPS[request.op].handler(state, connection, request)
        if reply is not None:
            connection.send_reply(reply)
    except BadRequest as exc:
        log.debug("connection %s: %s %s refused: %s", node.conn_id(state, connection), request.op,
                  request.target or "", exc.code)
        connection.send_reply(encode_error(request.id, exc.code, exc.message))
    except (BackendUnavailable, CommandError) as exc:
        connection.send_reply(_failure_reply(request, exc))
    except Exception:
        log.exception("error while handling op %r", request.op)
        connection.send_reply(encode_error(request.id, errors.INTERNAL_ERROR,
                                           f"op {request.op!r} failed on the server"))


def _log_request(state: GatewayState, connection: Connection, request: Request) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug("connection %s (%s): %s %s", node.conn_id(state, connection), connection.identity.user, request.op,
                  request.target or "")


def _failure_reply(request: Request, exc: BackendUnavailable | CommandError) -> bytes:
    answer = errors.failure(exc)
    assert answer is not None
    if isinstance(exc, CommandError):  # e.g. WRONGTYPE: a key the gateway uses was overwritten over RESP
        log.warning("broker error for op %r: %s", request.op, exc.message)
    return encode_error(request.id, answer.code, answer.message)


def _refusal(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
    """None: the request may run. Else the reply refusing it (b"": none, the
    connection is being closed instead).

    Every op takes a token of the connection's request bucket: pings, presence
    toggles and history reads cost the server as much as publishes.
    Refusals take tokens of a second bucket of the same size and rate: a client
    that keeps sending at more than twice the rate (it ignores ``rate_limited``)
    empties it and is closed with 1008, instead of costing a refusal per request.
    """
    bucket = connection.op_bucket
    if not isinstance(bucket, TokenBucket):
        settings = state.settings
        if bucket is None and settings.op_burst >= 1:
            # The first request takes a token of a full bucket: allowed. The bucket is
            # made at a second request, as it would be then: burst - 1 tokens at the
            # first request's time (kept here meanwhile), refilled since. Most
            # connections make one request (a subscribe), so most never make one.
            connection.op_bucket = connection.clock()
            return None
        first = bucket
        bucket = connection.op_bucket = TokenBucket(settings.op_rate, settings.op_burst, connection.clock)
        if first is not None:
            bucket.tokens = min(bucket.burst, bucket.burst - 1 + (bucket.updated - first) * bucket.rate)
    if bucket.allow():
        return None
    if connection.refused is None:  # made full at the first refusal, as it would be by then
        connection.refused = TokenBucket(bucket.rate, bucket.burst, connection.clock)
    if not connection.refused.allow():
        connection.close_soon(1008, f"request rate limit of {bucket.rate:g}/s exceeded", reason="rate_limited")
        return b""
    return encode_error(request.id, errors.RATE_LIMITED, f"request rate limit of {bucket.rate:g}/s "
                        f"exceeded; retry in {bucket.retry_after():.3f}s")


# ------------------------------------------------------- pipelined publishes


class Sent:
    """A publish sent ahead of the replies to the requests before it
    (``publish_now``); ``publish_reply`` makes its reply once ``future`` is done.
    ``reply``: the answer when there was nothing to send (a refusal)."""

    __slots__ = ("future", "reply", "request")

    def __init__(self, request: Request, future: asyncio.Future[Any] | None, reply: bytes = b"") -> None:
        self.request = request
        self.future = future
        self.reply = reply


def publish_now(state: GatewayState, connection: Connection, request: Request) -> Sent | None:
    """A plain publish (no history, no idempotency key) on a pipelining backend
    (``broker.backend.Pipelining``): checked and sent at once, without waiting for
    the replies of the connection's earlier publishes, whose replies the caller
    sends first, in order. A client's burst of publishes then costs one write to
    the broker and comes back as one read of messages, delivered to each socket in
    one write, as in one process, rather than one round trip (and one write per
    socket) per message.

    None, with nothing done: any other request; ``handle_request`` it (after the
    replies of what was sent before it).
    """
    backend = state.pipeline
    if backend is None or request.op != "publish":
        return None
    options = request.options
    if options is not None and options.get("idempotency_key") is not None:
        return None
    target = request.target
    if state.channels.options(target).history:
        return None
    _log_request(state, connection, request)
    refusal = _refusal(state, connection, request)
    if refusal is not None:
        return Sent(request, None, refusal)
    try:
        _check_publish(state, connection, target)
        return Sent(request, backend.publish_nowait(target.encode(), request.data_json))
    except BadRequest as exc:
        log.debug("connection %s: publish %s refused: %s", node.conn_id(state, connection), target, exc.code)
        return Sent(request, None, encode_error(request.id, exc.code, exc.message))
    except BackendUnavailable as exc:
        return Sent(request, None, _failure_reply(request, exc))


def publish_reply(state: GatewayState, sent: Sent) -> bytes:
    """The reply to a ``publish_now`` once its future is done (b"": none)."""
    future, request = sent.future, sent.request
    if future is None:
        return sent.reply
    try:
        result = future.result()
    except BackendUnavailable as exc:
        return _failure_reply(request, exc)
    except BaseException:  # cancelled (the loop is closing): nobody is waiting for it
        return b""
    if isinstance(result, CommandError):
        return _failure_reply(request, result)
    state.counters.messages_in += 1
    return encode_reply(request.id, channel=request.target)


# ------------------------------------------------------------------ ops
# Each handler validates the request's options, does the op and returns the reply
# (None when it sent the reply itself); it raises BadRequest to refuse.


# {"op":"psubscribe","pattern":P}
async def psubscribe(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
    target = request.target
    _check_subscribe(state, connection, "pattern", target)
    try:
        await state.hub.psubscribe(connection, target.encode())
    except CommandError as exc:  # a Redis Cluster backplane: sharded pub/sub has no patterns
        raise BadRequest(errors.BAD_REQUEST, str(exc).removeprefix("ERR ")) from None
    return encode_reply(request.id, pattern=target)


# {"op":"unsubscribe","channel":C}
async def unsubscribe(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
    target = request.target
    if not await state.hub.unsubscribe(connection, target.encode()):
        raise BadRequest(errors.NOT_SUBSCRIBED, f"not subscribed to channel {target!r}")
    if connection.presence is not None and target in connection.presence:
        await node.leave(state, connection, target)
    return encode_reply(request.id, channel=target)


# {"op":"punsubscribe","pattern":P}
async def punsubscribe(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
    target = request.target
    if not await state.hub.punsubscribe(connection, target.encode()):
        raise BadRequest(errors.NOT_SUBSCRIBED, f"not subscribed to pattern {target!r}")
    return encode_reply(request.id, pattern=target)


# {"op":"publish","channel":C,"data":<any JSON>[,"idempotency_key":K]}
async def publish_op(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
    target = request.target
    _check_publish(state, connection, target)
    key = idempotency_key((request.options or {}).get("idempotency_key"))
    position = await publish(state, target, request.data_json, key)
    return encode_reply(request.id, channel=target, **position)


def _check_publish(state: GatewayState, connection: Connection, target: str) -> None:
    """The token allows publishing on ``target`` and the publish rate has room (a token taken)."""
    if not connection.identity.can_publish(target):
        raise BadRequest(errors.FORBIDDEN, f"not allowed to publish on channel {target!r}")
    bucket = connection.publish_bucket
    if bucket is None:  # made on the first publish: most connections only listen
        bucket = connection.publish_bucket = TokenBucket(state.settings.publish_rate,
                                                         state.settings.publish_burst, connection.clock)
    if not bucket.allow():
        raise BadRequest(errors.RATE_LIMITED, f"publish rate limit of {bucket.rate:g}/s exceeded; "
                         f"retry in {bucket.retry_after():.3f}s")


# {"op":"presence","channel":C}
async def presence(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
    target = request.target
    _check_enabled(state, connection, target, "presence")
    return encode_reply(request.id, channel=target, users=await state.tracker.present(target))


# {"op":"presence_stats","channel":C}
async def presence_stats(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
    target = request.target
    _check_enabled(state, connection, target, "presence")
    return encode_reply(request.id, channel=target, **await state.tracker.stats(target))


# {"op":"history","channel":C[,"since":N][,"limit":N][,"reverse":B]}
async def history_op(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
    target = request.target
    options = _check_enabled(state, connection, target, "history")
    since, limit, reverse = history_query((request.options or {}).get("since"),
                                          (request.options or {}).get("limit", 100),
                                          (request.options or {}).get("reverse", False))
    page = await history.read(state.backend, target, options, now_ms(), since, limit, reverse,
                              max_bytes=state.settings.max_buffer)
    head: dict[str, Any] = {"id": request.id, "ok": True} if request.id is not None else {"ok": True}
    return history.encode_page({**head, "channel": target}, page)


# {"op":"watch","key":K,"view":{...}} and {"op":"unwatch","watch":W}: gateway.watch
async def watch(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
    return await state.views.handle(connection, request)


# {"op":"ping"}
async def ping(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
    return encode_reply(request.id, pong=True)


def _check_subscribe(state: GatewayState, connection: Connection, kind: str, target: str) -> None:
    identity = connection.identity
    # A pattern must stay inside the token's channels: every channel it can match
    # has to be allowed, not just the pattern's own name.
    if not (identity.can_psubscribe(target) if kind == "pattern" else identity.can_subscribe(target)):
        raise BadRequest(errors.FORBIDDEN, f"not allowed to subscribe to {kind} {target!r}")
    if len(connection.channels) + len(connection.patterns) + state.views.registry.count(connection) \
            >= state.settings.max_subscriptions:
        raise BadRequest(errors.LIMIT_EXCEEDED, f"subscription limit of {state.settings.max_subscriptions} "
                         f"per connection reached; cannot subscribe to {kind} {target!r}")


def _check_enabled(state: GatewayState, connection: Connection, channel: str, feature: str) -> ChannelOptions:
    if not connection.identity.can_subscribe(channel):
        raise BadRequest(errors.FORBIDDEN, f"not allowed to read the {feature} of channel {channel!r}")
    options = state.channels.options(channel)
    if not (options.presence if feature == "presence" else options.history):
        raise BadRequest(errors.NOT_ENABLED, f"{feature} is not enabled on channel {channel!r} "
                         "(see the server's channel rules)")
    return options


def _recover_option(value: Any) -> tuple[int, str]:
    if not isinstance(value, dict) or type(value.get("offset")) is not int or value["offset"] < 0 \
            or not isinstance(value.get("epoch"), str):
        raise BadRequest(errors.BAD_REQUEST, "'recover' must be {\"offset\": <integer >= 0>, \"epoch\": <string>}")
    if value["offset"] > MAX_OFFSET:
        raise BadRequest(errors.BAD_REQUEST,
                         f"'recover' offset {value['offset']} is over the largest offset, {MAX_OFFSET}")
    return value["offset"], value["epoch"]


# {"op":"subscribe","channel":C[,"presence":true|"connections"][,"recover":{"offset":N,"epoch":E}]}
async def subscribe(state: GatewayState, connection: Connection, request: Request) -> bytes | None:
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
        raise BadRequest(errors.BAD_REQUEST, "'presence' must be true, false or \"connections\"")
    if mode and not options.presence:
        raise BadRequest(errors.NOT_ENABLED, f"presence is not enabled on channel {channel!r} "
                         "(see the server's channel rules)")
    recover = None
    if extra.get("recover") is not None:
        if not options.history:
            raise BadRequest(errors.NOT_ENABLED, f"history is not enabled on channel {channel!r}, "
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
            await node.join(state, connection, channel)
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
        if not await connection.ws.output_room(connection):
            return False
    return True


# ---------------------------------------------------------------- the table

Handler = Callable[[GatewayState, Connection, Request], Awaitable["bytes | None"]]


@dataclass(frozen=True, slots=True)
class Op:
    """One websocket op: its handler, and the fields a request of it must carry."""

    handler: Handler
    fields: Fields


# op -> handler and required fields: the one place an op is declared (its order is
# the order the unknown_op error lists them in).
OPS: dict[str, Op] = {
    "subscribe": Op(subscribe, Fields("channel")),
    "psubscribe": Op(psubscribe, Fields("pattern")),
    "unsubscribe": Op(unsubscribe, Fields("channel")),
    "punsubscribe": Op(punsubscribe, Fields("pattern")),
    "publish": Op(publish_op, Fields("channel", data=True)),
    "presence": Op(presence, Fields("channel")),
    "presence_stats": Op(presence_stats, Fields("channel")),
    "history": Op(history_op, Fields("channel")),
    "ping": Op(ping, Fields()),
    "watch": Op(watch, Fields("key")),
    "unwatch": Op(watch, Fields("watch")),
}
# What gateway.protocol checks of each op's requests.
REQUIRED: dict[str, Fields] = {name: op.fields for name, op in OPS.items()}


def parse(text: str | bytes) -> Request:
    """One client message, validated against the op table (see ``protocol.parse_request``)."""
    return parse_request(text, REQUIRED)
