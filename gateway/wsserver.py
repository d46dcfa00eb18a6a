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
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.datastructures import Headers
from websockets.frames import Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from gateway.auth import AuthError
from gateway.connection import Connection, ConnectionState
from gateway.state import GatewayState

__all__ = ["FrontProtocol", "WebsocketProtocol", "run_heartbeats"]

log = logging.getLogger("fanout.gateway")
# The library logs every handshake at INFO; with thousands of connections that is noise.
logging.getLogger("websockets").setLevel(logging.WARNING)

# Longest request head we wait for before letting aiohttp answer it.
MAX_HEAD = 16 * 1024


class FrontProtocol(asyncio.Protocol):
    """Reads a connection's request head and picks who serves it."""

    def __init__(self, state: GatewayState, http_factory: Callable[[], asyncio.Protocol]) -> None:
        self.state = state
        self.http_factory = http_factory
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 and len(self.buffer) <= MAX_HEAD:
            return
        head = self.buffer[:end].lower() if end >= 0 else b""
        first_line = head.split(b"\r\n", 1)[0]
        target = first_line.split(b" ")[1] if first_line.count(b" ") >= 2 else b""
        assert self.transport is not None
        if (first_line.startswith(b"get ") and target.split(b"?", 1)[0] == b"/ws"
                and b"\r\nupgrade: websocket" in head):
            protocol: asyncio.Protocol = WebsocketProtocol(self.state, self.transport)
        else:
            protocol = self.http_factory()
            protocol.connection_made(self.transport)
        self.transport.set_protocol(protocol)
        protocol.data_received(self.buffer)
        self.buffer = b""

    def connection_lost(self, exc: Exception | None) -> None:
        self.buffer = b""


def _cap_send_buffer(transport: asyncio.Transport, max_buffer: int) -> None:
    """Keep the kernel's send buffer near the output budget: left to autotuning it
    grows to megabytes that the budget cannot see (the kernel doubles the value)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
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
    """One websocket connection: handshake checks, incoming frames, close."""

    __slots__ = (
        "awaiting_pong",
        "backlog",
        "busy",
        "closed",
        "connection",
        "fragments",
        "protocol",
        "reason",
        "state",
        "transport",
    )

    def __init__(self, state: GatewayState, transport: asyncio.Transport) -> None:
        self.state = state
        self.transport = transport
        self.protocol = ServerProtocol(max_size=state.settings.max_message_size)
        self.connection: Connection | None = None
        self.fragments: list[bytes] | None = None
        # A request being handled (async): later ones wait in the backlog, in order.
        self.busy = False
        self.backlog: list[str] = []
        self.closed: asyncio.Future[None] | None = None
        self.awaiting_pong = False
        self.reason = "connection_lost"

    # ------------------------------------------------------------ handshake

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            else:
                self._frame(event)
        self._write_pending()

    def _handshake(self, request: Request) -> None:
        state = self.state
        response = self._refusal(request)
        if response is None:
            response = self.protocol.accept(request)
        self.protocol.send_response(response)
        if response.status_code != 101:
            self._write_pending()
            self.transport.close()
            return
        identity = request.__dict__.pop("_fanout_identity")
        _cap_send_buffer(self.transport, state.settings.max_buffer)
        connection = Connection(self, self.transport, identity, state.counters,  # type: ignore[arg-type]
                                state.settings.max_buffer, state.settings.slow_close_after)
        self.connection = connection
        state.connections.add(connection)
        state.counters.connections_total += 1
        log.debug("connection %s-%d opened: user %s", state.node_id, connection.id, identity.user)

    def _refusal(self, request: Request) -> Response | None:
        state = self.state
        if self.protocol.handshake_exc is not None:
            return None  # accept() answers a malformed handshake with its own 400
        if state.shutting_down:
            return _json_response(503, "Service Unavailable", "shutting_down", "the server is shutting down")
        origin = request.headers.get("Origin")
        if not state.auth.origin_allowed(origin):
            state.counters.reject("origin")
            return _json_response(403, "Forbidden", "forbidden", f"origin {origin!r} is not allowed")
        query = parse_qs(urlsplit(request.path).query)
        token = query.get("token", [None])[0]
        try:
            identity = state.auth.authenticate(token, query.get("name", [None])[0])
        except AuthError as exc:
            state.counters.reject(exc.code)
            return _json_response(401, "Unauthorized", exc.code, exc.message)
        if len(state.connections) >= state.settings.max_connections:
            state.counters.reject("max_connections")
            return _json_response(503, "Service Unavailable", "too_many_connections",
                                  f"the server is at its limit of {state.settings.max_connections} connections")
        request.__dict__["_fanout_identity"] = identity
        return None

    # --------------------------------------------------------------- frames

    def _frame(self, frame: Any) -> None:
        connection = self.connection
        if connection is None:
            return
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if not frame.fin:
                self.fragments = [frame.data]
                return
            payload, binary = frame.data, opcode is Opcode.BINARY
        elif opcode is Opcode.CONT and self.fragments is not None:
            self.fragments.append(frame.data)
            if not frame.fin:
                return
            payload, binary = b"".join(self.fragments), False
            self.fragments = None
        elif opcode is Opcode.PONG:
            self.awaiting_pong = False
            return
        elif opcode is Opcode.CLOSE:
            self.reason = "client_closed"
            return
        else:
            return
        if binary:
            from gateway.protocol import encode_error
            connection.send_reply(encode_error(None, "bad_request",
                                               "binary frames are not supported: send JSON text frames"))
            return
        text = payload.decode("utf-8", "replace")
        if self.busy:
            self.backlog.append(text)
        else:
            self.busy = True
            asyncio.ensure_future(self._handle(text))

    async def _handle(self, text: str) -> None:
        from gateway.app import handle_message
        try:
            await handle_message(self.state, self.connection, text)  # type: ignore[arg-type]
            while self.backlog and self.connection is not None \
                    and self.connection.state is ConnectionState.OPEN:
                await handle_message(self.state, self.connection, self.backlog.pop(0))
        except Exception:  # one bad request must not kill the connection silently
            log.exception("error while handling a websocket message")
        finally:
            self.busy = False
            self.backlog.clear() if self.connection is None else None

    def _write_pending(self) -> None:
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
        if self.protocol.state is State.OPEN:
            if self.connection is not None:
                self.connection.flush()
            self.protocol.send_close(code, message.decode("utf-8", "replace"))
            self._write_pending()
        if self.closed is None:
            self.closed = asyncio.get_running_loop().create_future()
        if not self.transport.is_closing():
            try:
                await asyncio.wait_for(asyncio.shield(self.closed), 2.0)
            except TimeoutError:
                self.transport.abort()

    def ping(self) -> None:
        if self.protocol.state is State.OPEN:
            self.awaiting_pong = True
            self.protocol.send_ping(b"")
            self._write_pending()

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._write_pending()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(None)
        connection = self.connection
        if connection is None:
            return
        self.connection = None
        if self.protocol.close_rcvd is not None and self.protocol.close_rcvd.code == 1009 \
                or (self.protocol.close_sent is not None and self.protocol.close_sent.code == 1009):
            self.reason = "message_too_big"
        connection.state = ConnectionState.CLOSED
        state = self.state
        state.connections.discard(connection)
        state.counters.disconnect(connection.close_reason or self.reason)
        from gateway.app import drop_connection
        asyncio.ensure_future(drop_connection(state, connection))


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
