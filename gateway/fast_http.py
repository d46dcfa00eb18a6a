"""The hot HTTP route, ``POST /api/publish``, served without aiohttp's per-request machinery.

A service that publishes a lot sends plain requests on kept-alive (often
pipelined) connections; aiohttp spends tens of microseconds on each (a Request,
middlewares, a Response, a task), more than the fanout the publish causes. Here
the request is framed with ``httptools`` (llhttp, the C parser uvicorn uses)
and answered straight from the buffer.

Only the common case is served here: HTTP/1.1, a ``Content-Length`` body within
the limit, ``Content-Type: application/json``, no browser headers (``Origin``,
``Sec-Fetch-Site``), the API key right and the body a valid publish. Any other
request (another route, a refusal, a chunked body, ``Expect``, bad JSON...) is
handed, with the rest of the connection, to aiohttp, from its first byte on:
aiohttp answers it exactly as it always has, so no error path is written twice.
The only answers made here besides success are the publish's own outcome
errors (503/504/500, once the broker was asked) and the timeouts of requests
that stop half-way (408, as ``gateway.httpguard`` and the API answer them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import httptools
import orjson

from broker.backends.memory import MemoryBackend
from broker.resp import CommandError
from gateway import errors, http_api
from gateway.auth import AuthError
from gateway.httpguard import error_response
from gateway.state import GatewayState

__all__ = ["FastHttp", "FastHttpProtocol"]

log = logging.getLogger("fanout.gateway")

ROUTE = b"/api/publish"
# Longest request head looked for before aiohttp is left to answer it (as wsserver.MAX_HEAD).
MAX_HEAD = 16 * 1024
# Unanswered input held per connection: past it the connection is not read until
# the requests in it are answered (backpressure, as the websocket side does).
MAX_INPUT = 1 << 20
# Request heads FastHttp.heads keeps (past it the cache starts over), and the
# longest kept: at most 256 KB.
HEADS_LIMIT = 256
MAX_CACHED_HEAD = 1024
# Requests answered back to back before the connection lets the others have the loop.
YIELD_EVERY = 16
_REASONS = {200: "OK", 500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}
# Headers that send a request to aiohttp (which answers them as it always has).
_HANDED_OVER = frozenset((b"transfer-encoding", b"expect", b"upgrade", b"origin", b"sec-fetch-site"))
_KEPT = frozenset((b"content-length", b"content-type", b"authorization", b"connection"))


class _Date:
    """The ``Date`` header's value, formatted once a second; and the common
    answer (a plain publish's 200 ``{"ok":true}``, kept alive), made once a second."""

    second = 0
    value = b""
    ok_until = 0.0  # the second after the one ``ok`` was made in
    ok = b""

    @classmethod
    def now(cls) -> bytes:
        second = int(time.time())
        if second != cls.second:
            cls.second, cls.value = second, formatdate(second, usegmt=True).encode()
        return cls.value

    @classmethod
    def ok_response(cls) -> bytes:
        now = time.time()
        if now >= cls.ok_until:  # (a float compared: int() per request was a tenth of this)
            cls.ok_until, cls.ok = int(now) + 1, response(200, _OK)
        return cls.ok


_OK = orjson.dumps({"ok": True})


def response(status: int, body: bytes, close: bool = False) -> bytes:
    return b"".join((f"HTTP/1.1 {status} {_REASONS[status]}\r\n".encode(),
                     b"Content-Type: application/json\r\nContent-Length: ",
                     str(len(body)).encode(), b"\r\nDate: ", _Date.now(),
                     b"\r\nServer: fanout\r\nConnection: close\r\n\r\n" if close else b"\r\nServer: fanout\r\n\r\n",
                     body))


class FastHttp:
    """The server side: makes each connection's protocol, knows the open ones (for
    the descriptor budget and shutdown) and aiohttp's factory to hand over to."""

    def __init__(self, state: GatewayState, http_factory: Callable[[], asyncio.Protocol]) -> None:
        self.state = state
        self.http_factory = http_factory
        self.connections: set[FastHttpProtocol] = set()
        # Request head -> (Content-Length, keep-alive) of a head served here: a
        # publisher sends the same few heads over and over (they differ by
        # Content-Length), and llhttp with its Python callbacks was a tenth of a
        # publish's instructions. A head is kept once it passed every check (POST
        # /api/publish over HTTP/1.1, the type, the length, the API key): they
        # depend on the head's bytes and on settings fixed for the server's life.
        self.heads: dict[bytes, tuple[int, bool]] = {}
        # The broker in this process publishes without awaiting anything: plain
        # publishes are then answered in data_received, with no task per read.
        backend = state.backend
        self.publish_now: Callable[[bytes, bytes], int] | None = (
            backend.publish_now if isinstance(backend, MemoryBackend) else None)

    def __call__(self) -> FastHttpProtocol:
        return FastHttpProtocol(self)

    def close(self) -> None:
        """Shutdown: close idle connections now, busy ones after their answer."""
        for connection in list(self.connections):
            connection.close_after_answer()


class FastHttpProtocol(asyncio.Protocol):
    """One HTTP connection while its requests are publishes; then aiohttp's."""

    __slots__ = ("body_at", "buffer", "busy", "closing", "deadline", "eof", "fed", "headers", "keep_alive", "last_head",
                 "last_parsed", "length", "loop", "odd", "out", "parser", "pos", "reading", "server", "timer", "transport",
                 "url", "waiting", "writing_paused")

    def __init__(self, server: FastHttp) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.buffer = b""
        self.pos = 0  # where the next request starts in ``buffer``
        self.body_at = -1  # where the current request's body starts, once its head is parsed
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.odd = False  # a header that makes aiohttp answer the request
        self.fed = False  # the current request's head went through the parser (not FastHttp.heads)
        self.keep_alive = True
        self.length = 0  # the current request's Content-Length
        # The last head found in FastHttp.heads and its entry (see _next).
        self.last_head = b""
        self.last_parsed = (0, True)
        self.out: list[bytes] = []
        self.busy = False
        self.closing = False
        self.eof = False
        self.reading = True
        self.writing_paused = False
        # One timer for whatever the connection waits for ("idle", "head", "body").
        self.waiting = ""
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.loop = asyncio.get_running_loop()  # (once: each call is a getpid() system call)
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer = self.buffer + data if self.buffer else data
        if len(self.buffer) - self.pos > MAX_INPUT:
            self._set_reading(False)
        if not self.busy:
            self._serve_now()

    def eof_received(self) -> bool:
        self.eof = True
        if not self.busy:
            self._close()
        return True  # keep the write side open: requests read before the EOF are still answered

    def pause_writing(self) -> None:
        self.writing_paused = True
        self._set_reading(False)

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._set_reading(len(self.buffer) - self.pos <= MAX_INPUT)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.buffer = b""

    def close_after_answer(self) -> None:
        self.closing = True
        if not self.busy:
            self._close()

    # --------------------------------------------------------------- parser

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in _HANDED_OVER or (name in _KEPT and name in self.headers):
            self.odd = True
        self.headers[name] = value

    # -------------------------------------------------------------- requests

    def _serve_now(self) -> None:
        """Answer the requests read so far that need no waiting (plain publishes to
        the broker in this process), up to YIELD_EVERY; from the first that does
        (or the YIELD_EVERY-th) on, the ``_serve`` task takes over."""
        if self.server.publish_now is None:  # not in this process: every request is awaited
            self.busy = True
            asyncio.ensure_future(self._serve())
            return
        answered = 0
        try:
            while not self.closing and self.transport is not None and not self.transport.is_closing():
                if answered == YIELD_EVERY:
                    self.busy = True
                    asyncio.ensure_future(self._serve(answered=answered))
                    return
                request = self._next()
                if request is None:
                    break
                if not self._answer_now(*request):
                    self.busy = True
                    asyncio.ensure_future(self._serve(request, answered))
                    return
                answered += 1
                if not request[2]:
                    self.closing = True
        except Exception:  # a bug must not leave the connection hanging
            log.exception("error while serving POST %s", ROUTE.decode())
            self.closing = True
        self._done()

    async def _serve(self, request: tuple[list[http_api.Message], bool, bool] | None = None,
                     answered: int = 0) -> None:
        try:
            while not self.closing and self.transport is not None and not self.transport.is_closing():
                if answered == YIELD_EVERY:
                    answered = 0
                    self._flush()
                    await asyncio.sleep(0)  # publishes that need no I/O never yield
                    continue  # the connection may have closed meanwhile
                if request is None:
                    request = self._next()
                    if request is None:
                        break
                messages, batch, keep_alive = request
                request = None
                await self._answer(messages, batch, keep_alive)
                answered += 1
                if not keep_alive:
                    self.closing = True
        except Exception:  # a bug must not leave the connection hanging
            log.exception("error while serving POST %s", ROUTE.decode())
            self.closing = True
        finally:
            self._done()

    def _done(self) -> None:
        """Nothing more to answer for now: out with the answers; close or read on."""
        self.busy = False
        self._flush()
        if self.closing or self.eof:
            self._close()
        elif not self.writing_paused:
            self._set_reading(True)

    def _next(self) -> tuple[list[http_api.Message], bool, bool] | None:
        """The next complete publish in the buffer, checked; None when waiting for
        more input or when the connection went to aiohttp."""
        buffer, start = self.buffer, self.pos
        if self.body_at < 0 and self.last_head and buffer.startswith(self.last_head, start):
            # The connection's previous head again (a publisher's usual case): it ends
            # where that one did (its only blank line is its end), without the find,
            # the slice and its hash for FastHttp.heads.
            self.fed = False
            self.length, self.keep_alive = self.last_parsed
            self.body_at = start + len(self.last_head)
        elif self.body_at < 0:
            end = buffer.find(b"\r\n\r\n", start)
            if end < 0:
                if len(buffer) - start > MAX_HEAD or buffer.find(b"\n\n", start) >= 0:
                    self._hand_over(start)  # aiohttp answers it as before (e.g. 400)
                else:
                    self._wait("head" if len(buffer) > start else "idle",
                               self.server.state.settings.http_header_timeout)
                return None
            head = buffer[start:end + 4]
            parsed = self.server.heads.get(head)  # (_head's look-up, without a call per request)
            if parsed is not None:
                self.fed = False
                self.length, self.keep_alive = parsed
                self.last_head, self.last_parsed = head, parsed
            elif not self._head(head):
                self._hand_over(start)
                return None
            self.body_at = end + 4
        body_end = self.body_at + self.length
        if len(buffer) < body_end:
            self._wait("body", self.server.state.settings.http_body_timeout)
            return None
        body = buffer[self.body_at:body_end]
        try:
            if self.fed:  # (a head from FastHttp.heads was not: llhttp waits for a head)
                self.parser.feed_data(body)
            parsed = orjson.loads(body)
            if not isinstance(parsed, dict):
                raise ValueError("not an object")
            messages = http_api.publish_messages(parsed)
        except (httptools.HttpParserError, ValueError, http_api.HttpError):
            self._hand_over(start)  # aiohttp's answer says what is wrong
            return None
        self.body_at = -1
        if body_end == len(buffer):
            self.buffer, self.pos = b"", 0
        else:
            self.pos = body_end
        self.waiting = ""
        return messages, "messages" in parsed, self.keep_alive

    def _head(self, head: bytes) -> bool:
        """Parse a request head not in FastHttp.heads; whether it is one served here
        (then it is kept there)."""
        self.fed = True
        if b"\n\n" in head:  # a bare-LF blank line: the head ends earlier (aiohttp frames it)
            return False
        self.url, self.headers, self.odd = b"", {}, False
        try:
            self.parser.feed_data(head)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            return False
        parser = self.parser
        # (keep-alive read now: llhttp forgets it once the body is read)
        self.keep_alive = parser.should_keep_alive()
        if self.odd or self.url != ROUTE or parser.get_method() != b"POST" or parser.get_http_version() != "1.1":
            return False
        length = self._checked_length(self.headers)
        if length < 0:
            return False
        self.length = length
        if len(head) <= MAX_CACHED_HEAD:
            heads = self.server.heads
            if len(heads) >= HEADS_LIMIT:
                heads.clear()
            heads[head] = length, self.keep_alive
        return True

    def _checked_length(self, headers: dict[bytes, bytes]) -> int:
        """The Content-Length of a publish's head served here; -1 if its type,
        length or API key sends it to aiohttp (which answers it as before)."""
        length = headers.get(b"content-length")
        kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        state = self.server.state
        if length is None or kind != b"application/json" or int(length) > state.settings.max_message_size:
            return -1
        try:
            authorization = headers.get(b"authorization")
            state.auth.check_api_key(authorization.decode("latin-1") if authorization is not None else None)
        except AuthError:
            return -1
        return int(length)

    def _answer_now(self, messages: list[http_api.Message], batch: bool, keep_alive: bool) -> bool:
        """Answer a publish of plain messages (no history, no idempotency key) to
        the broker in this process at once; False, with nothing done, for any
        other (``_answer`` awaits it)."""
        state = self.server.state
        policy = state.channels
        cache = policy.cache
        for channel, _, key in messages:
            # (.history: a property call; the policy's cache read here, its call only on a miss)
            if key is not None or (cache.get(channel) or policy.options(channel)).history_size:
                return False
        publish = self.server.publish_now
        assert publish is not None
        status = 200
        close = not keep_alive or self.closing
        hub = state.hub
        try:
            for channel, data, _ in messages:
                hub.json_data = data  # (orjson made it: the hub need not parse it again)
                publish(channel.encode(), data)
                state.counters.messages_in += 1
            if batch:
                answer = response(200, orjson.dumps({"ok": True, "results": [{}] * len(messages)}), close)
            else:
                answer = response(200, _OK, True) if close else _Date.ok_response()
        except CommandError as exc:  # (as _answer)
            log.warning("broker error for POST %s: %s", ROUTE.decode(), exc.message)
            status, code, message = errors.failure(exc)  # type: ignore[misc]
            answer = response(status, http_api.error_body(code, message), close)
        except Exception:
            log.exception("error while handling POST %s", ROUTE.decode())
            status = 500
            answer = response(status, http_api.error_body(errors.INTERNAL_ERROR,
                                                          f"POST {ROUTE.decode()} failed on the server"), close)
        finally:
            hub.json_data = None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("HTTP POST %s -> %d (%d messages)", ROUTE.decode(), status, len(messages))
        self.out.append(answer)
        return True

    async def _answer(self, messages: list[http_api.Message], batch: bool, keep_alive: bool) -> None:
        state = self.server.state
        status = 200
        try:
            body = orjson.dumps(await http_api.publish_all(state, messages, batch))
        except http_api.HttpError as exc:
            status, body = exc.status, http_api.error_body(exc.code, str(exc), **exc.fields)
        except CommandError as exc:
            log.warning("broker error for POST %s: %s", ROUTE.decode(), exc.message)
            status, code, message = errors.failure(exc)  # type: ignore[misc]
            body = http_api.error_body(code, message)
        except Exception:
            log.exception("error while handling POST %s", ROUTE.decode())
            status, body = 500, http_api.error_body(errors.INTERNAL_ERROR,
                                                    f"POST {ROUTE.decode()} failed on the server")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("HTTP POST %s -> %d (%d messages)", ROUTE.decode(), status, len(messages))
        self.out.append(response(status, body, close=not keep_alive or self.closing))

    # ---------------------------------------------------------------- output

    def _flush(self) -> None:
        if self.out:
            out, self.out = self.out, []
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _close(self) -> None:
        self._flush()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _set_reading(self, on: bool) -> None:
        if on != self.reading and self.transport is not None and not self.transport.is_closing():
            self.reading = on
            if on:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def _hand_over(self, start: int) -> None:
        """From the request at ``start`` on, the connection is aiohttp's."""
        self._flush()
        transport = self.transport
        assert transport is not None
        data = self.buffer[start:]
        self._set_reading(True)
        self.connection_lost(None)  # ours ends here: timer, bookkeeping
        self.transport = None
        protocol = self.server.http_factory()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if data:
            protocol.data_received(data)
        if self.eof:
            protocol.eof_received()

    # --------------------------------------------------------------- timeouts

    def _wait(self, what: str, timeout: float) -> None:
        """Wait for input: "idle" (closed quietly at the deadline), "head" or
        "body" (answered 408). A head's deadline runs from the end of the
        previous request, as the idle one; a body's from its head."""
        if self.pos:  # what was answered leaves the buffer (a pipelining client may never empty it)
            self.buffer = self.buffer[self.pos:]
            if self.body_at >= 0:
                self.body_at -= self.pos
            self.pos = 0
        if what != self.waiting and not (what == "head" and self.waiting == "idle"):
            self.deadline = self.loop.time() + timeout
        self.waiting = what
        if self.timer is None:
            self.timer = self.loop.call_at(self.deadline, self._timed_out)

    def _timed_out(self) -> None:
        self.timer = None
        if self.busy or not self.waiting or self.transport is None:
            return
        loop = self.loop
        if loop.time() < self.deadline:
            self.timer = loop.call_at(self.deadline, self._timed_out)
            return
        settings = self.server.state.settings
        if self.waiting == "head":
            self.out.append(error_response(408, "Request Timeout", "timeout", "no complete request head "
                                           f"within {settings.http_header_timeout:g}s"))
        elif self.waiting == "body":
            self.out.append(error_response(408, "Request Timeout", "timeout", "the request body did not "
                                           f"arrive within {settings.http_body_timeout:g}s"))
        self._close()
