"""Client-side caching and MONITOR (issue 18): what they cost, our broker vs redis-server.

Each server runs pinned to core 0, this load generator on core 1. Per scenario, a
connection sends ``--requests`` commands, 16 per write with 8 writes in flight,
over 10,000 keys:

- ``GET``: plain reads, then the same reads by a RESP3 client with ``CLIENT TRACKING
  ON`` (each key read is remembered);
- ``SET``: plain writes, then writes of keys one tracking client read (each write
  sends it an invalidation, which a thread drains), then writes while a MONITOR
  client is attached (each command is one line to it, also drained).

The servers alternate, ``--rounds`` times; medians of throughput and of the server's
CPU time per request (user + system from /proc: steadier than throughput on a
shared machine) are printed, with the CPU ratio (Redis's CPU per request over ours)
and each mode's cost over the plain run on the same server.

Usage: python bench/client_tracking.py [--requests 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

from common import cpu_seconds, pin_load, start_ours, start_redis, stop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.resp_client import encode_command  # noqa: E402

KEYS = 10_000
PIPELINE = 16


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _call(sock: socket.socket, *argv: str) -> bytes:
    sock.sendall(encode_command(*argv))
    data = b""
    while not data.endswith(b"\r\n"):
        data += sock.recv(1 << 16)
    return data


def _replies(sock: socket.socket, count: int) -> None:
    """Read ``count`` one-line replies (+OK, the setup's)."""
    data = b""
    while data.count(b"\r\n") < count:
        data += sock.recv(1 << 16)


# the reply to each measured request: SET's +OK, GET's 3-byte value
_REPLY_SIZE = {"SET": len(b"+OK\r\n"), "GET": len(b"$3\r\nxxx\r\n")}
# batches of PIPELINE requests kept in flight (as redis-benchmark -P 16 with a few clients)
_WINDOW = 8


def _load(port: int, pid: int, command: str, requests: int, tracking: bool = False) -> tuple[float, float]:
    """``requests`` commands, 16 per write, 8 writes in flight, on one connection (a RESP3
    one with CLIENT TRACKING ON if ``tracking``); (requests/s, server CPU µs per request)."""
    sock = _connect(port)
    if tracking:
        _call(sock, "HELLO", "3")
        _call(sock, "CLIENT", "TRACKING", "ON")
    batches = []
    for start in range(0, requests, PIPELINE):
        keys = [f"key:{i % KEYS}" for i in range(start, min(start + PIPELINE, requests))]
        batches.append((b"".join(encode_command("SET", key, "xxx") if command == "SET" else encode_command("GET", key)
                                 for key in keys), len(keys)))
    size = _REPLY_SIZE[command]
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    sent = answered = 0  # requests
    received = 0  # reply bytes
    index = 0
    while answered < requests:
        while index < len(batches) and sent - answered < _WINDOW * PIPELINE:
            data, count = batches[index]
            sock.sendall(data)
            sent += count
            index += 1
        received += len(sock.recv(1 << 20))
        answered = received // size
    elapsed = time.perf_counter() - started
    used = cpu_seconds(pid) - cpu
    sock.close()
    return requests / elapsed, used * 1e6 / requests


class _Drain(threading.Thread):
    """Reads a connection until closed (invalidation pushes, monitor lines), counting bytes."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.bytes = 0

    def run(self) -> None:
        try:
            while chunk := self.sock.recv(1 << 20):
                self.bytes += len(chunk)
        except OSError:
            pass


def scenario(port: int, pid: int, name: str, requests: int) -> tuple[float, float]:
    admin = _connect(port)
    _call(admin, "FLUSHALL")
    drain = None
    if name.startswith("GET"):
        for start in range(0, KEYS, PIPELINE):  # the keys exist (3-byte values)
            admin.sendall(b"".join(encode_command("SET", f"key:{i}", "xxx") for i in range(start, start + PIPELINE)))
            _replies(admin, PIPELINE)
    if name in ("SET invalidating", "SET monitored"):
        watcher = _connect(port)
        if name == "SET invalidating":
            _call(watcher, "HELLO", "3")
            _call(watcher, "CLIENT", "TRACKING", "ON")
            for start in range(0, KEYS, PIPELINE):
                watcher.sendall(b"".join(encode_command("GET", f"key:{i}") for i in range(start, start + PIPELINE)))
                _replies(watcher, PIPELINE)
        else:
            _call(watcher, "MONITOR")
        drain = _Drain(watcher)
        drain.start()
    result = _load(port, pid, name.split()[0], requests, tracking=name == "GET tracking")
    if drain is not None:
        drain.sock.shutdown(socket.SHUT_RDWR)
        drain.join(timeout=10)
    admin.close()
    return result


SCENARIOS = ["GET plain", "GET tracking", "SET plain", "SET invalidating", "SET monitored"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pin_load()
    ours, ours_port = start_ours()
    redis, redis_port = start_redis()
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for _ in range(args.rounds):
            for name in SCENARIOS:
                for server, port, pid in (("fanout", ours_port, ours.pid), ("redis", redis_port, redis.pid)):
                    results.setdefault((name, server), []).append(scenario(port, pid, name, args.requests))
    finally:
        stop(ours)
        stop(redis)
    print(f"{'scenario':<18} {'fanout req/s':>13} {'redis req/s':>12} {'ratio':>6}  "
          f"{'cpu µs fanout / redis':>22} {'cpu ratio':>9}  {'fanout cost vs plain':>20}")
    plain: dict[str, float] = {}
    for name in SCENARIOS:
        ours_rate = statistics.median(r for r, _ in results[(name, "fanout")])
        redis_rate = statistics.median(r for r, _ in results[(name, "redis")])
        ours_cpu = statistics.median(c for _, c in results[(name, "fanout")])
        redis_cpu = statistics.median(c for _, c in results[(name, "redis")])
        kind = name.split()[0]
        if name.endswith("plain"):
            plain[kind] = ours_cpu
            cost = ""
        else:
            cost = f"{ours_cpu / plain[kind]:.2f}x cpu"
        print(f"{name:<18} {ours_rate:>13,.0f} {redis_rate:>12,.0f} {ours_rate / redis_rate:>6.2f}  "
              f"{ours_cpu:>10.2f} / {redis_cpu:<9.2f} {redis_cpu / ours_cpu:>9.2f}  {cost:>20}")


if __name__ == "__main__":
    main()
