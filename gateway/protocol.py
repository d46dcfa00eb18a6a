"""Client messages in and server messages out (JSON text frames, via orjson).

Client -> server (each may carry an ``"id"``, echoed in the reply)::

    {"op":"subscribe","channel":"chat:lobby"}
    {"op":"psubscribe","pattern":"chat:*"}
    {"op":"unsubscribe","channel":"chat:lobby"}
    {"op":"punsubscribe","pattern":"chat:*"}
    {"op":"publish","channel":"chat:lobby","data":<any JSON>}
    {"op":"presence","channel":"chat:lobby"}
    {"op":"presence_stats","channel":"chat:lobby"}
    {"op":"history","channel":"chat:lobby","since":41,"limit":100,"reverse":false}
    {"op":"ping"}
    {"op":"watch","key":"leaderboard:demo","view":{"type":"zset_top","n":10}}   (gateway.watch)
    {"op":"unwatch","watch":"v1"}

Each op's handler and required fields are declared once, in the op table
``gateway.session.OPS``; ``parse_request`` validates a message against it.

``subscribe`` options: ``"presence": true | "connections"`` (join/leave events per
user or per connection) and ``"recover": {"offset": N, "epoch": "E"}``.

Server -> client: replies ``{"id":7,"ok":true,...}`` or
``{"id":7,"error":{"code":"forbidden","message":"..."}}``, and events
``{"channel":"chat:lobby","data":<JSON>}`` (+ ``"pattern"`` when delivered through
a pattern subscription, ``"offset"`` and ``"epoch"`` on channels with history),
``{"channel":...,"join":{"user":...,"info":...}}`` / ``"leave"``, and
``{"channel":...,"gap":{"dropped":N,"from_offset":X}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway import errors

__all__ = [
    "MAX_CHANNEL_LENGTH",
    "BadRequest",
    "Fields",
    "Request",
    "encode_error",
    "encode_event",
    "encode_reply",
    "parse_request",
    "payload_json",
]

MAX_CHANNEL_LENGTH = 1024

@dataclass(frozen=True, slots=True)
class Fields:
    """What a client message of one op must carry (gateway.session's op table says it per op)."""

    # The string field naming the op's channel, pattern, key or watch (Request.target), if any.
    target: str | None = None
    # A "data" field (any JSON), kept as its encoded text (Request.data_json).
    data: bool = False


class BadRequest(Exception):
    """A client message the server refuses; becomes an error reply."""

    def __init__(self, code: str, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(slots=True)
class Request:
    op: str
    id: Any
    # channel or pattern, per op
    target: str = ""
    data: Any = None
    # the raw JSON text of data, for publish (kept so it is not re-encoded)
    data_json: bytes = b""
    options: dict[str, Any] | None = None


def parse_request(text: str | bytes, ops: Mapping[str, Fields]) -> Request:
    """Validate one client message against ``ops`` (op name -> the fields it needs).

    Raises:
        BadRequest: invalid JSON, not an object, unknown op, missing or mistyped field.
    """
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(errors.BAD_REQUEST, f"invalid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise BadRequest(errors.BAD_REQUEST, f"a message must be a JSON object, got {type(message).__name__}")
    request_id = message.get("id")
    if request_id is not None and not isinstance(request_id, (int, float, str)) or isinstance(request_id, bool):
        raise BadRequest(errors.BAD_REQUEST, "'id' must be a number or a string", None)
    op = message.get("op")
    if op is None:
        raise BadRequest(errors.BAD_REQUEST, "missing field 'op'", request_id)
    if not isinstance(op, str):
        raise BadRequest(errors.BAD_REQUEST, f"'op' must be a string, got {_type(op)}", request_id)
    required = ops.get(op)
    if required is None:
        raise BadRequest(errors.UNKNOWN_OP, f"unknown op {op!r}; expected one of: {', '.join(ops)}", request_id)
    request = Request(op=op, id=request_id)
    field = required.target
    if field is not None:
        value = message.get(field)
        if value is None:
            raise BadRequest(errors.BAD_REQUEST, f"missing field '{field}' for op '{op}'", request_id)
        if not isinstance(value, str):
            raise BadRequest(errors.BAD_REQUEST, f"'{field}' must be a string, got {_type(value)}", request_id)
        if not value or len(value) > MAX_CHANNEL_LENGTH:
            raise BadRequest(errors.BAD_REQUEST, f"'{field}' must be 1 to {MAX_CHANNEL_LENGTH} characters long",
                             request_id)
        request.target = value
    if required.data:
        if "data" not in message:
            raise BadRequest(errors.BAD_REQUEST, f"missing field 'data' for op '{op}'", request_id)
        request.data = message["data"]
        try:
            request.data_json = encode_data(request.data)
        except BadRequest as exc:
            exc.request_id = request_id
            raise
    extra = {key: value for key, value in message.items() if key not in ("op", "id", field, "data")}
    request.options = extra or None
    return request


def encode_data(value: Any) -> bytes:
    """A message's data as the JSON text to publish.

    Raises:
        BadRequest: nested deeper than JSON encoding allows (255 levels).
    """
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise BadRequest(errors.BAD_REQUEST, f"'data' cannot be published: {exc}") from None


def _type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def encode_reply(request_id: Any, **fields: Any) -> bytes:
    body: dict[str, Any] = {"id": request_id, "ok": True} if request_id is not None else {"ok": True}
    body.update(fields)
    return orjson.dumps(body)


def encode_error(request_id: Any, code: str, message: str, **fields: Any) -> bytes:
    body: dict[str, Any] = {"id": request_id} if request_id is not None else {}
    body["error"] = {"code": code, "message": message, **fields}
    return orjson.dumps(body)


def payload_json(data: bytes) -> bytes:
    """The JSON to deliver for a published payload: itself if it is JSON, else a string.

    Browser and HTTP publishes are stored as JSON text, so they come back as the
    same JSON value; a RESP publisher may send anything.
    """
    try:
        orjson.loads(data)
        return data
    except orjson.JSONDecodeError:
        return orjson.dumps(data.decode("utf-8", "replace"))


def encode_event(channel: bytes, data_json: bytes, pattern: bytes | None = None) -> bytes:
    """``{"channel":...,"data":...}`` (+ pattern), built from already-encoded JSON."""
    head = b'{"channel":' + orjson.dumps(channel.decode("utf-8", "replace"))
    if pattern is not None:
        head += b',"pattern":' + orjson.dumps(pattern.decode("utf-8", "replace"))
    return head + b',"data":' + data_json + b"}"
