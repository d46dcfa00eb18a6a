"""The pub/sub registry: channel -> subscribers, pattern -> subscribers (sans-I/O).

A subscriber is anything with ``deliver(message)`` that is hashable: a RESP client
of the server, or the gateway's in-process subscriber. A published ``Message``
encodes itself lazily, once per wire format, however many subscribers get it.

Publish delivers to exact subscribers first, then to each matching pattern's, as
Redis does (``pubsubPublishMessageInternal``). Redis matches every pattern against
the channel (O(patterns) per publish); here a ``PatternIndex`` narrows them to the
patterns that share literal ends with the channel, so the cost is
O(exact subscribers + pattern shapes + matching candidates). Matching patterns are
delivered in the order they were first subscribed, as the scan of the
insertion-ordered registry did before the index.
"""

from __future__ import annotations

from typing import Protocol

from broker.patternindex import PatternIndex

__all__ = ["Message", "PubSub", "Subscriber"]


class Message:
    """One pub/sub delivery, shared by every receiver; wire bytes built on demand."""

    __slots__ = ("kind", "channel", "data", "pattern", "frame2", "frame3")

    def __init__(self, kind: bytes, channel: bytes, data: bytes, pattern: bytes | None = None) -> None:
        # b"message", b"pmessage" or b"smessage"
        self.kind = kind
        self.channel = channel
        self.data = data
        self.pattern = pattern
        # The RESP2 array and RESP3 push frames, once built (see resp): a subscriber
        # on the hot path reads the one it needs and calls resp only when it is None.
        self.frame2: bytes | None = None
        self.frame3: bytes | None = None

    def resp(self, proto: int) -> bytes:
        """The RESP2 array or RESP3 push frame of this message (cached)."""
        if proto == 3:
            if self.frame3 is None:
                self.frame3 = b">" + self._body()
            return self.frame3
        if self.frame2 is None:
            self.frame2 = b"*" + self._body()
        return self.frame2

    def _body(self) -> bytes:
        kind, channel, data = self.kind, self.channel, self.data
        if self.pattern is None:
            return b"3\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
                len(kind), kind, len(channel), channel, len(data), data)
        pattern = self.pattern
        return b"4\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
            len(kind), kind, len(pattern), pattern, len(channel), channel, len(data), data)


class Subscriber(Protocol):
    def deliver(self, message: Message) -> None: ...


class PubSub:
    """Who is subscribed to what; the counts PUBSUB reports."""

    def __init__(self) -> None:
        # Insertion-ordered so delivery follows subscription order, like Redis.
        self.channels: dict[bytes, dict[Subscriber, None]] = {}
        self.patterns: dict[bytes, dict[Subscriber, None]] = {}
        self.shard_channels: dict[bytes, dict[Subscriber, None]] = {}
        # The keys of ``patterns``, indexed for publish (kept in step by
        # psubscribe/punsubscribe: a pattern is filed while it has a subscriber).
        self.pattern_index = PatternIndex()

    # ------------------------------------------------------------ subscribe

    def subscribe(self, subscriber: Subscriber, channel: bytes) -> None:
        self.channels.setdefault(channel, {})[subscriber] = None

    def unsubscribe(self, subscriber: Subscriber, channel: bytes) -> None:
        _discard(self.channels, channel, subscriber)

    def psubscribe(self, subscriber: Subscriber, pattern: bytes) -> None:
        subscribers = self.patterns.get(pattern)
        if subscribers is None:
            subscribers = self.patterns[pattern] = {}
            self.pattern_index.add(pattern)
        subscribers[subscriber] = None

    def punsubscribe(self, subscriber: Subscriber, pattern: bytes) -> None:
        _discard(self.patterns, pattern, subscriber)
        if pattern not in self.patterns:
            self.pattern_index.remove(pattern)

    def ssubscribe(self, subscriber: Subscriber, channel: bytes) -> None:
        self.shard_channels.setdefault(channel, {})[subscriber] = None

    def sunsubscribe(self, subscriber: Subscriber, channel: bytes) -> None:
        _discard(self.shard_channels, channel, subscriber)

    # -------------------------------------------------------------- publish

    def publish(self, channel: bytes, data: bytes) -> int:
        """Deliver to exact subscribers, then to each matching pattern.

        Returns:
            The number of deliveries (a client subscribed to the channel and to a
            matching pattern counts twice), as PUBLISH replies.
        """
        receivers = 0
        subscribers = self.channels.get(channel)
        if subscribers:
            message = Message(b"message", channel, data)
            for subscriber in list(subscribers):
                subscriber.deliver(message)
            receivers = len(subscribers)
        if self.patterns:
            patterns = self.patterns
            for pattern in self.pattern_index.match(channel):
                subscribers = patterns.get(pattern)
                if subscribers:  # None if a delivery above unsubscribed the last one
                    message = Message(b"pmessage", channel, data, pattern)
                    for subscriber in list(subscribers):
                        subscriber.deliver(message)
                    receivers += len(subscribers)
        return receivers

    def spublish(self, channel: bytes, data: bytes) -> int:
        subscribers = self.shard_channels.get(channel)
        if not subscribers:
            return 0
        message = Message(b"smessage", channel, data)
        for subscriber in list(subscribers):
            subscriber.deliver(message)
        return len(subscribers)

    # ---------------------------------------------------------------- query

    def numsub(self, channel: bytes) -> int:
        return len(self.channels.get(channel, ()))

    def shardnumsub(self, channel: bytes) -> int:
        return len(self.shard_channels.get(channel, ()))

    def numpat(self) -> int:
        return len(self.patterns)


def _discard(registry: dict[bytes, dict[Subscriber, None]], name: bytes, subscriber: Subscriber) -> None:
    subscribers = registry.get(name)
    if subscribers is not None:
        subscribers.pop(subscriber, None)
        if not subscribers:
            del registry[name]
