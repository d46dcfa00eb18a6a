"""maxmemory (issue 18): our broker vs redis-server, side by side in one run.

1. Pipelined SET (redis-benchmark -P 16 -c 50, 100-byte values, keys drawn from
   10M so nearly every write is a new key) with maxmemory reached under
   allkeys-lru, so every write evicts; against redis-server with the same limit
   (target >= 0.4x) and against our own broker without a limit (target: no more
   than 20% below). Each server is filled past its limit first.
2. Hit rate of a Zipf-distributed cache-aside workload (GET, and SET on a miss;
   s = 1.0 over 200k keys) under allkeys-lru and allkeys-lfu at the same
   maxmemory. A key costs more here (Python objects) than in Redis, so at one
   limit we hold fewer keys: the run also gives ours the limit at which it holds
   as many keys as redis-server did, which compares the policies alone.

Usage: python bench/maxmemory.py [--requests 300000] [--rounds 3] [--maxmemory 16mb] [--ops 300000]
       [--zipf-maxmemory 4mb] [--only set|zipf]
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import statistics
import subprocess
from typing import Any

from broker_vs_redis import run_benchmark
from common import pin_load, start_ours, start_redis, stop

import redis


def _parse_size(text: str) -> int:
    units = {"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30}
    for unit, factor in units.items():
        if text.lower().endswith(unit):
            return int(text[:-2]) * factor
    return int(text)


# --------------------------------------------------------------- SET throughput

SET_ARGS = ["-t", "set", "-c", "50", "-P", "16", "-d", "100"]


def _set_rate(server: tuple[subprocess.Popen[bytes], int], requests: int) -> tuple[float, float]:
    process, port = server
    return run_benchmark(port, process.pid, [*SET_ARGS, "-r", "10000000"], requests)


def set_throughput(requests: int, rounds: int, maxmemory: int) -> None:
    limit = ["--maxmemory", str(maxmemory), "--maxmemory-policy", "allkeys-lru"]
    servers = {"redis-server (limit)": start_redis(*limit), "fanout (limit)": start_ours(*limit),
               "fanout (no limit)": start_ours()}
    try:
        for name, server in servers.items():
            if "limit)" in name and "no" not in name:
                _set_rate(server, requests)  # fill past the limit: from now on every write evicts
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
        for _ in range(rounds):
            for name, server in servers.items():
                results[name].append(_set_rate(server, requests))
        rates = {name: statistics.median(rate for rate, _ in runs) for name, runs in results.items()}
        cpus = {name: statistics.median(cpu for _, cpu in runs) for name, runs in results.items()}
        for name, server in servers.items():
            client = redis.Redis(port=server[1])
            info = client.info()
            print(f"  {name:22} {rates[name]:>10,.0f} SET/s  {cpus[name]:6.2f} us CPU/SET  "
                  f"used_memory {info['used_memory'] / 2**20:6.1f} MB  evicted {info['evicted_keys']:>9,}")
            client.close()
        ours, theirs, free = rates["fanout (limit)"], rates["redis-server (limit)"], rates["fanout (no limit)"]
        print(f"  at the limit vs redis-server: {ours / theirs:.2f}x (target >= 0.4x; cpu ratio "
              f"{cpus['redis-server (limit)'] / cpus['fanout (limit)']:.2f}x)")
        print(f"  at the limit vs no limit:     {ours / free:.2f}x (target >= 0.8x; cpu ratio "
              f"{cpus['fanout (no limit)'] / cpus['fanout (limit)']:.2f}x)")
    finally:
        for process, _ in servers.values():
            stop(process)


# ------------------------------------------------------------------ Zipf hit rate

def zipf_keys(count: int, keys: int, s: float = 1.0, seed: int = 18) -> list[int]:
    """``count`` draws of ranks 0..keys-1 with P(rank k) ~ 1 / (k + 1) ** s."""
    weights = [1.0 / (rank + 1) ** s for rank in range(keys)]
    cdf = list(itertools.accumulate(weights))
    total = cdf[-1]
    rng = random.Random(seed)
    # ranks are scattered over the key names, so no policy sees them in order
    names = list(range(keys))
    rng.shuffle(names)
    return [names[min(bisect.bisect_left(cdf, rng.random() * total), keys - 1)] for _ in range(count)]


def hit_rate(port: int, draws: list[int], batch: int = 200) -> dict[str, Any]:
    """Cache-aside: GET each drawn key; SET it (100 bytes) on a miss. Pipelined by
    ``batch`` GETs, then the batch's SETs. The first quarter warms up, uncounted."""
    client = redis.Redis(port=port)
    value = b"v" * 100
    hits = reads = 0
    warm = len(draws) // 4
    for start in range(0, len(draws), batch):
        names = [f"key:{rank}" for rank in draws[start:start + batch]]
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.get(name)
        values = pipe.execute()
        pipe = client.pipeline(transaction=False)
        for name, found in zip(names, values):
            if found is None:
                pipe.set(name, value)
        pipe.execute()
        if start >= warm:
            reads += len(names)
            hits += sum(1 for found in values if found is not None)
    info = client.info()
    result = {"hit_rate": hits / reads, "keys": client.dbsize(), "used_memory": info["used_memory"],
              "evicted": info["evicted_keys"]}
    client.close()
    return result


def zipf_hit_rates(ops: int, maxmemory: int) -> None:
    draws = zipf_keys(ops, 200_000)
    for policy in ("allkeys-lru", "allkeys-lfu"):
        limit = ["--maxmemory-policy", policy]
        runs: dict[str, dict[str, Any]] = {}
        for name, start in (("redis-server", start_redis), ("fanout", start_ours)):
            process, port = start("--maxmemory", str(maxmemory), *limit)
            try:
                runs[name] = hit_rate(port, draws)
            finally:
                stop(process)
        # the limit at which ours holds as many keys as redis-server did
        per_key = (runs["fanout"]["used_memory"] - (1 << 20)) / max(runs["fanout"]["keys"], 1)
        equal = int((1 << 20) + per_key * runs["redis-server"]["keys"])
        process, port = start_ours("--maxmemory", str(equal), *limit)
        try:
            runs["fanout (same keys)"] = hit_rate(port, draws)
        finally:
            stop(process)
        for name, run in runs.items():
            print(f"  {policy} {name:18} hit rate {run['hit_rate']:.3f}  keys {run['keys']:>7,}  "
                  f"used_memory {run['used_memory'] / 2**20:6.1f} MB  evicted {run['evicted']:>8,}")
        print(f"  {policy} hit rate ratio: {runs['fanout']['hit_rate'] / runs['redis-server']['hit_rate']:.2f}x at "
              f"the same maxmemory, {runs['fanout (same keys)']['hit_rate'] / runs['redis-server']['hit_rate']:.2f}x "
              f"holding as many keys")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--maxmemory", default="16mb")
    parser.add_argument("--ops", type=int, default=300_000)
    # small enough that redis-server evicts too: 200k keys, ~60k distinct ones drawn
    parser.add_argument("--zipf-maxmemory", default="4mb")
    parser.add_argument("--only", choices=["set", "zipf"])
    args = parser.parse_args()
    pin_load()
    maxmemory = _parse_size(args.maxmemory)
    if args.only != "zipf":
        print(f"Pipelined SET at maxmemory {args.maxmemory} under allkeys-lru (every write evicts):")
        set_throughput(args.requests, args.rounds, maxmemory)
    if args.only != "set":
        print(f"Zipf (s=1.0, 200k keys) cache-aside hit rate at maxmemory {args.zipf_maxmemory}:")
        zipf_hit_rates(args.ops, _parse_size(args.zipf_maxmemory))


if __name__ == "__main__":
    main()
