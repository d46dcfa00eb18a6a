"""The gateway's error codes, and which code a failure of the broker link gets.

Every error the gateway answers carries one of these codes: websocket error
replies ``{"id":..,"error":{"code":..,"message":..}}``, HTTP API errors
``{"error":{..}}`` and refused websocket upgrades. README "Error codes" lists the
same codes (``tests/unit/test_gateway_errors.py`` checks that they match).
"""

from __future__ import annotations

from typing import NamedTuple

from broker.backend import BackendUnavailable, OutcomeUnknown
from broker.resp import CommandError

__all__ = ["CODES", "Failure", "failure"]

# Invalid JSON, not an object, a missing or mistyped field (the message names it).
BAD_REQUEST = "bad_request"
# An op the server does not know.
UNKNOWN_OP = "unknown_op"
# The token does not allow this channel, pattern or key; a cross-site publish.
FORBIDDEN = "forbidden"
# No token where one is needed, or a wrong API key.
UNAUTHORIZED = "unauthorized"
# A token whose signature or claims are wrong, or tokens are off on this server.
INVALID_TOKEN = "invalid_token"
# A token past its "exp".
TOKEN_EXPIRED = "token_expired"
# Subscriptions (channels, patterns and watches) over --max-subscriptions.
LIMIT_EXCEEDED = "limit_exceeded"
# Requests or publishes over the connection's rate, or /api/channels pattern queries over the node's.
RATE_LIMITED = "rate_limited"
# unsubscribe, punsubscribe or unwatch of something the connection does not follow.
NOT_SUBSCRIBED = "not_subscribed"
# Presence or history asked of a channel whose rules do not keep it.
NOT_ENABLED = "not_enabled"
# Not done: the request never reached the broker.
UNAVAILABLE = "unavailable"
# Sent, but the broker did not answer within --broker-timeout: it may still happen.
OUTCOME_UNKNOWN = "outcome_unknown"
# The broker refused (WRONGTYPE on a key the gateway uses that something else overwrote ...).
BROKER_ERROR = "broker_error"
# A bug of the gateway's (logged with its traceback).
INTERNAL_ERROR = "internal_error"
# A websocket upgrade past --max-connections.
TOO_MANY_CONNECTIONS = "too_many_connections"
# A websocket upgrade while the node shuts down.
SHUTTING_DOWN = "shutting_down"
# HTTP: no such route.
NOT_FOUND = "not_found"
# HTTP: the route does not take this method.
METHOD_NOT_ALLOWED = "method_not_allowed"
# HTTP: a request body over --max-message-size.
TOO_LARGE = "too_large"
# HTTP: publish and broadcast bodies must be sent as application/json.
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
# HTTP: the request body did not arrive within --http-body-timeout.
TIMEOUT = "timeout"
# HTTP: any other 4xx/5xx status of aiohttp's on an /api/ path.
HTTP_ERROR = "http_error"

# Every code above (the module's upper-case string constants).
CODES: frozenset[str] = frozenset(value for name, value in dict(globals()).items()
                                  if name.isupper() and isinstance(value, str))


class Failure(NamedTuple):
    """An error answer: the HTTP status, the code and the message."""

    status: int
    code: str
    message: str


def failure(exc: BaseException) -> Failure | None:
    """The answer to an exception of the broker link or the broker (None for any other):
    the one mapping the websocket session and the HTTP API share.

    ``OutcomeUnknown`` is tested before ``BackendUnavailable``, its base class.
    """
    if isinstance(exc, OutcomeUnknown):
        return Failure(504, OUTCOME_UNKNOWN, f"the broker did not answer: {exc}")
    if isinstance(exc, BackendUnavailable):
        return Failure(503, UNAVAILABLE, f"the broker is unavailable: {exc}")
    if isinstance(exc, CommandError):
        return Failure(500, BROKER_ERROR, f"the broker refused: {exc.message}")
    return None
