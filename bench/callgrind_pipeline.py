"""Instructions per GET / SET through ``Broker.run_pipeline``, for callgrind (no sockets).

Runs N batches of 16 requests on 1,000 keys of 32 bytes (``get``, ``set`` of an
existing key, ``setnew``: a new key each). Run it under callgrind with N and with 0
and divide the difference of the two instruction totals by 16 N: what one request
costs in the core's hot path, start-up excluded, stable under machine load.

Usage: valgrind --tool=callgrind python bench/callgrind_pipeline.py N get|set|setnew
"""

from __future__ import annotations

import sys
from typing import Any

from broker.core import Broker, Client


class _Client(Client):
    def deliver(self, message: Any) -> None:
        pass

    def resume(self, reply: Any) -> None:
        pass


def main() -> None:
    batches, op = int(sys.argv[1]), sys.argv[2]
    broker = Broker()
    client = _Client(broker)
    broker.connect(client)
    keys = [b"key:%d" % i for i in range(1000)]
    for key in keys:
        broker.execute(client, [b"SET", key, b"x" * 32])
    fixed = ([[b"SET", keys[i], b"y" * 32] for i in range(16)] if op == "set"
             else [[b"GET", keys[i]] for i in range(16)])
    out: list[bytes] = []
    for j in range(batches):
        requests = [[b"SET", b"new:%d:%d" % (j, i), b"v"] for i in range(16)] if op == "setnew" else fixed
        out.clear()
        broker.run_pipeline(client, requests, out)


if __name__ == "__main__":
    main()
