"""What the backend's two kinds of RESP connection share: a redis-py connection
used for its handshake (TLS, AUTH, HELLO, SELECT) and then as a bare stream; a
lost state that fails every waiting caller once; and closing."""

from __future__ import annotations

import asyncio
from typing import Callable

import hiredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from broker.backend import BackendUnavailable
from broker.resp import CommandError

__all__ = ["RespLink"]


class RespLink:
    # How errors name the link ("connection to 127.0.0.1:6379 lost: ...").
    kind = "connection"

    def __init__(self, connection: AbstractConnection, address: str,
                 on_lost: Callable[[Exception], None]) -> None:
        self.connection = connection
        self.address = address
        self._on_lost = on_lost
        self._writer: asyncio.StreamWriter | None = None
        self._lost: Exception | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def alive(self) -> bool:
        return self._writer is not None and self._lost is None

    async def _connect(self) -> asyncio.StreamReader:
        """Connect; the stream to read. Raises ``BackendUnavailable``."""
        try:
            await self.connection.connect()  # type: ignore[no-untyped-call]
        except (RedisError, OSError) as error:
            raise BackendUnavailable(f"{self.kind} to {self.address} failed: {error}") from error
        # redis-py keeps the streams in private attributes; nothing is buffered after the handshake.
        self._writer = self.connection._writer  # noqa: SLF001
        return self.connection._reader  # type: ignore[return-value]  # noqa: SLF001

    async def close(self, reason: BackendUnavailable | None = None) -> None:
        """Close; callers still waiting get ``reason`` (why the backend gave up) or "closed"."""
        self._fail(reason or BackendUnavailable(f"{self.kind} to {self.address} closed"))
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            if task is not current:
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        await self.connection.disconnect(nowait=True)

    def _write(self, data: bytes) -> None:
        if self._writer is None or self._lost is not None:
            return
        try:
            self._writer.write(data)
        except (OSError, RuntimeError) as error:
            self._connection_failed(error)

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        """Whole socket reads go to hiredis, and ``_take_replies`` handles every
        complete reply before the next read: one await per read, not per reply.
        Any read failure (or a reply the link cannot place) ends the link."""
        parser = hiredis.Reader(replyError=CommandError)
        try:
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    raise ConnectionError("connection closed by the server")
                parser.feed(data)
                self._take_replies(parser)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            self._connection_failed(error)

    def _take_replies(self, parser: hiredis.Reader) -> None:
        raise NotImplementedError

    def _connection_failed(self, error: Exception) -> None:
        if self._lost is not None:
            return
        lost = BackendUnavailable(f"{self.kind} to {self.address} lost: {error}")
        self._fail(lost)
        self._on_lost(lost)

    def _fail(self, error: Exception) -> None:
        """Mark the link lost; subclasses also fail what is waiting on it."""
        if self._lost is None:
            self._lost = error
