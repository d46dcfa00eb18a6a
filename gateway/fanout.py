"""Channel -> connections bookkeeping and delivery: encode once, write to many.

The hub holds ONE upstream (backend) subscription per channel and per pattern,
reference-counted by the local connections subscribed to it. A message from the
backend is turned into one JSON event and one websocket frame, and the same
bytes are queued to every subscribed connection: O(subscribers) appends, no
per-connection encoding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from broker.backend import Backend
from gateway.connection import Connection, Counters, text_frame
from gateway.protocol import encode_event, payload_json

if TYPE_CHECKING:
    from gateway.watch import LiveViews

__all__ = ["Hub"]


class Hub:
    def __init__(self, backend: Backend, counters: Counters) -> None:
        self.backend = backend
        self.counters = counters
        self.channels: dict[bytes, dict[Connection, None]] = {}
        self.patterns: dict[bytes, dict[Connection, None]] = {}
        # Live views (gateway.watch) get the keyspace notifications of watched keys.
        self.views: LiveViews | None = None
        backend.set_handler(self.on_message)

    # ------------------------------------------------------------ delivery

    def on_message(self, channel: bytes, data: bytes, pattern: bytes | None) -> None:
        """Backend handler: one message for the local subscribers of a channel or pattern."""
        if self.views is not None and pattern is None and channel.startswith(b"__keyspace@"):
            self.views.on_keyspace(channel)
        subscribers = self.channels.get(channel) if pattern is None else self.patterns.get(pattern)
        if not subscribers:
            return
        frame = text_frame(encode_event(channel, payload_json(data), pattern))
        for connection in list(subscribers):
            connection.send_event(frame, channel)
        self.counters.deliveries += len(subscribers)

    # ------------------------------------------------------- subscriptions

    async def subscribe(self, connection: Connection, channel: bytes) -> bool:
        """Add a subscription; False if it already existed."""
        if channel in connection.channels:
            return False
        subscribers = self.channels.get(channel)
        connection.channels.add(channel)
        if subscribers is None:
            self.channels[channel] = {connection: None}
            try:
                await self.backend.subscribe(channel)
            except Exception:
                self._remove(self.channels, channel, connection)
                connection.channels.discard(channel)
                raise
        else:
            subscribers[connection] = None
        return True

    async def psubscribe(self, connection: Connection, pattern: bytes) -> bool:
        if pattern in connection.patterns:
            return False
        subscribers = self.patterns.get(pattern)
        if not connection.patterns:
            connection.patterns = set()  # connections start with a shared empty frozenset
        connection.patterns.add(pattern)
        if subscribers is None:
            self.patterns[pattern] = {connection: None}
            try:
                await self.backend.psubscribe(pattern)
            except Exception:
                self._remove(self.patterns, pattern, connection)
                connection.patterns.discard(pattern)
                raise
        else:
            subscribers[connection] = None
        return True

    async def unsubscribe(self, connection: Connection, channel: bytes) -> bool:
        if channel not in connection.channels:
            return False
        connection.channels.discard(channel)
        if self._remove(self.channels, channel, connection) and not (self.views and self.views.holds(channel)):
            await self.backend.unsubscribe(channel)
        return True

    async def punsubscribe(self, connection: Connection, pattern: bytes) -> bool:
        if pattern not in connection.patterns:
            return False
        connection.patterns.discard(pattern)
        if self._remove(self.patterns, pattern, connection):
            await self.backend.punsubscribe(pattern)
        return True

    async def drop(self, connection: Connection) -> None:
        """Forget a closed connection and release upstream subscriptions it held last."""
        for channel in list(connection.channels):
            await self.unsubscribe(connection, channel)
        for pattern in list(connection.patterns):
            await self.punsubscribe(connection, pattern)
        if self.views is not None:
            await self.views.drop(connection)

    @staticmethod
    def _remove(registry: dict[bytes, dict[Connection, None]], name: bytes, connection: Connection) -> bool:
        """Remove; True if that was the last local subscriber."""
        subscribers = registry.get(name)
        if subscribers is None:
            return False
        subscribers.pop(connection, None)
        if not subscribers:
            del registry[name]
            return True
        return False

    def channel_counts(self, names: Iterable[bytes] | None = None) -> dict[str, int]:
        registry = self.channels
        keys = registry if names is None else [name for name in names if name in registry]
        return {name.decode("utf-8", "replace"): len(registry[name]) for name in keys}

    @property
    def subscription_count(self) -> int:
        return sum(len(s) for s in self.channels.values()) + sum(len(s) for s in self.patterns.values())
