"""Pub/sub fanout: our broker vs redis-server with 1, 100 and 1,000 subscribers.

One publisher pipelines PUBLISH in closed-loop batches (it also subscribes and
waits for its own copy of each batch's last message, so queues stay bounded);
subscriber processes (raw sockets + hiredis) count deliveries. Then a fixed,
moderate publish rate measures p50/p99 publish-to-receive latency from a
timestamp in each message. Servers on core 0, load on core 1.

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
        self.reader.feed(data)
        stats = self.stats
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
    stats: dict[str, object] = {"count": 0, "latencies": []}
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
        if line == "reset":
            stats["count"], stats["latencies"] = 0, []
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


async def publisher_run(port: int, seconds: float, batch: int, rate: float | None) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sub_reader, sub_writer = await asyncio.open_connection("127.0.0.1", port)
    sub_writer.write(encode(b"SUBSCRIBE", b"bench"))
    parser, sub_parser = hiredis.Reader(), hiredis.Reader()

    async def read_one(stream: asyncio.StreamReader, parse: hiredis.Reader) -> object:
        while (reply := parse.gets()) is False:
            parse.feed(await stream.read(65536))
        return reply

    await read_one(sub_reader, sub_parser)
    deadline = time.monotonic() + seconds
    seq = 0
    start = time.monotonic()
    while time.monotonic() < deadline:
        if rate is None:
            payloads = [b"%f %d" % (time.time(), seq + i) for i in range(batch)]
            writer.write(b"".join(encode(b"PUBLISH", b"bench", p) for p in payloads))
            seq += batch
            for _ in range(batch):
                await read_one(reader, parser)
            while True:
                message = await read_one(sub_reader, sub_parser)
                if message[2] == payloads[-1]:  # type: ignore[index]
                    break
        else:
            writer.write(encode(b"PUBLISH", b"bench", b"%f %d" % (time.time(), seq)))
            seq += 1
            await read_one(reader, parser)
            delay = start + seq / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    writer.close()
    sub_writer.close()


def drain(workers: Workers) -> int:
    """Wait until the subscribers stop receiving (bounded); return their total count."""
    previous = -1
    for _ in range(300):
        total = sum(orjson.loads(line)["count"] for line in workers.command("report"))
        if total == previous:
            return total
        previous = total
        time.sleep(0.05)
    return previous


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def measure(kind: str, subscribers: int, args: argparse.Namespace) -> dict[str, float]:
    process, port = start_ours() if kind == "fanout" else start_redis()
    try:
        workers = Workers(port, subscribers, args.processes)
        workers.command("reset")
        started = time.monotonic()
        asyncio.run(publisher_run(port, args.seconds, args.batch, None))
        total = drain(workers)
        elapsed = time.monotonic() - started
        delivered = total / elapsed
        workers.command("reset")
        asyncio.run(publisher_run(port, args.seconds, args.batch, args.rate))
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
    parser.add_argument("--batch", type=int, default=50, help="PUBLISH per closed-loop batch")
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
