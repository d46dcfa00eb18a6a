"""One pipelined command connection to a RESP server, shared by every caller of a node.

Why not redis-py's pool: a call through it costs ~100 us of CPU (pool checkout,
health checks, three timers), and concurrency means one connection per caller.
Here a call appends its command to an output buffer and a future to a FIFO; the
buffer is written once per event-loop iteration (concurrent callers share one
write), and a reader task feeds whole socket reads to hiredis and resolves the
futures in order, as Redis answers in order. That is the auto-pipelining of
ioredis / rueidis.

Rules that follow from sharing one connection: no command may change the
connection's state (SELECT, SUBSCRIBE, MONITOR ...) or block (BLPOP, XREAD
BLOCK ...); ``call`` refuses them, as MemoryBackend does.

A reply that takes longer than ``timeout`` (hung server, half-open TCP) fails
the link: every waiting caller gets ``BackendUnavailable`` and ``on_lost`` runs
once. Reconnecting is the owner's job.

The connection is opened by redis-py (TLS, unix sockets, AUTH, HELLO 3, SELECT
from the URL); after the handshake its stream reader and writer are used directly.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Callable, Sequence

import hiredis
from redis.asyncio.connection import AbstractConnection

from broker.backend import BackendUnavailable, OutcomeUnknown
from broker.backends.resp_link import RespLink
from broker.resp import CommandError

__all__ = ["CommandLink", "pack_command"]

Arg = bytes | str | int | float

# Commands that would change or hold the shared connection.
REFUSED = frozenset({
    b"SUBSCRIBE", b"PSUBSCRIBE", b"SSUBSCRIBE", b"UNSUBSCRIBE", b"PUNSUBSCRIBE", b"SUNSUBSCRIBE",
    b"MONITOR", b"SELECT", b"RESET", b"QUIT", b"HELLO", b"AUTH", b"MULTI", b"EXEC", b"DISCARD",
    b"WATCH", b"UNWATCH", b"BLPOP", b"BRPOP", b"BLMOVE", b"BRPOPLPUSH", b"BLMPOP", b"BZPOPMIN",
    b"BZPOPMAX", b"BZMPOP", b"WAIT", b"WAITAOF",
})
# CLIENT subcommands that would silence replies or block the connection.
REFUSED_CLIENT = frozenset({b"REPLY", b"PAUSE", b"TRACKING", b"SETNAME"})
# Commands that block only with a BLOCK option.
BLOCK_OPTION = frozenset({b"XREAD", b"XREADGROUP"})


def _encode(arg: Arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    return repr(arg).encode() if isinstance(arg, float) else b"%d" % arg


def pack_command(argv: Sequence[Arg]) -> bytes:
    """A RESP multibulk request: ``*<n>\\r\\n`` then ``$<len>\\r\\n<arg>\\r\\n`` per argument."""
    parts = [b"*%d\r\n" % len(argv)]
    for arg in argv:
        data = _encode(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _check(argv: Sequence[Arg]) -> bytes:
    name = _encode(argv[0]).upper()
    if (name in REFUSED
            or (name in BLOCK_OPTION and any(_encode(a).upper() == b"BLOCK" for a in argv[1:]))
            or (name == b"CLIENT" and len(argv) > 1 and _encode(argv[1]).upper() in REFUSED_CLIENT)):
        raise CommandError(f"ERR {name.decode(errors='replace')} is not allowed on the shared "
                           "backend connection (it would block or change it for every caller)")
    return name


class CommandLink(RespLink):
    """See the module docstring.

    Args:
        connection: an unconnected redis-py connection (protocol 3).
        address: how errors name the server.
        timeout: seconds a reply may take before the link counts as lost.
        on_lost: called once when the connection fails.
    """

    def __init__(self, connection: AbstractConnection, address: str, timeout: float,
                 on_lost: Callable[[Exception], None]) -> None:
        super().__init__(connection, address, on_lost)
        self.timeout = timeout
        # (future, monotonic send time) per command written, in order.
        self._pending: deque[tuple[asyncio.Future[Any], float]] = deque()
        # Requests of this event-loop iteration, written together by _flush.
        self._out: list[bytes] = []

    async def open(self) -> None:
        """Connect (with redis-py's handshake) and start reading. Raises ``BackendUnavailable``."""
        reader = await self._connect()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read_loop(reader), name=f"commands {self.address}"),
                       loop.create_task(self._watchdog(), name=f"commands watchdog {self.address}")]

    async def call(self, *argv: Arg) -> Any:
        """Run one command; its reply, or ``CommandError`` for an error reply.

        Raises:
            BackendUnavailable: the link is down, or goes down before the reply.
        """
        _check(argv)
        reply = await self._send([pack_command(argv)])[0]
        if isinstance(reply, CommandError):
            raise reply
        return reply

    def send(self, *argv: Arg) -> asyncio.Future[Any]:
        """``call`` without the wait: the command is queued now, in order with every
        call before it, and written with them at the end of the loop iteration. The
        future's result is the raw reply (a ``CommandError`` value for an error reply).

        Raises:
            BackendUnavailable: the link is down (nothing was queued).
        """
        _check(argv)
        return self._send([pack_command(argv)])[0]

    async def transaction(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """MULTI, the commands, EXEC in one write; EXEC's replies (errors in place).

        Raises:
            CommandError: a command was refused when queued (EXECABORT), or EXEC failed.
        """
        for argv in commands:
            _check(argv)
        requests = [b"*1\r\n$5\r\nMULTI\r\n", *(pack_command(argv) for argv in commands), b"*1\r\n$4\r\nEXEC\r\n"]
        futures = self._send(requests)
        replies = [await future for future in futures]
        for reply in replies[1:-1]:
            if isinstance(reply, CommandError):
                raise reply  # queued-time error: Redis discarded the transaction
        if isinstance(replies[-1], CommandError):
            raise replies[-1]
        return list(replies[-1])

    # ------------------------------------------------------------ internals

    def _send(self, requests: list[bytes]) -> list[asyncio.Future[Any]]:
        if self._lost is not None or self._writer is None:
            raise BackendUnavailable(f"connection to {self.address} is down")
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        futures = [loop.create_future() for _ in requests]
        if not self._out:
            loop.call_soon(self._flush)
        self._out.extend(requests)
        self._pending.extend((future, now) for future in futures)
        return futures

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out:
            self._write(b"".join(out))

    def _take_replies(self, parser: hiredis.Reader) -> None:
        pending = self._pending
        while (reply := parser.gets()) is not False:
            future = pending.popleft()[0]  # a reply nobody asked for raises: the link ends
            if not future.done():
                future.set_result(reply)

    async def _watchdog(self) -> None:
        # One timer for all calls rather than one per call: the oldest reply is overdue -> lost.
        while True:
            await asyncio.sleep(self.timeout / 4)
            if self._pending and time.monotonic() - self._pending[0][1] > self.timeout:
                self._connection_failed(TimeoutError(f"no reply within {self.timeout:g}s"))
                return

    def _fail(self, error: Exception) -> None:
        super()._fail(error)
        # The last len(_out) pending requests were never written: they did not
        # happen (BackendUnavailable). The others were sent and may still run on
        # the server (a stopped one that resumes): their outcome is unknown.
        sent = len(self._pending) - len(self._out)
        self._out.clear()
        unknown = OutcomeUnknown(f"{error}; the request was sent and may still be carried out") \
            if isinstance(error, BackendUnavailable) else error
        while self._pending:
            future = self._pending.popleft()[0]
            sent -= 1
            if not future.done():
                future.set_exception(unknown if sent >= 0 else error)
                future.exception()  # a cancelled caller may not retrieve it
