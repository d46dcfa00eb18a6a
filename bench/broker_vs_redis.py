"""Our broker vs redis-server, side by side, driven by redis-benchmark.

Each server runs pinned to core 0, redis-benchmark to core 1. For every command
and mode (unpipelined -c 50, pipelined -P 16) the two servers are measured
alternately, --rounds times, and the medians and their ratio are printed.

On a shared machine throughput swings with the other load; the CPU time each
server process spends per request (user + system, from /proc) swings much less,
so the ratio of those ("cpu ratio": Redis's CPU per request over ours) is
printed too. With both servers CPU-bound, as they are at saturation on a quiet
machine, it is what the throughput ratio would be.

Usage: python bench/broker_vs_redis.py [--requests 100000] [--rounds 3] [--only PING SET ...] [--mode pipelined]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess

from common import LOAD_CORE, Row, alternate_rounds, print_ratio_table, start_ours, start_redis, stop, taskset

TESTS: list[tuple[str, list[str]]] = [
    ("PING", ["-t", "ping_mbulk"]),
    ("SET", ["-t", "set"]),
    ("GET", ["-t", "get"]),
    ("INCR", ["-t", "incr"]),
    ("HSET", ["-t", "hset"]),
    ("ZADD", ["-t", "zadd"]),
    ("PUBLISH", ["PUBLISH", "bench:channel", "hello-world-message"]),
]
MODES = [("unpipelined -c 50", ["-c", "50"]), ("pipelined -P 16", ["-c", "50", "-P", "16"])]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_benchmark(port: int, pid: int, args: list[str], requests: int,
                  keyspace: int = 100_000) -> tuple[float, float]:
    """(requests per second, server CPU microseconds per request); ``__rand_int__``
    drawn from ``keyspace`` values."""
    command = taskset(LOAD_CORE) + ["redis-benchmark", "-p", str(port), "-n", str(requests), "-r", str(keyspace),
                                    "--csv", *args]
    cpu_before = cpu_seconds(pid)
    output = subprocess.run(command, capture_output=True, text=True, timeout=600).stdout
    cpu = cpu_seconds(pid) - cpu_before
    rows = [row for row in csv.reader(io.StringIO(output)) if row and row[0] != "test"]
    if not rows:
        raise RuntimeError(f"redis-benchmark printed nothing usable: {output!r}")
    return float(rows[-1][1]), cpu * 1e6 / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="+", metavar="TEST", choices=[name for name, _ in TESTS],
                        help="run only these tests (default: all)")
    parser.add_argument("--mode", choices=["unpipelined", "pipelined"], help="run only this mode (default: both)")
    args = parser.parse_args()
    ours, our_port = start_ours()
    redis, redis_port = start_redis()
    results: list[Row] = []
    servers = [("ours", our_port, ours.pid), ("redis", redis_port, redis.pid)]
    try:
        for name, test_args in TESTS:
            if args.only and name not in args.only:
                continue
            for mode, mode_args in MODES:
                if args.mode and not mode.startswith(args.mode):
                    continue
                requests = args.requests * (4 if "-P" in mode_args else 1)
                results.append(alternate_rounds(
                    name, mode, args.rounds, servers,
                    lambda port, pid: run_benchmark(port, pid, mode_args + test_args, requests)))
    finally:
        stop(ours)
        stop(redis)
    print_ratio_table(results)


if __name__ == "__main__":
    main()
