"""Fakes for gateway unit tests: connections, transports and sockets without sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

__all__ = ["FakeConnection", "FakeTransport", "FakeWs", "decode_frames"]


class FakeConnection:
    """What ``gateway.fanout.Hub`` needs of a connection; records what it is sent."""

    def __init__(self) -> None:
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.recovering = None
        # The frames as the hub handed them over (the very bytes objects) ...
        self.raw: list[bytes] = []
        # ... and their JSON.
        self.frames: list[dict[str, Any]] = []

    def send_event(self, frame: bytes, channel: bytes, offset: int = 0) -> None:
        self.send_frame(frame)

    def send_frame(self, frame: bytes) -> None:
        self.raw.append(frame)
        self.frames.append(orjson.loads(frame[frame.index(b"{"):]))


class FakeTransport:
    """Holds written bytes as 'unsent' until the test drains it (``drains``: the peer
    reads everything at once, so nothing is ever buffered)."""

    def __init__(self, drains: bool = False) -> None:
        self.drains = drains
        self.buffered = 0
        self.written: list[bytes] = []
        self.aborted = False
        self.changed = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if not self.drains:
            self.buffered += len(data)
        self.changed.set()

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


class FakeWs:
    """The websocket end of a ``gateway.connection.Connection`` (``connection.Socket``)."""

    def __init__(self) -> None:
        self.closed_with: tuple[int, bytes] | None = None
        self.changed = asyncio.Event()
        self.reason = "connection_lost"

    async def close(self, code: int, message: bytes) -> None:
        self.closed_with = (code, message)
        self.changed.set()

    async def output_room(self, connection: Any) -> bool:
        connection.flush()
        return True


def decode_frames(data: bytes) -> list[dict[str, Any]]:
    """The JSON of the unmasked text frames a server wrote (RFC 6455 5.2: no mask bit,
    a 7-bit length, or 126 + 16 bits, or 127 + 64 bits)."""
    messages = []
    at = 0
    while at < len(data):
        assert data[at] == 0x81, f"not a final text frame at byte {at}: {data[at]:#x}"
        length, at = data[at + 1], at + 2
        if length == 126:
            length, at = int.from_bytes(data[at:at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(data[at:at + 8], "big"), at + 8
        messages.append(orjson.loads(data[at:at + length]))
        at += length
    return messages
