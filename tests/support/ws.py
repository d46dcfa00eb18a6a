"""Websocket test clients (the `websockets` library plays the browser)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import socket
from typing import Any

import orjson
import websockets

__all__ = ["SilentClient", "WsClient", "client_frame", "connect", "masked_text_frame", "raw_websocket", "recv_exactly",
           "read_close", "read_frame", "silent_client"]

_ids = itertools.count(1)


class WsClient:
    """A gateway client: request/reply by id, events queued in arrival order."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.replies: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.loose: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = orjson.loads(raw)
                if "id" in message and message["id"] in self.replies:
                    self.replies.pop(message["id"]).set_result(message)
                elif "channel" in message:
                    await self.events.put(message)
                else:
                    await self.loose.put(message)
        except websockets.ConnectionClosed:
            pass

    async def request(self, op: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        request_id = next(_ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[request_id] = future
        await self.ws.send(orjson.dumps({"op": op, "id": request_id, **fields}).decode())
        return await asyncio.wait_for(future, timeout)

    async def event(self, timeout: float = 10.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def connect(port: int, token: str | None = None, **kwargs: Any) -> WsClient:
    url = f"ws://127.0.0.1:{port}/ws" + (f"?token={token}" if token else "")
    ws = await websockets.connect(url, max_size=None, **kwargs)
    return WsClient(ws)


def masked_text_frame(payload: bytes) -> bytes:
    """A client text frame (clients must mask, RFC 6455 5.3)."""
    mask = os.urandom(4)
    length = len(payload)
    header = b"\x81" + (bytes((0x80 | length,)) if length < 126 else b"\xfe" + length.to_bytes(2, "big"))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _upgrade_request(port: int, token: str | None = None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    path = "/ws" + (f"?token={token}" if token else "")
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def raw_websocket(port: int, first_message: dict[str, Any], receive_buffer: int = 4096) -> socket.socket:
    """A blocking websocket client on a bare socket with a tiny receive buffer that
    sends one message and then reads only when the test does (or never)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    sock.sendall(_upgrade_request(port))
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    sock.sendall(masked_text_frame(orjson.dumps(first_message)))
    return sock


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    """``count`` bytes from a blocking socket (``raw_websocket``'s, a socketpair's)."""
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"the socket closed after {len(data)} of {count} bytes"
        data += chunk
    return data


class SilentClient:
    """A websocket client that vanishes without a word: after the handshake and its
    requests it never reads again, so it answers no ping and sends no close frame
    (a phone that lost its network, as the server sees it)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, message: dict[str, Any]) -> None:
        self.writer.write(masked_text_frame(orjson.dumps(message)))

    def abort(self) -> None:
        self.writer.transport.abort()


async def silent_client(port: int, token: str | None = None) -> SilentClient:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_upgrade_request(port, token))
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return SilentClient(reader, writer)


def client_frame(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    """Any masked client frame (RFC 6455 5.2): opcode 0 continuation, 1 text, 2 binary."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = bytes(((0x80 if fin else 0) | opcode, 0x80 | length))
    elif length < 65536:
        header = bytes(((0x80 if fin else 0) | opcode, 0xFE)) + length.to_bytes(2, "big")
    else:
        header = bytes(((0x80 if fin else 0) | opcode, 0xFF)) + length.to_bytes(8, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload)."""
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return head[0] & 0x0F, await reader.readexactly(length)


async def read_close(reader: asyncio.StreamReader, timeout: float = 30.0) -> tuple[int, str, list[bytes]]:
    """Read server frames until its close frame: (code, reason, text payloads before
    it); code 1006 if the connection ends without one."""
    texts: list[bytes] = []

    async def read() -> tuple[int, str]:
        while True:
            try:
                opcode, payload = await read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return 1006, ""
            if opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                return code, payload[2:].decode("utf-8", "replace")
            if opcode == 1:
                texts.append(payload)

    code, reason = await asyncio.wait_for(read(), timeout)
    return code, reason, texts
