"""MemoryBackend: the Backend interface over an in-process ``Broker`` (see Backend).

Short enough to read as the spec: every call is a direct ``Broker.execute`` with
an in-process client; pub/sub messages reach the handler without any encoding.

Durability: with ``appendfsync always`` a call that wrote data returns only once
the AOF has it on disk (``_durable`` awaits the AOF's group commit at the end of
the loop iteration), so the gateway acknowledges a publish, exactly as the RESP
server releases a reply, after the fsync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from broker.backend import Backend, InProcess, MessageHandler
from broker.channel_keys import once_key
from broker.core import Broker, Client
from broker.pubsub import Message
from broker.resp import CommandError
from broker.results import BLOCKED, NO_REPLY, Replies

__all__ = ["MemoryBackend"]


def _arg(value: bytes | str | int | float) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode()


class _InProcessClient(Client):
    """A broker client whose pub/sub messages go straight to the handler."""

    # The gateway in this very process is never held by CLIENT PAUSE (see broker/pause.py),
    # nor refused with -OOM (see gateway/own_keys.py).
    pause_exempt = True
    oom_exempt = True

    def __init__(self, broker: Broker, name: bytes) -> None:
        super().__init__(broker, addr="in-process:0", laddr="in-process:0")
        self.name = name
        self.handler: MessageHandler | None = None
        # The gateway in the same process: requirepass and ACLs guard the RESP port, not
        # it (no user, as Redis's internal clients: it may run anything).
        self.authenticated = True
        self.user = None
        self.refresh_special()  # so its commands take the core's fast path at once

    def deliver(self, message: Message) -> None:
        if self.handler is not None:
            self.handler(message.channel, message.data, message.pattern)

    def resume(self, reply: Any) -> None:  # blocking commands are not used in-process
        pass


class MemoryBackend:
    """See ``broker.backend.Backend``; also ``broker.backend.InProcess``: replies are
    the broker's own objects, not copies (gateway.history reads a recovery's missed
    messages at once here, in batches over RESP)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        # One client subscribes (RESP3-like: it may still run commands), one executes.
        self._subscriber = _InProcessClient(broker, b"gateway-subscriber")
        self._subscriber.proto = 3
        self._commands = _InProcessClient(broker, b"gateway")
        self._commands.proto = 3

    async def start(self) -> None:
        self.broker.connect(self._subscriber)
        self.broker.connect(self._commands)

    async def close(self) -> None:
        self.broker.disconnect(self._subscriber)
        self.broker.disconnect(self._commands)

    def set_handler(self, handler: MessageHandler) -> None:
        self._subscriber.handler = handler

    async def publish(self, channel: bytes, data: bytes) -> int:
        return self.publish_now(channel, data)

    def publish_now(self, channel: bytes, data: bytes) -> int:
        """``publish`` without a coroutine (it never waits here): for callers on
        the hot path that know the backend is this one (gateway.fast_http)."""
        broker = self.broker
        stats = broker.stats
        stats.client_publishes += 1
        pubsub = broker.pubsub
        if not pubsub.patterns:
            # The common case, a channel only this gateway follows: Broker.publish's
            # counts and its one delivery done here, without its three calls and
            # Message (a tenth of an HTTP publish to a room of 10).
            subscribers = pubsub.channels.get(channel)
            subscriber = self._subscriber
            if subscribers is not None and len(subscribers) == 1 and subscriber in subscribers:
                stats.pubsub_messages += 1
                stats.pubsub_deliveries += 1
                if subscriber.handler is not None:
                    subscriber.handler(channel, data, None)
                return 1
        return broker.publish(channel, data)

    async def subscribe(self, channel: bytes) -> None:
        self._call(self._subscriber, [b"SUBSCRIBE", channel])

    async def unsubscribe(self, channel: bytes) -> None:
        self._call(self._subscriber, [b"UNSUBSCRIBE", channel])

    async def psubscribe(self, pattern: bytes) -> None:
        self._call(self._subscriber, [b"PSUBSCRIBE", pattern])

    async def punsubscribe(self, pattern: bytes) -> None:
        self._call(self._subscriber, [b"PUNSUBSCRIBE", pattern])

    async def execute(self, *argv: bytes | str | int | float) -> Any:
        reply = self._call(self._commands, [_arg(arg) for arg in argv])
        await self._durable()
        return reply

    async def transaction(self, commands: Sequence[Sequence[bytes | str | int | float]]) -> list[Any]:
        # The core is single-threaded and nothing here awaits, so running the
        # commands back to back is atomic; MULTI/EXEC gives the same error rules.
        client = self._commands
        self._call(client, [b"MULTI"])
        try:
            for argv in commands:
                self._call(client, [_arg(arg) for arg in argv])
        except CommandError:
            # Refused when queued (as Redis's EXECABORT): nothing runs, and the
            # shared client must not stay inside MULTI for the next caller.
            self.broker.execute(client, [b"DISCARD"])
            raise
        replies = self._call(client, [b"EXEC"])
        await self._durable()
        return list(replies)

    async def history_publish(self, channel: bytes, data: bytes, maxlen: int, ttl_ms: int) -> tuple[int, str]:
        offset, epoch = self._call(self._commands, [b"FANOUT.PUBLISH", channel, b"%d" % maxlen, b"%d" % ttl_ms, data])
        await self._durable()
        return offset, epoch.decode()

    async def publish_once(self, channel: bytes, data: bytes, key: bytes, window_ms: int,
                           history: tuple[int, int] | None = None) -> tuple[bool, int, str]:
        """See Backend.publish_once."""
        inner = [b"FANOUT.PUBLISH", channel, b"%d" % history[0], b"%d" % history[1], data] if history \
            else [b"PUBLISH", channel, data]
        duplicate, offset, epoch = self._call(self._commands, [b"FANOUT.ONCE", once_key(channel, key),
                                                               b"%d" % window_ms, *inner])
        return bool(duplicate), offset, epoch.decode()

    async def presence_join(self, channel: bytes, conn: str, user: str, meta: bytes) -> tuple[bool, bool]:
        added, first = self._call(self._commands, [b"FANOUT.JOIN", channel, conn.encode(), user.encode(), meta])
        await self._durable()
        return bool(added), bool(first)

    async def presence_leave(self, channel: bytes, conn: str, user: str) -> tuple[bool, bool]:
        removed, last = self._call(self._commands, [b"FANOUT.LEAVE", channel, conn.encode(), user.encode()])
        await self._durable()
        return bool(removed), bool(last)

    async def _durable(self) -> None:
        """Wait for the AOF's fsync of what this call wrote (appendfsync always)."""
        aof = self.broker.aof
        if aof is not None and aof.holding:
            await aof.wait_synced()

    def _call(self, client: Client, argv: list[bytes]) -> Any:
        reply = self.broker.execute(client, argv)
        if reply is BLOCKED or reply is NO_REPLY:
            raise CommandError(f"ERR {argv[0].decode()} cannot block or be silenced in-process")
        if isinstance(reply, CommandError):
            raise reply
        if type(reply) is Replies:
            return list(reply)
        return reply


if TYPE_CHECKING:
    def _implements_backend(backend: MemoryBackend) -> Backend:
        return backend  # mypy checks MemoryBackend against the Backend protocol here

    def _in_process(backend: MemoryBackend) -> InProcess:
        return backend  # and against the InProcess capability
