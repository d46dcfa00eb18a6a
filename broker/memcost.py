"""What a key costs in this process's memory, estimated cheaply enough to be kept
up to date on every write (``used_memory``, and ``maxmemory`` eviction).

A key's cost is its name, its value, and its share of the keyspace's own tables
(``Keyspace.data``, the LRU/LFU field in ``Keyspace.lru``, the sampling list) as
CPython 3 on 64 bits lays them out. Constants are CPython's object sizes, measured
with ``sys.getsizeof`` and rounded up to pymalloc's 16-byte size classes; the
per-key table share (``KEY_OVERHEAD``) was calibrated against RSS growth (see
README, "Memory accounting").

- A string costs exactly what its two ``bytes`` objects and table slots cost:
  ``string_cost`` is arithmetic on two lengths, no call.
- A container (hash, set, list, sorted set, stream) costs its length times the
  cost of one element, its share of the table included. The element is sampled (the first, or the newest stream entry) when the key is first
  costed and again whenever its length reaches a power of two, so re-costing after
  an in-place change is O(1); ``Keyspace.notify`` re-costs at a container's first
  change and then at one change in 16. It is an approximation: a container whose elements
  vary a lot in size, or whose old elements grow (HSET of a longer value into an
  existing field) is off until its length next doubles.
- A TTL adds ``EXPIRE_COST``: its ``expires`` slot, the deadline ``int`` and the
  deadline heap's tuple.
"""

from __future__ import annotations

import sys
from collections import deque
from typing import Any

from broker.stream import Stream
from broker.zset import ZSet

__all__ = ["CONTAINER_BASE", "EXPIRE_COST", "KEY_OVERHEAD", "MemoryAccount", "STRING_BASE", "element_cost",
           "string_cost"]

# A key's share of the keyspace's tables: its ``data`` and ``lru`` dict entries
# (hash, key, value: 24 bytes each, at dicts' 1/2..2/3 load: ~48), a slot in the
# sampling list (8, twice while ghosts wait for compaction) and the index bytes.
KEY_OVERHEAD = 112
# bytes object header (33, ob_sval's terminating NUL included) rounded with the
# average pymalloc padding (7.5), for the key's and the value's objects
_BYTES_HEADER = 41
STRING_BASE = KEY_OVERHEAD + 2 * _BYTES_HEADER
# expires entry (~48), the deadline int (32), the heap's (deadline, key) tuple (64), its slot,
# and the heap's stale entries until compaction (calibrated: 200k keys with EX)
EXPIRE_COST = 224
# a container key: its name, the container object's own header (a dict's, a
# ZSet's two structures ...), its entries in Keyspace.sizes and Keyspace.elements
CONTAINER_BASE = KEY_OVERHEAD + _BYTES_HEADER + 200 + 2 * (48 + 32)
# per element of a dict (24-byte entry at ~3/4 of 2/3 load, and its index) and of a set
_DICT_SLOT = 40
_SET_SLOT = 36
_getsizeof = sys.getsizeof


def _obj(size: int) -> int:
    """Bytes pymalloc hands out for an object of ``size`` bytes (16-byte classes)."""
    return (size + 15) & ~15


def string_cost(key: bytes, value: bytes) -> int:
    """Cost of a string key (``value`` is the stored ``bytes``)."""
    return STRING_BASE + len(key) + len(value)


def element_cost(value: Any) -> int:
    """Bytes one element of a container costs, its share of the table included
    (tables at their average load: CPython grows them by doubling), from one sample."""
    kind = type(value)
    if not len(value):  # (an empty stream is still true: Stream.__bool__)
        return 0
    if kind is dict:  # field and value objects; an entry (24 bytes) and index slots
        field, item = next(iter(value.items()))
        return _obj(_getsizeof(field)) + _obj(_getsizeof(item)) + _DICT_SLOT
    if kind is set:  # the member; an entry (16 bytes) at sets' lower load
        return _obj(_getsizeof(next(iter(value)))) + _SET_SLOT
    if kind is deque:  # the item; a pointer in a 64-slot block
        return _obj(_getsizeof(value[0])) + 9
    if kind is ZSet:
        # the member and its float in ``scores``, the order key (the member and 9
        # bytes) in the SortedList with its slot and index share
        member = next(iter(value.scores))
        return 2 * _obj(_getsizeof(member)) + _DICT_SLOT + 24 + 12
    if kind is Stream:
        # the id tuple of two ints (64 + 2 * 32), two list slots, the field list
        fields = value.values[-1]
        return 128 + 18 + _obj(_getsizeof(fields)) + sum(_obj(_getsizeof(item)) for item in fields)
    return _obj(_getsizeof(value)) // max(len(value), 1)


class MemoryAccount:
    """The broker's memory as ``used_memory`` reports it and ``maxmemory`` limits it.

    Attributes:
        dataset: bytes of every key of every db, kept up to date by the keyspaces
            on each write (Redis's dataset, ``used_memory_dataset``).
        startup: the broker's own structures with an empty dataset, fixed.
        clients: connections' buffers and state, refreshed by the cron (100 ms).
        peak: the highest ``used`` seen by INFO or the cron.
    """

    __slots__ = ("dataset", "startup", "clients", "peak")

    # What an empty broker holds beyond the interpreter: the command table, 16
    # keyspaces, config, scripting (Redis reports ~0.9 MB at start-up).
    STARTUP = 1 << 20
    # Per connection, beyond its output buffer: the protocol object, parser,
    # transport and client state (Redis: ~20 KB with its query buffer).
    CLIENT_OVERHEAD = 8 << 10

    def __init__(self) -> None:
        self.dataset = 0
        self.startup = self.STARTUP
        self.clients = 0
        self.peak = 0

    @property
    def used(self) -> int:
        used = self.startup + self.dataset + self.clients
        if used > self.peak:
            self.peak = used
        return used
