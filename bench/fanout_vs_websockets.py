"""Fanout benchmark: `fanout serve` vs a bare `websockets` broadcast server, side by side.

For each C (subscribed connections) and each server, measures:
- delivered messages/s at saturation: a publisher connection sends batches and
  waits for its own copy of each batch's last message (closed loop, so queues
  stay bounded), for --seconds;
- p50/p99 publish-to-receive latency at a fixed rate of --latency-rate deliveries/s
  (publish rate = rate / C), from timestamps in the payload, on 20 connections
  per load-generator process;
- server memory per idle subscribed connection (RSS delta / C).
Servers run on core 0 (taskset), load generators and the publisher on core 1.
Everything listens on 127.0.0.1 and every loop is bounded in time.

Usage: python bench/fanout_vs_websockets.py [--connections 1000 10000] [--seconds 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LoadGen, cpu_seconds  # noqa: E402
from latency import percentile, timing_stride  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE, LOAD_CORE = "0", "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def taskset(core: str) -> list[str]:
    return ["taskset", "-c", core] if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1 else []


def start_server(kind: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    if kind == "fanout":
        command = [sys.executable, "-m", "gateway.cli", "serve", "--http-port", str(port), "--resp-port", "-1",
                   "--publish-rate", "1000000000", "--publish-burst", "1000000000", "--max-connections", "1000000",
                   "--log-level", "warning"]
    else:
        command = [sys.executable, str(ROOT / "bench" / "peers" / "bare_websockets.py"), str(port)]
    process = subprocess.Popen(taskset(SERVER_CORE) + command, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "on" not in line:
        raise RuntimeError(f"{kind} server did not start: {line}{process.stdout.read()}")
    return process, port


def message(kind: str, seq: int) -> str:
    data = {"t": time.time(), "seq": seq, "text": "hello from the benchmark"}
    if kind == "fanout":
        return orjson.dumps({"op": "publish", "channel": "bench", "data": data}).decode()
    return orjson.dumps({"channel": "bench", "data": data}).decode()


async def publisher(kind: str, port: int) -> websockets.ClientConnection:
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=None, compression=None)
    if kind == "fanout":
        await ws.send('{"op":"subscribe","channel":"bench","id":1}')
        await ws.recv()
    return ws


async def saturate(kind: str, ws: websockets.ClientConnection, seconds: float, batch: int) -> int:
    """Closed loop: send a batch, wait for our own copy of its last message."""
    seq = sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        last = seq + batch - 1
        for _ in range(batch):
            await ws.send(message(kind, seq))
            seq += 1
        sent += batch
        while True:
            raw = await asyncio.wait_for(ws.recv(), 60)
            event = orjson.loads(raw)
            if event.get("data", {}).get("seq") == last if isinstance(event.get("data"), dict) else False:
                break
    return sent


async def fixed_rate(kind: str, ws: websockets.ClientConnection, rate: float, seconds: float) -> None:
    interval = 1.0 / rate
    start = time.monotonic()
    seq = 0
    drain = asyncio.ensure_future(_drain(ws))
    while time.monotonic() - start < seconds:
        await ws.send(message(kind, seq))
        seq += 1
        delay = start + seq * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    await asyncio.sleep(0.5)
    drain.cancel()


async def _drain(ws: websockets.ClientConnection) -> None:
    async for _ in ws:
        pass


def run_one(kind: str, connections: int, args: argparse.Namespace) -> dict[str, float]:
    process, port = start_server(kind)
    try:
        base_rss = rss_kb(process.pid)
        url = f"ws://127.0.0.1:{port}/ws"
        workers = max(1, min(args.processes, connections // 250 or 1))
        gens = [LoadGen(url, connections // workers + (1 if i < connections % workers else 0), kind)
                for i in range(workers)]
        for gen in gens:
            gen.wait_ready()
        memory_per_conn = (rss_kb(process.pid) - base_rss) * 1024 / connections
        print(f"  {kind}: {connections} connections subscribed, "
              f"{memory_per_conn / 1024:.1f} KiB/connection", flush=True)

        async def measure() -> tuple[float, float, float, list[float], float]:
            ws = await publisher(kind, port)
            for gen in gens:
                gen.command("reset")
            cpu_before = cpu_seconds(process.pid)
            started = time.monotonic()
            await saturate(kind, ws, args.seconds, args.batch)
            elapsed = time.monotonic() - started
            server_cpu = cpu_seconds(process.pid) - cpu_before
            reports = [orjson.loads(gen.command("report")) for gen in gens]
            delivered = sum(r["deliveries"] for r in reports) / elapsed
            gen_cpu = sum(r["cpu"] for r in reports)
            print(f"  {kind}: saturation {delivered:,.0f} deliveries/s "
                  f"(server CPU {server_cpu / elapsed:.0%}, load generators CPU total {gen_cpu:.1f}s)", flush=True)
            # Every message of a spread sample of the connections (~30,000 samples), not
            # the first 20's: a server writing its subscribers in order writes those first.
            stride = timing_stride(args.latency_rate, args.seconds)
            for gen in gens:
                gen.command(f"time {stride}")
            await fixed_rate(kind, ws, args.latency_rate / connections, args.seconds)
            reports = [orjson.loads(gen.command("report")) for gen in gens]
            latencies = [value for r in reports for value in r["latencies"]]
            await ws.close()
            return delivered, percentile(latencies, 0.5), percentile(latencies, 0.99), latencies, gen_cpu

        delivered, p50, p99, _, _ = asyncio.run(measure())
        print(f"  {kind}: latency at {args.latency_rate:,.0f} deliveries/s: p50 {p50:.2f} ms, p99 {p99:.2f} ms",
              flush=True)
        for gen in gens:
            gen.quit()
        return {"delivered": delivered, "p50": p50, "p99": p99, "memory": memory_per_conn}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measurement")
    parser.add_argument("--batch", type=int, default=20, help="messages per closed-loop batch")
    parser.add_argument("--latency-rate", type=float, default=100_000, help="deliveries/s for the latency run")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--quick", action="store_true", help="1,000 connections, 3 s measurements")
    args = parser.parse_args()
    if args.quick:
        args.connections, args.seconds = [1000], 3.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {int(LOAD_CORE)})
    rows = []
    for connections in args.connections:
        print(f"C = {connections}", flush=True)
        ours = run_one("fanout", connections, args)
        peer = run_one("bare", connections, args)
        rows.append((connections, ours, peer))
    print()
    print(f"{'C':>6}  {'metric':<28} {'fanout':>12} {'bare websockets':>16} {'ratio':>7}")
    for connections, ours, peer in rows:
        for key, label, unit, better in (("delivered", "delivered msgs/s (saturated)", "{:,.0f}", "higher"),
                                         ("p50", "p50 latency ms @fixed rate", "{:.2f}", "lower"),
                                         ("p99", "p99 latency ms @fixed rate", "{:.2f}", "lower"),
                                         ("memory", "memory KiB per idle conn", "{:.1f}", "lower")):
            a, b = ours[key], peer[key]
            if key == "memory":
                a, b = a / 1024, b / 1024
            ratio = a / b if b else float("nan")
            print(f"{connections:>6}  {label:<28} {unit.format(a):>12} {unit.format(b):>16} {ratio:>6.2f}x"
                  f"  ({better} is better)")


if __name__ == "__main__":
    main()
