"""Python cost per request of the RESP server's loop, in-process (no sockets).

Feeds a ``RespConnection`` the exact bytes ``redis-benchmark -P 16`` sends (16
requests per read, random 12-digit key suffixes as with ``-r 100000``) through
``data_received`` and times it, writes going to a transport that only counts.
This isolates read -> parse -> execute -> encode -> write from the kernel and
the load generator, so small changes show above the machine's noise.

CPU time of this process is measured (not wall time), so other load on the
machine disturbs it less.

With ``--appendfsync everysec|always`` the connection's server has an append-only
file (in a temporary directory) and the AOF's end-of-iteration write (and fsync)
runs after each read, as the event loop would run it: the AOF's CPU cost per request.

With ``--maxmemory SIZE [--policy P]`` the broker has that limit (filled past it
during the warm-up, so that every SET evicts), and ``--fresh`` makes every timed
read a new one (new keys drawn from ``--keyspace``, 10M for "every write is a new
key"), as ``bench/maxmemory.py``'s pipelined SET at the limit: the cost of an
evicting SET against a new-key SET without a limit, in-process.

With ``--acl "RULES"`` the connection is logged in as an ACL user with those rules
(``"+@all ~key:* ~counter:* ~my* &bench:*"``): the cost of checking each command,
which the default all-permissive user never pays.

With ``--config NAME=VALUE`` (repeatable) the broker starts with that parameter, e.g.
``--config slowlog-log-slower-than=-1``: under valgrind a batch takes long enough to
reach the slow log's 10 ms, which on a real run only a slow command does.

Usage: python bench/resp_hotpath.py [--batches 20000] [--pipeline 16] [--repeat 5] [--appendfsync P]
       [--acl RULES] [--config NAME=VALUE ...] [--maxmemory SIZE] [--policy P] [--keyspace N]
       [--fresh [--fresh-reads N]] [TEST ...]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from broker.core import Broker  # noqa: E402
from broker.fdlimit import FdBudget  # noqa: E402
from broker.persistence.aof import AppendOnlyFile  # noqa: E402
from broker.server import RespConnection, RespServer, tune_gc  # noqa: E402

# redis-benchmark's command lines; __rand_int__ is replaced per request.
TESTS: dict[str, list[bytes]] = {
    "PING": [b"PING"],
    "SET": [b"SET", b"key:__rand_int__", b"xxx"],
    "GET": [b"GET", b"key:__rand_int__"],
    "INCR": [b"INCR", b"counter:__rand_int__"],
    "HSET": [b"HSET", b"myhash", b"element:__rand_int__", b"xxx"],
    "ZADD": [b"ZADD", b"myzset", b"__rand_int__", b"element:__rand_int__"],
    "PUBLISH": [b"PUBLISH", b"bench:channel", b"hello-world-message"],
}


class CountingTransport:
    """Just enough of asyncio.Transport for RespConnection."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        pass


def encode_request(template: list[bytes], rng: random.Random, keyspace: int = 100_000) -> bytes:
    args = [arg.replace(b"__rand_int__", b"%012d" % rng.randrange(keyspace)) for arg in template]
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args)



def in_process_connection(config: dict[str, str]) -> tuple[Broker, RespConnection]:
    """A broker and one RESP connection to it on a counting transport: the server's
    request cycle (parse, execute, encode) with no socket and no event loop."""
    broker = Broker(config=config)
    server = RespServer.__new__(RespServer)
    server.broker = broker
    server.aof = AppendOnlyFile(broker)
    server.aof.start()
    server.pubsub_hard_limit = server.pubsub_soft_limit = server.pubsub_soft_seconds = 0
    server.connections = set()
    server.fd_budget = FdBudget()
    server.fd_budget.register("resp", server.connections.__len__)
    server.loop = None  # type: ignore[assignment]
    connection = RespConnection(server)
    connection.connection_made(CountingTransport())  # type: ignore[arg-type]
    return broker, connection


def run(name: str, batches: int, pipeline: int, repeat: int, appendfsync: str = "", acl: str = "",
        settings: dict[str, str] | None = None, maxmemory: str = "", policy: str = "allkeys-lru",
        keyspace: int = 100_000, fresh: bool = False, fresh_reads: int = 0, samples: int = 5) -> float:
    """Median microseconds per request over ``repeat`` timed passes."""
    directory = tempfile.mkdtemp(prefix="hotpath-aof-")
    config = {"dir": directory, "appendonly": "yes", "appendfsync": appendfsync} if appendfsync else {}
    if maxmemory:
        config.update({"maxmemory": maxmemory, "maxmemory-policy": policy, "maxmemory-samples": str(samples)})
    config.update(settings or {})
    broker, connection = in_process_connection(config)
    if acl:
        broker.execute(connection, [b"ACL", b"SETUSER", b"bench", b"on", b"nopass", *acl.encode().split()])
        broker.execute(connection, [b"AUTH", b"bench", b"any"])
        connection.refresh_special()
    rng = random.Random(1)
    def new_read() -> bytes:
        return b"".join(encode_request(TESTS[name], rng, keyspace) for _ in range(pipeline))

    reads = [new_read() for _ in range(1024)]
    received = connection.data_received
    aof = connection.server.aof
    if appendfsync:
        def feed(data: bytes) -> None:
            received(data)
            aof.before_sleep()  # the end of the loop iteration: write (+ fsync), release replies
    else:
        feed = received
    for data in reads:  # warm up (and fill the keyspace a little)
        feed(data)
    for _ in range(100_000):  # with a limit: past it, so that every write evicts
        if not maxmemory or broker.stats.evicted_keys:
            break
        feed(new_read())
    # (generated before the timed passes; under callgrind give two runs the same
    # --fresh-reads, so that generating them cancels out of the difference)
    timed = [new_read() for _ in range(max(batches * repeat, fresh_reads))] if fresh else None
    tune_gc()  # as the server does once listening
    samples = []
    for round_ in range(repeat):
        start = time.process_time()
        if timed is not None:
            for data in timed[round_ * batches:(round_ + 1) * batches]:
                feed(data)
        for i in range(0 if timed is not None else batches):
            feed(reads[i & 1023])
        samples.append((time.process_time() - start) / (batches * pipeline) * 1e6)
    aof.close()
    shutil.rmtree(directory, ignore_errors=True)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tests", nargs="*", default=list(TESTS))
    parser.add_argument("--batches", type=int, default=20_000)
    parser.add_argument("--pipeline", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--appendfsync", choices=["everysec", "always", "no"], default="",
                        help="with an append-only file (default: none)")
    parser.add_argument("--acl", default="", metavar="RULES", help="run as an ACL user with these rules")
    parser.add_argument("--config", action="append", default=[], metavar="NAME=VALUE",
                        help="start the broker with this parameter (repeatable)")
    parser.add_argument("--maxmemory", default="", metavar="SIZE", help="with this limit, filled past it first")
    parser.add_argument("--policy", default="allkeys-lru", help="maxmemory-policy with --maxmemory")
    parser.add_argument("--keyspace", type=int, default=100_000, help="keys drawn from this many")
    parser.add_argument("--fresh", action="store_true", help="every timed read new (new keys), none repeated")
    parser.add_argument("--samples", type=int, default=5, help="maxmemory-samples with --maxmemory")
    parser.add_argument("--fresh-reads", type=int, default=0, help="generate at least this many fresh reads")
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.config)
    for name in args.tests:
        us = run(name.upper(), args.batches, args.pipeline, args.repeat, args.appendfsync, args.acl, settings,
                 args.maxmemory, args.policy, args.keyspace, args.fresh, args.fresh_reads, args.samples)
        print(f"  {name.upper():<8} {us:6.3f} us/request  ({1e6 / us:>10,.0f} requests/s of Python)", flush=True)


if __name__ == "__main__":
    main()
