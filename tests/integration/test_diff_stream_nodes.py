"""Stream trimming by nodes, against a real redis-server.

Redis keeps a stream as a radix tree of listpack nodes, each closed once it holds
``stream-node-max-entries`` entries (deleted ones included) or its bytes reach
``stream-node-max-bytes``; ``~`` trimming and ``LIMIT`` remove whole nodes only. So
what ``XADD ... MAXLEN ~ n`` or ``XTRIM ... MINID ~ id LIMIT k`` leaves depends on
where the node boundaries fall, which these scripts compare entry by entry: random
field sizes (integers and strings, so listpack encodings vary), XDELs, exact and
approximate trims, under several node limits. Ids are explicit, so both servers
get the same ones.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.support.differential import assert_same_replies


def _session(seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    entries, node_bytes = rng.choice([(100, 4096), (10, 4096), (5, 0), (0, 300), (7, 200), (100, 64)])
    script: list[tuple[Any, ...]] = [
        ("CONFIG", "SET", "stream-node-max-entries", entries), ("CONFIG", "SET", "stream-node-max-bytes", node_bytes)]
    ms = 1
    for _ in range(300):
        roll = rng.random()
        ms += rng.choice([0, 1, 1, 2, 1000, 70000])
        seq = rng.choice([0, 1, 5, 200])
        value = rng.choice(["v", str(rng.randint(-5000, 5000)), "x" * rng.randint(1, 90), str(rng.randint(0, 2**40))])
        fields = rng.choice([["f", value], ["f", value, "g", "1"], ["other", value]])
        if roll < 0.75:
            trim: list[Any] = []
            if rng.random() < 0.15:
                trim = rng.choice([["MAXLEN", "~", rng.randint(0, 40)], ["MAXLEN", rng.randint(0, 40)],
                                   ["MINID", "~", f"{ms - rng.randint(0, 200)}"],
                                   ["MAXLEN", "~", rng.randint(0, 40), "LIMIT", rng.choice([0, 1, 5, 10, 30])]])
            script.append(("XADD", "s", *trim, f"{ms}-{seq}", *fields))
        elif roll < 0.85:
            script.append(("XDEL", "s", f"{ms - rng.randint(0, 5000)}-{rng.choice([0, 1, 5])}"))
        elif roll < 0.93:
            script.append(("XTRIM", "s", *rng.choice([
                ["MAXLEN", "~", rng.randint(0, 60)], ["MINID", "~", f"{ms - rng.randint(0, 3000)}"],
                ["MAXLEN", "~", rng.randint(0, 60), "LIMIT", rng.choice([0, 3, 10, 25])],
                ["MINID", "~", f"{ms}", "LIMIT", rng.choice([1, 10, 50])], ["MAXLEN", "=", rng.randint(0, 60)],
                ["MINID", f"{ms - rng.randint(0, 3000)}"]])))
        else:
            script.append(("XLEN", "s"))
        if rng.random() < 0.1:
            script.append(("XRANGE", "s", "-", "+"))
    script += [("XRANGE", "s", "-", "+"), ("CONFIG", "SET", "stream-node-max-entries", 100),
               ("CONFIG", "SET", "stream-node-max-bytes", 4096)]
    return script


SCRIPTS: dict[str, list[tuple[Any, ...]]] = {
    # the Tcl tests "XADD with LIMIT consecutive calls" and "XTRIM with ~ is limited"
    "limit_consecutive": [
        ("CONFIG", "SET", "stream-node-max-entries", 10),
        *[("XADD", "m", f"{i}-0", "xitem", i) for i in range(1, 101)],
        ("XADD", "m", "MAXLEN", "~", 55, "101-0", "xitem", 100), ("XLEN", "m"),
        ("XADD", "m", "MAXLEN", "~", 55, "LIMIT", 30, "102-0", "xitem", 101), ("XLEN", "m"),
        ("XTRIM", "m", "MAXLEN", "~", 1, "LIMIT", 30), ("XLEN", "m"), ("XTRIM", "m", "MAXLEN", "~", 0), ("XLEN", "m"),
        ("CONFIG", "SET", "stream-node-max-entries", 1), *[("XADD", "n", f"{i}-0", "f", i) for i in range(1, 103)],
        ("XTRIM", "n", "MAXLEN", "~", 1), ("XLEN", "n"), ("CONFIG", "SET", "stream-node-max-entries", 100),
    ],
    "xadd_ids_and_options": [
        ("XADD", "x", "2577343934890-18446744073709551615", "f", "v"), ("XADD", "x", "*", "f2", "v2"),
        ("XRANGE", "x", "-", "+"), ("XADD", "x", "2577343934891-*", "f", "v"),
        ("XADD", "y", "18446744073709551615-18446744073709551615", "f", "v"), ("XADD", "y", "*", "f", "v"),
        ("XADD", "y", "1-1", "f", "v"), ("XADD", "z", "-", "f", "v"), ("XADD", "z", "+", "f", "v"),
        ("XADD", "z", "0-*", "f", "v"), ("XADD", "z", "MAXLEN", 1, "MINID", 1, "*", "f", "v"),
        ("XADD", "z", "MAXLEN", 1, "MAXLEN", 2, "*", "f", "v"), ("XADD", "z", "LIMIT", 5, "*", "f", "v"),
        ("XADD", "z", "LIMIT", 0, "*", "f", "v"), ("XADD", "z", "MAXLEN", 1, "LIMIT", 5, "*", "f", "v"),
        ("XADD", "z", "MINID", "-", "*", "f", "v"), ("XADD", "z", "0-0", "f"), ("XADD", "z", "bad", "f"),
        ("XADD", "z", "MAXLEN"), ("XADD", "z", "NOMKSTREAM", "MAXLEN", "~", 3, "9-1", "f", "v"),
        ("XTRIM", "z", "LIMIT", 3), ("XTRIM", "z", "MAXLEN", 1, "MINID", 1), ("XTRIM", "z", "MINID", "+"),
        ("XTRIM", "z", "BAD", 1), ("XTRIM", "z", "MAXLEN", "~", 1, "LIMIT", -1), ("XINFO", "STREAM", "z"),
    ],
    **{f"random_{seed}": _session(seed) for seed in range(8)},
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_stream_nodes_as_redis(redis_server: Any, fanout_broker: Any, name: str) -> None:
    assert_same_replies(redis_server.port, fanout_broker.port, SCRIPTS[name])
