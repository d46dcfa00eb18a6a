"""OBJECT ENCODING after SETBIT and BITFIELD, against a real redis-server.

lookupStringForBitCommand unshares the string (dbUnshareStringValue) before a bit
command writes, so the value is ``raw`` afterwards whether a bit changed or not,
and even when the string reads as an integer or is one byte long; a SET of the
same bytes afterwards is a new ``embstr`` / ``int`` object again. BITFIELD with only
GETs leaves the encoding alone.
"""

from __future__ import annotations

from typing import Any

from tests.support.resp_client import RespClient

STEPS: list[tuple[Any, ...]] = [
    ("SETBIT", "b", 1, 1), ("OBJECT", "ENCODING", "b"),  # a new 1-byte bitmap
    ("SETBIT", "b", 1, 1), ("OBJECT", "ENCODING", "b"),  # no change
    ("SET", "b", "a"), ("OBJECT", "ENCODING", "b"),
    ("SETBIT", "b", 1, 1), ("GET", "b"), ("SET", "b", "a"), ("OBJECT", "ENCODING", "b"),  # same byte back
    ("SET", "s", "12"), ("SETBIT", "s", 1, 1), ("OBJECT", "ENCODING", "s"),
    ("SET", "n", "12"), ("SETBIT", "n", 70, 0), ("OBJECT", "ENCODING", "n"),  # grown
    ("SET", "m", "12"), ("SETBIT", "m", 0, 0), ("OBJECT", "ENCODING", "m"), ("GET", "m"),
    ("SET", "f", "5"), ("BITFIELD", "f", "GET", "u8", 0), ("OBJECT", "ENCODING", "f"),
    ("BITFIELD", "f", "SET", "u8", 0, 53), ("OBJECT", "ENCODING", "f"),
    ("BITFIELD", "g", "INCRBY", "u2", 0, 1), ("OBJECT", "ENCODING", "g"),
    ("SET", "h", "7"), ("SETBIT", "h", 0, 0), ("SET", "h", "7"), ("OBJECT", "ENCODING", "h"),
    ("SETBIT", "z", 3, 1), ("APPEND", "z", "x"), ("OBJECT", "ENCODING", "z"),
    ("SET", "w", "hello"), ("SETBIT", "w", 1, 1), ("OBJECT", "ENCODING", "w"),
    ("SET", "e", "x"), ("SETBIT", "e", 0, 1), ("SET", "e", "x", "KEEPTTL"), ("OBJECT", "ENCODING", "e"),
    ("SET", "r", "9"), ("SETBIT", "r", 7, 1), ("RENAME", "r", "r2"), ("OBJECT", "ENCODING", "r2"),
    ("COPY", "r2", "r3"), ("OBJECT", "ENCODING", "r3"),
]


def _replies(port: int) -> list[tuple[str, Any]]:
    with RespClient(port) as client:
        client.call("FLUSHALL")
        return [(" ".join(map(str, step)), client.call(*step)) for step in STEPS]


def test_bit_commands_leave_raw_strings(redis_server: Any, fanout_broker: Any) -> None:
    expected = _replies(redis_server.port)
    actual = _replies(fanout_broker.port)
    for want, got in zip(expected, actual):
        assert got == want
