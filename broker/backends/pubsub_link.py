"""One subscriber connection to a RESP server, carrying every subscription of a node.

A ``PubSubLink`` opens a ``redis.asyncio`` connection (TLS, unix socket, AUTH
and SELECT from the URL; RESP2, so messages are plain arrays rather than RESP3
pushes), then reads its socket directly: whole reads go to hiredis, every
complete message to the handler, in one reader task. ``subscribe``/``unsubscribe`` send the command and wait
for the server's confirmations, which Redis sends in command order, one per
name, interleaved with messages: a FIFO of futures matches them up. Messages go
straight to the handler as ``handler(channel, data, pattern)``; the only
per-message objects are the list hiredis builds.

When the connection drops, every waiting caller gets ``BackendUnavailable`` and
``on_lost`` is called once; reconnecting is the owner's job (a link is used once).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Callable, Iterable

import hiredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from broker.backend import BackendUnavailable, MessageHandler
from broker.backends.command_link import pack_command
from broker.backends.resp_link import RespLink
from broker.resp import CommandError

__all__ = ["PubSubLink", "command_error"]

log = logging.getLogger("fanout.backend")

# Reply kinds that confirm one name of a (un)subscribe command.
_CONFIRMATIONS = frozenset({b"subscribe", b"unsubscribe", b"psubscribe", b"punsubscribe",
                            b"ssubscribe", b"sunsubscribe"})


def command_error(error: ResponseError) -> CommandError:
    """A redis-py error reply as ``CommandError`` with its code put back (``ERR ...``).

    redis-py strips known codes (ERR, NOSCRIPT, EXECABORT ...) from the message
    and keeps them in ``status_code``; the Backend contract wants the whole line.
    """
    code = getattr(error, "status_code", None)
    text = str(error)
    return CommandError(f"{code} {text}" if code else text)


async def _wait_all(futures: list[asyncio.Future[None]]) -> None:
    # return_exceptions: every future's outcome is retrieved, the first error raised.
    for outcome in await asyncio.gather(*futures, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome


class PubSubLink(RespLink):
    """See the module docstring.

    Args:
        connection: an unconnected redis-py connection (protocol 2).
        handler: called for every message as ``handler(channel, data, pattern)``.
        on_lost: called once, from the reader task, when the connection fails.
        address: how errors name the server (``127.0.0.1:6379``).
    """

    kind = "pub/sub connection"

    def __init__(self, connection: AbstractConnection, handler: MessageHandler,
                 on_lost: Callable[[Exception], None], address: str) -> None:
        super().__init__(connection, address, on_lost)
        self.handler = handler
        # One future per expected confirmation, in the order the server sends them.
        self._pending: deque[asyncio.Future[None]] = deque()
        # One future per PING sent (keepalive), answered in order too.
        self._pongs: deque[asyncio.Future[None]] = deque()

    async def open(self) -> None:
        """Connect and start reading. Raises ``BackendUnavailable``."""
        reader = await self._connect()
        self._tasks = [asyncio.get_running_loop().create_task(self._read_loop(reader),
                                                              name=f"pubsub {self.address}")]

    async def drain(self, timeout: float) -> None:
        """Give the reader up to ``timeout`` to deliver what the server sent before closing.

        When the server died, its last messages are still in our socket buffer,
        followed by EOF: the reader delivers them and ends by itself. When it is
        alive (another connection failed) or hung, the wait just times out.
        """
        for task in self._tasks:
            if not task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(task), timeout)
                except (asyncio.TimeoutError, Exception):
                    pass

    async def command(self, verb: bytes, names: Iterable[bytes]) -> None:
        """Send ``verb name...`` (e.g. SUBSCRIBE a b) and wait until every name is confirmed.

        Raises:
            BackendUnavailable: the link is (or goes) down before the confirmations.
            CommandError: the server rejected the command.
        """
        names = list(names)
        if names:
            await _wait_all(self._send([pack_command([verb, *names])], len(names)))

    async def commands(self, verb: bytes, names: Iterable[bytes]) -> None:
        """One ``verb name`` command per name, in one write (sharded pub/sub: one slot each)."""
        names = list(names)
        if names:
            await _wait_all(self._send([pack_command([verb, name]) for name in names], len(names)))

    async def ping(self, timeout: float) -> None:
        """PING through the subscriber connection; no answer within ``timeout`` fails the link.

        A hung server or a half-open TCP connection (peer gone without FIN)
        otherwise looks like a quiet channel forever.
        """
        self._check_alive()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs.append(future)
        self._write(b"*1\r\n$4\r\nPING\r\n")
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            self._connection_failed(TimeoutError(f"no PING reply within {timeout:g}s"))
        except BackendUnavailable:
            pass
        if self._lost is not None:
            raise self._lost

    # ------------------------------------------------------------ internals

    def _check_alive(self) -> None:
        if self._lost is not None or self._writer is None:
            raise BackendUnavailable(f"pub/sub connection to {self.address} is down")

    def _send(self, requests: list[bytes], confirmations: int) -> list[asyncio.Future[None]]:
        # Futures are queued and bytes written in one synchronous step, so concurrent
        # callers' confirmations come back in the order of their futures.
        self._check_alive()
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(confirmations)]
        self._pending.extend(futures)
        self._write(b"".join(requests))
        return futures

    def _take_replies(self, parser: hiredis.Reader) -> None:
        pending = self._pending
        while (reply := parser.gets()) is not False:
            if type(reply) is not list:
                if isinstance(reply, CommandError):
                    # An error reply answers the oldest waiting (un)subscribe.
                    if pending and not (future := pending.popleft()).done():
                        future.set_exception(reply)
                else:
                    self._pong()  # +PONG: a PING while not subscribed to anything (RESP2)
                continue
            kind = reply[0]
            try:
                if kind == b"message" or kind == b"smessage":
                    self.handler(reply[1], reply[2], None)
                    continue
                if kind == b"pmessage":
                    self.handler(reply[2], reply[3], reply[1])
                    continue
            except Exception:  # noqa: BLE001 - a handler bug must not drop the connection
                log.exception("pub/sub message handler failed")
                continue
            if kind == b"pong":
                self._pong()
            elif kind in _CONFIRMATIONS:
                if pending:
                    if not (future := pending.popleft()).done():
                        future.set_result(None)
                elif kind == b"sunsubscribe":
                    # Unasked: the slot moved to another node (resharding). Treat it as
                    # a lost link so the owner reconnects to the new slot map.
                    raise ConnectionError(f"slot of {reply[1]!r} moved")

    def _pong(self) -> None:
        if self._pongs:
            future = self._pongs.popleft()
            if not future.done():
                future.set_result(None)

    def _fail(self, error: Exception) -> None:
        super()._fail(error)
        for waiting in (self._pending, self._pongs):
            while waiting:
                future = waiting.popleft()
                if not future.done():
                    future.set_exception(error)
                    future.exception()  # a PING's shielded future may have no awaiter left
