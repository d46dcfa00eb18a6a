"""The HTTP API: publish, broadcast, channels, presence, history and metrics (JSON).

Every /api route needs ``Authorization: apikey <K>`` when an API key is configured.
Errors are ``{"error":{"code":...,"message":...}}`` with a 4xx status that says what
is wrong.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from broker.backend import BackendUnavailable
from broker.resp import CommandError
from broker.glob import compile_glob
from gateway import errors, history, operations
from gateway.auth import AuthError
from gateway.protocol import MAX_CHANNEL_LENGTH, BadRequest, encode_data
from gateway.state import STATE, GatewayState

__all__ = ["HttpError", "error_body", "json_error", "json_errors", "publish_all", "publish_messages", "routes"]

log = logging.getLogger("fanout.gateway")


_STATUS_CODES = {404: errors.NOT_FOUND, 405: errors.METHOD_NOT_ALLOWED, 413: errors.TOO_LARGE}


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every /api answer is JSON, errors included: unknown routes and methods,
    broker errors (e.g. WRONGTYPE on a key the gateway uses) and our own bugs."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        return json_error(exc.status, _STATUS_CODES.get(exc.status, errors.HTTP_ERROR),
                          f"{exc.reason}: {request.method} {request.path}")
    except BackendUnavailable as exc:
        return json_error(*_failure(exc))
    except ConnectionError:  # the client went away mid-request: nobody to answer, nothing to log
        return json_error(400, errors.BAD_REQUEST, "the connection was lost")
    except CommandError as exc:
        log.warning("broker error for %s %s: %s", request.method, request.path, exc.message)
        return json_error(*_failure(exc))
    except Exception:
        log.exception("error while handling %s %s", request.method, request.path)
        return json_error(500, errors.INTERNAL_ERROR, f"{request.method} {request.path} failed on the server")
    if response.status >= 400 and request.path.startswith("/api/") and response.content_type != "application/json":
        # e.g. the static files' 404 for a path under /api/ that no route takes
        return json_error(response.status, _STATUS_CODES.get(response.status, errors.HTTP_ERROR),
                          f"{response.reason}: {request.method} {request.path}")
    return response


def _failure(exc: BackendUnavailable | CommandError) -> errors.Failure:
    answer = errors.failure(exc)
    assert answer is not None  # failure() answers every BackendUnavailable and CommandError
    return answer


def json_error(status: int, code: str, message: str, **fields: Any) -> web.Response:
    return web.Response(status=status, body=error_body(code, message, **fields), content_type="application/json")


def error_body(code: str, message: str, **fields: Any) -> bytes:
    """An API error's JSON: ``{"error": {"code", "message"}}`` and any ``fields`` beside ``error``."""
    return orjson.dumps({"error": {"code": code, "message": message}, **fields})


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, close: bool = False, **fields: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.fields = status, code, fields
        self.response = json_error(status, code, message, **fields)
        if close:  # the body was not (all) read: the connection cannot carry another request
            self.response.force_close()


def _cross_site(request: web.Request, state: GatewayState) -> str | None:
    """Why a browser request from another site is refused, or None.

    A page on any site can make a visitor's browser POST to a server on their
    machine (a "simple" request needs no CORS preflight), so publishing refuses a
    request that says it comes from elsewhere (``Sec-Fetch-Site``, or an ``Origin``
    that is not this server) unless its origin is in ``--allowed-origins``.
    """
    origin = request.headers.get("Origin")
    if origin is not None and state.auth.allowed_origins and state.auth.origin_allowed(origin):
        return None
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"a {fetch_site} browser request (Sec-Fetch-Site) from origin {origin!r}"
    if origin is not None and (origin == "null" or urlsplit(origin).netloc != request.host):
        return f"a browser request from origin {origin!r}, not this server"
    return None


async def _authorized_json(request: web.Request, require_data: bool = True) -> tuple[GatewayState, Any]:
    state = request.app[STATE]
    try:
        state.auth.check_api_key(request.headers.get("Authorization"))
    except AuthError as exc:
        raise HttpError(401, exc.code, exc.message) from None
    refusal = _cross_site(request, state)
    if refusal is not None:
        raise HttpError(403, errors.FORBIDDEN, f"{refusal} may not publish; allow it with --allowed-origins")
    if request.content_type != "application/json":
        raise HttpError(415, errors.UNSUPPORTED_MEDIA_TYPE, "the body must be JSON sent with "
                         f"Content-Type: application/json, not {request.content_type!r}", close=True)
    limit = state.settings.max_message_size
    too_large = HttpError(413, errors.TOO_LARGE, f"the body is over the limit of {limit} bytes", close=True)
    if request.content_length is not None and request.content_length > limit:
        raise too_large  # from the header: the body is never read
    try:
        raw = await asyncio.wait_for(request.read(), state.settings.http_body_timeout)
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    except TimeoutError:
        raise HttpError(408, errors.TIMEOUT, "the request body did not arrive within "
                         f"{state.settings.http_body_timeout:g}s", close=True) from None
    if len(raw) > limit:
        raise too_large
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HttpError(400, errors.BAD_REQUEST, f"invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HttpError(400, errors.BAD_REQUEST, "the body must be a JSON object")
    if require_data and "data" not in body:
        raise HttpError(400, errors.BAD_REQUEST, "missing field 'data'")
    return state, body


def _channel(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise HttpError(400, errors.BAD_REQUEST, f"'{field}' must be a string")
    if not value or len(value) > MAX_CHANNEL_LENGTH:
        raise HttpError(400, errors.BAD_REQUEST, f"'{field}' must be 1 to {MAX_CHANNEL_LENGTH} characters long")
    return value.encode()


def _data(value: Any) -> bytes:
    try:
        return encode_data(value)
    except BadRequest as exc:
        raise HttpError(400, exc.code, exc.message) from None


# A broadcast's idempotency key lives beside publish keys on each channel
# (``once:{<ch>}:\x00broadcast:<key>``): a key given to /api/publish never
# suppresses a broadcast, nor the reverse. A NUL cannot start a user's key that
# means the same thing (keys are sent as JSON strings, and this prefix is ours).
BROADCAST_KEY_PREFIX = b"\x00broadcast:"


# Messages one batch publish may carry (the body limit bounds their bytes).
MAX_BATCH = 1000

Message = tuple[str, bytes, "bytes | None"]


def publish_messages(body: dict[str, Any]) -> list[Message]:
    """The (channel, data JSON, idempotency key) of a publish body, checked before
    any is published: ``{"channel", "data"[, "idempotency_key"]}`` or a batch,
    ``{"messages": [{"channel", "data"[, "idempotency_key"]}, ...]}``."""
    if "messages" not in body:
        # The common publish checked here (as _message would pass it), without
        # _message's five calls; anything else, errors included, goes through it.
        channel = body.get("channel")
        if type(channel) is str and 0 < len(channel) <= MAX_CHANNEL_LENGTH and "data" in body \
                and body.get("idempotency_key") is None:
            try:
                return [(channel, orjson.dumps(body["data"]), None)]
            except orjson.JSONEncodeError:
                pass  # (as encode_data: _message says why)
        return [_message(body, "")]
    items = body["messages"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise HttpError(400, errors.BAD_REQUEST, f"'messages' must be a list of 1 to {MAX_BATCH} objects")
    extra = sorted(set(body) - {"messages"})
    if extra:
        raise HttpError(400, errors.BAD_REQUEST, f"a batch has only 'messages', not {extra[0]!r}")
    messages = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise HttpError(400, errors.BAD_REQUEST, f"'messages[{index}]' must be an object")
        messages.append(_message(item, f"messages[{index}]."))
    return messages


def _message(fields: dict[str, Any], where: str) -> Message:
    for name in ("data", "channel"):
        if name not in fields:
            raise HttpError(400, errors.BAD_REQUEST, f"missing field '{where}{name}'")
    channel = fields["channel"]
    _channel(channel, where + "channel")  # (checked; the str is what is kept, as it decodes back to itself)
    try:
        key = operations.idempotency_key(fields.get("idempotency_key"))
    except BadRequest as exc:
        raise HttpError(400, exc.code, exc.message.replace("'idempotency_key'", f"'{where}idempotency_key'")) from None
    return channel, _data(fields["data"]), key


async def publish_all(state: GatewayState, messages: list[Message], batch: bool) -> dict[str, Any]:
    """Publish in order; the reply body. A batch stops at the first message the
    broker does not take: its 503/504 says how many were ``published`` before it."""
    results = []
    for channel, data, key in messages:
        try:
            results.append(await operations.publish(state, channel, data, key))
        except BackendUnavailable as exc:
            extra = {"published": len(results)} if batch else {}
            raise HttpError(*_failure(exc), **extra) from None
    return {"ok": True, "results": results} if batch else {"ok": True, **results[0]}


async def publish(request: web.Request) -> web.Response:
    """POST /api/publish {"channel": "...", "data": <any JSON>[, "idempotency_key": "..."]}
    or a batch: {"messages": [{"channel": ..., "data": ...}, ...]}"""
    try:
        state, body = await _authorized_json(request, require_data=False)
        messages = publish_messages(body)
        reply = await publish_all(state, messages, "messages" in body)
    except HttpError as exc:
        return exc.response
    return _json(reply)


async def broadcast(request: web.Request) -> web.Response:
    """POST /api/broadcast {"channels": ["...", ...], "data": <any JSON>[, "idempotency_key": "..."]}

    With an ``idempotency_key``, the key covers the whole broadcast: each channel
    is published through FANOUT.ONCE with the broadcast's own key (separate from
    the same key on ``/api/publish``), so a repeat within the window publishes
    nothing and answers ``"duplicate": true``, and the retry of a broadcast cut
    short (504 after some channels) publishes only the channels that had not run
    (``"duplicates"`` counts the ones suppressed).
    """
    try:
        state, body = await _authorized_json(request)
        channels = body.get("channels")
        if not isinstance(channels, list) or not channels:
            raise HttpError(400, errors.BAD_REQUEST, "'channels' must be a non-empty list of strings")
        # A channel named twice gets the message once.
        names = list(dict.fromkeys(_channel(name, "channels[]") for name in channels))
        data = _data(body["data"])
        try:
            key = operations.idempotency_key(body.get("idempotency_key"))
        except BadRequest as exc:
            raise HttpError(400, exc.code, exc.message) from None
        if key is not None:
            key = BROADCAST_KEY_PREFIX + key
        duplicates = 0
        try:
            for name in names:
                position = await operations.publish(state, name.decode(), data, key)
                duplicates += bool(position.get("duplicate"))
        except BackendUnavailable as exc:
            raise HttpError(*_failure(exc)) from None
    except HttpError as exc:
        return exc.response
    reply: dict[str, Any] = {"ok": True, "channels": len(names)}
    if key is not None:
        if duplicates == len(names):
            reply["duplicate"] = True
        reply["duplicates"] = duplicates
    return _json(reply)


async def channels(request: web.Request) -> web.Response:
    """GET /api/channels[?pattern=glob]: channels with local subscribers and their counts."""
    state = request.app[STATE]
    try:
        state.auth.check_api_key(request.headers.get("Authorization"))
    except AuthError as exc:
        return json_error(401, exc.code, exc.message)
    counts = state.hub.channel_counts()
    pattern = request.query.get("pattern")
    if pattern is not None:
        if len(pattern.encode()) > MAX_CHANNEL_LENGTH:
            return json_error(400, errors.BAD_REQUEST, f"pattern is longer than {MAX_CHANNEL_LENGTH} bytes")
        bucket = state.pattern_queries
        if not bucket.allow():
            response = json_error(429, errors.RATE_LIMITED, f"pattern queries are limited to {bucket.rate:g}/s "
                                  f"per node; retry in {bucket.retry_after():.3f}s")
            response.headers["Retry-After"] = str(max(1, round(bucket.retry_after())))
            return response
        match = compile_glob(pattern.encode())  # bounded time per name (broker.glob)
        counts = {name: n for name, n in counts.items() if match(name.encode())}
    return _json({"channels": counts})


def _enabled_channel(request: web.Request, feature: str) -> tuple[GatewayState, str, Any]:
    state = request.app[STATE]
    try:
        state.auth.check_api_key(request.headers.get("Authorization"))
    except AuthError as exc:
        raise HttpError(401, exc.code, exc.message) from None
    channel = request.match_info.get("channel") or request.query.get("channel")
    if channel is None:
        raise HttpError(400, errors.BAD_REQUEST, "missing query parameter 'channel'")
    _channel(channel, "channel")
    options = state.channels.options(channel)
    if not (options.presence if feature == "presence" else options.history):
        raise HttpError(404, errors.NOT_ENABLED, f"{feature} is not enabled on channel {channel!r} "
                         "(see the server's channel rules)")
    return state, channel, options


async def presence(request: web.Request, stats: bool = False) -> web.Response:
    """GET /api/presence/<channel> or /api/presence?channel=<name>: users with their
    connections and info; GET /api/presence/<channel>/stats or
    /api/presence_stats?channel=<name>: numbers of users and connections.

    The query forms name any channel (``x/stats`` too, which the path forms read
    as the stats of ``x``)."""
    try:
        state, channel, _ = _enabled_channel(request, "presence")
        try:
            if stats:
                body = {"channel": channel, **await state.tracker.stats(channel)}
            else:
                body = {"channel": channel, "users": await state.tracker.present(channel)}
        except BackendUnavailable as exc:  # 504 outcome_unknown on a timeout, as the websocket ops
            raise HttpError(*_failure(exc)) from None
    except HttpError as exc:
        return exc.response
    return _json(body)


async def presence_stats(request: web.Request) -> web.Response:
    return await presence(request, stats=True)


def _query_int(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise HttpError(400, errors.BAD_REQUEST, f"'{name}' must be an integer, got {raw!r}") from None


async def history_page(request: web.Request) -> web.Response:
    """GET /api/history/<channel>?since=<offset>&limit=<n>&reverse=1"""
    try:
        state, channel, options = _enabled_channel(request, "history")
        flag = request.query.get("reverse", "0").lower()
        if flag not in ("0", "1", "true", "false"):
            raise HttpError(400, errors.BAD_REQUEST, f"'reverse' must be 0, 1, true or false, got {flag!r}")
        reverse = flag in ("1", "true")
        try:
            since, limit, reverse = operations.history_query(_query_int(request, "since", None),
                                                  _query_int(request, "limit", 100), reverse)
        except BadRequest as exc:
            raise HttpError(400, exc.code, exc.message) from None
        try:
            page = await history.read(state.backend, channel, options, operations.now_ms(), since, limit,
                                      reverse, max_bytes=state.settings.max_buffer)
        except BackendUnavailable as exc:  # 504 outcome_unknown on a timeout, as the websocket ops
            raise HttpError(*_failure(exc)) from None
    except HttpError as exc:
        return exc.response
    return web.Response(body=history.encode_page({"channel": channel}, page), content_type="application/json")


async def _unknown_api_route(request: web.Request) -> web.Response:
    # Another route may take this path with other methods: then it is a 405.
    here = request.match_info.route.resource
    for resource in request.app.router.resources():
        if resource is not here and resource.canonical.startswith("/api/"):
            _, allowed = await resource.resolve(request)
            if allowed:
                return json_error(405, errors.METHOD_NOT_ALLOWED,
                                  f"{request.path} takes {', '.join(sorted(allowed))}, not {request.method}")
    return json_error(404, errors.NOT_FOUND, f"no API route {request.method} {request.path}")


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return web.Response(body=generate_latest(state.registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


def routes() -> list[web.RouteDef]:
    """The routes of this module. ``channels`` and ``metrics`` are served through
    gateway.ops's routes of the same paths (which add the node-wide answer with
    --workers), and /healthz is ops's alone, so none of the three is listed here."""
    return [
        web.post("/api/publish", publish),
        web.post("/api/broadcast", broadcast),
        web.get("/api/presence", presence),
        web.get("/api/presence_stats", presence_stats),
        web.get("/api/presence/{channel:.+}/stats", presence_stats),
        web.get("/api/presence/{channel:.+}", presence),
        web.get("/api/history/{channel:.+}", history_page),
        # Under /api/ nothing falls through to the static files: an unknown route is a JSON 404.
        web.route("*", "/api/{tail:.*}", _unknown_api_route),
    ]
