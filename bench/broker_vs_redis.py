"""Our broker vs redis-server, side by side, driven by redis-benchmark.

Each server runs pinned to core 0, redis-benchmark to core 1. For every command
and mode (unpipelined -c 50, pipelined -P 16) the two servers are measured
alternately, --rounds times, and the medians and their ratio are printed.

Usage: python bench/broker_vs_redis.py [--requests 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import subprocess

from common import LOAD_CORE, start_ours, start_redis, stop, taskset

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


def run_benchmark(port: int, args: list[str], requests: int) -> float:
    command = taskset(LOAD_CORE) + ["redis-benchmark", "-p", str(port), "-n", str(requests), "-r", "100000",
                                    "--csv", *args]
    output = subprocess.run(command, capture_output=True, text=True, timeout=600).stdout
    rows = [row for row in csv.reader(io.StringIO(output)) if row and row[0] != "test"]
    if not rows:
        raise RuntimeError(f"redis-benchmark printed nothing usable: {output!r}")
    return float(rows[-1][1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ours, our_port = start_ours()
    redis, redis_port = start_redis()
    results = []
    try:
        for name, test_args in TESTS:
            for mode, mode_args in MODES:
                requests = args.requests * (4 if "-P" in mode_args else 1)
                samples: dict[str, list[float]] = {"ours": [], "redis": []}
                for _ in range(args.rounds):
                    samples["ours"].append(run_benchmark(our_port, mode_args + test_args, requests))
                    samples["redis"].append(run_benchmark(redis_port, mode_args + test_args, requests))
                a, b = statistics.median(samples["ours"]), statistics.median(samples["redis"])
                results.append((name, mode, a, b))
                print(f"  {name:<8} {mode:<18} fanout {a:>12,.0f}/s  redis-server {b:>12,.0f}/s  "
                      f"ratio {a / b:.2f}", flush=True)
    finally:
        stop(ours)
        stop(redis)
    print()
    print("| command | mode | fanout broker ops/s | redis-server ops/s | ratio |")
    print("|---|---|---:|---:|---:|")
    for name, mode, a, b in results:
        print(f"| {name} | {mode} | {a:,.0f} | {b:,.0f} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
