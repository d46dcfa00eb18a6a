"""One logical database: typed values with TTL (sans-I/O).

Values are plain Python objects chosen for speed of the common commands:

==========  ==========================  ==========
Redis type  Python type                 TYPE reply
==========  ==========================  ==========
string      bytes                       string
hash        dict[bytes, bytes]          hash
set         set[bytes]                  set
list        collections.deque[bytes]    list
zset        broker.zset.ZSet            zset
stream      broker.stream.Stream        stream
==========  ==========================  ==========

Expiry happens in both places Redis does it: lazily, when a command looks a key
up (``lookup``), and actively, by ``expire_due`` sweeping a heap of deadlines.
Either way the key is removed with an ``expired`` notification. Time comes from
the owner (``Host.now_ms``), cached once per command like Redis's ``server.mstime``.

Mutations report through ``notify(cls, event, key)``, which also invalidates
WATCH and client-side caches (``Host.touch_watched``), and ``signal_ready(key)``
wakes clients blocked on the key.
"""

from __future__ import annotations

import heapq
import random
from typing import Any, Final, Iterator, Protocol

from broker.notify import NotifyClass
from broker.resp import CommandError
from broker.stream import Stream

__all__ = ["Host", "Keyspace", "TRACKED", "WRONGTYPE", "type_name"]

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
# In ``Keyspace.watched`` while client-side caching may hold keys (broker.tracking):
# every change must then reach touch_watched, and the one check writes already do
# for WATCH covers both, so a write costs nothing more while no one tracks.
TRACKED: Final = object()


class Host(Protocol):
    """What a keyspace needs from its owner (the Broker)."""

    now_ms: int
    notify_flags: int
    changes: int

    def notify(self, cls: NotifyClass, event: bytes, key: bytes, db: int) -> None: ...

    def touch_watched(self, db: int, key: bytes, by_command: bool = True) -> None: ...

    def signal_ready(self, db: int, key: bytes) -> None: ...

    def key_expired(self, db: int, key: bytes) -> None: ...

    def count_read(self, db: int, key: bytes, hit: bool) -> None: ...


def type_name(value: Any) -> bytes:
    kind = type(value)
    if kind is bytes:
        return b"string"
    if kind is dict:
        return b"hash"
    if kind is set:
        return b"set"
    return getattr(value, "TYPE_NAME", b"list")


class Keyspace:
    """Keys of one db, their values and their expiry deadlines (ms since epoch)."""

    def __init__(self, host: Host, index: int) -> None:
        self.host = host
        self.index = index
        self.data: dict[bytes, Any] = {}
        # key -> absolute deadline in ms; only keys with a TTL are here.
        self.expires: dict[bytes, int] = {}
        # (deadline, key) min-heap for the active expiry sweep; entries whose
        # deadline no longer matches ``expires`` are stale and skipped.
        self._deadlines: list[tuple[int, bytes]] = []
        # key -> number of clients watching it (WATCH); empty almost always. It
        # holds TRACKED too while client-side caching is on.
        self.watched: dict[Any, int] = {}

    def __len__(self) -> int:
        return len(self.data)

    # -------------------------------------------------------------- lookups

    def lookup(self, key: bytes) -> Any:
        """The live value of ``key`` or None, expiring it first if its time is up."""
        value = self.data.get(key)
        if value is None:
            return None
        if self.expires:
            deadline = self.expires.get(key)
            if deadline is not None and deadline <= self.host.now_ms:
                self._expire(key)
                return None
        return value

    def read(self, key: bytes) -> Any:
        """``lookupKeyRead``: ``lookup`` for a read command, which counts a keyspace
        hit or miss, and a miss emits ``keymiss`` (without touching WATCH)."""
        value = self.lookup(key)
        self.host.count_read(self.index, key, value is not None)
        return value

    def read_typed(self, key: bytes, kind: type) -> Any:
        """``read`` then the type check (a hit is counted even for the wrong type)."""
        value = self.read(key)
        if value is not None and type(value) is not kind:
            raise CommandError(WRONGTYPE)
        return value

    def get_typed(self, key: bytes, kind: type) -> Any:
        """The value if it has Python type ``kind``, None if missing.

        Raises:
            CommandError: WRONGTYPE when the key holds another type.
        """
        value = self.lookup(key)
        if value is not None and type(value) is not kind:
            raise CommandError(WRONGTYPE)
        return value

    def exists(self, key: bytes) -> bool:
        return self.lookup(key) is not None

    def keys(self) -> Iterator[bytes]:
        """Live keys (expired ones are skipped, not removed)."""
        now = self.host.now_ms
        expires = self.expires
        for key in list(self.data):
            deadline = expires.get(key)
            if deadline is None or deadline > now:
                yield key

    def random_key(self) -> bytes | None:
        for _ in range(100):
            if not self.data:
                return None
            key = random.choice(list(self.data)) if len(self.data) < 64 else _sample_key(self.data)
            if self.lookup(key) is not None:
                return key
        return None

    # ------------------------------------------------------------ mutations

    def add(self, key: bytes, value: Any) -> None:
        """Create ``key`` (it must be absent): emits ``new``, like Redis ``dbAdd``."""
        self.data[key] = value
        if self.host.notify_flags:
            self.host.notify(NotifyClass.NEW, b"new", key, self.index)

    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        """Create or overwrite ``key`` (``setKey``); drops its TTL unless ``keep_ttl``."""
        old = self.data.get(key)
        if old is None:
            self.add(key, value)
        else:
            self.data[key] = value
            if not keep_ttl and self.expires:
                self.expires.pop(key, None)
            if type(old) is Stream:
                # XREADGROUP clients blocked on it get "-UNBLOCKED" (Redis's dbSetValue)
                self.host.signal_ready(self.index, key)

    def replace(self, key: bytes, value: Any) -> None:
        """Overwrite the value of an existing key in place, keeping its TTL."""
        self.data[key] = value

    def delete(self, key: bytes) -> bool:
        """Remove ``key`` with no notification (the caller emits its own event)."""
        value = self.data.pop(key, None)
        if value is None:
            return False
        if self.expires:
            self.expires.pop(key, None)
        if type(value) is Stream:
            # XREADGROUP clients blocked on it get "-UNBLOCKED" (Redis's dbGenericDelete)
            self.host.signal_ready(self.index, key)
        return True

    def delete_if_empty(self, key: bytes, value: Any) -> None:
        """Remove a container left empty by a command, with the ``del`` event."""
        if not value:
            self.delete(key)
            self.notify(NotifyClass.GENERIC, b"del", key)

    def notify(self, cls: NotifyClass, event: bytes, key: bytes) -> None:
        """Record a modification: the change count (propagation), WATCH invalidation,
        then the keyspace event."""
        self.host.changes += 1
        if self.watched:
            self.host.touch_watched(self.index, key)
        if self.host.notify_flags:
            self.host.notify(cls, event, key, self.index)

    def signal_ready(self, key: bytes) -> None:
        """A list/zset/stream got data: clients blocked on it may proceed."""
        self.host.signal_ready(self.index, key)

    def flush(self) -> list[Any]:
        """Empty the keyspace at once; returns the old containers, for the caller to
        free lazily (``broker.lazyfree``: freeing 1M keys here stalled for seconds)."""
        # XREADGROUP clients blocked on a stream that goes are released, as Redis's
        # scanDatabaseForDeletedStreams: only keys someone waits on are looked at.
        blocked = getattr(self.host, "blocked", None)
        if blocked:
            for index, key in list(blocked):
                if index == self.index and type(self.data.get(key)) is Stream:
                    self.host.signal_ready(index, key)
        old = [self.data, self.expires, self._deadlines]
        self.data, self.expires, self._deadlines = {}, {}, []
        return old

    def swap_contents(self, other: "Keyspace") -> None:
        """SWAPDB: exchange keys, values and deadlines with ``other``; each keeps its
        index and WATCH counts, since clients stay in the db they selected."""
        self.data, other.data = other.data, self.data
        self.expires, other.expires = other.expires, self.expires
        self._deadlines, other._deadlines = other._deadlines, self._deadlines

    # ----------------------------------------------------------------- TTL

    def set_expire(self, key: bytes, deadline_ms: int) -> None:
        self.expires[key] = deadline_ms
        heapq.heappush(self._deadlines, (deadline_ms, key))

    def persist(self, key: bytes) -> bool:
        return self.expires.pop(key, None) is not None

    def deadline(self, key: bytes) -> int | None:
        return self.expires.get(key) if self.expires else None

    def expire_due(self, now_ms: int, limit: int = 1000) -> int:
        """Active expiry: remove up to ``limit`` keys whose deadline has passed.

        Returns:
            How many keys expired. Cost O(k log n) for k due entries.
        """
        expired = 0
        heap = self._deadlines
        while heap and heap[0][0] <= now_ms and expired < limit:
            deadline, key = heapq.heappop(heap)
            if self.expires.get(key) == deadline and key in self.data:
                self._expire(key)
                expired += 1
        # Stale entries (TTL changed or removed) would otherwise pile up.
        if len(heap) > 2 * len(self.expires) + 1024:
            self._deadlines = [(d, k) for k, d in self.expires.items()]
            heapq.heapify(self._deadlines)
        return expired

    def _expire(self, key: bytes) -> None:
        # Not a change made by the running command (dirty stays): recorded on its own as
        # a deletion (Redis's deleteExpiredKeyAndPropagate).
        self.delete(key)
        if self.watched:
            self.host.touch_watched(self.index, key, False)  # not the command's doing
        if self.host.notify_flags:
            self.host.notify(NotifyClass.EXPIRED, b"expired", key, self.index)
        self.host.key_expired(self.index, key)


def _sample_key(data: dict[bytes, Any]) -> bytes:
    # O(n) in the worst case but only for RANDOMKEY; dicts have no random access.
    index = random.randrange(len(data))
    for i, key in enumerate(data):
        if i == index:
            return key
    raise KeyError("empty")
