"""Consumer groups of a stream, as Redis 7.0's ``stream.h`` models them (sans-I/O).

The data model (the RDB writer serializes exactly these fields, in this order;
``Stream.groups`` holds them):

- ``Stream.groups``: ``dict[bytes, ConsumerGroup] | None`` (None until the first
  XGROUP CREATE, as Redis's ``s->cgroups`` rax is NULL). Redis lists groups in rax
  order, i.e. by name as raw bytes: use ``broker.stream.sorted_groups(stream)``.
- ``ConsumerGroup`` (``streamCG``):
  - ``last_id``: ``StreamId``, the last id delivered to the group (not acked);
  - ``entries_read``: ``int``, the group's logical read counter, ``-1``
    (``SCG_INVALID_ENTRIES_READ``) when unknown;
  - ``pel``: ``Pel`` (an ordered map StreamId -> Nack, iterated by id), every
    delivered, unacknowledged id;
  - ``consumers``: ``dict[bytes, Consumer]`` (Redis's rax, listed by name:
    ``group.sorted_consumers()``).
- ``Consumer`` (``streamConsumer``): ``name``; ``seen_time`` (ms unix time of the
  last XREADGROUP/XCLAIM/XAUTOCLAIM that named it, what 7.0's RDB stores);
  ``active_time`` (7.2's field: the last time it was delivered an entry or claimed
  one; -1 = never; kept for a 7.2 RDB writer, shown by no 7.0 reply); ``pel``:
  ``Pel``, its own pending ids. Each ``Nack`` object is
  shared between the group's PEL and its owner's PEL, as in Redis.
- ``Nack`` (``streamNACK``): ``consumer`` (the owning ``Consumer``; None only for a
  moment while XCLAIM FORCE creates one), ``delivery_time`` (ms unix time of the
  last delivery), ``delivery_count``.

Times are passed in as ``now`` (milliseconds), never read from a clock here.

The stream-side bookkeeping of 7.0 that lag needs lives on ``Stream``:
``entries_added``, ``max_deleted_id`` (raised by XDEL and XSETID only: trimming
does not move it, as in Redis), ``first_id()`` and ``last_id``; ``lag`` and
``estimate_distance``, which read it, are in ``broker.stream`` (a stream holds its
groups, so this module never names ``Stream``).
"""

from __future__ import annotations

from typing import Iterable, Iterator

from bisect import bisect_left, bisect_right


from broker.stream_id import StreamId

__all__ = ["Consumer", "ConsumerGroup", "INVALID_ENTRIES_READ", "Nack", "Pel"]

INVALID_ENTRIES_READ = -1


class Nack:
    """A pending (delivered, not yet acknowledged) entry of a group."""

    __slots__ = ("consumer", "delivery_time", "delivery_count")

    def __init__(self, consumer: Consumer | None, delivery_time: int, delivery_count: int = 1) -> None:
        self.consumer = consumer
        self.delivery_time = delivery_time
        self.delivery_count = delivery_count


class Pel:
    """A pending entries list: StreamId -> Nack, iterated in id order (Redis's rax).

    A dict (``entries``) holds the entries; ``keys`` is the sorted list of ids,
    which may also hold ids deleted since (a deletion only leaves the dict). Deliveries come in
    increasing id order, so an insert is almost always an append, and an ack
    costs one dict pop: together O(1), where a balanced tree (SortedDict) spent
    ~10 µs per XREADGROUP entry + XACK. Dead ids are skipped when iterating and
    dropped by rebuilding ``keys`` once they outnumber the live ones (amortized
    O(1)). The rebuild makes a new list, so a walk over the old one (XAUTOCLAIM
    deleting as it goes) stays valid.
    """

    __slots__ = ("entries", "keys")

    def __init__(self) -> None:
        self.entries: dict[StreamId, Nack] = {}
        self.keys: list[StreamId] = []

    def __len__(self) -> int:
        return len(self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self.entries

    def __getitem__(self, stream_id: StreamId) -> Nack:
        return self.entries[stream_id]

    def get(self, stream_id: StreamId) -> Nack | None:
        return self.entries.get(stream_id)

    def __setitem__(self, stream_id: StreamId, nack: Nack) -> None:
        items = self.entries
        if stream_id in items:
            items[stream_id] = nack
            return
        keys = self.keys
        if not keys or stream_id > keys[-1]:
            keys.append(stream_id)
        else:
            index = bisect_left(keys, stream_id)
            if index == len(keys) or keys[index] != stream_id:  # else a dead id comes back
                keys.insert(index, stream_id)
        items[stream_id] = nack

    def add_new(self, stream_id: StreamId, nack: Nack) -> None:
        """Insert an id that is not pending (the append of a first delivery, mostly)."""
        keys = self.keys
        if keys and stream_id <= keys[-1]:
            self[stream_id] = nack
            return
        keys.append(stream_id)
        self.entries[stream_id] = nack

    def pop(self, stream_id: StreamId, default: Nack | None = None) -> Nack | None:
        nack = self.entries.pop(stream_id, None)
        if nack is None:
            return default
        if len(self.keys) > 2 * len(self.entries) + 32:
            self.keys = [key for key in self.keys if key in self.entries]
        return nack

    def __delitem__(self, stream_id: StreamId) -> None:
        if self.pop(stream_id) is None:
            raise KeyError(stream_id)

    def irange(self, minimum: StreamId | None = None, maximum: StreamId | None = None) -> Iterator[StreamId]:
        """Live ids with minimum <= id <= maximum, ascending."""
        keys, items = self.keys, self.entries
        index = bisect_left(keys, minimum) if minimum is not None else 0
        stop = bisect_right(keys, maximum) if maximum is not None else len(keys)
        for position in range(index, stop):
            key = keys[position]
            if key in items:
                yield key

    def __iter__(self) -> Iterator[StreamId]:
        return self.irange()

    def items(self) -> Iterable[tuple[StreamId, Nack]]:
        """(id, nack) pairs in id order (as SortedDict.items, which this replaced)."""
        entries = self.entries
        return ((key, entries[key]) for key in self.irange())

    def first(self) -> StreamId:
        """The smallest pending id (the PEL must not be empty)."""
        return next(self.irange())

    def last(self) -> StreamId:
        """The largest pending id (the PEL must not be empty)."""
        items = self.entries
        for key in reversed(self.keys):
            if key in items:
                return key
        raise KeyError("empty PEL")


class Consumer:
    """One named consumer of a group and the ids pending for it."""

    __slots__ = ("name", "seen_time", "active_time", "pel")

    def __init__(self, name: bytes, now: int) -> None:
        self.name = name
        self.seen_time = now
        self.active_time = -1
        self.pel = Pel()


class ConsumerGroup:
    """A consumer group (``streamCG``)."""

    __slots__ = ("last_id", "entries_read", "pel", "consumers")

    def __init__(self, last_id: StreamId, entries_read: int = INVALID_ENTRIES_READ) -> None:
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel = Pel()
        self.consumers: dict[bytes, Consumer] = {}

    # ------------------------------------------------------------ consumers

    def lookup_consumer(self, name: bytes, now: int, refresh: bool = True) -> Consumer | None:
        """``streamLookupConsumer``: refreshes seen-time unless ``refresh`` is False."""
        consumer = self.consumers.get(name)
        if consumer is not None and refresh:
            consumer.seen_time = now
        return consumer

    def create_consumer(self, name: bytes, now: int) -> Consumer | None:
        """``streamCreateConsumer``: None if it exists (the caller emits the event)."""
        if name in self.consumers:
            return None
        consumer = self.consumers[name] = Consumer(name, now)
        return consumer

    def delete_consumer(self, consumer: Consumer) -> int:
        """Remove ``consumer`` and its pending ids from the group; returns how many were pending."""
        pending = len(consumer.pel)
        for stream_id in list(consumer.pel):
            self.pel.pop(stream_id)
        del self.consumers[consumer.name]
        return pending

    def sorted_consumers(self) -> list[Consumer]:
        return [self.consumers[name] for name in sorted(self.consumers)]

    # ------------------------------------------------------------------ PEL

    def add_pending(self, stream_id: StreamId, consumer: Consumer, now: int) -> Nack:
        """A first delivery of ``stream_id`` to ``consumer`` (XREADGROUP ``>``).

        An id already pending (the group's last id was moved back by SETID) moves
        to ``consumer`` with its count reset to 1, as ``streamReplyWithRange`` does.
        """
        nack = self.pel.get(stream_id)
        if nack is None:
            nack = Nack(consumer, now)
            self.pel[stream_id] = nack
        else:
            if nack.consumer is not None:
                nack.consumer.pel.pop(stream_id, None)
            nack.consumer = consumer
            nack.delivery_time = now
            nack.delivery_count = 1
        consumer.pel[stream_id] = nack
        return nack

    def ack(self, stream_id: StreamId) -> bool:
        nack = self.pel.pop(stream_id, None)
        if nack is None:
            return False
        if nack.consumer is not None:
            nack.consumer.pel.pop(stream_id)
        return True

    def transfer(self, stream_id: StreamId, nack: Nack, consumer: Consumer) -> None:
        """Make ``consumer`` the owner of a pending id (XCLAIM, XAUTOCLAIM)."""
        if nack.consumer is not consumer:
            if nack.consumer is not None:
                nack.consumer.pel.pop(stream_id, None)
            consumer.pel[stream_id] = nack
            nack.consumer = consumer

    def pending_from(self, start: StreamId) -> Iterator[StreamId]:
        """Pending ids >= ``start``, ascending."""
        return self.pel.irange(minimum=start)
