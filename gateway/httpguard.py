"""Limits of the HTTP port before a request reaches aiohttp, and quiet logs for bad requests.

- A connection has ``header_timeout`` seconds to send its request head (408).
- At most ``max_pending_requests`` connections may be waiting to send one: past
  that, the one that has waited longest is answered 408 and closed, so half-sent
  requests (slowloris) cannot hold the port, and a new client still gets in.
- Near the process's file-descriptor limit the port takes no more than its share
  (``broker.fdlimit.FdBudget``): a refused connection is answered 503 and closed.
- aiohttp logs a malformed request as an ERROR with a traceback; ``QuietBadRequests``
  makes that one short line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson

from broker.fdlimit import FdBudget

__all__ = ["HttpGuard", "QuietBadRequests", "error_response"]


def error_response(status: int, reason: str, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 JSON error response that closes the connection."""
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class HttpGuard:
    """Connections of the HTTP port that have not sent a complete request head yet.

    One timer for all of them, not one each: every connection gets the same
    ``header_timeout``, so the order they came in is the order of their deadlines,
    and the timer is due at the oldest one's (a connect storm no longer makes and
    cancels a timer per connection)."""

    def __init__(self, header_timeout: float, max_pending: int, budget: FdBudget | None = None,
                 open_connections: Callable[[], int] | None = None) -> None:
        self.header_timeout = header_timeout
        self.max_pending = max_pending
        self.budget = budget
        # transport -> its deadline (loop time), oldest first (dicts keep insertion order)
        self.waiting: dict[asyncio.Transport, float] = {}
        # Due at the oldest deadline (or earlier: it then sets itself for the next one).
        self.timer: asyncio.TimerHandle | None = None
        if budget is not None:
            others = open_connections or (lambda: 0)
            budget.register("http", lambda: len(self.waiting) + others())

    def admit(self, transport: asyncio.Transport) -> bool:
        """Start waiting for ``transport``'s request head; False if it was refused (503, closed)."""
        if self.budget is not None and not self.budget.admit("http"):
            transport.write(error_response(503, "Service Unavailable", "too_many_connections",
                                           "the server is at its limit of open connections"))
            transport.close()
            return False
        if len(self.waiting) >= self.max_pending:
            oldest = next(iter(self.waiting))
            self._time_out(oldest, f"over {self.max_pending} connections were waiting to send a request")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.header_timeout
        self.waiting[transport] = deadline
        if self.timer is None:
            self.timer = loop.call_at(deadline, self._expire)
        return True

    def done(self, transport: asyncio.Transport) -> None:
        """The head arrived (or the connection closed)."""
        self.waiting.pop(transport, None)

    def _expire(self) -> None:
        """Time out every connection past its deadline; be due at the next one."""
        self.timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self.waiting:
            transport, deadline = next(iter(self.waiting.items()))
            if deadline - now > 0.001:  # (a timer may fire up to a millisecond early)
                self.timer = loop.call_at(deadline, self._expire)
                return
            self._time_out(transport, f"no complete request head within {self.header_timeout:g}s")

    def _time_out(self, transport: asyncio.Transport, message: str) -> None:
        self.done(transport)
        if not transport.is_closing():
            transport.write(error_response(408, "Request Timeout", "timeout", message))
            transport.close()


class QuietBadRequests(logging.Filter):
    """aiohttp's "Error handling request" for a malformed request (a 400 it already
    answered) becomes one INFO line of at most ``width`` characters, no traceback."""

    def __init__(self, width: int = 160) -> None:
        super().__init__()
        self.width = width

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, (HttpProcessingError, ConnectionError)):
            text = " ".join(str(getattr(exc, "message", exc) or type(exc).__name__).split())
            record.msg = ("bad HTTP request: " + text)[: self.width]
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True
