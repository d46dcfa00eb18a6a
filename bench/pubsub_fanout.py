"""Pub/sub fanout: our broker vs redis-server with 1, 100 and 1,000 subscribers.

Saturation: ``redis-benchmark`` publishes one fixed message, pipelined (-P 64,
so it waits for the server at every batch), and subscriber processes count the
bytes they receive without parsing them (deliveries = bytes / the message
frame's length), so neither side's Python is the limit. Then a Python publisher
at a fixed, moderate rate measures p50/p99 publish-to-receive latency from a
timestamp in each message, which those subscribers parse (hiredis). Servers on
core 0, load on core 1.

Usage: python bench/pubsub_fanout.py [--subscribers 1 100 1000] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time

import hiredis
import orjson

from common import LOAD_CORE, ROOT, start_ours, start_redis, stop, taskset

TIMED = 10


def encode(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


# ------------------------------------------------------------------ worker

class Subscriber(asyncio.Protocol):
    def __init__(self, stats: dict[str, object], timed: bool, ready: asyncio.Future[None]) -> None:
        self.reader = hiredis.Reader()
        self.stats = stats
        self.timed = timed
        self.ready = ready

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(encode(b"SUBSCRIBE", b"bench"))  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        stats = self.stats
        stats["bytes"] += len(data)  # type: ignore[operator]
        if not stats["parse"] and self.ready.done():
            return
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if reply[0] == b"message":
                stats["count"] += 1  # type: ignore[operator]
                if self.timed:
                    sent = float(reply[2].split(b" ", 1)[0])
                    stats["latencies"].append((time.time() - sent) * 1000)  # type: ignore[attr-defined]
            elif not self.ready.done():
                self.ready.set_result(None)


async def worker(port: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    stats: dict[str, object] = {"count": 0, "latencies": [], "bytes": 0, "parse": True}
    readies = []
    for index in range(count):
        ready: asyncio.Future[None] = loop.create_future()
        readies.append(ready)
        await loop.create_connection(lambda r=ready, i=index: Subscriber(stats, i < TIMED, r), "127.0.0.1", port)
    await asyncio.gather(*readies)
    print("ready", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line in ("reset", "count"):
            # "count": take bytes only (saturation); "reset": parse messages (latency)
            stats["count"], stats["latencies"], stats["bytes"], stats["parse"] = 0, [], 0, line == "reset"
            print("ok", flush=True)
        elif line == "report":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            print(orjson.dumps({**stats, "cpu": usage.ru_utime + usage.ru_stime}).decode(), flush=True)
        else:
            return


# ------------------------------------------------------------------ driver

class Workers:
    def __init__(self, port: int, subscribers: int, processes: int) -> None:
        processes = max(1, min(processes, subscribers))
        shares = [subscribers // processes + (1 if i < subscribers % processes else 0) for i in range(processes)]
        self.procs = [subprocess.Popen(taskset(LOAD_CORE) + [sys.executable, __file__, "--worker", str(port),
                                                             str(share)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
                      for share in shares]
        for proc in self.procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    def command(self, line: str) -> list[str]:
        out = []
        for proc in self.procs:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        for proc in self.procs:
            assert proc.stdout is not None
            out.append(proc.stdout.readline())
        return out

    def close(self) -> None:
        for proc in self.procs:
            try:
                assert proc.stdin is not None
                proc.stdin.write("quit\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
            proc.wait(timeout=30)


async def publisher_run(port: int, seconds: float, rate: float) -> None:
    """PUBLISH a timestamped message ``rate`` times a second for ``seconds``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    parser = hiredis.Reader()

    async def read_one() -> object:
        while (reply := parser.gets()) is False:
            parser.feed(await reader.read(65536))
        return reply

    deadline = time.monotonic() + seconds
    seq = 0
    start = time.monotonic()
    while time.monotonic() < deadline:
        writer.write(encode(b"PUBLISH", b"bench", b"%f %d" % (time.time(), seq)))
        seq += 1
        await read_one()
        delay = start + seq / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    writer.close()


SATURATION_MESSAGE = b"x" * 32


def frame_length(channel: bytes, message: bytes) -> int:
    """Bytes of one RESP2 pub/sub message frame as a subscriber receives it."""
    return len(encode(b"message", channel, message))


def saturate(port: int, workers: Workers, subscribers: int, seconds: float) -> float:
    """Deliveries per second with redis-benchmark publishing as fast as the server
    takes it, counted from the bytes the subscribers receive."""
    # a whole number of -P 64 batches: redis-benchmark sends whole batches
    publishes = max(20_000, min(3_000_000, int(seconds * 4_000_000 / subscribers))) // 64 * 64
    workers.command("count")
    started = time.monotonic()
    subprocess.run(taskset(LOAD_CORE) + ["redis-benchmark", "-p", str(port), "-c", "1", "-P", "64", "-n",
                                         str(publishes), "PUBLISH", "bench", SATURATION_MESSAGE.decode()],
                   check=True, capture_output=True, timeout=600)
    expected = publishes * subscribers * frame_length(b"bench", SATURATION_MESSAGE)
    received, last_change = 0, time.monotonic()
    deadline = last_change + 60
    while received < expected and time.monotonic() < deadline:  # bounded: the last bytes in flight
        total = sum(orjson.loads(line)["bytes"] for line in workers.command("report"))
        if total != received:
            received, last_change = total, time.monotonic()
        time.sleep(0.01)
    if received != expected:
        raise RuntimeError(f"subscribers received {received:,} bytes of {expected:,}: messages were lost")
    return publishes * subscribers / (last_change - started)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def measure(kind: str, subscribers: int, args: argparse.Namespace) -> dict[str, float]:
    process, port = start_ours() if kind == "fanout" else start_redis()
    try:
        workers = Workers(port, subscribers, args.processes)
        delivered = saturate(port, workers, subscribers, args.seconds)
        workers.command("reset")
        asyncio.run(publisher_run(port, args.seconds, args.rate))
        reports = [orjson.loads(line) for line in workers.command("report")]
        latencies = [value for r in reports for value in r["latencies"]]
        load_cpu = sum(r["cpu"] for r in reports)
        workers.close()
        result = {"delivered": delivered, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)}
        print(f"  {kind:<12} subscribers={subscribers:<5} {delivered:>12,.0f} deliveries/s  "
              f"p50 {result['p50']:.2f} ms  p99 {result['p99']:.2f} ms  (load generator CPU {load_cpu:.1f}s)",
              flush=True)
        return result
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rate", type=float, default=200.0, help="publishes/s for the latency run")
    parser.add_argument("--processes", type=int, default=2, help="subscriber processes")
    parser.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        try:
            import uvloop
            uvloop.install()
        except ImportError:
            pass
        asyncio.run(worker(*args.worker))
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {int(LOAD_CORE)})
    rows = []
    for subscribers in args.subscribers:
        ours = measure("fanout", subscribers, args)
        theirs = measure("redis-server", subscribers, args)
        rows.append((subscribers, ours, theirs))
    print()
    print("| subscribers | metric | fanout broker | redis-server | ratio |")
    print("|---:|---|---:|---:|---:|")
    for subscribers, ours, theirs in rows:
        for key, label, fmt in (("delivered", "deliveries/s (saturated)", "{:,.0f}"),
                                ("p50", f"p50 latency ms @ {args.rate:g} msg/s", "{:.2f}"),
                                ("p99", f"p99 latency ms @ {args.rate:g} msg/s", "{:.2f}")):
            a, b = ours[key], theirs[key]
            print(f"| {subscribers} | {label} | {fmt.format(a)} | {fmt.format(b)} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
