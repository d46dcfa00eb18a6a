"""Sorted set commands against a real redis-server: replies, errors, events, randomised.

Every script runs on both servers over one fresh connection each and every reply
must be equal, in RESP2 and RESP3 (where scores are doubles, not strings).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.differential import assert_same_replies, keyspace_events, run_script
from tests.support.resp_client import RespClient

PROTOCOLS = [2, 3]

LEADERBOARD = [("ZADD", "lb", "10", "alice", "20", "bob", "20", "carol", "5", "dave", "-3.5", "eve",
                "inf", "frank", "-inf", "gina", "0.1", "hal")]
LEX = [("ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e", "0", "f", "0", "g", "0", "")]

SCRIPTS: dict[str, list[tuple[str, ...]]] = {
    "zadd_options": [
        ("ZADD", "z", "1", "a"), ("ZADD", "z", "2", "a", "3", "b"), ("ZADD", "z", "CH", "5", "a", "3", "b", "1", "c"),
        ("ZADD", "z", "NX", "100", "a", "7", "d"), ("ZADD", "z", "XX", "100", "a", "7", "e"),
        ("ZADD", "z", "XX", "CH", "100", "a", "7", "e"), ("ZADD", "z", "GT", "CH", "50", "a", "200", "b"),
        ("ZADD", "z", "LT", "CH", "50", "a", "500", "b"), ("ZADD", "z", "XX", "GT", "1", "a"),
        ("ZADD", "z", "INCR", "2.5", "a"), ("ZADD", "z", "NX", "INCR", "2.5", "a"), ("ZADD", "z", "XX", "INCR", "1", "zz"),
        ("ZADD", "z", "GT", "INCR", "-1", "a"), ("ZADD", "z", "LT", "INCR", "-1", "a"), ("ZADD", "z", "gt", "ch", "incr", "1", "a"),
        ("ZADD", "missing", "XX", "1", "a"), ("ZADD", "missing", "XX", "INCR", "1", "a"), ("EXISTS", "missing"),
        ("ZADD", "z", "INCR", "1", "a", "2", "b"), ("ZADD", "z", "NX", "XX", "1", "a"), ("ZADD", "z", "NX", "GT", "1", "a"),
        ("ZADD", "z", "GT", "LT", "1", "a"), ("ZADD", "z", "LT", "NX", "1", "a"), ("ZADD", "z", "1"), ("ZADD", "z", "1", "a", "2"),
        ("ZADD", "z", "NX"), ("ZADD", "z", "x", "a"), ("ZADD", "z", "1", "a", "nan", "b"), ("ZADD", "z", "1e400", "a"),
        ("ZADD", "z", "1e-400", "a"), ("ZADD", "z", " 1", "a"), ("ZADD", "z", "1 ", "a"), ("ZADD", "z", "", "a"),
        ("ZADD", "z", "0x10", "hex"), ("ZADD", "z", "+1.5e1", "p"), ("ZADD", "z", ".5", "q"), ("ZADD", "z", "1_0", "r"),
        ("ZADD", "z", "-0", "negzero"), ("ZSCORE", "z", "negzero"), ("ZADD", "z", "5e-324", "tiny"),
        ("ZRANGE", "z", "0", "-1", "WITHSCORES"), ("ZADD", "z", "INFINITY", "i"), ("ZADD", "z", "-inf", "j"),
        ("ZINCRBY", "z", "+inf", "j"), ("ZINCRBY", "z", "1", "i"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
        ("SET", "s", "x"), ("ZADD", "s", "1", "a"), ("ZADD", "s", "x", "a"), ("ZADD",), ("ZADD", "z"), ("ZADD", "z", "1"),
    ],
    # Order across signs, magnitudes, -0 == 0 and members that prefix one another (the
    # order keys are byte strings: this pins them to Redis's numeric-then-memcmp order).
    "score_order": [
        ("ZADD", "o", "-1e-300", "a", "-5e-324", "b", "-0", "c", "0", "b", "5e-324", "d", "-1.5", "ab", "-1.5", "a",
         "-1.5", "", "-inf", "x", "inf", "y", "-1e308", "z", "1e308", "w", "-2", "aa", "2", "a\x00", "2", "a"),
        ("ZADD", "o", "-0", "c2", "0", "c1"),
        ("ZRANGE", "o", "0", "-1", "WITHSCORES"), ("ZREVRANGE", "o", "0", "-1"), ("ZRANK", "o", "c"), ("ZRANK", "o", "c1"),
        ("ZREVRANK", "o", ""), ("ZRANGEBYSCORE", "o", "(-1.5", "(0"), ("ZRANGEBYSCORE", "o", "-1.5", "-1.5"),
        ("ZRANGEBYSCORE", "o", "(-inf", "(inf"), ("ZRANGEBYSCORE", "o", "-0", "0"), ("ZCOUNT", "o", "(-0", "(5e-324"),
        ("ZREVRANGEBYSCORE", "o", "(2", "-2", "WITHSCORES"), ("ZRANGEBYSCORE", "o", "-inf", "-inf"),
        ("ZADD", "neg", "-7", "b", "-7", "a", "-7", "ab", "-7", "", "-7", "abc", "-7", "b\xff"),
        ("ZRANGEBYLEX", "neg", "-", "+"), ("ZRANGEBYLEX", "neg", "(a", "[b"), ("ZRANGEBYLEX", "neg", "[", "(ab"),
        ("ZREVRANGEBYLEX", "neg", "+", "(a"), ("ZLEXCOUNT", "neg", "(", "+"), ("ZRANGEBYLEX", "neg", "[b", "+"),
        ("ZPOPMIN", "o", "3"), ("ZPOPMAX", "o", "2"), ("ZREMRANGEBYSCORE", "o", "-0", "0"), ("ZRANGE", "o", "0", "-1", "WITHSCORES"),
        ("ZINCRBY", "o", "-3", "d"), ("ZINCRBY", "o", "1", "x"), ("ZRANGE", "o", "0", "-1", "WITHSCORES"),
    ],
    "zincrby": [
        ("ZINCRBY", "z", "1.5", "a"), ("ZINCRBY", "z", "1.5", "a"), ("ZINCRBY", "z", "-3", "a"), ("ZINCRBY", "z", "0.1", "b"),
        ("ZINCRBY", "z", "0.2", "b"), ("ZINCRBY", "z", "1e20", "c"), ("ZINCRBY", "z", "-0", "d"), ("ZSCORE", "z", "d"),
        ("ZINCRBY", "z", "1e308", "e"), ("ZINCRBY", "z", "1e308", "e"), ("ZINCRBY", "z", "-inf", "e"),
        ("ZINCRBY", "z", "x", "a"), ("ZINCRBY", "z", "nan", "a"), ("ZINCRBY", "z", "1"), ("ZINCRBY", "z", "0", "a"),
        ("ZRANGE", "z", "0", "-1", "WITHSCORES"), ("SET", "s", "x"), ("ZINCRBY", "s", "1", "a"),
    ],
    "point_queries": LEADERBOARD + [
        ("ZSCORE", "lb", "alice"), ("ZSCORE", "lb", "nobody"), ("ZSCORE", "nokey", "a"), ("ZSCORE", "lb", "hal"),
        ("ZMSCORE", "lb", "alice", "nobody", "frank", "gina"), ("ZMSCORE", "nokey", "a", "b"), ("ZMSCORE", "lb"),
        ("ZCARD", "lb"), ("ZCARD", "nokey"), ("ZRANK", "lb", "bob"), ("ZRANK", "lb", "carol"), ("ZRANK", "lb", "gina"),
        ("ZREVRANK", "lb", "frank"), ("ZREVRANK", "lb", "gina"), ("ZRANK", "lb", "nobody"), ("ZRANK", "nokey", "a"),
        ("ZREVRANK", "nokey", "a"), ("ZCOUNT", "lb", "-inf", "+inf"), ("ZCOUNT", "lb", "(10", "20"), ("ZCOUNT", "lb", "(20", "20"),
        ("ZCOUNT", "lb", "20", "10"), ("ZCOUNT", "lb", "(-inf", "(inf"), ("ZCOUNT", "lb", "x", "1"), ("ZCOUNT", "lb", "1", "(x"),
        ("ZCOUNT", "lb", "nan", "1"), ("ZCOUNT", "lb", " 5", "10"), ("ZCOUNT", "lb", "5 ", "10"), ("ZCOUNT", "lb", "", "(10"),
        ("ZCOUNT", "lb", "(", "10"), ("ZCOUNT", "lb", "0x5", "0xa"), ("ZCOUNT", "nokey", "0", "1"), ("ZCOUNT", "nokey", "x", "1"),
        ("SET", "s", "x"), ("ZSCORE", "s", "a"), ("ZMSCORE", "s", "a"), ("ZCARD", "s"), ("ZRANK", "s", "a"), ("ZCOUNT", "s", "0", "1"),
        ("ZCOUNT", "s", "x", "1"), ("ZSCORE", "lb"), ("ZCARD",),
    ],
    "zrange_rank": LEADERBOARD + [
        ("ZRANGE", "lb", "0", "-1"), ("ZRANGE", "lb", "0", "-1", "WITHSCORES"), ("ZRANGE", "lb", "2", "4", "withscores"),
        ("ZRANGE", "lb", "-3", "-1"), ("ZRANGE", "lb", "-100", "100"), ("ZRANGE", "lb", "5", "2"), ("ZRANGE", "lb", "100", "200"),
        ("ZRANGE", "lb", "0", "-1", "REV"), ("ZRANGE", "lb", "0", "2", "REV", "WITHSCORES"), ("ZREVRANGE", "lb", "0", "2"),
        ("ZREVRANGE", "lb", "1", "3", "WITHSCORES"), ("ZREVRANGE", "lb", "-2", "-1"), ("ZRANGE", "lb", "0", "-1", "LIMIT", "0", "-1"),
        ("ZRANGE", "lb", "0", "-1", "LIMIT", "0", "2"), ("ZRANGE", "lb", "a", "1"), ("ZRANGE", "lb", "0", "1.5"),
        ("ZRANGE", "lb", "0", "-1", "BOGUS"), ("ZRANGE", "lb", "0", "-1", "REV", "REV"), ("ZREVRANGE", "lb", "0", "-1", "REV"),
        ("ZRANGE", "lb", "0", "-1", "LIMIT", "1"), ("ZRANGE", "lb", "0", "-1", "LIMIT", "x", "1"),
        ("ZRANGE", "nokey", "0", "-1"), ("ZRANGE", "nokey", "x", "-1"), ("SET", "s", "x"), ("ZRANGE", "s", "0", "-1"),
        ("ZRANGE", "s", "x", "-1"), ("ZRANGE", "lb", "0"), ("ZREVRANGE", "lb", "0", "-1", "LIMIT", "0", "1"),
    ],
    "zrange_score": LEADERBOARD + [
        ("ZRANGEBYSCORE", "lb", "-inf", "+inf"), ("ZRANGEBYSCORE", "lb", "-inf", "+inf", "WITHSCORES"),
        ("ZRANGEBYSCORE", "lb", "(5", "20"), ("ZRANGEBYSCORE", "lb", "5", "(20"), ("ZRANGEBYSCORE", "lb", "(20", "(20"),
        ("ZRANGEBYSCORE", "lb", "20", "20"), ("ZRANGEBYSCORE", "lb", "30", "10"), ("ZRANGEBYSCORE", "lb", "-inf", "inf", "LIMIT", "2", "3"),
        ("ZRANGEBYSCORE", "lb", "-inf", "inf", "LIMIT", "2", "-1"), ("ZRANGEBYSCORE", "lb", "-inf", "inf", "LIMIT", "-1", "3"),
        ("ZRANGEBYSCORE", "lb", "-inf", "inf", "LIMIT", "100", "3"), ("ZRANGEBYSCORE", "lb", "-inf", "inf", "LIMIT", "0", "0"),
        ("ZRANGEBYSCORE", "lb", "-inf", "inf", "WITHSCORES", "LIMIT", "1", "2"), ("ZRANGEBYSCORE", "lb", "0", "100", "LIMIT", "1", "2", "WITHSCORES"),
        ("ZREVRANGEBYSCORE", "lb", "+inf", "-inf"), ("ZREVRANGEBYSCORE", "lb", "20", "(5", "WITHSCORES"),
        ("ZREVRANGEBYSCORE", "lb", "+inf", "-inf", "LIMIT", "1", "3"), ("ZREVRANGEBYSCORE", "lb", "5", "20"),
        ("ZRANGE", "lb", "(5", "20", "BYSCORE"), ("ZRANGE", "lb", "20", "(5", "BYSCORE", "REV", "WITHSCORES"),
        ("ZRANGE", "lb", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "2"), ("ZRANGE", "lb", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "0", "3"),
        ("ZRANGEBYSCORE", "lb", "x", "1"), ("ZRANGEBYSCORE", "lb", "0", "1", "LIMIT", "0"), ("ZRANGEBYSCORE", "lb", "0", "1", "REV"),
        ("ZRANGEBYSCORE", "lb", "0", "1", "BYLEX"), ("ZRANGEBYSCORE", "nokey", "0", "1"), ("ZRANGEBYSCORE", "lb", "(nan", "1"),
        ("ZRANGE", "lb", "0", "1", "BYSCORE", "BYLEX"), ("ZRANGE", "lb", "0", "1", "BYSCORE", "BYSCORE"),
    ],
    "zrange_lex": LEX + [
        ("ZRANGEBYLEX", "lex", "-", "+"), ("ZRANGEBYLEX", "lex", "[b", "[d"), ("ZRANGEBYLEX", "lex", "(b", "(d"),
        ("ZRANGEBYLEX", "lex", "[b", "+"), ("ZRANGEBYLEX", "lex", "-", "(c"), ("ZRANGEBYLEX", "lex", "+", "-"),
        ("ZRANGEBYLEX", "lex", "-", "-"), ("ZRANGEBYLEX", "lex", "+", "+"), ("ZRANGEBYLEX", "lex", "[d", "[b"),
        ("ZRANGEBYLEX", "lex", "(b", "(b"), ("ZRANGEBYLEX", "lex", "[b", "[b"), ("ZRANGEBYLEX", "lex", "[", "[c"),
        ("ZRANGEBYLEX", "lex", "(", "[c"), ("ZRANGEBYLEX", "lex", "[aa", "(cc"), ("ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "2", "3"),
        ("ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "-1", "3"), ("ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "1", "-1"),
        ("ZREVRANGEBYLEX", "lex", "+", "-"), ("ZREVRANGEBYLEX", "lex", "[e", "(b"), ("ZREVRANGEBYLEX", "lex", "+", "-", "LIMIT", "1", "2"),
        ("ZRANGE", "lex", "[b", "[e", "BYLEX"), ("ZRANGE", "lex", "[e", "[b", "BYLEX", "REV", "LIMIT", "1", "2"),
        ("ZRANGE", "lex", "-", "+", "BYLEX", "WITHSCORES"), ("ZRANGEBYLEX", "lex", "-", "+", "WITHSCORES"),
        ("ZRANGEBYLEX", "lex", "a", "b"), ("ZRANGEBYLEX", "lex", "[a", "b"), ("ZRANGEBYLEX", "lex", "", "+"),
        ("ZRANGEBYLEX", "lex", "+a", "+"), ("ZRANGEBYLEX", "lex", "-", "-a"), ("ZRANGEBYLEX", "nokey", "-", "+"),
        ("ZRANGEBYLEX", "nokey", "x", "+"), ("ZLEXCOUNT", "lex", "-", "+"), ("ZLEXCOUNT", "lex", "[b", "(e"),
        ("ZLEXCOUNT", "lex", "(b", "[b"), ("ZLEXCOUNT", "lex", "x", "+"), ("ZLEXCOUNT", "nokey", "-", "+"),
        ("SET", "s", "x"), ("ZRANGEBYLEX", "s", "-", "+"), ("ZLEXCOUNT", "s", "-", "+"), ("ZLEXCOUNT", "s", "x", "+"),
    ],
    "zrangestore": LEADERBOARD + [
        ("ZRANGESTORE", "dst", "lb", "0", "2"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
        ("ZRANGESTORE", "dst", "lb", "(5", "+inf", "BYSCORE", "LIMIT", "1", "2"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
        ("ZRANGESTORE", "dst", "lb", "0", "1", "REV"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
        ("ZRANGESTORE", "dst", "lb", "+inf", "10", "BYSCORE", "REV"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
        ("ZRANGESTORE", "dst", "lb", "0", "0"),
        ("ZRANGESTORE", "dst", "lb", "100", "200"), ("EXISTS", "dst"), ("ZRANGESTORE", "dst", "nokey", "0", "-1"),
        ("SET", "str", "x"), ("ZRANGESTORE", "str", "lb", "0", "0"), ("GET", "str"), ("ZCARD", "str"), ("ZRANGESTORE", "x", "str", "0", "1"),
        ("ZRANGESTORE", "dst", "lb", "0", "-1", "WITHSCORES"), ("ZRANGESTORE", "dst", "lb", "0", "-1", "LIMIT", "0", "1"),
        ("ZRANGESTORE", "dst", "lb", "a", "b", "BYLEX"), ("ZRANGESTORE", "dst", "lb", "0"),
        ("ZRANGESTORE", "lb", "lb", "0", "1"), ("ZRANGE", "lb", "0", "-1", "WITHSCORES"),
    ],
    "zrem_and_remrange": LEADERBOARD + LEX + [
        ("ZREM", "lb", "alice", "nobody", "alice"), ("ZREM", "lb", "nobody"), ("ZREM", "nokey", "a"),
        ("ZREMRANGEBYRANK", "lb", "0", "0"), ("ZREMRANGEBYRANK", "lb", "-2", "-1"), ("ZREMRANGEBYRANK", "lb", "5", "2"),
        ("ZREMRANGEBYRANK", "lb", "100", "200"), ("ZREMRANGEBYRANK", "lb", "x", "1"), ("ZREMRANGEBYRANK", "nokey", "0", "1"),
        ("ZRANGE", "lb", "0", "-1", "WITHSCORES"), ("ZREMRANGEBYSCORE", "lb", "(5", "20"), ("ZREMRANGEBYSCORE", "lb", "x", "1"),
        ("ZREMRANGEBYSCORE", "lb", "100", "1"), ("ZRANGE", "lb", "0", "-1", "WITHSCORES"),
        ("ZREMRANGEBYLEX", "lex", "[b", "(e"), ("ZREMRANGEBYLEX", "lex", "x", "+"), ("ZREMRANGEBYLEX", "lex", "+", "-"),
        ("ZRANGE", "lex", "0", "-1"), ("ZREMRANGEBYLEX", "lex", "-", "+"), ("EXISTS", "lex"),
        ("ZREMRANGEBYSCORE", "lb", "-inf", "+inf"), ("EXISTS", "lb"), ("ZREM", "lb"),
        ("SET", "s", "x"), ("ZREM", "s", "a"), ("ZREMRANGEBYRANK", "s", "0", "1"), ("ZREMRANGEBYRANK", "s", "x", "1"),
        ("ZREMRANGEBYSCORE", "s", "0", "1"), ("ZREMRANGEBYLEX", "s", "-", "+"),
    ],
    "zpop": LEADERBOARD + [
        ("ZPOPMIN", "lb"), ("ZPOPMAX", "lb"), ("ZPOPMIN", "lb", "2"), ("ZPOPMAX", "lb", "1"), ("ZPOPMIN", "lb", "0"),
        ("ZPOPMIN", "lb", "-1"), ("ZPOPMIN", "lb", "x"), ("ZPOPMIN", "lb", "1", "2"), ("ZPOPMIN", "nokey"),
        ("ZPOPMIN", "nokey", "3"), ("ZPOPMAX", "lb", "100"), ("EXISTS", "lb"), ("ZPOPMAX", "lb"),
        ("SET", "s", "x"), ("ZPOPMIN", "s"), ("ZPOPMIN", "s", "0"), ("ZPOPMAX", "s", "1"),
        ("ZADD", "z", "1", "a", "2", "b"), ("BZPOPMIN", "nokey", "z", "0"), ("BZPOPMAX", "z", "0"), ("EXISTS", "z"),
        ("BZPOPMIN", "z", "x"), ("BZPOPMIN", "z", "-1"), ("BZPOPMIN", "s", "1"), ("BZPOPMIN", "z"),
        ("MULTI",), ("BZPOPMIN", "z", "0"), ("EXEC",),
    ],
    "setops": [
        ("ZADD", "a", "1", "x", "2", "y", "3", "z"), ("ZADD", "b", "10", "y", "20", "z", "30", "w"), ("ZADD", "c", "inf", "x", "-inf", "y"),
        ("ZUNIONSTORE", "out", "2", "a", "b"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZUNIONSTORE", "out", "2", "a", "b", "WEIGHTS", "2", "0.5"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZUNIONSTORE", "out", "2", "a", "b", "AGGREGATE", "MIN"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZUNIONSTORE", "out", "2", "a", "b", "aggregate", "max", "weights", "-1", "1"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZUNIONSTORE", "out", "3", "a", "b", "nokey"), ("ZINTERSTORE", "out", "2", "a", "b"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZINTERSTORE", "out", "2", "a", "b", "WEIGHTS", "1", "-1", "AGGREGATE", "MAX"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZINTERSTORE", "out", "2", "a", "c"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZUNIONSTORE", "out", "2", "c", "c"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZUNIONSTORE", "out", "1", "c", "WEIGHTS", "0"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZINTERSTORE", "out", "2", "c", "c", "WEIGHTS", "1", "-1"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZINTERSTORE", "out", "2", "a", "c", "WEIGHTS", "1", "0", "AGGREGATE", "MIN"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZINTERSTORE", "out", "2", "a", "c", "WEIGHTS", "0", "1", "AGGREGATE", "MAX"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZINTERSTORE", "out", "2", "a", "c", "WEIGHTS", "1", "0"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZUNIONSTORE", "out", "2", "a", "c", "WEIGHTS", "inf", "-inf", "AGGREGATE", "MIN"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZINTERSTORE", "out", "2", "a", "nokey"), ("EXISTS", "out"), ("ZDIFFSTORE", "out", "2", "a", "b"),
        ("ZRANGE", "out", "0", "-1", "WITHSCORES"), ("ZDIFFSTORE", "out", "3", "a", "b", "c"), ("EXISTS", "out"),
        ("ZDIFFSTORE", "out", "1", "nokey"), ("ZDIFFSTORE", "out", "2", "a", "a"),
        ("ZUNION", "2", "a", "b"), ("ZUNION", "2", "a", "b", "WITHSCORES"), ("ZUNION", "2", "a", "b", "WEIGHTS", "1", "2", "WITHSCORES"),
        ("ZINTER", "2", "a", "b", "WITHSCORES"), ("ZINTER", "3", "a", "b", "c"), ("ZDIFF", "2", "a", "b", "WITHSCORES"),
        ("ZDIFF", "1", "a"), ("ZDIFF", "2", "nokey", "a"), ("ZUNION", "1", "nokey"),
        ("ZUNIONSTORE", "out", "0", "a"), ("ZUNIONSTORE", "out", "-1", "a"), ("ZUNIONSTORE", "out", "x", "a"),
        ("ZUNIONSTORE", "out", "3", "a", "b"), ("ZUNIONSTORE", "out", "2", "a", "b", "WEIGHTS", "1"),
        ("ZUNIONSTORE", "out", "2", "a", "b", "WEIGHTS", "1", "x"), ("ZUNIONSTORE", "out", "2", "a", "b", "WEIGHTS", "1", "nan"),
        ("ZUNIONSTORE", "out", "2", "a", "b", "AGGREGATE", "AVG"), ("ZUNIONSTORE", "out", "2", "a", "b", "AGGREGATE"),
        ("ZUNIONSTORE", "out", "2", "a", "b", "WITHSCORES"), ("ZDIFFSTORE", "out", "2", "a", "b", "WEIGHTS", "1", "1"),
        ("ZDIFF", "2", "a", "b", "AGGREGATE", "SUM"), ("ZINTER", "0", "a"), ("ZDIFF", "0", "a"), ("ZINTER", "2", "a"),
        ("SET", "s", "x"), ("ZUNIONSTORE", "out", "2", "a", "s"), ("ZINTER", "2", "s", "a"), ("ZDIFF", "2", "a", "s"),
        ("ZUNIONSTORE", "out", "2", "a", "s", "BOGUS"), ("ZUNIONSTORE", "s", "1", "a"), ("GET", "s"), ("ZCARD", "s"),
        ("ZUNIONSTORE", "out", "1", "a"), ("ZUNIONSTORE", "a", "2", "a", "b"),
        ("ZRANGE", "a", "0", "-1", "WITHSCORES"),
        # plain sets are inputs with score 1 (but not ZRANGE sources)
        ("SADD", "plain", "x", "q", "w"), ("ZUNION", "2", "a", "plain", "WITHSCORES"),
        ("ZINTERSTORE", "out", "2", "plain", "b", "WEIGHTS", "3", "1"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
        ("ZDIFF", "2", "plain", "b", "WITHSCORES"), ("ZINTERCARD", "2", "plain", "b"), ("ZRANGE", "plain", "0", "-1"),
        ("ZRANGESTORE", "out", "plain", "0", "-1"), ("ZUNIONSTORE", "out", "1", "plain"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
    ],
    "zmpop_zintercard": [
        ("ZADD", "a", "1", "x", "2", "y", "3", "z"), ("ZADD", "b", "2", "y", "3", "z"), ("SET", "s", "v"),
        ("ZINTERCARD", "2", "a", "b"), ("ZINTERCARD", "2", "a", "b", "LIMIT", "1"), ("ZINTERCARD", "2", "a", "b", "LIMIT", "0"),
        ("ZINTERCARD", "2", "a", "b", "LIMIT", "-1"), ("ZINTERCARD", "2", "a", "b", "LIMIT", "x"), ("ZINTERCARD", "0", "a"),
        ("ZINTERCARD", "x", "a"), ("ZINTERCARD", "3", "a", "b"), ("ZINTERCARD", "1", "a", "FOO"), ("ZINTERCARD", "2", "a", "s"),
        ("ZINTERCARD", "2", "a", "nokey"), ("ZINTERCARD", "1", "a", "LIMIT"), ("ZINTERCARD", "1", "a", "WEIGHTS", "1"),
        ("ZINTERCARD", "1", "a", "WITHSCORES"), ("ZINTERCARD", "1", "a", "LIMIT", "1", "LIMIT", "2"),
        ("ZINTERCARD", "2", "s", "nokey", "LIMIT", "-1"), ("ZINTERCARD", "-1", "a"),
        ("ZMPOP", "1", "a", "MIN"), ("ZMPOP", "2", "nokey", "a", "MAX", "COUNT", "5"), ("ZMPOP", "1", "a", "MIN"),
        ("ZMPOP", "1", "nokey", "MIN"), ("ZMPOP", "0", "a", "MIN"), ("ZMPOP", "x", "a", "MIN"), ("ZMPOP", "2", "a", "MIN"),
        ("ZMPOP", "1", "a", "FOO"), ("ZMPOP", "1", "b", "MIN", "COUNT", "0"), ("ZMPOP", "1", "b", "MIN", "COUNT", "-1"),
        ("ZMPOP", "1", "b", "MIN", "COUNT", "x"), ("ZMPOP", "1", "b", "MIN", "COUNT"), ("ZMPOP", "1", "b", "MIN", "COUNT", "1", "COUNT", "2"),
        ("ZMPOP", "1", "b", "MIN", "BAR"), ("ZMPOP", "1", "s", "MIN"), ("ZMPOP", "2", "nokey", "s", "MIN"), ("ZMPOP", "1", "s", "FOO"),
        ("ZMPOP", "2", "nokey", "s", "MIN", "COUNT", "0"), ("ZMPOP", "-1", "a", "MIN"), ("ZMPOP", "99999999999999999999", "a", "MIN"),
        ("BZMPOP", "0.01", "1", "nokey", "MIN"), ("BZMPOP", "x", "1", "b", "MIN"), ("BZMPOP", "0", "1", "b", "MAX", "COUNT", "2"),
        ("BZMPOP", "-1", "1", "b", "MIN"), ("BZMPOP", "0", "0", "b", "MIN"), ("BZMPOP", "x", "1", "a", "FOO"),
        ("BZMPOP", "0", "2", "nokey", "s", "MIN"), ("ZADD", "b", "1", "p", "2", "q"), ("BZMPOP", "0", "2", "nokey", "b", "min", "count", "1"),
        ("MULTI",), ("BZMPOP", "0", "1", "empty", "MIN"), ("EXEC",), ("EXISTS", "b"),
    ],
    "zscan": LEADERBOARD + [
        ("ZSCAN", "lb", "0"), ("ZSCAN", "lb", "0", "MATCH", "*a*"), ("ZSCAN", "lb", "0", "COUNT", "2"),
        ("ZSCAN", "lb", "0", "MATCH", "[a-c]*", "COUNT", "100"), ("ZSCAN", "nokey", "0"), ("ZSCAN", "lb", "x"),
        ("ZSCAN", "lb", "0", "COUNT", "0"), ("ZSCAN", "lb", "0", "COUNT", "x"), ("ZSCAN", "lb", "0", "BOGUS"),
        ("ZSCAN", "lb", "0", "MATCH"), ("SET", "s", "x"), ("ZSCAN", "s", "0"),
    ],
    "arity": [
        ("ZSCORE", "k"), ("ZMSCORE", "k"), ("ZCARD", "k", "x"), ("ZCOUNT", "k", "0"), ("ZLEXCOUNT", "k", "-"),
        ("ZREM", "k"), ("ZRANGE", "k", "0"), ("ZREVRANGE", "k", "0"), ("ZRANGEBYSCORE", "k", "0"),
        ("ZREVRANGEBYSCORE", "k", "0"), ("ZRANGEBYLEX", "k", "-"), ("ZREVRANGEBYLEX", "k", "+"), ("ZRANGESTORE", "d", "k", "0"),
        ("ZPOPMIN",), ("ZPOPMAX",), ("ZREMRANGEBYRANK", "k", "0"), ("ZREMRANGEBYSCORE", "k", "0"), ("ZREMRANGEBYLEX", "k", "-"),
        ("ZRANDMEMBER",), ("ZSCAN", "k"), ("ZUNIONSTORE", "d", "1"), ("ZINTERSTORE", "d", "1"), ("ZDIFFSTORE", "d", "1"),
        ("ZUNION", "1"), ("ZINTER", "1"), ("ZDIFF", "1"), ("BZPOPMIN", "k"), ("BZPOPMAX", "k"), ("ZINCRBY", "k", "1"),
        ("ZRANK", "k"), ("ZREVRANK", "k"), ("ZMPOP", "1", "k"), ("BZMPOP", "0", "1", "k"), ("ZINTERCARD", "1"),
    ],
    "zrandmember_deterministic": LEADERBOARD + [
        ("ZRANDMEMBER", "nokey"), ("ZRANDMEMBER", "nokey", "5"), ("ZRANDMEMBER", "nokey", "-5", "WITHSCORES"),
        ("ZRANDMEMBER", "lb", "0"), ("ZRANDMEMBER", "lb", "x"), ("ZRANDMEMBER", "lb", "1", "BOGUS"),
        ("ZRANDMEMBER", "lb", "1", "WITHSCORES", "x"), ("ZRANDMEMBER", "lb", "-9223372036854775808"),
        ("ZRANDMEMBER", "lb", "9223372036854775807", "WITHSCORES"), ("ZRANDMEMBER", "lb", "-4611686018427387904", "WITHSCORES"),
        ("SET", "s", "x"), ("ZRANDMEMBER", "s"), ("ZRANDMEMBER", "s", "1"), ("ZRANDMEMBER", "s", "x"),
        ("ZADD", "one", "7", "only"), ("ZRANDMEMBER", "one"), ("ZRANDMEMBER", "one", "-3", "WITHSCORES"),
        ("ZRANDMEMBER", "one", "5", "WITHSCORES"), ("ZRANDMEMBER", "one", "1"),
    ],
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_corpus(redis_server, fanout_broker, name: str, protocol: int) -> None:
    assert_same_replies(redis_server.port, fanout_broker.port, SCRIPTS[name], protocol=protocol)


def _canonical(reply: Any) -> Any:
    """Order-free form of a random reply: sorted members (with their scores)."""
    if isinstance(reply, list):
        return sorted(map(repr, reply))
    return reply


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_zrandmember_whole_set_and_shapes(redis_server, fanout_broker, protocol: int) -> None:
    script = LEADERBOARD + [
        ("ZRANDMEMBER", "lb", "8"), ("ZRANDMEMBER", "lb", "100"), ("ZRANDMEMBER", "lb", "100", "WITHSCORES"),
        ("ZRANDMEMBER", "lb", "8", "WITHSCORES"),
    ]
    want = run_script(redis_server.port, script, protocol)
    got = run_script(fanout_broker.port, script, protocol)
    assert [_canonical(r) for r in got] == [_canonical(r) for r in want]
    # Subsets: right size and shape, members drawn from the set, unique when count > 0.
    members = {b"alice", b"bob", b"carol", b"dave", b"eve", b"frank", b"gina", b"hal"}
    with RespClient(fanout_broker.port, protocol=protocol) as client:
        client.call("FLUSHALL")
        client.call(*LEADERBOARD[0])
        assert client.call("ZRANDMEMBER", "lb") in members
        sample = client.call("ZRANDMEMBER", "lb", "3")
        assert len(sample) == 3 and len(set(sample)) == 3 and set(sample) <= members
        repeated = client.call("ZRANDMEMBER", "lb", "-20")
        assert len(repeated) == 20 and set(repeated) <= members
        scored = client.call("ZRANDMEMBER", "lb", "-5", "WITHSCORES")
        if protocol == 3:
            assert len(scored) == 5 and all(len(pair) == 2 and pair[0] in members for pair in scored)
        else:
            assert len(scored) == 10 and set(scored[::2]) <= members


# ----------------------------------------------------------- notifications

_events = keyspace_events


EVENT_SCRIPT: list[tuple[str, ...]] = [
    ("ZADD", "z", "1", "a", "2", "b", "3", "c"), ("ZADD", "z", "1", "a"), ("ZADD", "z", "NX", "9", "a"),
    ("ZADD", "z", "XX", "CH", "5", "a"), ("ZADD", "z", "INCR", "1", "a"), ("ZINCRBY", "z", "0", "a"),
    ("ZINCRBY", "z", "2", "new"), ("ZINCRBY", "fresh", "2", "x"), ("ZADD", "z", "GT", "1", "a"),
    ("ZREM", "z", "nobody"), ("ZREM", "z", "new"), ("ZREM", "fresh", "x"),
    ("ZADD", "r", "1", "a", "2", "b", "3", "c", "4", "d"), ("ZREMRANGEBYRANK", "r", "0", "0"), ("ZREMRANGEBYRANK", "r", "10", "20"),
    ("ZREMRANGEBYSCORE", "r", "2", "2"), ("ZREMRANGEBYSCORE", "r", "100", "200"), ("ZREMRANGEBYLEX", "r", "-", "+"),
    ("ZADD", "p", "1", "a", "2", "b", "3", "c"), ("ZPOPMIN", "p"), ("ZPOPMAX", "p", "5"), ("ZPOPMIN", "p"),
    ("ZADD", "q", "1", "a"), ("BZPOPMAX", "q", "0"),
    ("ZUNIONSTORE", "u", "2", "z", "r"), ("ZINTERSTORE", "u", "2", "z", "z"), ("ZDIFFSTORE", "u2", "1", "z"),
    ("ZINTERSTORE", "u", "2", "z", "nokey"), ("ZINTERSTORE", "u", "2", "z", "nokey"),
    ("ZRANGESTORE", "rs", "z", "0", "0"), ("ZRANGESTORE", "rs", "z", "10", "20"), ("ZRANGESTORE", "rs", "z", "10", "20"),
    ("ZDIFFSTORE", "u2", "2", "z", "z"),
    ("ZADD", "m", "1", "a", "2", "b"), ("ZMPOP", "1", "m", "MAX"), ("BZMPOP", "0", "1", "m", "MIN", "COUNT", "9"),
]


def test_keyspace_events(redis_server, fanout_broker) -> None:
    want = _events(redis_server.port, EVENT_SCRIPT)
    got = _events(fanout_broker.port, EVENT_SCRIPT)
    assert len(want) > 40
    assert got == want


# ------------------------------------------------------------------ blocking

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bzpopmin_wakes_on_zadd(redis_server, fanout_broker, protocol: int) -> None:
    results = []
    for port in (redis_server.port, fanout_broker.port):
        with RespClient(port, protocol=protocol) as waiter, RespClient(port) as writer:
            writer.call("FLUSHALL")
            waiter.send("BZPOPMIN", "k1", "k2", "0")
            _wait_blocked(writer, b"bzpopmin")
            writer.call("ZADD", "k2", "5", "m", "7", "n")
            reply = waiter.read()
            results.append((reply, writer.call("ZRANGE", "k2", "0", "-1", "WITHSCORES")))
            waiter.send("BZPOPMAX", "k3", "0.05")
            results.append(waiter.read())
    assert results[0] == results[2] and results[1] == results[3]
    assert results[0][0][:2] == [b"k2", b"m"]


# ----------------------------------------------------------------- randomised

MEMBERS = st.sampled_from(["a", "b", "c", "d", "e", "f", "g", ""])
SCORES = st.sampled_from(["0", "1", "-1", "1.5", "2", "-inf", "+inf", "0.1", "3", "(1", "(2"])
KEYS = st.sampled_from(["k", "k2", "s"])
INDEXES = st.sampled_from(["0", "1", "-1", "-2", "3", "10", "-10"])
LEXES = st.sampled_from(["-", "+", "[a", "(a", "[c", "(d", "[", "x"])

COMMANDS = st.one_of(
    st.tuples(st.just("ZADD"), KEYS, st.sampled_from(["NX", "XX", "GT", "LT", "CH", "INCR"]), SCORES, MEMBERS),
    st.tuples(st.just("ZADD"), KEYS, SCORES, MEMBERS, SCORES, MEMBERS),
    st.tuples(st.just("ZINCRBY"), KEYS, SCORES, MEMBERS),
    st.tuples(st.just("ZREM"), KEYS, MEMBERS, MEMBERS),
    st.tuples(st.sampled_from(["ZRANK", "ZREVRANK", "ZSCORE"]), KEYS, MEMBERS),
    st.tuples(st.sampled_from(["ZRANGE", "ZREVRANGE"]), KEYS, INDEXES, INDEXES, st.sampled_from(["WITHSCORES", "REV"])),
    st.tuples(st.sampled_from(["ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZCOUNT", "ZREMRANGEBYSCORE"]), KEYS, SCORES, SCORES),
    st.tuples(st.sampled_from(["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]), KEYS, SCORES, SCORES,
              st.just("LIMIT"), INDEXES, INDEXES),
    st.tuples(st.sampled_from(["ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZLEXCOUNT", "ZREMRANGEBYLEX"]), KEYS, LEXES, LEXES),
    st.tuples(st.just("ZREMRANGEBYRANK"), KEYS, INDEXES, INDEXES),
    st.tuples(st.sampled_from(["ZPOPMIN", "ZPOPMAX"]), KEYS, st.sampled_from(["0", "1", "2", "5"])),
    st.tuples(st.sampled_from(["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]), KEYS, st.just("2"), KEYS, KEYS),
    st.tuples(st.sampled_from(["ZUNIONSTORE", "ZINTERSTORE"]), KEYS, st.just("2"), KEYS, KEYS,
              st.just("WEIGHTS"), SCORES, SCORES, st.just("AGGREGATE"), st.sampled_from(["SUM", "MIN", "MAX"])),
    st.tuples(st.sampled_from(["ZUNION", "ZINTER", "ZDIFF"]), st.just("2"), KEYS, KEYS, st.just("WITHSCORES")),
    st.tuples(st.just("ZRANGESTORE"), KEYS, KEYS, INDEXES, INDEXES),
    st.tuples(st.just("ZRANGESTORE"), KEYS, KEYS, SCORES, SCORES, st.just("BYSCORE"), st.just("REV")),
    st.tuples(st.just("ZMSCORE"), KEYS, MEMBERS, MEMBERS),
    st.tuples(st.sampled_from(["ZCARD"]), KEYS),
    st.tuples(st.just("SET"), st.just("s"), st.just("str")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(COMMANDS, min_size=1, max_size=25), protocol=st.sampled_from(PROTOCOLS))
def test_random_scripts(redis_server, fanout_broker, script, protocol) -> None:
    # Lex queries on mixed-score sets are unspecified in Redis; keep lex ones on
    # sets whose scores are all equal by giving them their own key.
    script = [(c[0], "lexkey", *c[2:]) if "LEX" in c[0] else c for c in script]
    setup = [("ZADD", "lexkey", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e")]
    full = setup + script + [("ZRANGE", k, "0", "-1", "WITHSCORES") for k in ("k", "k2", "s", "lexkey")]
    assert_same_replies(redis_server.port, fanout_broker.port, full, protocol=protocol)


def test_large_set_ranks_match(redis_server, fanout_broker) -> None:
    """Past 128 members Redis switches to its skiplist; replies must not change."""
    rng = random.Random(7)
    adds = [("ZADD", "big", *[str(x) for i in range(300) for x in (rng.choice([1, 2, 3, 2.5, -1]), f"m{i:03}")])]
    queries = [("ZRANK", "big", f"m{i:03}") for i in range(0, 300, 17)]
    queries += [("ZREVRANGE", "big", "0", "9", "WITHSCORES"), ("ZRANGEBYSCORE", "big", "(1", "2", "LIMIT", "5", "10"),
                ("ZINCRBY", "big", "10", "m005"), ("ZREVRANK", "big", "m005"), ("ZCOUNT", "big", "2", "3"),
                ("ZREMRANGEBYRANK", "big", "10", "19"), ("ZPOPMAX", "big", "3"), ("ZCARD", "big"),
                # the skiplist keeps -0 where the small encoding stores 0
                ("ZADD", "big", "-0", "negzero"), ("ZSCORE", "big", "negzero"), ("ZINCRBY", "big", "-0", "nz2"),
                ("ZSCORE", "big", "nz2"), ("ZADD", "small", "-0", "a"), ("ZSCORE", "small", "a"),
                ("ZADD", "long", "-0", "x" * 65), ("ZSCORE", "long", "x" * 65),
                ("ZUNIONSTORE", "copy", "1", "big"), ("ZSCORE", "copy", "negzero"),
                ("ZRANGESTORE", "few", "big", "0", "-1", "BYSCORE", "LIMIT", "0", "0"),
                ("ZRANGESTORE", "few", "big", "-0", "0", "BYSCORE"), ("ZRANGE", "few", "0", "-1", "WITHSCORES")]
    for protocol in PROTOCOLS:
        assert_same_replies(redis_server.port, fanout_broker.port, adds + queries, protocol=protocol)


def _wait_blocked(admin: RespClient, command_name: bytes) -> None:
    # CLIENT LIST shows the waiter once its command is parked: no sleep needed.
    for _ in range(1000):
        if b"cmd=" + command_name in admin.call("CLIENT", "LIST"):
            return
    raise AssertionError("waiter never blocked")


def _served_events(port: int) -> tuple[Any, list[Any]]:
    with RespClient(port) as admin, RespClient(port) as subscriber, RespClient(port) as waiter:
        admin.call("FLUSHALL")
        admin.call("CONFIG", "SET", "notify-keyspace-events", "KEA")
        subscriber.call("PSUBSCRIBE", "__key*__:*")
        subscriber.call("SUBSCRIBE", "done")
        waiter.send("BZPOPMAX", "q1", "q2", "0")
        _wait_blocked(admin, b"bzpopmax")
        admin.call("ZADD", "q2", "1", "a", "2", "b")
        served = waiter.read()
        admin.call("PUBLISH", "done", "x")
        seen: list[Any] = []
        for _ in range(1000):
            message = subscriber.read()
            if message[0] == b"message" and message[1] == b"done":
                break
            seen.append(message)
        admin.call("CONFIG", "SET", "notify-keyspace-events", "")
        return served, seen


def test_events_when_a_blocked_client_is_served(redis_server, fanout_broker) -> None:
    want = _served_events(redis_server.port)
    assert want[0] == [b"q2", b"b", b"2"]
    assert _served_events(fanout_broker.port) == want


# Issue 20: lex ranges over members with distinct scores. Redis's answer then is
# its listpack scan (from the head, or the tail when reversed), which a small set
# here reproduces; hypothesis draws scores, members and ranges.
_LEX_MEMBERS = st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "aa", "ba", ""]), min_size=1, max_size=8,
                        unique=True)
_LEX_ENDS = st.sampled_from(["-", "+", "[a", "(a", "[b", "(c", "[d", "(e", "[f", "[", "(aa", "[ba"])


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=_LEX_MEMBERS, scores=st.lists(st.integers(-3, 3), min_size=8, max_size=8), low=_LEX_ENDS,
       high=_LEX_ENDS, limit=st.sampled_from([(), ("LIMIT", "0", "2"), ("LIMIT", "1", "-1")]))
def test_lex_ranges_over_distinct_scores(redis_server, fanout_broker, members, scores, low, high, limit) -> None:
    pairs = [part for member, score in zip(members, scores) for part in (str(score), member)]
    script = [("ZADD", "z", *pairs), ("ZRANGEBYLEX", "z", low, high, *limit),
              ("ZREVRANGEBYLEX", "z", high, low, *limit), ("ZRANGE", "z", low, high, "BYLEX", "REV", *limit),
              ("ZLEXCOUNT", "z", low, high), ("ZRANGESTORE", "d", "z", low, high, "BYLEX"),
              ("ZRANGE", "d", "0", "-1"), ("ZRANGESTORE", "d", "z", high, low, "BYLEX", "REV"),
              ("ZRANGE", "d", "0", "-1"), ("ZREMRANGEBYLEX", "z", low, high), ("ZRANGE", "z", "0", "-1")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)
