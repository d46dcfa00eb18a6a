"""Consumer groups, our broker vs redis-server side by side: XADD + XREADGROUP + XACK.

One producer adds ``--entries`` entries to a stream while 4 consumers of one group
read them (XREADGROUP ... BLOCK, ``>``) and acknowledge each (XACK). The clock
runs from the first XADD until the group has read and acknowledged every entry
(XINFO GROUPS: entries-read = N, pending = 0). Three modes:

- unpipelined: one XADD per round trip; a consumer reads COUNT 1 and sends one
  XACK per entry, each waiting for its reply;
- pipelined: XADDs in pipelines of 16; a consumer reads COUNT 16 and sends the 16
  XACKs in one write;
- batched: as pipelined, but a consumer acknowledges what it read with one XACK
  of all the ids (``XACK key group id [id ...]``), as batch workers do.

The servers run on core 0, the five client processes (raw sockets + hiredis) on
core 1. Printed per mode: entries/s of each server (median of alternating
rounds), the ratio, and each server's CPU µs per entry (from /proc), whose
ratio does not depend on whether the clients were the bottleneck.

Usage: python bench/stream_groups.py [--entries 20000] [--rounds 3] [--mode unpipelined|pipelined|batched]
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import statistics
import time
from typing import Any

import hiredis

from common import cpu_seconds, pin_load, start_ours, start_redis, stop

CONSUMERS = 4
PIPELINE = 16
MODES = ("unpipelined", "pipelined", "batched")
TIMEOUT_S = 120  # a round that takes longer than this is a failure, not a figure


class Conn:
    """A minimal RESP client: write commands, read replies with hiredis."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    @staticmethod
    def encode(*args: bytes | str | int) -> bytes:
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(out)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def replies(self, n: int) -> list[Any]:
        out: list[Any] = []
        while len(out) < n:
            reply = self.reader.gets()
            if reply is False:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                self.reader.feed(chunk)
                continue
            if isinstance(reply, hiredis.ReplyError):
                raise RuntimeError(str(reply))
            out.append(reply)
        return out

    def call(self, *args: bytes | str | int) -> Any:
        self.send(self.encode(*args))
        return self.replies(1)[0]


def producer(port: int, entries: int, mode: str) -> None:
    conn = Conn(port)
    xadd = Conn.encode("XADD", "jobs", "*", "job", "payload-of-a-typical-job")
    batch = 1 if mode == "unpipelined" else PIPELINE
    sent = 0
    while sent < entries:
        n = min(batch, entries - sent)
        conn.send(xadd * n)
        conn.replies(n)
        sent += n


def consumer(port: int, name: str, mode: str) -> None:
    conn = Conn(port)
    read = Conn.encode("XREADGROUP", "GROUP", "workers", name, "COUNT", 1 if mode == "unpipelined" else PIPELINE,
                       "BLOCK", 100, "STREAMS", "jobs", ">")
    while True:
        conn.send(read)
        reply = conn.replies(1)[0]
        if not reply:
            continue
        ids = [entry[0] for entry in reply[0][1]]
        if mode == "batched":
            conn.call("XACK", "jobs", "workers", *ids)
        elif mode == "pipelined":
            conn.send(b"".join(Conn.encode("XACK", "jobs", "workers", entry_id) for entry_id in ids))
            conn.replies(len(ids))
        else:
            for entry_id in ids:
                conn.call("XACK", "jobs", "workers", entry_id)


def group_done(admin: Conn, entries: int) -> bool:
    info = admin.call("XINFO", "GROUPS", "jobs")[0]
    fields = dict(zip(info[::2], info[1::2]))
    return fields[b"entries-read"] == entries and fields[b"pending"] == 0


def one_round(port: int, pid: int, entries: int, mode: str) -> tuple[float, float]:
    """(entries per second, server CPU µs per entry) of one run."""
    admin = Conn(port)
    admin.call("FLUSHALL")
    admin.call("XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM")
    workers = [multiprocessing.Process(target=consumer, args=(port, f"c{n}", mode), daemon=True)
               for n in range(CONSUMERS)]
    for worker in workers:
        worker.start()
    # the consumers are connected and waiting before the clock starts
    deadline = time.monotonic() + TIMEOUT_S
    while b"blocked_clients:%d" % CONSUMERS not in admin.call("INFO", "clients"):
        if time.monotonic() > deadline:
            raise RuntimeError("consumers never blocked")
        time.sleep(0.01)
    cpu_before = cpu_seconds(pid)
    start = time.perf_counter()
    feeder = multiprocessing.Process(target=producer, args=(port, entries, mode), daemon=True)
    feeder.start()
    while not group_done(admin, entries):
        if time.monotonic() > deadline:
            raise RuntimeError("the group did not finish in time")
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu_before
    feeder.join()
    for worker in workers:
        worker.terminate()
        worker.join()
    return entries / elapsed, cpu * 1e6 / entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", choices=MODES)
    args = parser.parse_args()
    pin_load()
    ours, our_port = start_ours()
    redis, redis_port = start_redis()
    servers = {"fanout": (our_port, ours.pid), "redis": (redis_port, redis.pid)}
    try:
        print(f"{args.entries} entries, 1 producer, {CONSUMERS} consumers, {args.rounds} rounds (medians)")
        print(f"{'mode':<12} {'fanout/s':>10} {'redis/s':>10} {'ratio':>6}   CPU µs/entry fanout / redis (ratio)")
        for mode in MODES:
            if args.mode and mode != args.mode:
                continue
            rate: dict[str, list[float]] = {"fanout": [], "redis": []}
            cpu: dict[str, list[float]] = {"fanout": [], "redis": []}
            for _ in range(args.rounds):
                for name, (port, pid) in servers.items():
                    per_s, per_entry = one_round(port, pid, args.entries, mode)
                    rate[name].append(per_s)
                    cpu[name].append(per_entry)
            ours_rate, redis_rate = statistics.median(rate["fanout"]), statistics.median(rate["redis"])
            ours_cpu, redis_cpu = statistics.median(cpu["fanout"]), statistics.median(cpu["redis"])
            print(f"{mode:<12} {ours_rate:>10.0f} {redis_rate:>10.0f} {ours_rate / redis_rate:>6.2f}   "
                  f"{ours_cpu:.1f} / {redis_cpu:.1f} ({redis_cpu / ours_cpu:.2f})")
    finally:
        stop(ours)
        stop(redis)


if __name__ == "__main__":
    main()
