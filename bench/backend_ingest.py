"""How fast one gateway node's RedisBackend takes pub/sub messages in, vs redis-py's own PubSub.

A node receives ONE backplane message per publish, whatever its number of
browsers, so this is the backplane's ceiling per node. ``redis-benchmark``
(core 1) publishes pipelined to one channel on redis-server and on our
``fanout broker`` (core 0); the subscriber under test runs in this process
(core 1 too, where the gateway would be) and reports messages/s and its own CPU
microseconds per message: RedisBackend (PubSubLink, handler per message) next
to redis-py's ``PubSub.get_message()`` loop. The publisher shares the
subscriber's core, so msgs/s is bounded by it; CPU per message is the figure.
Then the cost of a PUBLISH call from a node (one caller, and 50 concurrent
ones as when many browsers publish): RedisBackend's pipelined connection vs
redis-py's pooled client.

Usage: python bench/backend_ingest.py [--messages 200000] [--size 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import LOAD_CORE, start_ours, start_redis, stop, taskset  # noqa: E402
from broker.backends.redis import RedisBackend  # noqa: E402

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]


def _publisher(port: int, messages: int, size: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*taskset(LOAD_CORE), "redis-benchmark", "-p", str(port), "-n", str(messages), "-P", "32", "-c", "2",
         "-q", "PUBLISH", "bench", "x" * size], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _ours(port: int, messages: int, size: int) -> tuple[float, float]:
    backend = RedisBackend(f"redis://127.0.0.1:{port}/0")
    done = asyncio.Event()
    count = 0

    def handler(channel: bytes, data: bytes, pattern: bytes | None) -> None:
        nonlocal count
        count += 1
        if count == messages:
            done.set()

    backend.set_handler(handler)
    await backend.start()
    await backend.subscribe(b"bench")
    return await _measure(port, messages, size, done.wait, backend.close)


async def _redis_py(port: int, messages: int, size: int) -> tuple[float, float]:
    from redis.asyncio import Redis

    client = Redis(port=port)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe("bench")

    async def consume() -> None:
        count = 0
        while count < messages:
            if await pubsub.get_message(timeout=None) is not None:
                count += 1

    async def close() -> None:
        await pubsub.aclose()
        await client.aclose()

    return await _measure(port, messages, size, consume, close)


async def _measure(port: int, messages: int, size: int, wait: Callable[[], Awaitable[object]],
                   close: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    publisher = _publisher(port, messages, size)
    await wait()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    publisher.wait()
    await close()
    return messages / wall, cpu / messages * 1e6


async def _publish_cost(port: int, calls: int, concurrency: int, ours: bool) -> float:
    """CPU microseconds per PUBLISH call from this process (RedisBackend or redis-py's client)."""
    from redis.asyncio import Redis

    backend = RedisBackend(f"redis://127.0.0.1:{port}/0")
    client = Redis(port=port)
    if ours:
        await backend.start()
    publish = backend.publish if ours else client.publish

    async def worker() -> None:
        for _ in range(calls // concurrency):
            await publish(b"nobody", b"x" * 100)

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu = time.process_time() - cpu
    await backend.close()
    await client.aclose()
    return cpu / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=100)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {int(LOAD_CORE)})
    run = uvloop.run if uvloop is not None else asyncio.run
    servers = {"redis-server": start_redis(), "fanout broker": start_ours()}
    try:
        print(f"{'server':<14} {'subscriber':<18} {'msgs/s':>10} {'cpu us/msg':>11}")
        for name, (process, port) in servers.items():
            cpu_per_message = {}
            for label, subscriber in (("RedisBackend", _ours), ("redis-py PubSub", _redis_py)):
                rate, cpu = run(subscriber(port, args.messages, args.size))
                cpu_per_message[label] = cpu
                print(f"{name:<14} {label:<18} {rate:>10,.0f} {cpu:>11.2f}")
            ratio = cpu_per_message["redis-py PubSub"] / cpu_per_message["RedisBackend"]
            print(f"{name:<14} RedisBackend uses {ratio:.1f}x less CPU per message than redis-py PubSub")
        print(f"\n{'server':<14} {'publishers':>10} {'RedisBackend us':>16} {'redis-py us':>12}")
        for name, (process, port) in servers.items():
            for concurrency in (1, 50):
                ours = run(_publish_cost(port, 20_000, concurrency, True))
                theirs = run(_publish_cost(port, 20_000, concurrency, False))
                print(f"{name:<14} {concurrency:>10} {ours:>16.1f} {theirs:>12.1f}")
    finally:
        for process, _ in servers.values():
            stop(process)


if __name__ == "__main__":
    main()
