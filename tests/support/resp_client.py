"""A minimal blocking RESP client for tests: send argv, read replies as Python values.

Errors come back as ``RespError`` values (not raised) so that replies from our
broker and from redis-server can be compared with ``==``.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any, Callable

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


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` (a question to a server) until it holds, at most ``timeout``
    seconds; fails naming ``what``. For states only the server can see (a client
    blocked, a subscription registered), where there is no event to wait on."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")


def client_flags(admin: "RespClient", client_id: int) -> bytes:
    """The ``flags=`` field of one client's CLIENT LIST line (b"" if it is gone)."""
    line = admin.call("CLIENT", "LIST", "ID", client_id)
    return line.split(b"flags=", 1)[1].split(b" ", 1)[0] if b"flags=" in line else b""


def error_stats(client: RespClient) -> dict[str, Any]:
    """INFO's error counters (total_error_replies, errorstat_*) and every command's
    (calls, rejected_calls, failed_calls) but INFO's own: what differential tests of
    error counting compare."""
    out: dict[str, Any] = {}
    for section in ("stats", "errorstats", "commandstats"):
        for line in client.call("INFO", section).decode().splitlines():
            if line.startswith("total_error_replies:") or line.startswith("errorstat_"):
                key, value = line.split(":", 1)
                out[key] = value
            elif line.startswith("cmdstat_") and not line.startswith("cmdstat_info:"):
                key, value = line.split(":", 1)
                fields = dict(part.split("=", 1) for part in value.split(","))
                out[key] = (fields["calls"], fields["rejected_calls"], fields["failed_calls"])
    return out
