"""A minimal blocking RESP client for tests: send argv, read replies as Python values.

Errors come back as ``RespError`` values (not raised) so that replies from our
broker and from redis-server can be compared with ``==``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import hiredis

__all__ = ["RespClient", "RespError", "encode_command"]


@dataclass(frozen=True)
class RespError:
    message: str


def encode_command(*args: bytes | str | int | float) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, (int, float)):
            data = str(arg).encode()
        else:
            data = arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _convert(value: Any) -> Any:
    if isinstance(value, hiredis.ReplyError):
        return RespError(str(value))
    if isinstance(value, list):
        return [_convert(item) for item in value]
    return value


class RespClient:
    """One connection. ``protocol=3`` sends HELLO 3 first."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0, protocol: int = 2) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.reader = hiredis.Reader(notEnoughData=Ellipsis)
        self.protocol = protocol
        if protocol == 3:
            self.call("HELLO", "3")

    def send(self, *args: bytes | str | int | float) -> None:
        self.sock.sendall(encode_command(*args))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> Any:
        while True:
            reply = self.reader.gets()
            if reply is not Ellipsis:
                return _convert(reply)
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("connection closed by server")
            self.reader.feed(data)

    def call(self, *args: bytes | str | int | float) -> Any:
        self.send(*args)
        return self.read()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RespClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
