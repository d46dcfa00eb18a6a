"""The broker interface the gateway and presence use: ``Backend``.

Two implementations: ``backends.memory.MemoryBackend`` (in-process, direct calls
into ``broker.core.Broker``, no serialisation) and, for several nodes, one over
RESP to a real Redis. The gateway never sees which one it has.

Contract:
- Messages from subscribed channels and patterns arrive through the single
  handler given to ``set_handler``: ``handler(channel, data, pattern)`` where
  ``pattern`` is None for an exact-channel subscription. It is called from the
  event loop and must not block; one published message matching both an exact
  subscription and a pattern is delivered once for each.
- ``subscribe``/``psubscribe`` are idempotent per channel/pattern: the caller
  keeps one upstream subscription per channel, reference-counted by its own
  subscribers, and unsubscribes when the last one leaves.
- ``execute`` runs any Redis command and returns its reply as Python values
  (bytes, int, list, dict, None ...); a Redis error is raised as
  ``broker.resp.CommandError``.
- ``transaction`` runs several commands atomically (MULTI/EXEC semantics) and
  returns their replies in order.
- ``history_publish``, ``presence_join`` and ``presence_leave`` are the atomic
  FANOUT.PUBLISH / FANOUT.JOIN / FANOUT.LEAVE of ``broker.commands.fanout`` (Lua
  scripts with the same effects on a real Redis).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Protocol, Sequence, runtime_checkable

__all__ = ["Backend", "BackendUnavailable", "InProcess", "MessageHandler", "OutcomeUnknown", "Pipelining",
           "ReconnectHandler", "Reconnecting"]

MessageHandler = Callable[[bytes, bytes, "bytes | None"], None]
# Called after the backend reconnected; may return an awaitable (then awaited).
ReconnectHandler = Callable[[], "Awaitable[None] | None"]


class BackendUnavailable(Exception):
    """The backend cannot be reached (e.g. Redis restarting); retry later.

    Raised as such, the request was not sent: it did not happen.
    """


class OutcomeUnknown(BackendUnavailable):
    """The request was sent but its reply never came (no reply within the timeout,
    or the connection was lost after sending): the backend may still carry it out
    (a stopped server that resumes does). Retry only what is safe to repeat, e.g.
    a publish with an idempotency key."""


class Backend(Protocol):
    """The broker as the gateway and presence use it (the contract is the module's docstring)."""

    async def start(self) -> None:
        """Connect (RESP) or attach (in-process); raises BackendUnavailable if it cannot."""
        ...

    async def close(self) -> None:
        """Release every connection and subscription; the backend is not used after."""
        ...

    def set_handler(self, handler: MessageHandler) -> None:
        """Where every subscribed message goes: ``handler(channel, data, pattern)``."""
        ...

    async def publish(self, channel: bytes, data: bytes) -> int:
        """PUBLISH: the number of subscribers it reached (on this broker)."""
        ...

    async def subscribe(self, channel: bytes) -> None:
        """Follow a channel; idempotent (the caller counts its own subscribers)."""
        ...

    async def unsubscribe(self, channel: bytes) -> None:
        """Stop following a channel; a channel not followed is a no-op."""
        ...

    async def psubscribe(self, pattern: bytes) -> None:
        """Follow a glob pattern; idempotent. CommandError where patterns are not
        supported (a Redis Cluster backplane: sharded pub/sub has none)."""
        ...

    async def punsubscribe(self, pattern: bytes) -> None:
        """Stop following a pattern; a pattern not followed is a no-op."""
        ...

    async def execute(self, *argv: bytes | str | int | float) -> Any:
        """Any Redis command: its reply as Python values; a Redis error raises CommandError."""
        ...

    async def transaction(self, commands: Sequence[Sequence[bytes | str | int | float]]) -> list[Any]:
        """MULTI/EXEC of ``commands``: their replies in order (an error reply in its place)."""
        ...

    async def history_publish(self, channel: bytes, data: bytes, maxlen: int, ttl_ms: int) -> tuple[int, str]:
        """Append to the channel's history and publish with the offset: (offset, epoch)."""
        ...

    async def publish_once(self, channel: bytes, data: bytes, key: bytes, window_ms: int,
                           history: tuple[int, int] | None = None) -> tuple[bool, int, str]:
        """Publish (through history with ``history=(maxlen, ttl_ms)``) unless a publish
        with idempotency ``key`` on this channel ran within ``window_ms``; both in
        one atomic step (FANOUT.ONCE). Returns (duplicate, offset, epoch): for a
        duplicate, the position of the publish that ran (0, "" without history)."""
        ...

    async def presence_join(self, channel: bytes, conn: str, user: str, meta: bytes) -> tuple[bool, bool]:
        """FANOUT.JOIN: (added, first connection of the user)"""
        ...

    async def presence_leave(self, channel: bytes, conn: str, user: str) -> tuple[bool, bool]:
        """FANOUT.LEAVE: (removed, last connection of the user)"""
        ...


# ----------------------------------------------------------- optional capabilities
# Checked with isinstance, not hasattr: a capability is a small Protocol of its own.


@runtime_checkable
class Reconnecting(Protocol):
    """A backend whose link can drop and come back (RESP): after each reconnect and
    resubscribe (not the first connect) it calls the handler, sync or async, so the
    gateway can put back what a restarted broker lost."""

    def set_reconnect_handler(self, handler: ReconnectHandler | None) -> None:
        """Run ``handler()`` after each reconnect; None: nothing."""
        ...


@runtime_checkable
class InProcess(Protocol):
    """A backend over a broker in this very process (``MemoryBackend``): replies are
    the broker's own objects, read at once; ``broker`` is that ``broker.core.Broker``."""

    broker: Any


@runtime_checkable
class Pipelining(Protocol):
    """A backend that can send a publish without waiting for the replies of the
    ones before it (RESP on one connection: the server runs them in order and
    answers in order). One websocket connection's publishes then go out together
    (many in one write, their messages back in one read) instead of one per
    round trip. An in-process backend has no round trip to save and lacks it."""

    @property
    def pipelined(self) -> bool:
        """False when publish_nowait cannot be used (a Redis Cluster: redis-py
        routes each call on its own, so two calls could overtake each other)."""
        ...

    def publish_nowait(self, channel: bytes, data: bytes) -> asyncio.Future[Any]:
        """Send PUBLISH now, in order with every call made before it; the future of
        its reply: the receiver count, or a ``CommandError`` value for an error
        reply. The future fails with ``BackendUnavailable`` / ``OutcomeUnknown``
        where ``publish`` would raise them.

        Raises:
            BackendUnavailable: the link is down; nothing was sent.
        """
        ...
