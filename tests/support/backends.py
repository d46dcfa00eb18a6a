"""Helpers for Backend contract tests: a message collector that tests await instead of sleeping."""

from __future__ import annotations

import asyncio
import itertools

__all__ = ["Collector", "WAIT", "unique"]

# Upper bound for one awaited event; tests never sleep, they wait for the event itself.
WAIT = 10.0

Message = tuple[bytes, bytes, "bytes | None"]

_names = itertools.count()


def unique(prefix: str) -> bytes:
    """Names no other test uses: the servers are shared by the whole session."""
    return f"{prefix}:contract:{next(_names)}".encode()


class Collector:
    """A Backend message handler that records messages and wakes waiters."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Event()

    def __call__(self, channel: bytes, data: bytes, pattern: bytes | None) -> None:
        self.messages.append((channel, data, pattern))
        self._changed.set()

    async def wait_for(self, count: int) -> list[Message]:
        """Wait until ``count`` messages have arrived in all; return them."""
        async def until() -> None:
            while len(self.messages) < count:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(until(), WAIT)
        return self.messages[:count]

    async def wait_until(self, data: bytes) -> list[Message]:
        """Wait for a message carrying ``data`` (a sentinel); return everything before it."""
        async def until() -> int:
            while True:
                for index, message in enumerate(self.messages):
                    if message[1] == data:
                        return index
                self._changed.clear()
                await self._changed.wait()
        index = await asyncio.wait_for(until(), WAIT)
        return self.messages[:index]
