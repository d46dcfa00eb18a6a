"""broker.lazyfree: what FLUSHALL dropped is freed in bounded slices (issue 13 item 10)."""

from __future__ import annotations

from collections import deque

from broker.core import Broker
from broker.lazyfree import SMALL, LazyFree
from broker.resp import OK
from tests.support.core import FakeClient, run


def test_small_containers_are_not_queued():
    lazy = LazyFree()
    lazy.drop({i: i for i in range(SMALL)})
    lazy.drop(b"a string value")
    assert lazy.pending == 0 and not lazy.queue


def test_a_big_dict_is_freed_in_slices_of_the_budget():
    lazy = LazyFree()
    data = {i: b"x" for i in range(50_000)}
    lazy.drop(data)
    assert lazy.pending == 50_000
    assert lazy.free(20_000) == 30_000 and len(data) == 30_000
    assert lazy.free(20_000) == 10_000
    assert lazy.free(20_000) == 0 and not data and not lazy.queue


def test_big_values_inside_are_queued_too():
    lazy = LazyFree()
    big_hash = {i: b"v" for i in range(10_000)}
    big_list = deque(range(10_000))
    data = {i: b"x" for i in range(SMALL)} | {b"h": big_hash, b"l": big_list}
    expires = list(range(5000))
    lazy.drop(data)
    lazy.drop(expires)
    freed = []
    while lazy.pending:
        before = lazy.pending
        lazy.free(1000)
        freed.append(before - lazy.pending)
    # Each slice frees at most the budget, even where a value was itself big.
    assert max(freed) <= 1000 and not big_hash and not big_list and not expires and not data


def test_flushall_empties_at_once_and_frees_later(broker: Broker, client: FakeClient) -> None:
    for start in range(0, 20_000, 1000):
        run(broker, client, "MSET", *[str(i) for k in range(start, start + 1000) for i in (k, k)])
    run(broker, client, "EXPIRE", "1", "100")
    assert run(broker, client, "FLUSHALL") == OK
    assert run(broker, client, "DBSIZE") == 0 and run(broker, client, "GET", "1") is None
    assert broker.lazyfree.pending == 20_000
    assert "lazyfree_pending_objects:20000" in run(broker, client, "INFO", "memory")
    while broker.lazyfree.free(5000):
        pass
    assert broker.lazyfree.pending == 0 and not broker.lazyfree.queue


class _Counted(bytes):
    """A bytes value that counts its own deallocation (the work a slice does)."""

    freed = 0

    def __del__(self) -> None:
        _Counted.freed += 1


def _slices(lazy: LazyFree, budget: int) -> list[int]:
    """Free everything; the objects each ``free`` call deallocated."""
    work = []
    while lazy.pending:
        before = _Counted.freed
        lazy.free(budget)
        work.append(_Counted.freed - before)
    return work


def test_big_sorted_sets_streams_and_lists_are_freed_in_slices(broker: Broker, client: FakeClient) -> None:
    # Keys of every big type, filled through the commands, plus many small sorted
    # sets (each freed in place by the slice that pops it).
    for start in range(0, 50_000, 1000):
        run(broker, client, "ZADD", "z", *[str(v) for k in range(start, start + 1000) for v in (k, f"m{k}")])
        run(broker, client, "RPUSH", "l", *[f"e{k}" for k in range(start, start + 1000)])
    for start in range(0, 30_000, 1000):
        for k in range(start, start + 1000):
            run(broker, client, "XADD", "s", f"{k + 1}-0", "f", f"v{k}", "g", "w")
    for index in range(2000):
        run(broker, client, "ZADD", f"small{index}", *[str(v) for k in range(100) for v in (k, f"m{k}")])
    keyspace = broker.dbs[0]
    # Count deallocations: the members, list elements and stream values become counted bytes.
    zset, stream, items = keyspace.data[b"z"], keyspace.data[b"s"], keyspace.data[b"l"]
    for member in list(zset.scores):
        zset.scores[_Counted(member)] = zset.scores.pop(member)
    for position in range(len(items)):
        items[position] = _Counted(items[position])
    for fields in stream.values:
        fields[1] = _Counted(fields[1])
    counted = len(zset) + len(items) + len(stream)
    del zset, stream, items, fields  # (the loop variable holds the last entry)
    _Counted.freed = 0
    assert run(broker, client, "FLUSHALL") == OK
    assert run(broker, client, "DBSIZE") == 0
    assert _Counted.freed == 0  # nothing freed by the command itself
    lazy = broker.lazyfree
    # Queued: the keyspace (2,003 keys), the sorted set's dict and order (2 x 50,000),
    # the list (50,000), the stream's ids and values (2 x 30,000).
    work = _slices(lazy, 5000)
    assert _Counted.freed == counted and not lazy.queue and lazy.pending == 0
    # No slice freed more than its budget of counted objects, and the broker's own
    # measure of a slice (every item it let go of, small values' items included)
    # stays within budget + SMALL.
    assert max(work) <= 5000 and len(work) >= counted // 5000
    assert 5000 <= lazy.max_slice <= 5000 + SMALL


def test_a_keyspace_of_small_sorted_sets_charges_their_size() -> None:
    # 2,000 keys of 1,000-member sorted sets: a slice of 20,000 keys used to free
    # 20M members at once; now it stops once their members reach the budget.
    from broker.zset import ZSet

    lazy = LazyFree()
    data = {b"k%d" % key: ZSet((_Counted(b"m%d" % i), float(i)) for i in range(1000)) for key in range(SMALL + 1)}
    total = len(data) * 1000
    _Counted.freed = 0
    lazy.drop(data)
    work = _slices(lazy, 20_000)
    assert _Counted.freed == total
    # 20,000 budget / (1 + 2 x 1,000) per key: 10 keys a slice, 10,000 members.
    assert max(work) <= 20_000 and len(work) >= total // 20_000
    assert lazy.max_slice <= 20_000 + SMALL


def test_a_big_stream_inside_a_small_keyspace_is_still_sliced() -> None:
    from broker.stream import Stream

    lazy = LazyFree()
    stream = Stream()
    stream.ids = [(k, 0) for k in range(40_000)]
    stream.values = [[b"f", _Counted(b"v%d" % k)] for k in range(40_000)]
    data = {b"s": stream, b"x": b"1"}  # a small keyspace: queued for the stream in it
    del stream
    _Counted.freed = 0
    lazy.drop_keyspace([data, {}, []])
    del data
    assert lazy.pending == 2 and _Counted.freed == 0
    work = _slices(lazy, 1000)
    assert _Counted.freed == 40_000 and max(work) <= 1000
