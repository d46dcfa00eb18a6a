"""Consumer groups over real sockets: worker processes drain a stream while producers
add to it, some are SIGKILLed, and their pending entries are reclaimed by XAUTOCLAIM.

The protocol's promise, checked on the embedded broker and on redis-server alike:
every entry is processed, none is lost, an entry is delivered as new (``>``) at
most once, and any repeat of an entry comes through a claim.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter

import pytest

from tests.support.resp_client import RespClient

JOBS_PER_PRODUCER = 600
PRODUCERS = 2
WORKERS = 4
EVENT_TIMEOUT_S = 20  # a BLPOP that waits longer than this means the drain stalled


def _spawn(port: int, name: str, mode: str = "work") -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.support.stream_worker", str(port), name, mode],
                            env=dict(os.environ), stdout=subprocess.DEVNULL)


def _produce(port: int, producer: int, ids: list[bytes]) -> None:
    with RespClient(port) as client:
        for n in range(JOBS_PER_PRODUCER):
            ids.append(client.call("XADD", "jobs", "*", "producer", producer, "n", n))


@pytest.mark.parametrize("server", ["redis-server", "fanout"])
def test_workers_drain_a_stream_through_crashes(redis_server, fanout_broker, server):
    port = (redis_server if server == "redis-server" else fanout_broker).port
    workers: list[subprocess.Popen[bytes]] = []
    with RespClient(port, timeout=EVENT_TIMEOUT_S + 10) as admin:
        admin.call("FLUSHALL")
        admin.call("XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM")
        try:
            # The victim takes the first 20 entries and dies holding 15 of them.
            seed = [admin.call("XADD", "jobs", "*", "seed", n) for n in range(20)]
            victim = _spawn(port, "victim", "victim")
            assert admin.call("BLPOP", "holding", EVENT_TIMEOUT_S) == [b"holding", b"victim"]
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            # Workers drain while the producers add.
            workers = [_spawn(port, f"w{n}") for n in range(WORKERS)]
            produced: list[list[bytes]] = [seed] + [[] for _ in range(PRODUCERS)]
            producers = [threading.Thread(target=_produce, args=(port, p, produced[p + 1])) for p in range(PRODUCERS)]
            for thread in producers:
                thread.start()
            seen: set[bytes] = set()
            events = 0
            killed = False
            for thread in producers:
                thread.join()
            expected = {entry_id for ids in produced for entry_id in ids}
            assert len(expected) == 20 + PRODUCERS * JOBS_PER_PRODUCER
            while True:
                popped = admin.call("BLPOP", "progress", EVENT_TIMEOUT_S)
                assert popped is not None, (f"stalled with {len(expected - seen)} entries unprocessed, pending "
                                            f"{admin.call('XPENDING', 'jobs', 'workers', '-', '+', '20')}")
                seen.add(popped[1])
                events += 1
                if events == 300 and not killed:
                    # a worker dies mid-stream, wherever it is; a fresh one takes its place
                    workers[0].send_signal(signal.SIGKILL)
                    workers[0].wait()
                    workers.append(_spawn(port, "w-late"))
                    killed = True
                # done when nothing is pending and every entry was processed (the record,
                # not the event: a worker killed between its XACK and its event sends none)
                if len(seen) >= len(expected) - 1 and admin.call("XPENDING", "jobs", "workers")[0] == 0:
                    done = {line.split()[0] for line in admin.call("LRANGE", "processed", "0", "-1")}
                    if done >= expected:
                        break
            admin.call("SET", "stop", "1")
            for worker in workers[1:]:
                assert worker.wait(timeout=EVENT_TIMEOUT_S) == 0
            records = [line.decode().split() for line in admin.call("LRANGE", "processed", "0", "-1")]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
    processed = Counter(entry_id for entry_id, _, _ in records)
    as_new = Counter(entry_id for entry_id, _, kind in records if kind == "new")
    claims = [(entry_id, worker) for entry_id, worker, kind in records if kind == "claim"]
    assert set(processed) == {entry_id.decode() for entry_id in expected}  # none lost
    assert max(as_new.values()) == 1  # ">" hands an entry out once
    for entry_id, times in processed.items():
        assert times == as_new[entry_id] + sum(1 for claimed, _ in claims if claimed == entry_id)
    # the victim's 15 pending entries came back through claims, by the surviving workers
    assert len(claims) >= 15 and all(worker != "victim" for _, worker in claims)
    victim_new = [entry_id for entry_id, worker, kind in records if worker == "victim"]
    assert len(victim_new) == 6 and processed[victim_new[5]] == 2  # the unacked one: a duplicate via claim
    with RespClient(port) as admin:
        group = admin.call("XINFO", "GROUPS", "jobs")[0]
        info = dict(zip(group[::2], group[1::2]))
        assert info[b"pending"] == 0 and info[b"lag"] == 0
        assert info[b"entries-read"] == 20 + PRODUCERS * JOBS_PER_PRODUCER
