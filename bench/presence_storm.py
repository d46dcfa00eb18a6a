"""Presence cost: a connect/join/leave storm with presence on vs off, side by side.

One `fanout serve` (pinned to core 0) with ``chat:*`` keeping presence. Two runs
of the same storm — N websocket clients connecting, subscribing, and closing, at
most C at a time — on ``chat:storm`` (presence: join + leave per connection) and on
``plain:storm`` (no presence). Meanwhile 50 connections subscribed to a third
channel receive 200 messages/s, and their publish-to-receive latency is recorded,
to show what the storm costs everyone else (that storm is paced, --pace, so the
load generator's own lag does not count). Reports connections/s (until the
server's presence count is back to 0), server CPU per connection, and latency
p50/p99, with the on/off ratios.

Usage: python bench/presence_storm.py [--connections 5000] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

import aiohttp
import orjson
import websockets

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import pin_load, start_serve, stop


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def storm(port: int, channel: str, total: int, concurrency: int, pace: float = 0.0) -> None:
    """``total`` connect+subscribe+close, ``concurrency`` at a time, at most ``pace`` starts/s (0: no limit)."""
    semaphore = asyncio.Semaphore(concurrency)
    url = f"ws://127.0.0.1:{port}/ws"
    started = time.perf_counter()

    async def one(n: int) -> None:
        if pace:
            await asyncio.sleep(max(0.0, started + n / pace - time.perf_counter()))
        async with semaphore:
            async with websockets.connect(url) as ws:
                await ws.send(orjson.dumps({"op": "subscribe", "channel": channel, "id": n}).decode())
                reply = orjson.loads(await ws.recv())
                assert reply.get("ok"), reply
        if n and n % 1000 == 0:
            print(f"  {channel}: {n}/{total} connections", flush=True)

    await asyncio.gather(*(one(n) for n in range(total)))


async def wait_presence_empty(port: int, channel: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(10_000):  # bounded: ~100 s
            async with http.get(f"http://127.0.0.1:{port}/api/presence/{channel}/stats") as response:
                if response.status != 200 or (await response.json())["connections"] == 0:
                    return
            await asyncio.sleep(0.01)
    raise RuntimeError(f"presence of {channel} did not drain")


async def latency_probe(port: int, stop_event: asyncio.Event, rate: float = 200.0) -> list[float]:
    """Latencies (s) of messages on an unrelated channel while ``stop_event`` is unset."""
    url = f"ws://127.0.0.1:{port}/ws"
    latencies: list[float] = []
    subscribers = [await websockets.connect(url) for _ in range(50)]
    for ws in subscribers:
        await ws.send('{"op":"subscribe","channel":"ticker:probe","id":1}')
        await ws.recv()

    async def receive(ws: Any) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if "data" in message:
                latencies.append(time.perf_counter() - message["data"]["t"])

    readers = [asyncio.ensure_future(receive(ws)) for ws in subscribers]
    async with websockets.connect(url) as publisher:
        while not stop_event.is_set():
            await publisher.send(orjson.dumps({"op": "publish", "channel": "ticker:probe",
                                               "data": {"t": time.perf_counter()}}).decode())
            await asyncio.sleep(1 / rate)
    await asyncio.sleep(0.2)
    for reader in readers:
        reader.cancel()
    for ws in subscribers:
        await ws.close()
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def measure(port: int, pid: int, channel: str, total: int, concurrency: int, pace: float) -> dict[str, float]:
    # 1. As fast as the load generator can: server CPU per connection is the figure
    #    that holds (the Python client is the bottleneck for connections/s).
    cpu_before, started = cpu_seconds(pid), time.perf_counter()
    await storm(port, channel, total, concurrency)
    if channel.startswith("chat:"):
        await wait_presence_empty(port, channel)
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    # 2. A paced storm (so the load generator is not saturated and its own lag does
    #    not count) while an unrelated channel is delivering.
    stop_event = asyncio.Event()
    probe = asyncio.ensure_future(latency_probe(port, stop_event))
    await asyncio.sleep(0.5)
    await storm(port, channel, min(total, int(pace * 5)), concurrency, pace)
    stop_event.set()
    latencies = await probe
    return {"conns_per_s": total / elapsed, "cpu_ms_per_conn": 1000 * cpu / total, "samples": len(latencies),
            "p50_ms": 1000 * percentile(latencies, 0.5), "p99_ms": 1000 * percentile(latencies, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--pace", type=float, default=150.0, help="connections/s of the paced storm (default 150)")
    args = parser.parse_args()
    pin_load()
    server, port = start_serve("--channel", "chat:*=presence", "--publish-rate", "1000", "--publish-burst", "1000")
    try:
        results = {}
        for label, channel in (("presence off", "plain:storm"), ("presence on", "chat:storm")):
            print(f"{label}: {args.connections} connect+subscribe+close, {args.concurrency} at a time", flush=True)
            results[label] = asyncio.run(measure(port, server.pid, channel, args.connections, args.concurrency,
                                                 args.pace))
    finally:
        stop(server)
    off, on = results["presence off"], results["presence on"]
    print(f"\n{'':14}{'conns/s':>10}{'CPU ms/conn':>13}{'probe p50 ms':>14}{'probe p99 ms':>14}{'samples':>9}")
    for label, row in results.items():
        print(f"{label:14}{row['conns_per_s']:>10.0f}{row['cpu_ms_per_conn']:>13.3f}"
              f"{row['p50_ms']:>14.2f}{row['p99_ms']:>14.2f}{row['samples']:>9}")
    print(f"{'on/off':14}{on['conns_per_s'] / off['conns_per_s']:>10.2f}"
          f"{on['cpu_ms_per_conn'] / off['cpu_ms_per_conn']:>13.2f}"
          f"{on['p50_ms'] / off['p50_ms']:>14.2f}{on['p99_ms'] / off['p99_ms']:>14.2f}")


if __name__ == "__main__":
    main()
