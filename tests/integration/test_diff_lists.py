"""Lists: replies, errors and keyspace events compared with a real redis-server."""

from __future__ import annotations

import pytest

from tests.support.differential import assert_same_replies, keyspace_events

CORPUS = [
    ("RPUSH", "l", "a", "b", "c", "d", "e"), ("LPUSH", "l", "z", "y"), ("LLEN", "l"), ("LRANGE", "l", "0", "-1"),
    ("LRANGE", "l", "-3", "-2"), ("LRANGE", "l", "5", "1"), ("LRANGE", "l", "-100", "100"), ("LRANGE", "l", "x", "1"),
    ("LINDEX", "l", "0"), ("LINDEX", "l", "-1"), ("LINDEX", "l", "99"), ("LINDEX", "l", "nope"),
    ("LSET", "l", "1", "Y"), ("LSET", "l", "99", "x"), ("LSET", "missing", "0", "x"), ("LRANGE", "l", "0", "-1"),
    ("LPOP", "l"), ("RPOP", "l"), ("LPOP", "l", "2"), ("RPOP", "l", "0"), ("LPOP", "l", "-1"),
    ("LPOP", "missing"), ("LPOP", "missing", "2"), ("LPOP", "l", "1", "2"), ("LRANGE", "l", "0", "-1"),
    ("RPUSH", "r", "a", "b", "a", "c", "a", "b"), ("LREM", "r", "2", "a"), ("LRANGE", "r", "0", "-1"),
    ("LREM", "r", "-1", "b"), ("LREM", "r", "0", "nothing"), ("LRANGE", "r", "0", "-1"), ("LREM", "r", "x", "a"),
    ("LINSERT", "r", "BEFORE", "c", "X"), ("LINSERT", "r", "after", "c", "Y"), ("LINSERT", "r", "BEFORE", "zz", "Q"),
    ("LINSERT", "missing", "BEFORE", "a", "b"), ("LINSERT", "r", "MIDDLE", "c", "Q"), ("LRANGE", "r", "0", "-1"),
    ("RPUSH", "p", "a", "b", "c", "b", "b", "d"), ("LPOS", "p", "b"), ("LPOS", "p", "b", "RANK", "2"),
    ("LPOS", "p", "b", "RANK", "-1"), ("LPOS", "p", "b", "COUNT", "0"), ("LPOS", "p", "b", "COUNT", "2"),
    ("LPOS", "p", "b", "RANK", "-2", "COUNT", "5"), ("LPOS", "p", "b", "MAXLEN", "2", "COUNT", "0"),
    ("LPOS", "p", "x"), ("LPOS", "p", "x", "COUNT", "2"), ("LPOS", "p", "b", "RANK", "0"),
    ("LPOS", "p", "b", "COUNT", "-1"), ("LPOS", "p", "b", "MAXLEN", "-1"), ("LPOS", "p", "b", "BOGUS", "1"),
    ("LPOS", "missing", "a"), ("LPOS", "missing", "a", "COUNT", "1"),
    ("LTRIM", "p", "1", "-2"), ("LRANGE", "p", "0", "-1"), ("LTRIM", "p", "5", "1"), ("EXISTS", "p"),
    ("LTRIM", "missing", "0", "1"),
    ("RPUSH", "m", "1", "2", "3"), ("LMOVE", "m", "n", "LEFT", "RIGHT"), ("LMOVE", "m", "m", "RIGHT", "LEFT"),
    ("LRANGE", "m", "0", "-1"), ("LRANGE", "n", "0", "-1"), ("RPOPLPUSH", "m", "n"), ("RPOPLPUSH", "missing", "n"),
    ("LMOVE", "m", "n", "UP", "LEFT"), ("LMOVE", "n", "m", "RIGHT", "RIGHT"), ("LRANGE", "n", "0", "-1"),
    ("SET", "s", "v"), ("LPUSH", "s", "x"), ("LRANGE", "s", "0", "1"), ("LMOVE", "n", "s", "LEFT", "LEFT"),
    ("LMOVE", "s", "n", "LEFT", "LEFT"), ("LRANGE", "n", "0", "-1"),
    ("LPUSHX", "missing", "a"), ("RPUSHX", "n", "q"), ("LPUSHX", "n", "p", "o"), ("LRANGE", "n", "0", "-1"),
    ("RPUSH", "x1", "a", "b", "c"), ("LMPOP", "2", "missing", "x1", "LEFT"),
    ("LMPOP", "2", "missing", "x1", "RIGHT", "COUNT", "5"), ("LMPOP", "1", "x1", "LEFT"),
    ("LMPOP", "0", "x1", "LEFT"), ("LMPOP", "3", "x1", "LEFT"), ("LMPOP", "1", "x1", "UP"),
    ("LMPOP", "1", "x1", "LEFT", "COUNT", "0"), ("LMPOP", "1", "x1", "LEFT", "COUNT"),
    ("BLPOP", "x1", "n", "0.01"), ("BRPOP", "n", "0.01"), ("BLPOP", "x1", "-1"), ("BLPOP", "x1", "abc"),
    ("BLMOVE", "n", "x1", "LEFT", "LEFT", "0"), ("BRPOPLPUSH", "x1", "n", "0"),
    ("BLMPOP", "0", "1", "n", "LEFT", "COUNT", "10"), ("TYPE", "n"),
    ("LPUSH", "k"), ("LLEN",), ("LLEN", "s"),
    # which comes first: the key or the bad argument (found by the randomised scripts)
    ("LINDEX", "missing", "x"), ("LSET", "missing", "x", "a"), ("LPOS", "n", "b", "COUNT", "x"),
    ("LPOS", "n", "b", "MAXLEN", "x"), ("LPOS", "n", "b", "RANK", "x"),
    ("MULTI",), ("BLPOP", "empty", "0"), ("EXEC",),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_list_corpus(redis_server, fanout_broker, protocol):
    assert_same_replies(redis_server.port, fanout_broker.port, CORPUS, protocol=protocol)


_events = keyspace_events


def test_list_keyspace_events(redis_server, fanout_broker):
    script = [command for command in CORPUS if command[0] not in ("MULTI", "EXEC") and command[1:2] != ("empty",)]
    expected = _events(redis_server.port, script)
    assert len(expected) > 40
    assert _events(fanout_broker.port, script) == expected
