"""EVALSHA on our broker vs redis-server, side by side, driven by redis-benchmark.

Two scripts, each loaded with SCRIPT LOAD on both servers first:

- rate limit: ``INCR`` of a counter, ``EXPIRE`` when it is new (the classic fixed
  window limiter), on ``-r 100000`` random keys;
- lock release: redis-py's ``Lock`` release script (``GET``, compare with the
  token, ``DEL`` when it matches), on a lock held by another token, so every call
  reads and compares and the key stays.

As bench/broker_vs_redis.py (whose measuring it reuses): servers pinned to core 0,
redis-benchmark to core 1, unpipelined (-c 50) and -P 16, the two servers
measured alternately --rounds times, medians and their ratio printed, plus the
ratio of server CPU per request (steadier than throughput on a shared machine).

Usage: python bench/scripting.py [--requests 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics

import redis
from broker_vs_redis import MODES, run_benchmark
from common import start_ours, start_redis, stop
from redis.lock import Lock

RATE_LIMIT = """local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n"""

SCRIPTS = [
    ("rate limit", RATE_LIMIT, ["1", "ratelimit:__rand_int__", "60"]),
    ("lock release", Lock.LUA_RELEASE_SCRIPT, ["1", "lock:bench", "not-the-owner"]),
]


def prepare(port: int) -> dict[str, str]:
    """Load the scripts on the server at ``port`` and set the lock; name -> sha."""
    client = redis.Redis(port=port)
    client.set("lock:bench", "owner-token")
    shas = {name: client.script_load(body) for name, body, _ in SCRIPTS}
    client.close()
    return shas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ours, our_port = start_ours()
    real, redis_port = start_redis()
    results = []
    try:
        shas = prepare(our_port)
        assert shas == prepare(redis_port), "both servers name a script by the SHA1 of its body"
        for name, _, script_args in SCRIPTS:
            for mode, mode_args in MODES:
                requests = args.requests * (4 if "-P" in mode_args else 1)
                rate: dict[str, list[float]] = {"ours": [], "redis": []}
                cpu: dict[str, list[float]] = {"ours": [], "redis": []}
                for _ in range(args.rounds):
                    for who, port, pid in (("ours", our_port, ours.pid), ("redis", redis_port, real.pid)):
                        ops, us = run_benchmark(port, pid, mode_args + ["EVALSHA", shas[name], *script_args],
                                                requests)
                        rate[who].append(ops)
                        cpu[who].append(us)
                a, b = statistics.median(rate["ours"]), statistics.median(rate["redis"])
                ca, cb = statistics.median(cpu["ours"]), statistics.median(cpu["redis"])
                results.append((name, mode, a, b, ca, cb))
                print(f"  {name:<13} {mode:<18} fanout {a:>10,.0f}/s  redis-server {b:>10,.0f}/s  "
                      f"ratio {a / b:.2f}  cpu/request {ca:.2f} vs {cb:.2f} us  cpu ratio {cb / ca:.2f}",
                      flush=True)
    finally:
        stop(ours)
        stop(real)
    print()
    print("| EVALSHA of | mode | fanout broker ops/s | redis-server ops/s | ratio | cpu µs/request fanout / redis | cpu ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, mode, a, b, ca, cb in results:
        print(f"| {name} | {mode} | {a:,.0f} | {b:,.0f} | {a / b:.2f} | {ca:.2f} / {cb:.2f} | {cb / ca:.2f} |")


if __name__ == "__main__":
    main()
