"""LCS against a real redis-server: the string, LEN, IDX ranges in Redis's order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.differential import assert_same_replies

SCRIPT: list[tuple[Any, ...]] = [
    ("MSET", "a", "ohmytext", "b", "mynewtext", "e", "", "n", "12345", "m", "2x4y5"),
    ("LCS", "a", "b"), ("LCS", "a", "b", "LEN"), ("LCS", "a", "b", "IDX"), ("LCS", "a", "b", "IDX", "WITHMATCHLEN"),
    ("LCS", "a", "b", "IDX", "MINMATCHLEN", 4), ("LCS", "a", "b", "IDX", "MINMATCHLEN", -4, "WITHMATCHLEN"),
    ("LCS", "a", "b", "LEN", "IDX"), ("LCS", "a", "b", "MINMATCHLEN"), ("LCS", "a", "b", "MINMATCHLEN", "x"),
    ("LCS", "a", "b", "FOO"), ("LCS", "a", "missing"), ("LCS", "missing", "a", "IDX"), ("LCS", "e", "a", "LEN"),
    ("LCS", "n", "m"), ("LCS", "n", "m", "IDX", "WITHMATCHLEN"), ("LCS", "a", "a", "IDX"), ("HSET", "h", "f", "v"),
    ("LCS", "a", "h"), ("LCS", "h", "a", "LEN"), ("LCS", "a"), ("lcs", "a", "b", "idx", "len"),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_lcs_script(redis_server, fanout_broker, protocol: int) -> None:
    assert_same_replies(redis_server.port, fanout_broker.port, SCRIPT, protocol=protocol)


def test_lcs_table_limit(redis_server, fanout_broker) -> None:
    script = [("CONFIG", "SET", "proto-max-bulk-len", "1048576"), ("SET", "x", "a" * 600), ("SET", "y", "b" * 600),
              ("LCS", "x", "y", "LEN"), ("CONFIG", "SET", "proto-max-bulk-len", "536870912")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.binary(max_size=40).map(lambda s: bytes(c % 4 + 97 for c in s)),
       b=st.binary(max_size=40).map(lambda s: bytes(c % 4 + 97 for c in s)),
       minimum=st.integers(0, 4), with_len=st.booleans())
def test_random_lcs(redis_server, fanout_broker, a, b, minimum, with_len) -> None:
    options = ["IDX", "MINMATCHLEN", str(minimum)] + (["WITHMATCHLEN"] if with_len else [])
    script = [("SET", "a", a), ("SET", "b", b), ("LCS", "a", "b"), ("LCS", "a", "b", *options),
              ("LCS", "b", "a", "LEN")]
    assert_same_replies(redis_server.port, fanout_broker.port, script, protocol=3)
