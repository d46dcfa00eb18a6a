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

Memory accounting (``broker.memcost``) follows every write: strings are costed
where they are stored (``add``/``set``/``replace``, and the fast paths of SET
and INCR in ``broker.commands.strings``, which store directly), containers where a handler's
in-place change is reported (``notify``, 1 change in 16 after the first);
``delete`` takes a key's cost back.
The total is the broker's ``MemoryAccount.dataset``.

Each key also has Redis's 24-bit ``lru`` field (``Keyspace.lru``), touched by
``lookup`` like ``lookupKey``: under LRU the time of the last access in ms (by
default rounded down to the broker's LRU clock second, ``Host.lru_clock``; exact
while an LRU policy has a limit), in LFU mode ``ldt << 8 | counter``
(``broker.evict``). ``peek`` is ``lookup`` with ``LOOKUP_NOTOUCH``.
"""

from __future__ import annotations

import heapq
import random
from typing import Any, Callable, Final, Iterator, Protocol

from broker.evict import ACCESS_CLOCK, ACCESS_LFU, ACCESS_LRU, LFU_INIT_VAL, LRU_CLOCK_MAX, lfu_touch, lru_idle_seconds
from broker.lazyfree import Bookkeeping
from broker.memcost import CONTAINER_BASE as _CONTAINER_BASE
from broker.memcost import EXPIRE_COST, MemoryAccount, element_cost, string_cost
from broker.memcost import STRING_BASE as _STRING_BASE
from broker.notify import NotifyClass
from broker.resp import CommandError
from broker.stream import Stream

__all__ = ["Host", "Keyspace", "TRACKED", "WRONGTYPE", "type_name"]

_STRING = NotifyClass.STRING

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
# In ``Keyspace.watched`` while client-side caching may hold keys (broker.tracking):
# every change must then reach touch_watched, and the one check writes already do
# for WATCH covers both, so a write costs nothing more while no one tracks.
TRACKED: Final = object()


class Host(Protocol):
    """What a keyspace needs from its owner (the Broker)."""

    now_ms: int
    # the LRU clock: now_ms rounded down to the second, one object per second
    lru_clock: int
    notify_flags: int
    changes: int
    memory: MemoryAccount

    def notify(self, cls: NotifyClass, event: bytes, key: bytes, db: int) -> None: ...

    def touch_watched(self, db: int, key: bytes, by_command: bool = True) -> None: ...

    def signal_ready(self, db: int, key: bytes) -> None: ...

    def key_expired(self, db: int, key: bytes) -> None: ...

    def expiry_held(self) -> bool: ...

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
        # the account this db's costs are added to (shared by the 16 dbs)
        self.account: MemoryAccount = host.memory
        # container key -> its cost as counted in the account, and the sampled cost
        # of one of its elements (strings are costed from their value: not here)
        self.sizes: dict[bytes, int] = {}
        self.elements: dict[bytes, int] = {}
        # key -> Redis's lru field: last access in ms (LRU) or ldt << 8 | counter (LFU),
        # for every live key (so a sampled key without one is a ghost). By default the
        # value is the host's ``lru_clock`` object, shared by every key touched in the
        # same second: the table costs its dict slots only, no int per key.
        self.lru: dict[bytes, int] = {}
        # ACCESS_CLOCK, ACCESS_LRU or ACCESS_LFU (set by the broker from maxmemory and
        # maxmemory-policy), since when (keys without a field count from then),
        # lfu-log-factor and lfu-decay-time
        self.access = ACCESS_CLOCK
        self.access_since_ms = host.now_ms
        self.lfu_log_factor = 10
        self.lfu_decay_time = 1
        # keys in order of creation, for eviction's random sampling (a dict has no
        # random access): deleted keys stay as ghosts until compaction; keys the
        # evictor must never take (``exempt``: the embedded gateway's) are left out
        # (kept only while an allkeys-* policy has a limit to enforce: ``sampling``)
        self._order: list[bytes] = []
        self.sampling = False
        # key -> (value, encoding): values that keep an encoding their contents no
        # longer imply (a shrunk hash still "hashtable", a SETRANGE'd "1234" still
        # "raw"), valid while the key holds that very object (broker.encoding)
        self.encodings: dict[bytes, tuple[Any, bytes]] = {}
        self.exempt: Callable[[bytes], bool] | None = None

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
                if not self.host.expiry_held():
                    self._expire(key)
                return None
        if not self.access:  # ACCESS_CLOCK, inline (touch): every lookup pays it
            self.lru[key] = self.host.lru_clock
        else:
            self.touch(key)
        return value

    def peek(self, key: bytes) -> Any:
        """``lookup`` without touching the key's access time (``LOOKUP_NOTOUCH``:
        OBJECT, TYPE, EXISTS, TTL)."""
        value = self.data.get(key)
        if value is None:
            return None
        if self.expires:
            deadline = self.expires.get(key)
            if deadline is not None and deadline <= self.host.now_ms:
                if not self.host.expiry_held():
                    self._expire(key)
                return None
        return value

    def touch(self, key: bytes) -> None:
        """Update ``key``'s access time as ``lookup`` does (for fast paths that read
        ``data`` directly)."""
        access = self.access
        if access == ACCESS_CLOCK:
            self.lru[key] = self.host.lru_clock
        elif access == ACCESS_LRU:
            self.lru[key] = self.host.now_ms
        else:
            self.lru[key] = lfu_touch(self.access_field(key), self)

    def access_field(self, key: bytes) -> int:
        """``key``'s lru field; a key without one (none should be: every creation
        stamps one) counts as touched at ``access_since_ms``."""
        field = self.lru.get(key)
        if field is not None:
            return field
        since = self.access_since_ms
        return since if self.access != ACCESS_LFU else (since // 60000 & 65535) << 8 | LFU_INIT_VAL

    def set_access_field(self, key: bytes, idle_seconds: int, freq: int) -> None:
        """RESTORE ... IDLETIME / FREQ (``objectSetLRUOrLFU``): the one that fits the
        policy is applied, the other ignored; -1 for none."""
        if self.access == ACCESS_LFU:
            if freq >= 0:
                self.lru[key] = (self.host.now_ms // 60000 & 65535) << 8 | freq
        elif idle_seconds >= 0:
            self.lru[key] = self.host.now_ms - idle_seconds * 1000

    def set_access(self, access: int) -> None:
        """Switch what the lru fields hold. Between the two LRU kinds (both ms) the
        fields stay; between LRU and LFU they are reinterpreted as Redis, which keeps
        its 24 bits, reads them: the LRU clock's seconds as ``ldt << 8 | counter``,
        or those bits as an LRU clock value (converted to the ms that give Redis's
        idle time). O(n) on a switch to or from LFU."""
        now = self.host.now_ms
        if (access == ACCESS_LFU) != (self.access == ACCESS_LFU):
            if access == ACCESS_LFU:
                self.lru = {key: (field // 1000) & LRU_CLOCK_MAX for key, field in self.lru.items()}
            else:
                self.lru = {key: now - lru_idle_seconds(field * 1000, now) * 1000
                            for key, field in self.lru.items()}
        self.access = access

    def read(self, key: bytes) -> Any:
        """``lookupKeyRead``: ``lookup`` for a read command, which counts a keyspace
        hit or miss, and a miss emits ``keymiss`` (without touching WATCH)."""
        value = self.lookup(key)
        self.host.count_read(self.index, key, value is not None)
        return value

    def read_notouch(self, key: bytes) -> Any:
        """``read`` with ``LOOKUP_NOTOUCH`` (EXISTS, TYPE, TTL)."""
        value = self.peek(key)
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
        """Create ``key`` (it must be absent): emits ``new``, like Redis ``dbAdd``.

        A string is costed here; a container when its first change is notified."""
        if self.expires and key in self.expires:
            # a key expired while a pause holds expiry (reads see it gone): the new
            # value replaces it, with no TTL of its own
            self.delete(key)
        self.data[key] = value
        if self.sampling and (self.exempt is None or not self.exempt(key)):
            self._order.append(key)
        host = self.host
        access = self.access  # a new object's lru field (createObject): now, or LFU_INIT_VAL now
        if not access:
            self.lru[key] = host.lru_clock
        else:
            self.lru[key] = host.now_ms if access == ACCESS_LRU else (
                (host.now_ms // 60000 & 65535) << 8 | LFU_INIT_VAL)
        if type(value) is bytes:
            self.account.dataset += _STRING_BASE + len(key) + len(value)  # string_cost, inline
        if host.notify_flags:
            self.host.notify(NotifyClass.NEW, b"new", key, self.index)

    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        """Create or overwrite ``key`` (``setKey``); drops its TTL unless ``keep_ttl``."""
        old = self.data.get(key)
        if old is None:
            self.add(key, value)
        else:
            self.data[key] = value
            self._uncount(key, old)
            self._count(key, value)
            if self.encodings:  # (a mark of the old value must not keep it alive)
                self.encodings.pop(key, None)
            if self.access != ACCESS_LFU:  # a new object: now (LFU keeps the field, as dbOverwrite)
                self.touch(key)
            if not keep_ttl and self.expires and self.expires.pop(key, None) is not None:
                self.account.dataset -= EXPIRE_COST
            if type(old) is Stream:
                # XREADGROUP clients blocked on it get "-UNBLOCKED" (Redis's dbSetValue)
                self.host.signal_ready(self.index, key)

    def replace(self, key: bytes, value: Any) -> None:
        """Overwrite the value of an existing key in place, keeping its TTL."""
        old = self.data[key]
        self.data[key] = value
        if type(old) is bytes and type(value) is bytes:  # the common case, inline
            self.account.dataset += len(value) - len(old)
        else:
            self._uncount(key, old)
            self._count(key, value)
            if self.encodings:
                self.encodings.pop(key, None)

    def delete(self, key: bytes) -> bool:
        """Remove ``key`` with no notification (the caller emits its own event)."""
        value = self.data.pop(key, None)
        if value is None:
            return False
        if type(value) is bytes:  # _uncount inline (DEL, and every eviction)
            self.account.dataset -= _STRING_BASE + len(key) + len(value)
        else:
            self._uncount(key, value)
        self.lru.pop(key, None)
        if self.expires and self.expires.pop(key, None) is not None:
            self.account.dataset -= EXPIRE_COST
        if self.encodings:
            self.encodings.pop(key, None)
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
        """Record a modification: the change count (propagation), the key's cost
        (a container changed in place), WATCH invalidation, then the keyspace event."""
        host = self.host
        host.changes += 1
        # Strings are costed where they are stored. A container is re-costed at its
        # first change, then at one change in 16 (by the change counter): re-costing
        # at each HSET/LPUSH/ZADD cost them 25% of their time; its cost so lags by a
        # few changes, and delete takes back exactly what was counted (no drift).
        if cls is not _STRING and (not host.changes & 15 or key not in self.sizes):
            value = self.data.get(key)
            if value is not None and type(value) is not bytes:
                self._recount(key, value)
        if self.watched:
            self.host.touch_watched(self.index, key)
        if self.host.notify_flags:
            self.host.notify(cls, event, key, self.index)

    # ---------------------------------------------------------- accounting

    def _recount(self, key: bytes, value: Any) -> None:
        """Re-cost a container after an in-place change: O(1) (see broker.memcost)."""
        elements = self.elements
        element = elements.get(key)
        size = len(value)
        if element is None or not size & (size - 1):  # first time, or length at a power of two
            element = elements[key] = element_cost(value)
        cost = _CONTAINER_BASE + len(key) + size * element  # container_cost, inline
        old = self.sizes.get(key, 0)
        if cost != old:
            self.sizes[key] = cost
            self.account.dataset += cost - old

    def _count(self, key: bytes, value: Any) -> None:
        if type(value) is bytes:
            self.account.dataset += string_cost(key, value)
        else:
            self.elements.pop(key, None)
            self._recount(key, value)

    def _uncount(self, key: bytes, value: Any) -> None:
        if type(value) is bytes:
            self.account.dataset -= string_cost(key, value)
        else:
            self.account.dataset -= self.sizes.pop(key, 0)
            self.elements.pop(key, None)

    def cost(self) -> int:
        """What this db's keys cost, computed afresh: O(n) (FLUSHDB, loads)."""
        total = sum(self.sizes.values()) + EXPIRE_COST * len(self.expires)
        for key, value in self.data.items():
            if type(value) is bytes:
                total += string_cost(key, value)
        return total

    def loaded(self) -> None:
        """``data`` was filled in bulk after ``flush`` (an RDB load; TTLs through
        ``set_expire``): count every key; each counts as accessed now, as Redis's
        loaded objects do. O(n)."""
        self.access_since_ms = self.host.now_ms
        self.lru = dict.fromkeys(self.data, self.access_field(b"") if self.access else self.host.lru_clock)
        self._order = self.evictable_keys() if self.sampling else []
        account = self.account
        for key, value in self.data.items():
            if type(value) is bytes:
                account.dataset += string_cost(key, value)
            else:
                self._recount(key, value)

    # ------------------------------------------------------------ sampling

    def sample_keys(self, count: int) -> list[bytes]:
        """Up to ``count`` live keys picked at random (``dictGetSomeKeys``), for
        eviction. Ghosts (deleted keys) in the sampling list are skipped; the list
        is rebuilt when they outnumber the live keys. Expired keys may be picked."""
        order = self.sample_list()
        data = self.data
        if not order:
            return []
        # random() and a comprehension: random.randrange per key was most of an eviction
        rand = random.random
        size = len(order)
        picked = [key for key in [order[int(rand() * size)] for _ in range(count * 2)] if key in data]
        if len(picked) < count:
            picked += [key for key in [order[int(rand() * size)] for _ in range(count * 4)] if key in data]
        return picked[:count]

    def sample_list(self, tight: bool = False) -> list[bytes]:
        """The sampling list, rebuilt once ghosts pass half of the keys, or an
        eighth when ``tight`` (allkeys-lru's bulk sampling: at C speed a rebuild is
        ~5 ns a key, less than the sampled ghosts cost, a cache miss each) unless
        there are exempt keys (a Python call per key)."""
        order = self._order
        data = self.data
        if len(order) > len(data) + (len(data) >> (3 if tight and self.exempt is None else 1)) + 64:
            order = self._order = self.evictable_keys()
        return order

    def evictable_keys(self) -> list[bytes]:
        """The sampling list afresh: every key but the exempt ones. O(n)."""
        exempt = self.exempt
        return list(self.data) if exempt is None else [key for key in self.data if not exempt(key)]

    def sample_volatile(self, count: int) -> list[tuple[bytes, int]]:
        """Up to ``count`` (key, deadline) of keys with a TTL, picked at random from
        the deadline heap (stale entries skipped)."""
        heap = self._deadlines
        expires = self.expires
        if len(heap) > 2 * len(expires) + 1024:
            heap = self._deadlines = [(d, k) for k, d in expires.items()]
            heapq.heapify(heap)
        picked: list[tuple[bytes, int]] = []
        if not heap:
            return picked
        rand = random.randrange
        size = len(heap)
        for _ in range(count * 4):
            deadline, key = heap[rand(size)]
            if expires.get(key) == deadline:
                picked.append((key, deadline))
                if len(picked) == count:
                    break
        return picked

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
        self.account.dataset -= self.cost()
        old = [self.data, self.expires, self._deadlines,
               Bookkeeping([self.sizes, self.elements, self.lru, self._order])]
        self.data, self.expires, self._deadlines, self.encodings = {}, {}, [], {}
        self.sizes, self.elements, self.lru, self._order = {}, {}, {}, []
        return old

    def swap_contents(self, other: "Keyspace") -> None:
        """SWAPDB: exchange keys, values and deadlines with ``other``; each keeps its
        index and WATCH counts, since clients stay in the db they selected."""
        self.data, other.data = other.data, self.data
        self.expires, other.expires = other.expires, self.expires
        self._deadlines, other._deadlines = other._deadlines, self._deadlines
        self.sizes, other.sizes = other.sizes, self.sizes
        self.elements, other.elements = other.elements, self.elements
        self.lru, other.lru = other.lru, self.lru
        self._order, other._order = other._order, self._order
        self.encodings, other.encodings = other.encodings, self.encodings

    # ----------------------------------------------------------------- TTL

    def set_expire(self, key: bytes, deadline_ms: int) -> None:
        if key not in self.expires:
            self.account.dataset += EXPIRE_COST
        self.expires[key] = deadline_ms
        heapq.heappush(self._deadlines, (deadline_ms, key))

    def persist(self, key: bytes) -> bool:
        if self.expires.pop(key, None) is None:
            return False
        self.account.dataset -= EXPIRE_COST
        return True

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
