"""SORT and SORT_RO against a real redis-server.

Lists keep their order, so every reply over a list is compared exactly, ties of
equal weights included (stable sorts, and Redis's partial quicksort under BY +
LIMIT). A set's own order is Redis's hash order, so replies over sets are
compared exactly only where SORT puts them in a total order.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.differential import assert_same_replies, keyspace_events

NUMBERS = ["3", "1", "2", "10", "-1.5", "2", "1e3", "0x10", "  7", "inf", "-inf", "3"]
WORDS = ["pear", "apple", "fig", "Apple", "banana", "", "kiwi", "fig", "\x00z", "a\x00b"]

SCRIPTS: dict[str, list[tuple[Any, ...]]] = {
    "numeric": [
        ("RPUSH", "l", *NUMBERS), ("SORT", "l"), ("SORT", "l", "DESC"), ("SORT", "l", "LIMIT", 2, 3),
        ("SORT", "l", "LIMIT", -5, 2), ("SORT", "l", "LIMIT", 0, -1), ("SORT", "l", "LIMIT", 100, 5),
        ("SORT", "l", "LIMIT", 3, 0), ("SORT", "l", "LIMIT", "x", 1), ("SORT", "l", "LIMIT", 1),
        ("SORT_RO", "l", "DESC", "LIMIT", 0, 4),
        ("RPUSH", "bad", "1", "two"), ("SORT", "bad"), ("SORT", "bad", "ALPHA"), ("RPUSH", "nan", "nan"),
        # an empty string reads as 0 only while errno is clean: Redis checks a stale
        # ERANGE from an earlier strtod, so it comes before the out-of-range ones
        ("RPUSH", "empty", ""), ("SORT", "empty"), ("RPUSH", "sp", " "), ("SORT", "sp"),
        ("SORT", "nan"), ("RPUSH", "big", "1e400"), ("SORT", "big"), ("RPUSH", "tiny", "1e-400"), ("SORT", "tiny"),
        ("SORT", "missing"), ("SORT", "missing", "STORE", "d"), ("EXISTS", "d"), ("SET", "s", "x"), ("SORT", "s"),
        ("HSET", "h", "f", "v"), ("SORT", "h"), ("SORT", "l", "FOO"), ("SORT", "l", "STORE"),
        ("SORT_RO", "l", "STORE", "d"),
    ],
    "alpha": [
        ("RPUSH", "w", *WORDS), ("SORT", "w", "ALPHA"), ("SORT", "w", "ALPHA", "DESC"),
        ("SORT", "w", "ALPHA", "LIMIT", 1, 4), ("SORT", "w"), ("SORT", "w", "ALPHA", "STORE", "d"),
        # in a set, "" and "\x00z" collate equal and their order is Redis's hash order
        ("LRANGE", "d", 0, -1), ("SADD", "ws", *[w for w in WORDS if w != "\x00z"]), ("SORT", "ws", "ALPHA"), ("SORT", "ws", "ALPHA", "DESC"),
        ("ZADD", "z", 3, "c", 1, "a", 2, "b", 2, "bb"), ("SORT", "z", "ALPHA"), ("SORT", "z", "ALPHA", "DESC"),
    ],
    "by_and_get": [
        ("RPUSH", "l", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"),
        ("MSET", "w_1", "5", "w_2", "5", "w_3", "1", "w_4", "9", "w_5", "5", "w_6", "x1", "w_7", "1", "w_8", "5",
         "w_9", "2", "w_10", "5", "w_11", "5"),
        ("HSET", "h_1", "f", "b"), ("HSET", "h_2", "f", "a"), ("HSET", "h_3", "g", "z"), ("SET", "h_4", "str"),
        ("MSET", "n_1", "one", "n_2", "two", "n_3", "three", "n_12", "twelve"),
        ("SORT", "l", "BY", "n_*", "ALPHA"), ("SORT", "l", "BY", "n_*", "ALPHA", "DESC"),
        ("SORT", "l", "BY", "h_*->f", "ALPHA"), ("SORT", "l", "BY", "h_*->f", "ALPHA", "LIMIT", 1, 5),
        ("SORT", "l", "BY", "w_*"), ("SET", "w_6", "6"), ("SORT", "l", "BY", "w_*"), ("SORT", "l", "BY", "w_*", "DESC"),
        ("SORT", "l", "BY", "w_*", "LIMIT", 2, 6), ("SORT", "l", "BY", "w_*", "DESC", "LIMIT", 1, 9),
        ("SORT", "l", "BY", "w_*", "LIMIT", 0, 11), ("SORT", "l", "BY", "nosort"),
        ("SORT", "l", "BY", "nosort", "DESC"), ("SORT", "l", "BY", "nosort", "LIMIT", 3, 4),
        ("SORT", "l", "BY", "nosort", "DESC", "LIMIT", 3, 4), ("SORT", "l", "BY", "nosort", "LIMIT", 20, 4),
        ("SORT", "l", "GET", "#", "GET", "n_*", "GET", "h_*->f", "GET", "h_*->", "GET", "nostar", "LIMIT", 0, 4),
        ("SORT", "l", "BY", "w_*", "GET", "n_*", "STORE", "d"), ("LRANGE", "d", 0, -1),
        ("SORT", "l", "BY", "nosort", "GET", "#", "GET", "w_*", "STORE", "d"), ("LRANGE", "d", 0, -1),
        ("SORT", "l", "BY", "w_*", "LIMIT", 0, 0, "STORE", "d"), ("EXISTS", "d"),
        ("ZADD", "z", 5, "1", 1, "2", 3, "3", 2, "4"), ("SORT", "z", "BY", "nosort"), ("SORT", "z", "BY", "nosort", "DESC"),
        ("SORT", "z", "BY", "nosort", "LIMIT", 1, 2), ("SORT", "z", "BY", "nosort", "DESC", "LIMIT", 1, 2),
        ("SORT", "z", "BY", "nosort", "DESC", "LIMIT", 9, 2), ("SORT", "z"), ("SORT", "z", "BY", "w_*"),
        ("SADD", "s", "3", "1", "2", "4"), ("SORT", "s", "BY", "nosort", "STORE", "d"), ("LRANGE", "d", 0, -1),
        ("SORT", "s", "BY", "w_*"), ("SORT", "s", "BY", "w_*", "GET", "#", "GET", "w_*"),
        ("SORT", "l", "BY", "w_*", "ALPHA", "GET", "#"),
    ],
}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_sort_scripts(redis_server, fanout_broker, name: str, protocol: int) -> None:
    assert_same_replies(redis_server.port, fanout_broker.port, SCRIPTS[name], protocol=protocol)


def test_sort_store_events(redis_server, fanout_broker) -> None:
    script = [("RPUSH", "l", "2", "1"), ("SORT", "l", "STORE", "d"), ("SORT", "l", "STORE", "d"),
              ("SORT", "missing", "STORE", "d"), ("SORT", "missing", "STORE", "d"),
              ("SORT", "l", "LIMIT", 5, 1, "STORE", "e")]
    assert keyspace_events(fanout_broker.port, script) == keyspace_events(redis_server.port, script)


WEIGHTS = st.sampled_from(["1", "2", "3", "x", "", "-1", "2.5"])


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(elements=st.lists(st.integers(0, 60), min_size=0, max_size=60),
       weights=st.lists(st.one_of(st.none(), WEIGHTS), min_size=61, max_size=61),
       limit=st.one_of(st.just(()), st.tuples(st.just("LIMIT"), st.integers(-3, 70), st.integers(-2, 70))),
       desc=st.sampled_from([(), ("DESC",)]), alpha=st.sampled_from([(), ("ALPHA",)]),
       by=st.sampled_from([(), ("BY", "w_*"), ("BY", "nosort")]))
def test_random_list_sorts(redis_server, fanout_broker, elements, weights, limit, desc, alpha, by) -> None:
    """Lists with duplicate elements and equal or missing weights: ties and partial
    sorts compared exactly."""
    setup: list[tuple[Any, ...]] = [("RPUSH", "l", *map(str, elements))] if elements else []
    weight_keys = [part for i, w in enumerate(weights) if w is not None for part in (f"w_{i}", w)]
    if weight_keys:
        setup.append(("MSET", *weight_keys))
    if not alpha and by == ("BY", "w_*") and any(w in ("x",) for w in weights):
        alpha = ("ALPHA",)  # keep the numeric run meaningful more often than not
    command = ("SORT", "l", *by, *limit, *desc, *alpha)
    script = [*setup, command, (*command, "GET", "#", "GET", "w_*"), (*command, "STORE", "d"),
              ("LRANGE", "d", 0, -1), ("SORT_RO", "l", *by, *limit, *desc, *alpha)]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


def test_sort_by_nosort_of_a_set_inside_a_script_is_sorted(redis_server, fanout_broker) -> None:
    """Redis sorts a set anyway when SORT runs from a script (CLIENT_SCRIPT): a
    script's result must not depend on a set's internal order."""
    script = [("SADD", "s", "c", "a", "b", "10", "2"),
              ("EVAL", "return redis.call('SORT', KEYS[1], 'BY', 'nosort')", 1, "s"),
              ("EVAL", "return redis.call('SORT', KEYS[1], 'BY', 'nosort', 'DESC', 'LIMIT', 1, 2)", 1, "s")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


# SORT without BY reads the weights in one pass (plain digits by float()) and sorts
# by the float alone when the weights are distinct: numbers written several ways
# (leading zeros, equal values, signs, exponents, a zset's members), a non-number
# among them, every option that reaches that path.
NUMBER_TEXT = st.one_of(st.integers(0, 10**6).map(str), st.integers(0, 999).map(lambda n: f"00{n}"),
                        st.integers(2**53 - 5, 10**40).map(str),
                        st.integers(-10**6, 10**6).map(str), st.sampled_from(["1e3", "1.5", "-0", "0", "inf", " 5"]))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(elements=st.lists(NUMBER_TEXT, min_size=1, max_size=300), desc=st.sampled_from([(), ("DESC",)]),
       limit=st.one_of(st.just(()), st.tuples(st.just("LIMIT"), st.integers(0, 50), st.integers(-1, 50))),
       bad=st.booleans())
def test_numeric_sorts_of_many_elements(redis_server, fanout_broker, elements, desc, limit, bad) -> None:
    values = [*elements, "x1"] if bad else elements
    script: list[tuple[Any, ...]] = [("DEL", "l", "z"), ("RPUSH", "l", *values),
                                     ("SORT", "l", *limit, *desc), ("SORT", "l", *limit, *desc, "STORE", "d"),
                                     ("LRANGE", "d", 0, -1),
                                     ("ZADD", "z", *[part for i, v in enumerate(values) for part in (i, v)]),
                                     ("SORT", "z", *limit, *desc)]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(elements=st.lists(st.one_of(st.integers(0, 10**40), st.integers(2**53 - 3, 2**53 + 3)).map(str),
                         min_size=1, max_size=100))
def test_sorts_of_long_plain_digits(redis_server, fanout_broker, elements) -> None:
    """All plain digits (the one-pass int -> float path), past 2^53 where doubles round."""
    script: list[tuple[Any, ...]] = [("DEL", "l"), ("RPUSH", "l", *elements), ("SORT", "l"), ("SORT", "l", "DESC")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)
