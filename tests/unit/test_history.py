"""History reads and the recovery lookup over the in-process backend (no sockets)."""

from __future__ import annotations

from broker.backends.memory import MemoryBackend
from broker.core import Broker
from gateway import history
from gateway.channels import ChannelOptions
from tests.support.core import Clock

OPTIONS = ChannelOptions(history_size=100, history_ttl=60)


async def _backend(clock: Clock) -> MemoryBackend:
    backend = MemoryBackend(Broker(clock=clock))
    await backend.start()
    return backend


async def test_missed_is_exactly_what_came_after_the_offset():
    clock = Clock()
    backend = await _backend(clock)
    for n in range(10):
        offset, epoch = await backend.history_publish(b"c", b"%d" % n, 100, 60_000)
    page = await history.missed(backend, "c", OPTIONS, int(clock.now * 1000), 4, epoch)
    assert page.complete and (page.offset, page.epoch) == (10, epoch)
    assert [(entry.offset, entry.data) for entry in page.entries] == [(n, b"%d" % (n - 1)) for n in range(5, 11)]
    up_to_date = await history.missed(backend, "c", OPTIONS, int(clock.now * 1000), 10, epoch)
    assert up_to_date.complete and up_to_date.entries == []


async def test_messages_older_than_the_ttl_count_as_trimmed():
    clock = Clock()
    backend = await _backend(clock)
    _, epoch = await backend.history_publish(b"c", b"old", 100, 600_000)
    clock.now += 61  # the channel keeps 60 s, the key itself lives longer
    await backend.history_publish(b"c", b"new", 100, 600_000)
    now = int(clock.now * 1000)
    assert not (await history.missed(backend, "c", OPTIONS, now, 0, epoch)).complete
    assert (await history.missed(backend, "c", OPTIONS, now, 1, epoch)).complete
    page = await history.read(backend, "c", OPTIONS, now)
    assert [entry.data for entry in page.entries] == [b"new"]


async def test_unknown_epoch_or_future_offset_is_not_recovered():
    clock = Clock()
    backend = await _backend(clock)
    _, epoch = await backend.history_publish(b"c", b"x", 100, 60_000)
    now = int(clock.now * 1000)
    assert not (await history.missed(backend, "c", OPTIONS, now, 0, "other")).complete
    assert not (await history.missed(backend, "c", OPTIONS, now, 5, epoch)).complete
    nothing = await history.missed(backend, "none", OPTIONS, now, 0, "")
    assert nothing.complete and (nothing.offset, nothing.epoch) == (0, "")


def test_pages_encode_stored_data_as_json():
    page = history.HistoryPage(2, "e", [history.Entry(1, b'{"a":1}', 5), history.Entry(2, b"not json", 6)])
    assert history.encode_page({"ok": True}, page) == (
        b'{"ok":true,"offset":2,"epoch":"e","messages":[{"offset":1,"time":5,"data":{"a":1}},'
        b'{"offset":2,"time":6,"data":"not json"}]}')


async def _read_all(backend: MemoryBackend, page: history.HistoryPage) -> tuple[list[int], list[int]]:
    """Offsets of the first batch and of everything ``more`` reads after it, and the batch sizes."""
    offsets = [entry.offset for entry in page.entries]
    sizes = [len(page.entries)]
    while page.next_offset:
        batch = await history.more(backend, "c", page)
        offsets += [entry.offset for entry in batch]
        sizes.append(len(batch))
    return offsets, sizes


async def test_a_recovery_in_batches_reads_about_batch_bytes_at_a_time():
    clock = Clock()
    backend = await _backend(clock)
    for n in range(90):
        offset, epoch = await backend.history_publish(b"c", b"x" * 1000, 100, 60_000)
    now = int(clock.now * 1000)
    page = await history.missed(backend, "c", OPTIONS, now, 3, epoch, batch_bytes=5000)
    assert page.complete and page.offset == 90 and page.next_offset == 4 + len(page.entries)
    assert [entry.offset for entry in page.entries] == list(range(4, 4 + history.FIRST_REMOTE_BATCH))
    offsets, sizes = await _read_all(backend, page)
    assert offsets == list(range(4, 91)) and page.lost_from == 0
    # After the first batch: 5,000 bytes of 1,000-byte messages, one over (the last, short).
    assert set(sizes[1:-1]) == {6} and 1 <= sizes[-1] <= 6
    # Read all at once, as before, without batch_bytes.
    whole = await history.missed(backend, "c", OPTIONS, now, 3, epoch)
    assert [entry.offset for entry in whole.entries] == list(range(4, 91)) and whole.next_offset == 0


async def test_messages_trimmed_between_batches_are_reported_lost():
    clock = Clock()
    backend = await _backend(clock)
    for n in range(50):
        _, epoch = await backend.history_publish(b"c", b"y" * 100, 100, 60_000)
    now = int(clock.now * 1000)
    page = await history.missed(backend, "c", OPTIONS, now, 0, epoch, batch_bytes=500)
    assert page.complete and page.next_offset
    first = [entry.offset for entry in page.entries]
    # While the client reads slowly, 300 more messages push the old ones out.
    for n in range(300):
        await backend.history_publish(b"c", b"z", 100, 60_000)
    assert await history.more(backend, "c", page) == []
    assert page.lost_from == first[-1] + 1 and page.next_offset == 0


async def test_a_new_epoch_between_batches_is_reported_lost():
    clock = Clock()
    backend = await _backend(clock)
    for n in range(50):
        _, epoch = await backend.history_publish(b"c", b"y" * 100, 100, 60_000)
    now = int(clock.now * 1000)
    page = await history.missed(backend, "c", OPTIONS, now, 0, epoch, batch_bytes=500)
    await backend.execute("FLUSHALL")
    clock.now += 1  # the new epoch's id comes from the clock
    for n in range(50):
        _, new_epoch = await backend.history_publish(b"c", b"n", 100, 60_000)
    assert new_epoch != epoch
    assert await history.more(backend, "c", page) == [] and page.lost_from == len(page.entries) + 1
