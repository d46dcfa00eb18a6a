"""Freeing what FLUSHALL / FLUSHDB dropped, a slice at a time (Redis's lazyfree).

Deallocating a million keys takes Python seconds, and the event loop would stall
for all of it (every client waits). FLUSHALL swaps in empty dicts at once (the
keyspace is empty when it replies, as in Redis) and hands the old containers here;
the server frees ``free(budget)`` items per event-loop iteration. A value that is
itself a big dict, set or list is queued too, so a 1M-field hash does not stall
either; other values (sorted sets, streams) are freed whole.
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["LazyFree"]

# Containers at most this big are freed at once (costs well under a millisecond).
SMALL = 4096


class LazyFree:
    """A queue of dropped containers, emptied in slices."""

    def __init__(self) -> None:
        self.queue: deque[Any] = deque()
        # items still queued (INFO memory: lazyfree_pending_objects)
        self.pending = 0

    def drop(self, container: Any) -> None:
        """Forget ``container``: at once if it is small, else in later ``free`` calls."""
        if isinstance(container, (dict, set, list, deque)) and len(container) > SMALL:
            self.queue.append(container)
            self.pending += len(container)

    def free(self, budget: int = 20_000) -> int:
        """Free up to ``budget`` items (about 5-10 ms); returns how many are left."""
        queue = self.queue
        while budget > 0 and queue:
            container = queue[0]
            count = min(budget, len(container))
            if isinstance(container, dict):
                popitem = container.popitem
                for _ in range(count):
                    self.drop(popitem()[1])
            elif isinstance(container, (set, deque)):
                pop = container.pop
                for _ in range(count):
                    self.drop(pop())
            else:  # a list: its items are freed with the slice
                del container[-count:]
            self.pending -= count
            budget -= count
            if not container:
                queue.popleft()
        return self.pending
