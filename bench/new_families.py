"""Bitmaps, HyperLogLog, geo and SORT (issue 20): our broker vs redis-server, side by side.

The same shape as ``broker_vs_redis.py``: each server pinned to core 0,
redis-benchmark to core 1; for every command and mode (unpipelined -c 50,
pipelined -c 50 -P 16) the two servers are measured alternately, --rounds times,
and the medians of throughput and of each server's CPU time per request (from
/proc, steadier than throughput on a shared machine) are printed with their ratios.

The workloads (both servers get the same data, loaded with ``redis-cli --pipe``):
- SETBIT: ``SETBIT bits <random offset < 100,000> <random 0|1>`` (a 12.5 KB bitmap:
  online flags of 100,000 user ids). redis-benchmark's ``__rand_int__`` has leading
  zeros, which a bit offset may not have, so this one is driven by a small closed-loop
  client here (50 connections, 1 or 16 requests in flight each, pre-encoded
  requests, replies counted by their line ends), pinned to the load core like
  redis-benchmark; it is slower than redis-benchmark, so its CPU ratio is the
  figure to trust;
- PFADD 1 / PFADD 100: one, or a hundred, random elements into one HLL (dense
  after the first few thousand, as a page's unique-visitor count is);
- GEOADD: one random point and member into a set of up to 100,000 points;
- GEOSEARCH: ``FROMMEMBER <random member> BYRADIUS 1 km ASC`` and ``... BYBOX 2 2 km
  ASC COUNT 10 WITHDIST`` in a set of 10,000 points spread over 27 x 22 km
  (a city's drivers; about 50 in a 1 km circle);
- SORT: ``SORT`` (numeric) and ``SORT ... ALPHA LIMIT 0 10`` of a 1,000-element list.

Usage: python bench/new_families.py [--requests 20000] [--rounds 3] [--only SETBIT ...] [--mode pipelined]
"""

from __future__ import annotations

import argparse
import random
import selectors
import socket
import subprocess
import time

from broker_vs_redis import cpu_seconds, run_benchmark
from common import Row, alternate_rounds, pin_load, print_ratio_table, start_ours, start_redis, stop

GEO_MEMBERS = 10_000
SORT_ELEMENTS = 1_000

# (name, command arguments, -r range, share of --requests: the slow commands get fewer)
TESTS: list[tuple[str, list[str], int, float]] = [
    ("SETBIT", ["SETBIT", "bits", "<offset>", "<bit>"], 100_000, 1.0),
    ("PFADD 1", ["PFADD", "hll1", "__rand_int__"], 1_000_000, 1.0),
    ("PFADD 100", ["PFADD", "hll100", *["e:__rand_int__"] * 100], 1_000_000, 0.25),
    ("GEOADD", ["GEOADD", "points", "13.__rand_int__", "52.__rand_int__", "m:__rand_int__"], 100_000, 1.0),
    ("GEOSEARCH radius", ["GEOSEARCH", "city", "FROMMEMBER", "m:__rand_int__", "BYRADIUS", "1", "km", "ASC"],
     GEO_MEMBERS, 0.25),
    ("GEOSEARCH box count", ["GEOSEARCH", "city", "FROMMEMBER", "m:__rand_int__", "BYBOX", "2", "2", "km", "ASC",
                             "COUNT", "10", "WITHDIST"], GEO_MEMBERS, 0.25),
    ("SORT", ["SORT", "numbers"], 1, 0.05),
    ("SORT ALPHA LIMIT", ["SORT", "numbers", "ALPHA", "LIMIT", "0", "10"], 1, 0.05),
]
MODES = [("unpipelined -c 50", ["-c", "50"]), ("pipelined -P 16", ["-c", "50", "-P", "16"])]


def _resp(*args: str) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def dataset() -> bytes:
    """The commands that load the search and SORT keys (the same on both servers)."""
    rng = random.Random(20)
    commands = []
    for start in range(0, GEO_MEMBERS, 500):
        triples: list[str] = []
        for i in range(start, start + 500):
            triples += [f"{rng.uniform(13.2, 13.6):.6f}", f"{rng.uniform(52.4, 52.6):.6f}", f"m:{i:012d}"]
        commands.append(_resp("GEOADD", "city", *triples))
    commands.append(_resp("RPUSH", "numbers", *(str(rng.randrange(1_000_000)) for _ in range(SORT_ELEMENTS))))
    return b"".join(commands)


def load(port: int, payload: bytes) -> None:
    result = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=payload, capture_output=True, timeout=120)
    if result.returncode or b"errors: 0" not in result.stdout:
        raise RuntimeError(f"loading the data set failed: {result.stdout!r} {result.stderr!r}")


def closed_loop(port: int, pid: int, requests: list[bytes], total: int, depth: int,
                connections: int = 50) -> tuple[float, float]:
    """(requests per second, server CPU microseconds per request) of ``total``
    requests taken round robin from ``requests`` (each answered by one line),
    ``depth`` in flight on each connection."""
    batches = [b"".join(requests[i:i + depth]) for i in range(0, len(requests) - depth + 1, depth)]
    selector = selectors.DefaultSelector()
    socks = []
    pending: dict[socket.socket, int] = {}
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(sock)
    sent = done = 0
    next_batch = 0
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    for sock in socks:
        sock.sendall(batches[next_batch % len(batches)])
        next_batch += 1
        sent += depth
        pending[sock] = depth
        selector.register(sock, selectors.EVENT_READ)
    deadline = started + 300
    while done < sent:
        if time.perf_counter() > deadline:
            raise RuntimeError("closed-loop run did not finish in 300 s")
        for key, _ in selector.select(timeout=10):
            sock = key.fileobj  # type: ignore[assignment]
            data = sock.recv(65536)  # type: ignore[union-attr]
            if not data:
                raise RuntimeError("the server closed a connection")
            answered = data.count(b"\n")
            done += answered
            left = pending[sock] - answered  # type: ignore[index]
            if left == 0 and sent < total:
                sock.sendall(batches[next_batch % len(batches)])  # type: ignore[union-attr]
                next_batch += 1
                sent += depth
                left = depth
            pending[sock] = left  # type: ignore[index]
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    for sock in socks:
        selector.unregister(sock)
        sock.close()
    return done / elapsed, cpu * 1e6 / done


def setbit_requests(keyspace: int, count: int = 8192) -> list[bytes]:
    rng = random.Random(1)
    return [_resp("SETBIT", "bits", str(rng.randrange(keyspace)), str(rng.randrange(2))) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="+", metavar="TEST", choices=[name for name, *_ in TESTS],
                        help="run only these tests (default: all)")
    parser.add_argument("--mode", choices=["unpipelined", "pipelined"], help="run only this mode (default: both)")
    args = parser.parse_args()
    pin_load()  # the SETBIT client runs in this process
    ours, our_port = start_ours()
    redis, redis_port = start_redis()
    results: list[Row] = []
    servers = [("ours", our_port, ours.pid), ("redis", redis_port, redis.pid)]
    try:
        payload = dataset()
        load(our_port, payload)
        load(redis_port, payload)
        for name, test_args, keyspace, share in TESTS:
            if args.only and name not in args.only:
                continue
            for mode, mode_args in MODES:
                if args.mode and not mode.startswith(args.mode):
                    continue
                requests = max(200, int(args.requests * share * (4 if "-P" in mode_args else 1)))
                def measure(port: int, pid: int) -> tuple[float, float]:
                    if name == "SETBIT":
                        return closed_loop(port, pid, setbit_requests(keyspace), requests,
                                           16 if "-P" in mode_args else 1)
                    return run_benchmark(port, pid, mode_args + test_args, requests, keyspace)

                results.append(alternate_rounds(name, mode, args.rounds, servers, measure))
    finally:
        stop(ours)
        stop(redis)
    print_ratio_table(results)


if __name__ == "__main__":
    main()
