"""Live views benchmark (issue 6): 1,000 watchers of one sorted set updated 1,000 times/s.

`fanout serve` runs on core 0 (taskset); the watchers (picows, --workers processes)
and the updater (redis-py over RESP, ZINCRBY of one of the 20 leading members
of 1,000, paced in 10 ms steps) on core 1. For --seconds it measures:
- pushes per watcher per second (bounded by the coalescing interval: 1 / 0.05 s = 20);
- view computations per second, from /metrics (fanout_view_computations): once per
  push interval for all watchers, not once per watcher;
- the server's CPU use during the run.
Then, in this process, the same top-10 view is computed on the same data the
shared way (one computation + one frame per interval) and the naive ways (one
computation per watcher per interval, and per watcher per update), timed side by
side, giving the CPU each would need per second of this load.

Usage: python bench/watch_views.py [--watchers 1000] [--rate 1000] [--seconds 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import LOAD_CORE, SERVER_CORE, free_port, stop, taskset, wait_port  # noqa: E402

KEY = "leaderboard:bench"
MEMBERS = 1000
# Updates go to the HOT leading players (a live contest), so nearly every interval
# changes the top 10 (an unchanged view is not pushed again).
HOT = 20
WATCH = b'{"op":"watch","id":1,"key":"' + KEY.encode() + b'","view":{"type":"zset_top","n":10}}'


# ------------------------------------------------------------------ worker

async def _worker(url: str, count: int) -> None:
    """Hold ``count`` watchers; on stdin ``report`` print their push counts, ``quit`` ends."""
    import orjson
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    counts = [0] * count

    class Listener(WSListener):  # type: ignore[misc]
        def __init__(self, index: int, ready: asyncio.Future[None]) -> None:
            self.index = index
            self.ready = ready

        def on_ws_connected(self, transport: WSTransport) -> None:
            transport.send(WSMsgType.TEXT, WATCH)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                if not self.ready.done():  # the watch reply
                    reply = orjson.loads(frame.get_payload_as_bytes())
                    if reply.get("ok"):
                        self.ready.set_result(None)
                    else:
                        self.ready.set_exception(RuntimeError(str(reply)))
                    return
                counts[self.index] += 1
            elif frame.msg_type == WSMsgType.PING:
                transport.send_pong(frame.get_payload_as_bytes())

    loop = asyncio.get_running_loop()
    transports = []
    for start in range(0, count, 250):
        readies = [loop.create_future() for _ in range(start, min(count, start + 250))]
        connects = [ws_connect(_factory(Listener, start + offset, ready), url, websocket_handshake_timeout=30)
                    for offset, ready in enumerate(readies)]
        transports += [transport for transport, _ in await asyncio.gather(*connects)]
        await asyncio.gather(*readies)
    print(f"ready {count}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line == "reset":
            counts[:] = [0] * count
            print("ok", flush=True)
        elif line == "report":
            print(orjson.dumps(counts).decode(), flush=True)
        else:
            for transport in transports:
                transport.disconnect()
            return


def _factory(listener: type, index: int, ready: asyncio.Future[None]) -> Any:
    # No parameters: picows passes the upgrade request and response to a factory that takes any.
    return lambda: listener(index, ready)


# --------------------------------------------------------------- measures

def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {name: float(value) for name, value in re.findall(r"^(fanout_\w+) (\S+)$", text, re.M)}


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _update(resp_port: int, rate: int, seconds: float, http_port: int) -> int:
    """ZINCRBY at ``rate``/s for ``seconds``: every 10 ms, one pipelined batch of the updates
    due by then (so a late step catches up); returns the updates sent."""
    import redis.asyncio as aioredis

    redis = aioredis.Redis(port=resp_port)
    total = int(rate * seconds)
    sent = 0
    started = time.monotonic()
    next_report = started + 1.0
    for step in range(int(seconds * 100) + 100):  # bounded: at most one extra second to catch up
        due = min(total, int((time.monotonic() - started) * rate) + rate // 100) - sent
        if due > 0:
            async with redis.pipeline(transaction=False) as pipe:
                for _ in range(due):
                    pipe.zincrby(KEY, random.randint(1, 100), f"player{random.randrange(HOT)}")
                await pipe.execute()
            sent += due
        if sent >= total:
            break
        delay = started + (step + 1) * 0.01 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.monotonic() >= next_report:
            metrics = _metrics(http_port)
            print(f"  {time.monotonic() - started:4.1f}s: {sent} updates, "
                  f"{metrics['fanout_view_computations_total']:.0f} computations, "
                  f"{metrics['fanout_view_pushes_total']:.0f} pushes so far", flush=True)
            next_report += 1.0
    await redis.aclose()
    return sent


def _side_by_side(watchers: int, rate: int, pushes_per_second: float) -> dict[str, float]:
    """Time one top-10 computation + frame in-process; CPU seconds per second for each way."""
    from broker.backends.memory import MemoryBackend
    from broker.core import Broker
    from gateway.connection import text_frame
    from gateway.views import ViewSpec

    async def timed() -> float:
        backend = MemoryBackend(Broker())
        await backend.start()
        for index in range(MEMBERS):
            await backend.execute("ZADD", KEY, random.randint(0, 10**6), f"player{index}")
        spec = ViewSpec("zset_top", n=10)
        head = b'{"watch":"v1","key":"' + KEY.encode() + b'","value":'
        rounds = 20_000
        started = time.perf_counter()
        for _ in range(rounds):  # what a computation costs: read, encode, frame
            text_frame(head + spec.encode(await backend.execute(*spec.command(KEY.encode()))) + b"}")
        return (time.perf_counter() - started) / rounds

    cost = asyncio.run(timed())
    return {"cost_us": cost * 1e6,
            "shared": pushes_per_second * cost,
            "per_watcher_coalesced": watchers * pushes_per_second * cost,
            "per_watcher_per_update": watchers * rate * cost}


# ------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=1000, help="updates per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2, help="watcher processes")
    parser.add_argument("--interval", type=float, default=0.05, help="--watch-interval of the server")
    parser.add_argument("--quick", action="store_true", help="200 watchers for 2 s")
    parser.add_argument("--worker", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    if args.worker:
        asyncio.run(_worker(args.worker[0], int(args.worker[1])))
        return 0
    if args.quick:
        args.watchers, args.seconds = 200, 2.0

    http_port, resp_port = free_port(), free_port()
    server = subprocess.Popen(taskset(SERVER_CORE) + [
        sys.executable, "-m", "gateway.cli", "serve", "--http-port", str(http_port), "--resp-port", str(resp_port),
        "--watch-interval", str(args.interval), "--max-connections", "1000000", "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[subprocess.Popen[str]] = []
    try:
        wait_port(http_port)
        wait_port(resp_port)
        import redis

        client = redis.Redis(port=resp_port)
        client.zadd(KEY, {f"player{index}": (10**6 if index < HOT else 0) + random.randint(0, 1000)
                          for index in range(MEMBERS)})
        client.close()
        print(f"watchers: {args.watchers} in {args.workers} processes; {args.rate} updates/s for "
              f"{args.seconds:g} s; interval {args.interval * 1000:g} ms", flush=True)
        share = -(-args.watchers // args.workers)
        for index in range(args.workers):
            count = min(share, args.watchers - index * share)
            workers.append(subprocess.Popen(
                taskset(LOAD_CORE) + [sys.executable, __file__, "--worker", f"ws://127.0.0.1:{http_port}/ws",
                                      str(count)],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for worker in workers:
            assert worker.stdin is not None and worker.stdout is not None
            line = worker.stdout.readline()
            if not line.startswith("ready"):
                raise RuntimeError(f"a watcher process failed: {line!r}")
        print("all watching", flush=True)

        before = _metrics(http_port)
        cpu_before = _cpu_seconds(server.pid)
        started = time.monotonic()
        sent = asyncio.run(_update(resp_port, args.rate, args.seconds, http_port))
        elapsed = time.monotonic() - started
        cpu = _cpu_seconds(server.pid) - cpu_before
        time.sleep(args.interval * 4)  # let the last push arrive before counting
        after = _metrics(http_port)
        counts: list[int] = []
        import json
        for worker in workers:
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write("report\n")
            worker.stdin.flush()
            counts += json.loads(worker.stdout.readline())
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("quit\n")
            worker.stdin.flush()

        computations = after["fanout_view_computations_total"] - before["fanout_view_computations_total"]
        pushes = after["fanout_view_pushes_total"] - before["fanout_view_pushes_total"]
        counts.sort()
        per_watcher = [count / elapsed for count in counts]
        print(f"\nupdates sent: {sent} in {elapsed:.2f} s ({sent / elapsed:.0f}/s)")
        print(f"pushes per watcher per second: min {per_watcher[0]:.1f}, median "
              f"{per_watcher[len(per_watcher) // 2]:.1f}, max {per_watcher[-1]:.1f} "
              f"(bound 1/interval = {1 / args.interval:.0f})")
        print(f"view computations: {computations:.0f} ({computations / elapsed:.1f}/s) for {pushes:.0f} pushes "
              f"to {len(counts)} watchers = {sum(counts)} deliveries "
              f"({sum(counts) / max(computations, 1):.0f} deliveries per computation)")
        print(f"server CPU: {cpu / elapsed * 100:.0f}% of a core during the run")
        naive = _side_by_side(args.watchers, args.rate, computations / elapsed)
        print(f"\none computation (ZREVRANGE 0 9 WITHSCORES of {MEMBERS} + JSON + frame): "
              f"{naive['cost_us']:.1f} us, in-process")
        print(f"{'way of computing':<44}{'computations/s':>16}{'CPU s per s':>14}")
        print(f"{'shared, coalesced (fanout)':<44}{computations / elapsed:>16,.0f}{naive['shared']:>14.4f}")
        print(f"{'per watcher, coalesced':<44}{args.watchers * computations / elapsed:>16,.0f}"
              f"{naive['per_watcher_coalesced']:>14.3f}")
        print(f"{'per watcher, per update':<44}{args.watchers * args.rate:>16,.0f}"
              f"{naive['per_watcher_per_update']:>14.1f}")
        return 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                try:
                    worker.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    worker.kill()
        stop(server)


if __name__ == "__main__":
    sys.exit(main())
