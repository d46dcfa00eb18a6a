"""The HTTP port's front door: ``/ws`` upgrades are served here, the rest by aiohttp.

A websocket is the gateway's long-lived, memory-bound object, so it is kept lean:
the opening handshake and incoming frames go through the ``websockets``
library's sans-I/O ``ServerProtocol``, outgoing events are pre-built frames
written straight to the transport (``gateway.connection``), and liveness is one
timer for all connections instead of one per connection. Everything that is not
a websocket upgrade to ``/ws`` is handed, bytes and all, to aiohttp's request
handler (the HTTP API, metrics, static files).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Callable, Coroutine, Generator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.datastructures import Headers
from websockets.frames import CloseCode, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from gateway import errors
from gateway.auth import AuthError, Identity
from gateway.connection import Connection, ConnectionState
from gateway.httpguard import HttpGuard
from gateway.node import drop_connection
from gateway.protocol import BadRequest, encode_error
from gateway.session import Sent, handle_request, parse, publish_now, publish_reply
from gateway.upgrade import Upgrade, accept_response, parse_upgrade
from gateway.wsmemory import forget_handshake
from gateway.state import GatewayState

try:  # the library's C unmasking (its pure-Python fallback otherwise)
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

__all__ = ["FrontProtocol", "WebsocketProtocol", "cap_send_buffer", "run_heartbeats"]

# (a global: an enum member read through its class costs a metaclass __getattr__ call per request)
_OPEN = ConnectionState.OPEN
log = logging.getLogger("fanout.gateway")
# The library logs every handshake at INFO; with thousands of connections that is noise.
logging.getLogger("websockets").setLevel(logging.WARNING)

# Longest request head we wait for before letting aiohttp answer it.
MAX_HEAD = 16 * 1024
# Bytes of one connection's input parsed per event-loop iteration. The rest waits
# (reading paused) for the next iteration, so a client sending megabytes of tiny
# frames costs everyone else at most ~7 ms of parsing at a time (2.6 us a frame).
FEED_CHUNK = 16 * 1024
# Frames one fragmented message may have (RFC 6455 5.4 sets no limit). Empty
# continuation frames cost parsing but no bytes, so the size limit alone does not
# bound them; browsers never fragment a message they send.
MAX_FRAGMENTS = 1024
# Requests of one connection waiting behind the one being handled; past this the
# connection is not read until they are handled (backpressure, not buffering).
MAX_BACKLOG = 64
# Requests handled back to back before the handler yields to the event loop.
YIELD_EVERY = 16
# First bytes of the frames a connection's own parser takes (``_fast_frames``):
# FIN + text, FIN + pong (RFC 6455 5.2; no RSV bit: no extension is negotiated).
FIN_TEXT, FIN_PONG = 0x81, 0x8A
# An unmasked empty ping (what the library's ``send_ping(b"")`` writes).
PING_FRAME = b"\x89\x00"


class FrontProtocol(asyncio.Protocol):
    """Reads a connection's request head and picks who serves it (within ``guard``'s limits)."""

    def __init__(self, state: GatewayState, http_factory: Callable[[], asyncio.Protocol],
                 guard: HttpGuard | None = None) -> None:
        self.state = state
        self.http_factory = http_factory
        self.guard = guard
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.guard is not None:
            self.guard.admit(self.transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        bare = self.buffer.find(b"\n\n")
        if bare >= 0 and (end < 0 or bare < end):
            # RFC 9112 2.2: "a recipient MAY recognize a single LF as a line
            # terminator and ignore any preceding CR". aiohttp's parser does not
            # (400), so the head is handed over with CRLFs.
            head = self.buffer[:bare].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            self.buffer = head + b"\r\n\r\n" + self.buffer[bare + 2:]
            end = len(head)
        if end < 0 and len(self.buffer) <= MAX_HEAD:
            return
        assert self.transport is not None
        if self.guard is not None:
            self.guard.done(self.transport)
        head = self.buffer[:end].lower() if end >= 0 else b""
        # The first line (bytes.splitlines ends lines at CR or LF), and whether a
        # later line starts with "upgrade: websocket", without splitting the head
        # (find, not ``in``: bytes.__contains__ tries the operand as an int first, a
        # TypeError raised and dropped each time).
        first_line = head.split(b"\n", 1)[0].split(b"\r", 1)[0]
        target = first_line.split(b" ")[1] if first_line.count(b" ") >= 2 else b""
        if (first_line.startswith(b"get ") and target.split(b"?", 1)[0] == b"/ws"
                and (head.find(b"\nupgrade: websocket") >= 0 or head.find(b"\rupgrade: websocket") >= 0)):
            upgrade = parse_upgrade(self.buffer[:end], head) if end >= 0 else None
            if upgrade is not None:  # the usual upgrade: answered here, frames follow
                websocket = WebsocketProtocol(self.state, self.transport, opened=True)
                self.transport.set_protocol(websocket)
                rest, self.buffer = self.buffer[end + 4:], b""
                if websocket.open_handshake(upgrade) and rest:
                    websocket.data_received(rest)
                return
            protocol: asyncio.Protocol = WebsocketProtocol(self.state, self.transport)
        else:
            protocol = self.http_factory()
            protocol.connection_made(self.transport)
        self.transport.set_protocol(protocol)
        protocol.data_received(self.buffer)
        self.buffer = b""

    def connection_lost(self, exc: Exception | None) -> None:
        self.buffer = b""
        if self.guard is not None and self.transport is not None:
            self.guard.done(self.transport)


def cap_send_buffer(sock: Any, max_buffer: int) -> None:
    """Keep the kernel's send buffer near the output budget: left to autotuning it
    grows to megabytes that the budget cannot see (the kernel doubles the value).

    Set on the listening socket: accepted sockets inherit it (Linux copies the
    listener's buffer sizes and locks), so a connect makes no ``setsockopt`` call
    of its own. The HTTP API's connections get the same cap."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, max(4096, min(max_buffer // 2, 256 * 1024)))
    except OSError:
        pass


def _json_response(status: int, reason: str, code: str, message: str) -> Response:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       ("Connection", "close")])
    return Response(status, reason, headers, body)


class WebsocketProtocol(asyncio.Protocol):
    """One websocket connection: handshake checks, incoming frames, close.

    A connection whose handshake was ours (``open_handshake``) has no library
    protocol until it needs one: complete, masked text and pong frames (what
    clients send) are parsed here (``_fast_frames``); the first other frame (a
    close, a ping, a fragment, one over the size limit, a partial frame), a close
    we start, or the end of the stream creates the library's ``ServerProtocol``
    (``_library``), in the OPEN state at a frame boundary, which takes every byte
    from then on. A connection makes one at its end if ever (a close frame),
    not at its start: it was the largest per-connection object (~2 KB) and a
    fifth of a connect's instructions.
    """

    __slots__ = (
        "arrived",
        "awaiting_pong",
        "backlog",
        "busy",
        "closed",
        "connection",
        "drained",
        "fragment_count",
        "fragments",
        "fragments_binary",
        "pending",
        "pending_at",
        "protocol",
        "pump_scheduled",
        "reading",
        "reason",
        "start_inline",
        "state",
        "transport",
        "writing_paused",
    )

    def __init__(self, state: GatewayState, transport: asyncio.Transport, opened: bool = False) -> None:
        self.state = state
        self.transport = transport
        # ``opened``: the handshake is ours (open_handshake); the library, if it is
        # ever needed, reads frames only (see _library).
        self.protocol: ServerProtocol | None = None if opened else \
            ServerProtocol(max_size=state.settings.max_message_size, state=State.CONNECTING)
        self.connection: Connection | None = None
        self.fragments: list[bytes] | None = None
        # A request being handled (async): later ones wait in the backlog, in order.
        self.busy = False
        # A request arrived while not busy, over the in-process broker: handled
        # inline once the read is parsed (_handle_inline).
        self.start_inline = False
        # Set while the handler waits for a publish's reply with nothing else to do:
        # a new request wakes it (see _handle).
        self.arrived: asyncio.Future[None] | None = None
        # A list, not a deque: an empty deque is 760 bytes, a list 56 (and it holds at most MAX_BACKLOG).
        self.backlog: list[str] = []
        self.closed: asyncio.Future[None] | None = None
        self.awaiting_pong = False
        self.reason = "connection_lost"
        # Frames of the fragmented message being received, and its first opcode.
        self.fragment_count = 0
        self.fragments_binary = False
        # Input read but not parsed yet (see FEED_CHUNK), from ``pending_at``.
        self.pending = b""
        self.pending_at = 0
        self.pump_scheduled = False
        self.reading = True
        # Set by the transport's flow control (high-water mark = the output budget).
        self.writing_paused = False
        self.drained: asyncio.Future[None] | None = None

    # ------------------------------------------------------------ input

    def data_received(self, data: bytes) -> None:
        if self.pending:
            self.pending = self.pending[self.pending_at:] + data
        else:
            self.pending = data
        self.pending_at = 0
        self._pump()

    def _blocked(self) -> bool:
        """Whether this connection's requests must wait: its backlog is full."""
        return len(self.backlog) >= MAX_BACKLOG

    def _pump(self) -> None:
        """Parse at most FEED_CHUNK bytes of pending input; read more only when all
        of it is parsed and the backlog has room (so a flooding client is held in
        its own socket buffer, as the RESP server does with clients that do not read)."""
        self.pump_scheduled = False
        if self.pending and not self._blocked() and not self.transport.is_closing():
            start = self.pending_at
            chunk = self.pending[start:start + FEED_CHUNK]
            self.pending_at = start + len(chunk)
            if self.pending_at >= len(self.pending):
                self.pending, self.pending_at = b"", 0
            self._receive(chunk)
        if self.pending and not self._blocked():
            self._schedule_pump()
        self._set_reading(not self.pending and not self._blocked())

    def _schedule_pump(self) -> None:
        if not self.pump_scheduled:
            self.pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _set_reading(self, on: bool) -> None:
        if on == self.reading or self.transport.is_closing():
            return
        self.reading = on
        if on:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    def _library(self) -> ServerProtocol:
        """The library's protocol, made (OPEN, at a frame boundary) on first need."""
        protocol = self.protocol
        if protocol is None:
            protocol = self.protocol = ServerProtocol(max_size=self.state.settings.max_message_size,
                                                      state=State.OPEN)
        return protocol

    def _fast_frames(self, data: bytes) -> int:
        """Parse the complete, masked, final text and pong frames at the start of
        ``data`` (the ones the library would take as they are); how many bytes they
        were. Stops at anything else, which the library then parses."""
        position, size = 0, len(data)
        limit = self.state.settings.max_message_size
        while size - position >= 6 and self.protocol is None:
            first, second = data[position], data[position + 1]
            if (first != FIN_TEXT and first != FIN_PONG) or not second & 0x80:
                break  # another opcode or a fragment (or RSV bits), or unmasked (the library fails it)
            length, start = second & 0x7F, position + 6
            if length == 126:
                if first != FIN_TEXT or size - position < 8:
                    break  # control frames have at most 125 bytes (the library fails it)
                length, start = int.from_bytes(data[position + 2:position + 4], "big"), position + 8
            elif length == 127:
                break
            end = start + length
            if end > size or length > limit:
                break
            payload = apply_mask(data[start:end], data[start - 4:start])
            position = end
            if first == FIN_PONG:
                self.awaiting_pong = False
            else:
                self._text(payload, False)
        return position

    def _receive(self, data: bytes) -> None:
        if self.protocol is None:
            done = self._fast_frames(data)
            if done == len(data):
                self._write_pending()
                if self.start_inline:
                    self._handle_inline()
                return
            data = data[done:]
        protocol = self._library()
        protocol.receive_data(data)
        try:
            for event in protocol.events_received():
                if isinstance(event, Request):
                    self._handshake(event)
                elif self.reason != "protocol_error":  # nothing after a close we started (e.g. 1007)
                    self._frame(event)
            self._write_pending()
        finally:  # (a request taken must be handled: busy is set)
            if self.start_inline:
                self._handle_inline()

    # ----------------------------------------------------------- output flow

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    async def output_room(self, connection: Connection) -> bool:
        """Wait until the connection's output is within its budget before the next
        request makes another reply (replies count against the budget too); False
        if it stayed over budget past ``slow_close_after`` (then it is closed)."""
        connection.flush()  # hand the queue to the transport, whose flow control tells
        if not self.writing_paused:
            return True
        self.drained = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self.drained), connection.slow_close_after)
        except TimeoutError:
            connection.close_soon(1013, "slow consumer: replies unread for "
                                  f"{connection.slow_close_after:g}s", reason="slow_consumer")
            return False
        finally:
            self.drained = None
        return True

    # ------------------------------------------------------------ handshake

    def _handshake(self, request: Request) -> None:
        """An upgrade the library parsed (one ``parse_upgrade`` left to it)."""
        assert self.protocol is not None  # made in the CONNECTING state for its handshake
        admitted = None if self.protocol.handshake_exc is not None else \
            self._admit(request.path, request.headers.get("Origin"))
        response = admitted if isinstance(admitted, Response) else self.protocol.accept(request)
        self.protocol.send_response(response)
        if response.status_code != 101:
            self._write_pending()
            self.transport.close()
            return
        assert isinstance(admitted, Identity)  # 101: accept() took an admitted upgrade
        forget_handshake(self.protocol)
        self._opened(admitted)

    def open_handshake(self, upgrade: Upgrade) -> bool:
        """Answer an upgrade ``gateway.upgrade`` parsed: the 101 and the connection, or
        the refusal (then the transport is closed). True if the connection is open."""
        admitted = self._admit(upgrade.path, upgrade.origin)
        if isinstance(admitted, Response):
            self.transport.write(admitted.serialize())
            self.transport.close()
            return False
        self.transport.write(accept_response(upgrade.key))
        self._opened(admitted)
        return True

    def _opened(self, identity: Identity) -> None:
        """The 101 is out: the connection's output limits and its ``Connection``."""
        state = self.state
        # (the kernel's send buffer is capped on the listening socket: cap_send_buffer)
        # pause_writing() then means: over the output budget (see output_room).
        self.transport.set_write_buffer_limits(high=state.settings.max_buffer)
        connection = Connection(self, self.transport, identity, state.counters,
                                state.settings.max_buffer, state.settings.slow_close_after)
        self.connection = connection
        state.connections.add(connection)
        state.counters.connections_total += 1
        log.debug("connection %s-%d opened: user %s", state.node_id, connection.id, identity.user)

    def _admit(self, path: str, origin: str | None) -> Identity | Response:
        """Who this upgrade of ``path`` is (the token's identity), or the refusal to answer it with."""
        state = self.state
        if state.shutting_down:
            return _json_response(503, "Service Unavailable", errors.SHUTTING_DOWN, "the server is shutting down")
        if not state.auth.origin_allowed(origin):
            state.counters.reject("origin")
            return _json_response(403, "Forbidden", errors.FORBIDDEN, f"origin {origin!r} is not allowed")
        # "/ws" alone (no token, no name) is the common case of open mode: no query to parse.
        query = parse_qs(urlsplit(path).query) if "?" in path else {}
        token = query.get("token", [None])[0]
        try:
            identity = state.auth.authenticate(token, query.get("name", [None])[0])
        except AuthError as exc:
            state.counters.reject(exc.code)
            return _json_response(401, "Unauthorized", exc.code, exc.message)
        if len(state.connections) >= state.settings.max_connections:
            state.counters.reject("max_connections")
            return _json_response(503, "Service Unavailable", errors.TOO_MANY_CONNECTIONS,
                                  f"the server is at its limit of {state.settings.max_connections} connections")
        return identity

    # --------------------------------------------------------------- frames

    def _frame(self, frame: Any) -> None:
        connection = self.connection
        if connection is None:
            return
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if not frame.fin:
                self.fragments = [frame.data]
                self.fragment_count = 1
                self.fragments_binary = opcode is Opcode.BINARY
                return
            payload, binary = frame.data, opcode is Opcode.BINARY
        elif opcode is Opcode.CONT and self.fragments is not None:
            # The library bounds the message's total size by max_message_size;
            # the count of its frames is bounded here, empty ones included.
            self.fragment_count += 1
            if self.fragment_count > MAX_FRAGMENTS:
                self.fragments = None
                self._fail(CloseCode.MESSAGE_TOO_BIG, f"more than {MAX_FRAGMENTS} frames in one message")
                return
            if frame.data:
                self.fragments.append(frame.data)
            if not frame.fin:
                return
            payload, binary = b"".join(self.fragments), self.fragments_binary
            self.fragments = None
        elif opcode is Opcode.PONG:
            self.awaiting_pong = False
            return
        elif opcode is Opcode.CLOSE:
            self.reason = "client_closed"
            return
        else:
            return
        self._text(payload, binary)

    def _text(self, payload: bytes, binary: bool) -> None:
        """A whole message: into the backlog as a request, or refused."""
        connection = self.connection
        if connection is None:
            return
        if binary:
            connection.send_reply(encode_error(None, errors.BAD_REQUEST,
                                               "binary frames are not supported: send JSON text frames"))
            return
        try:
            # RFC 6455 8.1: "When an endpoint is to interpret a byte stream as UTF-8
            # but finds that the byte stream is not, in fact, a valid UTF-8 stream,
            # that endpoint MUST _Fail the WebSocket Connection_" (code 1007, 7.4.1).
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            self._fail(CloseCode.INVALID_DATA, "invalid UTF-8 in a text frame")
            return
        self.backlog.append(text)
        if self.arrived is not None and not self.arrived.done():
            self.arrived.set_result(None)
        if not self.busy:
            self.busy = True
            if self.state.in_process:
                self.start_inline = True  # at the end of this read's parsing (_receive)
            else:
                # create_task, not ensure_future: that asks isfuture() first, a failed
                # hasattr (an AttributeError raised and dropped) per request.
                asyncio.get_running_loop().create_task(self._handle())

    def _handle_inline(self) -> None:
        """Run ``_handle`` here, not in a task of its own, until it first has to
        wait; a task takes it from there (``_resumed``). Over the in-process broker
        (``GatewayState.in_process``) a subscribe or publish never waits, and a task
        (made, named, registered, stepped in the next iteration) was ~15k of a
        connect + subscribe's ~220k instructions. Not over RESP: code run outside a
        task breaks what needs ``asyncio.current_task()`` (redis-py's
        ``asyncio.timeout``). Called once the read's frames are all parsed, so the
        backlog is handled as the task would (YIELD_EVERY requests, then a yield,
        which is where the task takes over). From Python 3.12 on, asyncio's own
        eager start does the same with the task current from the start (there,
        ``asyncio.wait_for`` itself needs one)."""
        self.start_inline = False
        if sys.version_info >= (3, 12):
            asyncio.Task(self._handle(), loop=asyncio.get_running_loop(), eager_start=True)
            return
        coroutine = self._handle()
        try:
            waiting_on = coroutine.send(None)
        except StopIteration:
            return
        asyncio.get_running_loop().create_task(_resumed(coroutine, waiting_on))

    def _fail(self, code: int, reason: str) -> None:
        """Close for a protocol violation (the library sends the close frame)."""
        if self.connection is not None:
            self.connection.close_reason = "protocol_error"
        self.reason = "protocol_error"
        self._library().fail(code, reason)
        self.backlog.clear()
        self.pending, self.pending_at = b"", 0

    async def _handle(self) -> None:
        """Handle the backlog in order: yielding every few requests, and making no
        reply while the connection's output is over its budget.

        Plain publishes over a pipelining backend are sent without waiting for the
        replies of the ones before them (``session.publish_now``); their replies
        go out, in order, before any other request is handled and whenever the
        backlog runs dry, so every reply keeps its request's place."""
        handled = 0
        state = self.state
        # Publishes sent whose replies are not out yet, oldest first.
        sent: list[Sent] = []
        try:
            while self.backlog or sent:
                connection = self.connection
                if connection is None or connection.state is not _OPEN:
                    break
                if len(sent) >= MAX_BACKLOG:
                    await self._reply_sent(connection, sent)
                    continue
                if not self.backlog:
                    # Wait for the oldest reply, or for more requests (a burst may come
                    # in several reads): those are sent meanwhile, behind the others.
                    oldest = sent[0].future
                    if oldest is not None and not oldest.done():
                        self.arrived = asyncio.get_running_loop().create_future()
                        try:
                            await asyncio.wait((oldest, self.arrived), return_when=asyncio.FIRST_COMPLETED)
                        finally:
                            self.arrived = None
                    self._reply_done(connection, sent)
                    continue
                if handled and handled % YIELD_EVERY == 0:
                    handled = 0
                    await asyncio.sleep(0)  # others' turn: requests that need no I/O never yield
                    continue  # the connection may have closed meanwhile
                if connection.queued_bytes + self.transport.get_write_buffer_size() > connection.max_buffer:
                    if not await self.output_room(connection):
                        break
                    continue
                handled += 1
                text = self.backlog.pop(0)
                if self.pending or not self.reading:
                    self._schedule_pump()  # the backlog has room again
                try:
                    request = parse(text)
                except BadRequest as exc:
                    await self._reply_sent(connection, sent)
                    connection.send_reply(encode_error(exc.request_id, exc.code, exc.message))
                    continue
                started = publish_now(state, connection, request)
                if started is not None:
                    sent.append(started)
                    continue
                await self._reply_sent(connection, sent)
                await handle_request(state, connection, request)
        except Exception:  # one bad request must not kill the connection silently
            log.exception("error while handling a websocket message")
        finally:
            self.busy = False
            if self.connection is None or self.connection.state is not _OPEN:
                self.backlog.clear()

    def _reply_done(self, connection: Connection, sent: list[Sent]) -> None:
        """Queue the replies of the oldest publishes sent whose replies are in, in order."""
        done = 0
        for started in sent:
            if started.future is not None and not started.future.done():
                break
            reply = publish_reply(self.state, started)
            if reply:
                connection.send_reply(reply)
            done += 1
        del sent[:done]

    async def _reply_sent(self, connection: Connection, sent: list[Sent]) -> None:
        """Wait for the replies of the publishes sent, and queue them in order."""
        state = self.state
        for started in sent:
            future = started.future
            if future is not None and not future.done():
                try:
                    await asyncio.wait((future,))  # (not ``await future``: cancelling us must not cancel it)
                except asyncio.CancelledError:
                    sent.clear()
                    raise
            reply = publish_reply(state, started)
            if reply:
                connection.send_reply(reply)
        sent.clear()

    def _write_pending(self) -> None:
        if self.protocol is None:
            return  # nothing but frames of our own parser: no output
        for data in self.protocol.data_to_send():
            if data:
                if not self.transport.is_closing():
                    self.transport.write(data)
            else:
                self.transport.close()  # end of the closing handshake
        if self.protocol.state is State.CLOSED and not self.transport.is_closing():
            self.transport.close()

    # ---------------------------------------------------------------- close

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        """Closing handshake, bounded by 2 s (``Connection`` calls it)."""
        protocol = self._library()
        if protocol.state is State.OPEN:
            if self.connection is not None:
                self.connection.flush()
            protocol.send_close(code, message.decode("utf-8", "replace"))
            self._write_pending()
        if self.closed is None:
            self.closed = asyncio.get_running_loop().create_future()
        if not self.transport.is_closing():
            try:
                await asyncio.wait_for(asyncio.shield(self.closed), 2.0)
            except TimeoutError:
                self.transport.abort()

    def ping(self) -> None:
        if self.protocol is None:  # open, and no library protocol to ask
            self.awaiting_pong = True
            if not self.transport.is_closing():
                self.transport.write(PING_FRAME)
        elif self.protocol.state is State.OPEN:
            self.awaiting_pong = True
            self.protocol.send_ping(b"")
            self._write_pending()

    def eof_received(self) -> bool | None:
        if self.protocol is None:
            # The end of the stream at a frame boundary: what the library does then
            # (fail with 1006, which sends no close frame, and close the transport).
            self.transport.close()
            return None
        self.protocol.receive_eof()
        self._write_pending()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(None)
        self.resume_writing()  # a request waiting for room sees the connection is gone
        connection = self.connection
        if connection is None:
            return
        self.connection = None
        protocol = self.protocol
        if protocol is not None and (protocol.close_rcvd is not None and protocol.close_rcvd.code == 1009
                                     or (protocol.close_sent is not None and protocol.close_sent.code == 1009)):
            self.reason = "message_too_big"
        connection.state = ConnectionState.CLOSED
        state = self.state
        state.connections.discard(connection)
        state.counters.disconnect(connection.close_reason or self.reason)
        asyncio.get_running_loop().create_task(drop_connection(state, connection))


class _Resumed:
    """The rest of a coroutine run by hand until it first yielded ``waiting_on``
    (``WebsocketProtocol._handle_inline``), awaited by the task that takes it over:
    it yields what the coroutine yields, so the task waits on the same futures, and
    passes the task's wake-ups (a value, or an exception such as a cancellation)
    back in, as if the task had run the coroutine from its start."""

    __slots__ = ("coroutine", "waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self.coroutine = coroutine
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, None, None]:
        coroutine, waiting_on = self.coroutine, self.waiting_on
        while True:
            try:
                yield waiting_on
            except BaseException as exc:  # noqa: BLE001 - thrown in by the task: the coroutine's to handle
                step, value = coroutine.throw, exc
            else:
                step, value = coroutine.send, None
            try:
                waiting_on = step(value)  # type: ignore[operator]
            except StopIteration:
                return


async def _resumed(coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    await _Resumed(coroutine, waiting_on)


async def run_heartbeats(state: GatewayState, step: float = 0.05) -> None:
    """Ping every connection once per half interval; one whose last ping went
    unanswered is closed (so a dead peer goes within one ping interval).

    One task for all connections rather than a timer each, and each round is
    spread over the half interval in small slices, so 10,000 pings never stall
    delivery at once.
    """
    while True:
        half = state.settings.ping_interval / 2
        steps = max(1, int(half / step))
        connections = list(state.connections)
        size = -(-len(connections) // steps) if connections else 0
        for index in range(steps):
            for connection in connections[index * size:(index + 1) * size]:
                _check_liveness(connection)
            await asyncio.sleep(half / steps)


def _check_liveness(connection: Connection) -> None:
    ws = connection.ws
    if not isinstance(ws, WebsocketProtocol) or connection.state is not ConnectionState.OPEN:
        return
    if ws.awaiting_pong:
        ws.reason = connection.close_reason = "ping_timeout"
        connection.state = ConnectionState.CLOSING
        ws.transport.abort()
    else:
        ws.ping()
