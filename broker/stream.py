"""The stream type: entries ordered by id (ms, seq), as Redis streams (sans-I/O).

Ids and field lists sit in two parallel Python lists, so a range lookup is a
bisect (O(log n)) and appends are O(1). Trimming from the head is O(trimmed) plus
a list move; deleting from the middle (XDEL) is O(n), acceptable for the history
use (append at the tail, trim at the head).

``groups`` holds the consumer groups (``broker.stream_groups``, whose docstring
describes the model): None until the first XGROUP CREATE, as Redis's ``cgroups``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from broker.stream_groups import ConsumerGroup

__all__ = ["Stream", "StreamId", "MAX_SEQ", "format_id"]

StreamId = tuple[int, int]
MAX_SEQ = 2**64 - 1
# Redis stores entries in radix-tree nodes of stream-node-max-entries (100) each;
# "~" trimming only removes whole nodes. Fresh, append-only streams fill nodes in
# order, so removing whole multiples of this from the head gives the same lengths.
NODE_ENTRIES = 100


def format_id(stream_id: StreamId) -> bytes:
    return b"%d-%d" % stream_id


class Stream:
    TYPE_NAME = b"stream"
    # OBJECT ENCODING (keys.encoding_of reads it): Redis has one encoding for streams
    encoding = b"stream"

    __slots__ = ("ids", "values", "last_id", "entries_added", "max_deleted_id", "trimmed_in_node", "groups")

    def __init__(self) -> None:
        self.ids: list[StreamId] = []
        self.values: list[list[bytes]] = []
        self.last_id: StreamId = (0, 0)
        self.entries_added = 0
        self.max_deleted_id: StreamId = (0, 0)
        # entries removed from the current head node by exact trimming or XDEL
        self.trimmed_in_node = 0
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

    def append(self, stream_id: StreamId, fields: list[bytes]) -> None:
        self.ids.append(stream_id)
        self.values.append(fields)
        self.last_id = stream_id
        self.entries_added += 1

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
        index = bisect_left(self.ids, stream_id)
        if index < len(self.ids) and self.ids[index] == stream_id:
            del self.ids[index]
            del self.values[index]
            if stream_id > self.max_deleted_id:
                self.max_deleted_id = stream_id
            return True
        return False

    def trim(self, maxlen: int | None = None, minid: StreamId | None = None, approximate: bool = False,
             limit: int | None = None) -> int:
        """Remove entries from the head; returns how many were removed."""
        if maxlen is not None:
            excess = len(self.ids) - maxlen
        else:
            assert minid is not None
            excess = bisect_left(self.ids, minid)
        if excess <= 0:
            return 0
        if approximate:
            # whole nodes only: what is left of the head node first, then full nodes;
            # when every entry is to go (MAXLEN ~ 0, a MINID past the last id) the last,
            # partial node goes too, as Redis's streamTrim removes every node then
            head = NODE_ENTRIES - self.trimmed_in_node
            if excess < len(self.ids):
                if excess < head:
                    return 0
                excess = head + (excess - head) // NODE_ENTRIES * NODE_ENTRIES
            if limit is not None and limit > 0:
                excess = min(excess, max(0, limit // NODE_ENTRIES * NODE_ENTRIES)) if limit >= head else 0
        elif limit is not None and limit > 0:
            excess = min(excess, limit)
        if excess <= 0:
            return 0
        # Trimming leaves max_deleted_id alone: only XDEL (and XSETID) move Redis's
        # max_deleted_entry_id (t_stream.c), which XINFO and an RDB file show.
        del self.ids[:excess]
        del self.values[:excess]
        self.trimmed_in_node = (self.trimmed_in_node + excess) % NODE_ENTRIES
        return excess

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
