"""MEMORY USAGE / STATS / DOCTOR / PURGE / HELP against a real redis-server, and
``redis-cli --memkeys`` end to end. Byte counts are estimates of this process's
objects, so they are compared by kind and by order of size, not by value."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.support.differential import assert_same_replies, run_script
from tests.support.servers import start_redis_server

SETUP = [("RPUSH", "l", "a", "b"), ("HSET", "h", "f", "v"), ("SADD", "s", "m"), ("ZADD", "z", "1", "m"),
         ("XADD", "x", "1-1", "f", "v"), ("SET", "str", "value")]

ERRORS = SETUP + [
    ("MEMORY",), ("MEMORY", "USAGE"), ("MEMORY", "USAGE", "l", "SAMPLES"), ("MEMORY", "USAGE", "l", "SAMPLES", "x"),
    ("MEMORY", "USAGE", "l", "SAMPLES", "-1"), ("MEMORY", "USAGE", "l", "FOO", "1"),
    ("MEMORY", "USAGE", "missing", "SAMPLES", "x"), ("MEMORY", "USAGE", "missing"), ("MEMORY", "USAGE", "missing", "SAMPLES", "0"),
    ("MEMORY", "NOPE"), ("MEMORY", "PURGE"), ("MEMORY", "HELP"), ("MEMORY", "PURGE", "extra"), ("MEMORY", "DOCTOR", "x"),
    ("MEMORY", "STATS", "x"),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_memory_replies_and_errors_are_redis_s(redis_server, fanout_broker, protocol):
    assert_same_replies(redis_server.port, fanout_broker.port, ERRORS, protocol=protocol)


def test_memory_usage_is_a_size_for_every_type_and_grows_with_the_value(redis_server, fanout_broker):
    script = SETUP + [("MEMORY", "USAGE", key) for key in ("l", "h", "s", "z", "x", "str")]
    script += [("RPUSH", "big", *[f"item-{n}" for n in range(2000)]), ("MEMORY", "USAGE", "big"),
               ("MEMORY", "USAGE", "big", "SAMPLES", "0"), ("MEMORY", "USAGE", "l", "SAMPLES", "0")]
    for port in (redis_server.port, fanout_broker.port):
        replies = run_script(port, script)[len(SETUP):]
        sizes = replies[:6] + replies[7:]  # replies[6] is RPUSH's length
        assert all(type(size) is int and size > 0 for size in sizes), (port, replies)
        small, big = sizes[0], sizes[6]
        assert big > 20 * small, (port, sizes)


def test_memory_stats_and_doctor_answer_with_redis_s_fields(fanout_broker):
    # A fresh redis-server: the session's one has seen other tests' peaks, and its
    # doctor reports them once the memory left after FLUSHALL passes 5 MB.
    redis_server = start_redis_server()
    stats = {}
    try:
        for name, port in (("redis", redis_server.port), ("fanout", fanout_broker.port)):
            replies = run_script(port, SETUP + [("MEMORY", "STATS"), ("MEMORY", "DOCTOR")])
            flat = replies[-2]
            stats[name] = dict(zip(flat[::2], flat[1::2]))
            assert stats[name][b"keys.count"] == len(SETUP)
            assert replies[-1].startswith(b"Hi Sam")
    finally:
        redis_server.stop()
    ours = set(stats["fanout"])
    assert ours <= set(stats["redis"]) and {b"peak.allocated", b"dataset.bytes", b"keys.count"} <= ours


def test_redis_cli_memkeys_finds_the_biggest_keys(fanout_broker):
    port = str(fanout_broker.port)
    run_script(fanout_broker.port, [("RPUSH", "biglist", *[f"item-{n}" for n in range(500)]),
                                    ("SET", "small", "x"), ("HSET", "hash", "f", "v")])
    done = subprocess.run(["redis-cli", "-p", port, "--memkeys"], capture_output=True, text=True, timeout=30)
    out = done.stdout
    assert "MEMORY USAGE" not in done.stderr + out, done.stderr  # redis-cli warns when the command fails
    biggest = re.search(r"Biggest\s+list found .*biglist.* has (\d+) bytes", out)
    assert biggest is not None and int(biggest.group(1)) > 1000, out
    lists = re.search(r"(\d+) lists with (\d+) bytes", out)
    assert lists is not None and int(lists.group(2)) >= int(biggest.group(1)), out
