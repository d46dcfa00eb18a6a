"""The stream type: entries ordered by id (ms, seq), as Redis streams (sans-I/O).

Ids and field lists sit in two parallel Python lists, so a range lookup is a
bisect (O(log n)) and appends are O(1). Trimming from the head is O(trimmed) plus
a list move; deleting from the middle (XDEL) is O(n), acceptable for the history
use (append at the tail, trim at the head).

``groups`` holds the consumer groups (``broker.stream_groups``, whose docstring
describes the model): None until the first XGROUP CREATE, as Redis's ``cgroups``.
What reads a stream's bookkeeping for its groups (``lag``, ``estimate_distance``,
``range_has_tombstones``, ``sorted_groups``) is here, at the end: the groups'
module knows ids (``broker.stream_id``), never the stream that holds them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from broker.stream_groups import INVALID_ENTRIES_READ, ConsumerGroup
from broker.stream_id import MAX_SEQ, StreamId, format_id

__all__ = ["Stream", "StreamId", "MAX_SEQ", "estimate_distance", "format_id", "lag", "range_has_tombstones",
           "sorted_groups"]

_MAX_ID: StreamId = (2**64 - 1, MAX_SEQ)

# Redis's defaults of stream-node-max-entries / stream-node-max-bytes, and the
# listpack size cap (STREAM_LISTPACK_MAX_SIZE) a node never passes
NODE_ENTRIES = 100
NODE_BYTES = 4096
_LISTPACK_MAX = 1 << 30
_U64 = 1 << 64


# ------------------------------------------------------------ listpack sizes
# What lpBytes would say of a node, computed as Redis appends to it: each element
# is its encoding, its data and a back-length (listpack.c lpEncodeBacklen).

def _backlen(size: int) -> int:
    return 1 if size <= 127 else 2 if size < 16383 else 3 if size < 2097151 else 4 if size < 268435455 else 5


def _int_size(value: int) -> int:
    """An integer element (7-bit, 13, 16, 24, 32 or 64-bit encoding), back-length included."""
    if 0 <= value <= 127:
        return 2
    if -4096 <= value <= 4095:
        return 3
    if -32768 <= value <= 32767:
        return 4
    if -8388608 <= value <= 8388607:
        return 5
    if -2147483648 <= value <= 2147483647:
        return 6
    return 10


def _delta_size(a: int, b: int) -> int:
    # lpAppendInteger(a - b) with uint64 arithmetic read as int64
    delta = (a - b) % _U64
    return _int_size(delta - _U64 if delta >= 1 << 63 else delta)


def _str_size(text: bytes) -> int:
    """A string element: stored as an integer when it reads as one (lpStringToInt64)."""
    size = len(text)
    if size <= 20 and text and text[0] in _INTISH:
        try:
            number = int(text)
        except ValueError:
            number = None
        if number is not None and b"%d" % number == text and -(1 << 63) <= number < 1 << 63:
            return _int_size(number)
    if size < 64:
        return size + 2
    element = size + (2 if size < 4096 else 5)
    return element + _backlen(element)


_INTISH = frozenset(b"-0123456789")


class _Node:
    """One radix-tree node of Redis's stream: a listpack of entries, some of them
    only marked deleted (they still count towards stream-node-max-entries)."""

    __slots__ = ("live", "deleted", "fixed", "master", "fields", "last")

    def __init__(self, master: StreamId, fields: tuple[bytes, ...]) -> None:
        self.live = 0
        self.deleted = 0
        # lpBytes without the live/deleted counters (their size varies with them)
        self.fixed = 7 + _int_size(len(fields)) + sum(map(_str_size, fields)) + 2
        self.master = master
        self.fields = fields
        # the id of the last entry appended, deleted or not (MINID trimming reads it)
        self.last = master

    def bytes(self) -> int:
        return self.fixed + _int_size(self.live) + _int_size(self.deleted)


class Stream:
    TYPE_NAME = b"stream"
    # OBJECT ENCODING (keys.encoding_of reads it): Redis has one encoding for streams
    encoding = b"stream"

    __slots__ = ("ids", "values", "last_id", "entries_added", "max_deleted_id", "nodes", "groups")

    def __init__(self) -> None:
        self.ids: list[StreamId] = []
        self.values: list[list[bytes]] = []
        self.last_id: StreamId = (0, 0)
        self.entries_added = 0
        self.max_deleted_id: StreamId = (0, 0)
        # Redis's radix-tree nodes, head first: each covers the next ``live`` entries
        # of ``ids``; None until needed (a loaded stream gets them as appends made them)
        self.nodes: list[_Node] | None = []
        # name -> group; None until a group is created (most streams have none)
        self.groups: dict[bytes, ConsumerGroup] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def __bool__(self) -> bool:
        # An empty stream is still a key (unlike lists): never "empty" for deletion.
        return True

    def next_id(self, now_ms: int, ms: int | None = None) -> StreamId | None:
        """The id ``*`` (or ``ms-*``) gets; None if it cannot be above the last id."""
        last_ms, last_seq = self.last_id
        if ms is None:
            # streamNextID: the clock if it is past the last id, else the last id's
            # successor, which after sequence 2^64-1 is the next millisecond
            if now_ms > last_ms:
                return (now_ms, 0)
            if last_seq == MAX_SEQ:
                return (last_ms + 1, 0) if last_ms < MAX_SEQ else None
            return (last_ms, last_seq + 1)
        if ms == last_ms:
            if last_seq == MAX_SEQ:
                return None
            return (ms, last_seq + 1)
        if ms < last_ms:
            return None
        return (ms, 0)

    def append(self, stream_id: StreamId, fields: list[bytes], max_bytes: int = NODE_BYTES,
               max_entries: int = NODE_ENTRIES) -> None:
        """Add an entry at the tail, in the tail node or a new one as streamAppendItem
        decides (stream-node-max-bytes / stream-node-max-entries, 0: no limit)."""
        nodes = self.nodes
        if nodes is None or (not nodes and self.ids):
            nodes = self._rebuild_nodes(max_bytes, max_entries)
        node = nodes[-1] if nodes else None
        names = tuple(fields[0::2])
        if node is not None:
            if max_bytes <= 0 or max_bytes > _LISTPACK_MAX:
                max_bytes = _LISTPACK_MAX
            if node.bytes() + sum(map(len, fields)) >= max_bytes or (
                    max_entries and node.live + node.deleted >= max_entries):
                node = None
        if node is None:
            node = _Node(stream_id, names)
            nodes.append(node)
        same = names == node.fields
        master = node.master
        size = 2 + _delta_size(stream_id[0], master[0]) + _delta_size(stream_id[1], master[1])
        if same:
            size += sum(map(_str_size, fields[1::2])) + _int_size(len(names) + 3)
        else:
            size += _int_size(len(names)) + sum(map(_str_size, fields)) + _int_size(2 * len(names) + 4)
        node.fixed += size
        node.live += 1
        node.last = stream_id
        self.ids.append(stream_id)
        self.values.append(fields)
        self.last_id = stream_id
        self.entries_added += 1

    def node_list(self) -> list[_Node]:
        """The nodes, made first for entries that came without them (see append)."""
        nodes = self.nodes
        if nodes is None or (not nodes and self.ids):
            nodes = self._rebuild_nodes(NODE_BYTES, NODE_ENTRIES)
        return nodes

    def _rebuild_nodes(self, max_bytes: int, max_entries: int) -> list[_Node]:
        """Nodes for entries that came without them (an RDB load): as appending
        them one by one would have made them. O(n)."""
        ids, values = self.ids, self.values
        last_id, added = self.last_id, self.entries_added
        self.ids, self.values, self.nodes = [], [], []
        for stream_id, fields in zip(ids, values):
            self.append(stream_id, fields, max_bytes, max_entries)
        self.last_id, self.entries_added = last_id, added
        assert self.nodes is not None
        return self.nodes

    def range(self, start: StreamId, end: StreamId, count: int | None = None,
              reverse: bool = False) -> list[list[object]]:
        """Entries with start <= id <= end as [id, [field, value, ...]] replies."""
        low = bisect_left(self.ids, start)
        high = bisect_right(self.ids, end)
        if low >= high:
            return []
        indexes = range(high - 1, low - 1, -1) if reverse else range(low, high)
        out: list[list[object]] = []
        for index in indexes:
            if count is not None and len(out) >= count:
                break
            out.append([format_id(self.ids[index]), list(self.values[index])])
        return out

    def after(self, stream_id: StreamId, count: int | None = None) -> list[list[object]]:
        """Entries with id > ``stream_id`` (XREAD)."""
        low, stop = self.span_after(stream_id, count or 0)
        return [[format_id(self.ids[i]), list(self.values[i])] for i in range(low, stop)]

    def span_after(self, stream_id: StreamId, count: int = 0) -> tuple[int, int]:
        """Index range of the entries with id > ``stream_id``, at most ``count`` (0: all)."""
        low = bisect_right(self.ids, stream_id)
        stop = len(self.ids) if not count else min(len(self.ids), low + count)
        return low, stop

    def delete(self, stream_id: StreamId) -> bool:
        """XDEL of one id: the entry is marked deleted in its node; a node left with
        no live entry goes (streamIteratorRemoveEntry)."""
        index = bisect_left(self.ids, stream_id)
        if index < len(self.ids) and self.ids[index] == stream_id:
            del self.ids[index]
            del self.values[index]
            if self.nodes:
                nodes = self.nodes
                covered = 0
                for position, node in enumerate(nodes):
                    covered += node.live
                    if index < covered:
                        node.live -= 1
                        node.deleted += 1
                        if not node.live:
                            del nodes[position]
                        break
            if stream_id > self.max_deleted_id:
                self.max_deleted_id = stream_id
            return True
        return False

    def trim(self, maxlen: int | None = None, minid: StreamId | None = None, approximate: bool = False,
             limit: int | None = None) -> int:
        """Remove entries from the head as streamTrim does; returns how many went.

        Whole nodes go while the stream stays at or above ``maxlen`` (or while their
        last id is below ``minid``); then, unless ``approximate``, entries of the
        next node are marked deleted one by one. ``limit`` (0 or None: none) caps
        the entries removed, whole nodes only.
        """
        nodes = self.node_list()
        ids = self.ids
        removed = 0  # from the head of ids
        drop = 0  # whole nodes
        length = len(ids)
        for node in nodes:
            if maxlen is not None and length - removed <= maxlen:
                break
            entries = node.live
            if limit and removed + entries > limit:
                break
            if maxlen is not None:
                whole = length - removed - entries >= maxlen
            else:
                assert minid is not None
                whole = node.last < minid
            if whole:
                removed += entries
                drop += 1
                continue
            if approximate:
                break
            if maxlen is not None:
                within = min(entries, length - removed - maxlen)
            else:
                within = bisect_left(ids, minid, removed, removed + entries) - removed
            if within > 0:
                node.live -= within
                node.deleted += within
                removed += within
            break
        if drop:
            del nodes[:drop]
        if removed:
            # Trimming leaves max_deleted_id alone: only XDEL (and XSETID) move Redis's
            # max_deleted_entry_id (t_stream.c), which XINFO and an RDB file show.
            del ids[:removed]
            del self.values[:removed]
        return removed

    def entry(self, stream_id: StreamId) -> list[object] | None:
        """The entry ``stream_id`` as an [id, [field, value, ...]] reply, None if absent."""
        index = bisect_left(self.ids, stream_id)
        if index < len(self.ids) and self.ids[index] == stream_id:
            return [format_id(stream_id), list(self.values[index])]
        return None

    def contains(self, stream_id: StreamId) -> bool:
        index = bisect_left(self.ids, stream_id)
        return index < len(self.ids) and self.ids[index] == stream_id

    def last_valid_id(self) -> StreamId:
        """The id of the last entry still in the stream (``streamLastValidID``), 0-0 if empty."""
        return self.ids[-1] if self.ids else (0, 0)

    def first_id(self) -> StreamId:
        return self.ids[0] if self.ids else (0, 0)


def sorted_groups(stream: Stream) -> list[tuple[bytes, ConsumerGroup]]:
    """The stream's groups in Redis's order (rax: by name as raw bytes)."""
    groups = stream.groups
    if not groups:
        return []
    return sorted(groups.items())


# ------------------------------------------------------------------- lag


def range_has_tombstones(stream: Stream, start: StreamId | None, end: StreamId | None = None) -> bool:
    """``streamRangeHasTombstones``: can an XDEL'd id lie in [start, end]?"""
    deleted = stream.max_deleted_id
    if not len(stream) or deleted == (0, 0):
        return False
    if stream.first_id() > deleted:
        return False
    low = start if start is not None else (0, 0)
    high = end if end is not None else _MAX_ID
    return low <= deleted <= high


def estimate_distance(stream: Stream, stream_id: StreamId) -> int:
    """``streamEstimateDistanceFromFirstEverEntry``: the read counter of ``stream_id``.

    Returns:
        The number of entries ever added up to ``stream_id``, or -1 when it cannot
        be known (an id inside a stream that has tombstones, or in the future).
    """
    if not stream.entries_added:
        return 0
    if not len(stream) and stream_id <= stream.last_id:
        return stream.entries_added
    if stream_id == stream.last_id:
        return stream.entries_added
    if stream_id > stream.last_id:
        return INVALID_ENTRIES_READ
    first = stream.first_id()
    if stream.max_deleted_id == (0, 0) or stream.max_deleted_id < first:
        if stream_id < first:
            return stream.entries_added - len(stream)
        if stream_id == first:
            return stream.entries_added - len(stream) + 1
    return INVALID_ENTRIES_READ


def lag(stream: Stream, group: ConsumerGroup) -> int | None:
    """``streamReplyWithCGLag``: entries not yet delivered to the group, None if unknown."""
    if not stream.entries_added:
        return 0
    if group.entries_read != INVALID_ENTRIES_READ and not range_has_tombstones(stream, group.last_id):
        return stream.entries_added - group.entries_read
    entries_read = estimate_distance(stream, group.last_id)
    if entries_read != INVALID_ENTRIES_READ:
        return stream.entries_added - entries_read
    return None
