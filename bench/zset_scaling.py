"""How sorted set commands scale with the set size (in-process, on the core).

Times ZINCRBY (random member, random increment), ZRANK (random member) and
ZREVRANGE 0 9 WITHSCORES (a leaderboard's top ten) through ``Broker.execute`` on
sets of 1k, 100k and 1M members, and prints microseconds per operation. With an
O(log n) index the per-op time should stay roughly flat as n grows 1000-fold;
an O(n) structure would grow 1000-fold.

Usage: python bench/zset_scaling.py [--sizes 1000,100000,1000000] [--ops 20000]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Callable

from broker.core import Broker, Client
from broker.zset import ZSet


def fill(broker: Broker, client: Client, key: bytes, size: int, rng: random.Random) -> list[bytes]:
    """A leaderboard of ``size`` members with integer-ish scores (many ties)."""
    members = [b"player:%d" % i for i in range(size)]
    # Built in one sort rather than ``size`` ZADDs, to keep set-up time short.
    client.db.add(key, ZSet((member, float(rng.randrange(1_000_000))) for member in members))
    return members


def per_op_us(ops: int, make_argv: Callable[[int], list[bytes]], broker: Broker, client: Client) -> float:
    argvs = [make_argv(i) for i in range(ops)]
    execute = broker.execute
    start = time.perf_counter()
    for argv in argvs:
        execute(client, argv)
    return (time.perf_counter() - start) / ops * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--ops", type=int, default=20000)
    args = parser.parse_args()
    rng = random.Random(42)
    print(f"{'members':>10} {'ZINCRBY us':>11} {'ZRANK us':>9} {'ZREVRANGE 0 9 us':>17}")
    for size in (int(s) for s in args.sizes.split(",")):
        broker = Broker()
        client = Client(broker)
        key = b"lb"
        members = fill(broker, client, key, size, rng)
        incr = per_op_us(args.ops, lambda i: [b"ZINCRBY", key, b"%d" % rng.randrange(1, 100),
                                              rng.choice(members)], broker, client)
        rank = per_op_us(args.ops, lambda i: [b"ZRANK", key, rng.choice(members)], broker, client)
        top = per_op_us(args.ops, lambda i: [b"ZREVRANGE", key, b"0", b"9", b"WITHSCORES"], broker, client)
        print(f"{size:>10} {incr:>11.2f} {rank:>9.2f} {top:>17.2f}")


if __name__ == "__main__":
    main()
