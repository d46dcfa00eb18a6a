"""The in-process backend with appendfsync always: the gateway's acknowledgement of a
write (a publish's offset) comes only after the AOF has it on disk (issue 14)."""

from __future__ import annotations

import asyncio
import os

from broker.backends.memory import MemoryBackend
from broker.core import Broker
from broker.persistence.aof import AppendOnlyFile


def _incr_bytes(aof: AppendOnlyFile) -> bytes:
    with open(os.path.join(aof.dirname, aof.manifest.incrs[-1].name), "rb") as handle:
        return handle.read()


async def _backend(tmp_path, policy: str) -> tuple[MemoryBackend, AppendOnlyFile]:  # type: ignore[no-untyped-def]
    broker = Broker(config={"dir": str(tmp_path), "appendonly": "yes", "appendfsync": policy})
    aof = AppendOnlyFile(broker, asyncio.get_running_loop())
    aof.start()
    backend = MemoryBackend(broker)
    await backend.start()
    return backend, aof


async def test_history_publish_returns_after_the_fsync_of_its_records(tmp_path):
    backend, aof = await _backend(tmp_path, "always")
    offset, epoch = await backend.history_publish(b"chat:a", b"hello", 10, 60_000)
    assert offset == 1
    on_disk = _incr_bytes(aof)
    assert b"hello" in on_disk and epoch.encode() in on_disk
    assert aof.fsynced_incr_size == aof.incr_size == len(on_disk)
    assert not aof.holding
    added, first = await backend.presence_join(b"chat:a", "c1", "u1", b"{}")
    assert (added, first) == (True, True)
    assert b"presence:{chat:a}" in _incr_bytes(aof)
    await backend.close()
    aof.close()


async def test_with_everysec_the_call_does_not_wait_and_the_iteration_writes_it(tmp_path):
    backend, aof = await _backend(tmp_path, "everysec")
    await backend.execute("SET", "k", "v")
    assert not aof.holding
    assert b"$1\r\nk\r\n" not in _incr_bytes(aof)  # buffered until the end of the iteration
    # the end of this loop iteration: the AOF's before_sleep (scheduled first) runs first
    loop = asyncio.get_running_loop()
    next_iteration = loop.create_future()
    loop.call_soon(next_iteration.set_result, None)
    await next_iteration
    assert b"$1\r\nk\r\n" in _incr_bytes(aof)
    await backend.close()
    aof.close()
