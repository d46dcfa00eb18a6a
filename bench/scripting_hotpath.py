"""Python+Lua cost of one EVALSHA in the RESP server's loop, in-process (no sockets).

``resp_hotpath.py``'s method for scripts: the bytes ``redis-benchmark`` sends for
``EVALSHA <sha> 1 <key> <arg>`` (random key suffixes as with ``-r 100000``) fed
to a ``RespConnection`` whose transport only counts, one request per read
(unpipelined) or ``--pipeline`` per read. Scripts:

- ``ret1``: ``return 1`` (entering and leaving a script, nothing else);
- ``incr``: ``return redis.call('INCR', KEYS[1])`` (one redis.call);
- ``ratelimit``: bench/scripting.py's INCR + EXPIRE of a new key;
- ``lock``: redis-py's lock release (GET, compare, no DEL: another owner's lock).

Under callgrind the instruction count per request is the stable figure: run it
twice with different ``--batches`` and divide the difference (``--callgrind``
does that: it runs itself twice under valgrind and prints Ir per request).

Usage: python bench/scripting_hotpath.py [--batches 20000] [--pipeline 1] [--repeat 5] [SCRIPT ...]
       python bench/scripting_hotpath.py --callgrind [--pipeline 1] [--span LOW HIGH] [SCRIPT ...]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from resp_hotpath import encode_request, in_process_connection  # noqa: E402

from broker.server import tune_gc  # noqa: E402

RATE_LIMIT = b"""local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n"""
# redis-py's Lock.LUA_RELEASE_SCRIPT
LOCK_RELEASE = b"""
        local token = redis.call('get', KEYS[1])
        if not token or token ~= ARGV[1] then
            return 0
        end
        redis.call('del', KEYS[1])
        return 1
    """

# name -> (script body, key template, argument)
SCRIPTS: dict[str, tuple[bytes, bytes, bytes]] = {
    "ret1": (b"return 1", b"key:__rand_int__", b"x"),
    "incr": (b"return redis.call('INCR', KEYS[1])", b"counter:__rand_int__", b"x"),
    "ratelimit": (RATE_LIMIT, b"ratelimit:__rand_int__", b"60"),
    "lock": (LOCK_RELEASE, b"lock:bench", b"not-the-owner"),
}


def run(name: str, batches: int, pipeline: int, repeat: int, config: dict[str, str] | None = None) -> float:
    """Median CPU microseconds per request over ``repeat`` timed passes."""
    body, key, arg = SCRIPTS[name]
    broker, connection = in_process_connection(config or {})
    broker.execute(connection, [b"SCRIPT", b"LOAD", body])
    broker.execute(connection, [b"SET", b"lock:bench", b"owner-token"])
    sha = hashlib.sha1(body).hexdigest().encode()
    template = [b"EVALSHA", sha, b"1", key, arg]
    rng = random.Random(1)
    reads = [b"".join(encode_request(template, rng) for _ in range(pipeline)) for _ in range(1024)]
    feed = connection.data_received
    for data in reads:  # warm up
        feed(data)
    tune_gc()
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        for i in range(batches):
            feed(reads[i & 1023])
        samples.append((time.process_time() - start) / (batches * pipeline) * 1e6)
    connection.server.aof.close()
    return statistics.median(samples)


def callgrind(name: str, pipeline: int, low: int, high: int) -> float:
    """Instructions per request: (Ir at ``high`` batches - Ir at ``low``) / requests between."""
    counts = []
    for batches in (low, high):
        with tempfile.TemporaryDirectory() as directory:
            out = os.path.join(directory, "callgrind.out")
            result = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
                 "--batches", str(batches), "--pipeline", str(pipeline), "--repeat", "1",
                 "--config", "slowlog-log-slower-than=-1", name],
                capture_output=True, text=True, timeout=3600)
            match = re.search(r"Collected : (\d+)", result.stderr)
            if match is None:
                raise RuntimeError(f"no callgrind total: {result.stderr[-2000:]}")
            counts.append(int(match.group(1)))
    return (counts[1] - counts[0]) / ((high - low) * pipeline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scripts", nargs="*", default=list(SCRIPTS), help=f"of {sorted(SCRIPTS)}")
    parser.add_argument("--batches", type=int, default=20_000)
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--callgrind", action="store_true", help="instructions per request under callgrind")
    parser.add_argument("--config", action="append", default=[], metavar="NAME=VALUE",
                        help="a broker parameter (--callgrind sets slowlog-log-slower-than=-1: under valgrind "
                             "a batch takes long enough to reach the slow log, and how long depends on the "
                             "machine's load, so the count would too)")
    parser.add_argument("--span", type=int, nargs=2, metavar=("LOW", "HIGH"),
                        help="--callgrind's two read counts (default 200 1200 unpipelined, 20 120 pipelined); "
                             "a wider span averages out the odd collection that lands in one run only")
    args = parser.parse_args()
    for name in args.scripts:
        if args.callgrind:
            low, high = args.span or ((200, 1200) if args.pipeline == 1 else (20, 120))
            ir = callgrind(name, args.pipeline, low, high)
            print(f"  {name:<10} -P {args.pipeline:<3} {ir / 1000:7.1f}k instructions/request", flush=True)
        else:
            config = dict(item.split("=", 1) for item in args.config)
            us = run(name, args.batches, args.pipeline, args.repeat, config)
            print(f"  {name:<10} -P {args.pipeline:<3} {us:6.3f} us/request", flush=True)


if __name__ == "__main__":
    main()
