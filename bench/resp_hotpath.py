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

With ``--acl "RULES"`` the connection is logged in as an ACL user with those rules
(``"+@all ~key:* ~counter:* ~my* &bench:*"``): the cost of checking each command,
which the default all-permissive user never pays.

With ``--config NAME=VALUE`` (repeatable) the broker starts with that parameter, e.g.
``--config slowlog-log-slower-than=-1``: under valgrind a batch takes long enough to
reach the slow log's 10 ms, which on a real run only a slow command does.

Usage: python bench/resp_hotpath.py [--batches 20000] [--pipeline 16] [--repeat 5] [--appendfsync P]
       [--acl RULES] [--config NAME=VALUE ...] [TEST ...]
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


def encode_request(template: list[bytes], rng: random.Random) -> bytes:
    args = [arg.replace(b"__rand_int__", b"%012d" % rng.randrange(100_000)) for arg in template]
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args)


def run(name: str, batches: int, pipeline: int, repeat: int, appendfsync: str = "", acl: str = "",
        settings: dict[str, str] | None = None) -> float:
    """Median microseconds per request over ``repeat`` timed passes."""
    directory = tempfile.mkdtemp(prefix="hotpath-aof-")
    config = {"dir": directory, "appendonly": "yes", "appendfsync": appendfsync} if appendfsync else {}
    config.update(settings or {})
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
    if acl:
        broker.execute(connection, [b"ACL", b"SETUSER", b"bench", b"on", b"nopass", *acl.encode().split()])
        broker.execute(connection, [b"AUTH", b"bench", b"any"])
        connection.refresh_special()
    rng = random.Random(1)
    reads = [b"".join(encode_request(TESTS[name], rng) for _ in range(pipeline)) for _ in range(1024)]
    received = connection.data_received
    aof = server.aof
    if appendfsync:
        def feed(data: bytes) -> None:
            received(data)
            aof.before_sleep()  # the end of the loop iteration: write (+ fsync), release replies
    else:
        feed = received
    for data in reads:  # warm up (and fill the keyspace a little)
        feed(data)
    tune_gc()  # as the server does once listening
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        for i in range(batches):
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
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.config)
    for name in args.tests:
        us = run(name.upper(), args.batches, args.pipeline, args.repeat, args.appendfsync, args.acl, settings)
        print(f"  {name.upper():<8} {us:6.3f} us/request  ({1e6 / us:>10,.0f} requests/s of Python)", flush=True)


if __name__ == "__main__":
    main()
