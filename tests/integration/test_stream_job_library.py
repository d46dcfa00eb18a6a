"""A real stream-based job library on the embedded broker and on redis-server: FastStream.

FastStream's Redis subscriber with a consumer group creates the group (XGROUP
CREATE MKSTREAM), reads new jobs (XREADGROUP ``>``), acknowledges them (XACK), and a
subscriber with ``min_idle_time`` reclaims what a crashed worker left pending
(XAUTOCLAIM), which is how a service recovers jobs. Nothing here is mocked: the
library talks RESP to the server through redis-py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faststream import AckPolicy
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisStreamMessage

from tests.support.resp_client import RespClient

JOBS = 40
# a job that "crashes" its first worker: it stays pending until the reaper claims it
CRASHING = {3, 13, 27}


async def run_jobs(port: int) -> dict[int, list[str]]:
    broker = RedisBroker(f"redis://127.0.0.1:{port}")
    done: dict[int, list[str]] = {}
    crashed: set[int] = set()
    finished = asyncio.Event()

    async def complete(job: dict[str, Any], message: Any, worker: str) -> None:
        await message.ack()  # XACK, then the job counts as done
        done.setdefault(job["n"], []).append(worker)
        if len(done) == JOBS:
            finished.set()

    @broker.subscriber(stream=StreamSub("jobs", group="workers", consumer="w1", polling_interval=50),
                       ack_policy=AckPolicy.MANUAL)
    async def work(job: dict[str, Any], message: RedisStreamMessage) -> None:
        if job["n"] in CRASHING and job["n"] not in crashed:
            crashed.add(job["n"])
            raise RuntimeError("worker crashed mid-job")  # no XACK: the entry stays pending
        await complete(job, message, "w1")

    @broker.subscriber(stream=StreamSub("jobs", group="workers", consumer="reaper", min_idle_time=200,
                                        polling_interval=50),
                       ack_policy=AckPolicy.MANUAL)
    async def reap(job: dict[str, Any], message: RedisStreamMessage) -> None:
        await complete(job, message, "reaper")

    async with broker:
        await broker.start()
        for n in range(JOBS):
            await broker.publish({"n": n}, stream="jobs")
        await asyncio.wait_for(finished.wait(), timeout=30)
    return done


@pytest.mark.parametrize("server", ["redis-server", "fanout"])
def test_faststream_jobs_complete_and_crashed_ones_are_reclaimed(redis_server, fanout_broker, server):
    port = (redis_server if server == "redis-server" else fanout_broker).port
    with RespClient(port) as admin:
        admin.call("FLUSHALL")
    done = asyncio.run(run_jobs(port))
    assert sorted(done) == list(range(JOBS))
    assert all(len(workers) == 1 for workers in done.values())  # each job completed once
    assert {n for n, workers in done.items() if workers == ["reaper"]} == CRASHING
    with RespClient(port) as admin:
        assert admin.call("XPENDING", "jobs", "workers")[0] == 0
        group = admin.call("XINFO", "GROUPS", "jobs")[0]
        info = dict(zip(group[::2], group[1::2]))
        assert info[b"entries-read"] == JOBS and info[b"lag"] == 0
        consumers = {c[1]: c[3] for c in admin.call("XINFO", "CONSUMERS", "jobs", "workers")}
        assert consumers == {b"reaper": 0, b"w1": 0}
