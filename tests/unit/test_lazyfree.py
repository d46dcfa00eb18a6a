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
