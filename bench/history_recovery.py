"""History cost and recovery speed.

1. Publish throughput on one channel with history on vs off, side by side: a
   websocket publisher keeps --window publishes in flight (closed loop) for
   --seconds, with 10 subscribers on the channel; reports publishes/s and server
   CPU per publish, and the on/off ratios.
2. A reconnect wave: --clients clients subscribe to a history channel and note
   their position, all disconnect, 100 messages are published, and all reconnect
   at once with ``recover``; reports the time until every client has all 100
   missed messages (and checks that each got exactly those, in order).

`fanout serve` runs on core 0, the load on core 1.
Usage: python bench/history_recovery.py [--seconds 5] [--clients 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import orjson
import websockets

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import pin_load, start_serve, stop
from bench.presence_storm import cpu_seconds


async def publish_rate(port: int, pid: int, channel: str, seconds: float, window: int) -> tuple[float, float]:
    url = f"ws://127.0.0.1:{port}/ws"
    subscribers = [await websockets.connect(url, max_size=None) for _ in range(10)]
    for ws in subscribers:
        await ws.send(orjson.dumps({"op": "subscribe", "channel": channel, "id": 0}).decode())
        await ws.recv()
    drains = [asyncio.ensure_future(_drain(ws)) for ws in subscribers]
    published = 0
    async with websockets.connect(url, max_size=None) as publisher:
        message = orjson.dumps({"op": "publish", "channel": channel, "data": {"price": 101.25, "qty": 3}}).decode()
        cpu_before, started = cpu_seconds(pid), time.perf_counter()
        while time.perf_counter() - started < seconds:
            for _ in range(window):
                await publisher.send(message)
            for _ in range(window):
                reply = orjson.loads(await publisher.recv())
                assert reply.get("ok"), reply
            published += window
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
    for task in drains:
        task.cancel()
    for ws in subscribers:
        await ws.close()
    return published / elapsed, 1e6 * cpu / published


async def _drain(ws: websockets.WebSocketClientProtocol) -> None:
    async for _ in ws:
        pass


async def reconnect_wave(port: int, clients: int, missed: int = 100) -> tuple[float, int]:
    url = f"ws://127.0.0.1:{port}/ws"
    channel = "chat:wave"
    positions = []
    semaphore = asyncio.Semaphore(200)

    async def first_visit(n: int) -> None:
        async with semaphore, websockets.connect(url) as ws:
            await ws.send(orjson.dumps({"op": "subscribe", "channel": channel, "id": n}).decode())
            reply = orjson.loads(await ws.recv())
            positions.append((reply["offset"], reply["epoch"]))

    async with websockets.connect(url) as publisher:
        await publisher.send(orjson.dumps({"op": "publish", "channel": channel, "data": "start"}).decode())
        await publisher.recv()
        await asyncio.gather(*(first_visit(n) for n in range(clients)))
        print(f"  {clients} clients saw the channel and left; publishing {missed} messages", flush=True)
        for n in range(missed):
            await publisher.send(orjson.dumps({"op": "publish", "channel": channel, "data": n}).decode())
            await publisher.recv()
    offset, epoch = positions[0]
    connections = [await websockets.connect(url, max_size=None) for _ in range(clients)]
    print(f"  {clients} clients reconnected; recovering all at once", flush=True)
    recovered = 0

    async def recover(n: int, ws: websockets.WebSocketClientProtocol) -> None:
        nonlocal recovered
        await ws.send(orjson.dumps({"op": "subscribe", "channel": channel, "id": n,
                                    "recover": {"offset": offset, "epoch": epoch}}).decode())
        reply = orjson.loads(await ws.recv())
        assert reply["recovered"] is True, reply
        got = [orjson.loads(await ws.recv())["data"] for _ in range(missed)]
        assert got == list(range(missed)), "a client did not get exactly the missed messages in order"
        recovered += 1

    started = time.perf_counter()
    await asyncio.gather(*(recover(n, ws) for n, ws in enumerate(connections)))
    elapsed = time.perf_counter() - started
    for ws in connections:
        await ws.close()
    return elapsed, recovered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=50, help="publishes in flight (default 50)")
    parser.add_argument("--clients", type=int, default=1000)
    args = parser.parse_args()
    pin_load()
    server, port = start_serve("--channel", "chat:*=history:1000", "--publish-rate", "1000000", "--publish-burst", "1000000")
    try:
        rows = {}
        for label, channel in (("history off", "plain:rate"), ("history on", "chat:rate")):
            print(f"{label}: publishing on {channel} for {args.seconds:g}s", flush=True)
            rows[label] = asyncio.run(publish_rate(port, server.pid, channel, args.seconds, args.window))
        print("reconnect wave:", flush=True)
        elapsed, recovered = asyncio.run(reconnect_wave(port, args.clients))
    finally:
        stop(server)
    print(f"\n{'':14}{'publishes/s':>13}{'server CPU µs/publish':>23}")
    for label, (rate, cpu) in rows.items():
        print(f"{label:14}{rate:>13.0f}{cpu:>23.1f}")
    (off_rate, off_cpu), (on_rate, on_cpu) = rows["history off"], rows["history on"]
    print(f"{'on/off':14}{on_rate / off_rate:>13.2f}{on_cpu / off_cpu:>23.2f}")
    print(f"\nreconnect wave: {recovered} clients recovered 100 missed messages each in {elapsed:.2f}s "
          f"({recovered * 100 / elapsed:.0f} replayed messages/s)")


if __name__ == "__main__":
    main()
