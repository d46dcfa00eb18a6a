"""Freeing what FLUSHALL / FLUSHDB dropped, a slice at a time (Redis's lazyfree).

Deallocating a million keys takes Python seconds, and the event loop would stall
for all of it (every client waits). FLUSHALL swaps in empty dicts at once (the
keyspace is empty when it replies, as in Redis) and hands the old containers here;
the server frees ``free(budget)`` items per event-loop iteration.

A value that is itself big is queued too, broken into the containers that hold
its items: a hash, set or list itself; a sorted set's member dict and its score
order; a stream's id and field lists. So no value, whatever its type, is freed
in one go unless it is small. A small value freed in place costs its size
against the slice's budget, so one slice frees at most ``budget + SMALL`` items
(see ``free``).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from sortedcontainers import SortedList

from broker.stream import Stream
from broker.zset import ZSet

__all__ = ["Bookkeeping", "LazyFree", "SMALL"]

# Containers at most this big are freed at once (costs well under a millisecond).
SMALL = 4096


def _parts(value: Any) -> tuple[Any, ...]:
    """The containers holding ``value``'s items (empty for a scalar)."""
    if isinstance(value, (dict, set, list, deque, SortedList)):
        return (value,)
    if isinstance(value, ZSet):
        return (value.scores, value.order)
    if isinstance(value, Stream):
        return (value.ids, value.values)
    return ()


def _popper(container: Any) -> Callable[[], Any]:
    """A call that removes one item of ``container`` and returns what it held."""
    if isinstance(container, dict):
        popitem = container.popitem
        return lambda: popitem()[1]
    return container.pop  # set, deque, list and SortedList: O(1) or O(log n) at the end


class Bookkeeping(list):  # type: ignore[type-arg]
    """A flushed keyspace's side tables (LRU fields, costs, sampling list): freed in
    slices like its data (dropping them at once took 60 ms per million keys), but
    not counted in ``pending``, which counts what Redis counts (keys and items)."""


class LazyFree:
    """A queue of dropped containers, emptied in slices."""

    def __init__(self) -> None:
        self.queue: deque[Any] = deque()
        # items still queued (INFO memory: lazyfree_pending_objects)
        self.pending = 0
        # ids of queued Bookkeeping tables (not counted in pending)
        self._quiet: set[int] = set()
        # the most items one ``free`` call freed (the longest stall, in items)
        self.max_slice = 0

    def drop(self, value: Any) -> int:
        """Forget ``value``: its big containers are queued for later ``free`` calls.

        Returns:
            The items freed at once when the caller lets go of ``value`` (its
            small containers' sizes, 0 for a scalar or what was all queued).
        """
        now = 0
        for part in _parts(value):
            size = len(part)
            if size > SMALL:
                self.queue.append(part)
                self.pending += size
            else:
                now += size
        return now

    def drop_keyspace(self, containers: list[Any]) -> None:
        """Forget what FLUSHALL / FLUSHDB swapped out (``Keyspace.flush``): as
        ``drop``, but a small container is queued too when one of its values is
        big (a keyspace of three keys can hold a 10M-member sorted set)."""
        for container in containers:
            if type(container) is Bookkeeping:
                for table in container:
                    if len(table) > SMALL:
                        self.queue.append(table)
                        self._quiet.add(id(table))
                continue
            if isinstance(container, dict) and 0 < len(container) <= SMALL and any(
                    len(part) > SMALL for value in container.values() for part in _parts(value)):
                self.queue.append(container)
                self.pending += len(container)
            else:
                self.drop(container)

    def free(self, budget: int = 20_000) -> int:
        """Free about ``budget`` items (5-10 ms), at most ``budget + SMALL``; returns how
        many are left (``pending``, or once only Bookkeeping tables are left, how many
        of those: 0 when everything is freed).

        Each item removed from a queued container costs 1, plus the size of a
        small container it held (freed with it); a big one it held is queued.
        """
        queue = self.queue
        spent = 0
        drop = self.drop
        while spent < budget and queue:
            container = queue[0]
            pop = _popper(container)
            taken = 0
            while spent < budget and container:
                spent += 1 + drop(pop())
                taken += 1
            if id(container) not in self._quiet:
                self.pending -= taken
            if not container:
                queue.popleft()
                self._quiet.discard(id(container))
        self.max_slice = max(self.max_slice, spent)
        return self.pending or len(queue)
