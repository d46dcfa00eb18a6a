"""String and generic key commands against a real redis-server: replies, errors, events.

Every script runs on both servers over one fresh connection each and every reply
must be equal, in RESP2 and RESP3. Time moves between the two runs, so relative
TTLs are compared where Redis rounds them (TTL, in whole seconds, set far from a
rounding edge) and PTTL only by sign; absolute deadlines (EXPIRETIME, PEXPIRETIME
after EXPIREAT/PXAT) are compared exactly. KEYS and SCAN results are compared as
sets, RANDOMKEY by kind.
"""

from __future__ import annotations

from typing import Any, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.differential import assert_same_replies, run_script
from tests.support.resp_client import RespClient, RespError

PROTOCOLS = [2, 3]
FAR = "4102444800"  # 2100-01-01 in seconds: a fixed absolute deadline for both servers
FAR_MS = FAR + "000"


def normalize(command: Sequence[Any], reply: Any) -> Any:
    """Reply forms that do not depend on hash order, randomness or elapsed ms."""
    name = str(command[0]).upper()
    if name in ("KEYS", "SMEMBERS") and isinstance(reply, list):
        return sorted(reply)
    if name == "SCAN" and isinstance(reply, list) and len(reply) == 2:
        # Cursors differ (Redis walks hash buckets); a small keyspace comes back whole.
        return sorted(reply[1])
    if name == "RANDOMKEY":
        return type(reply).__name__
    if name == "PTTL" and isinstance(reply, int) and reply > 0:
        return "positive"
    return reply


def same(redis_server: Any, fanout_broker: Any, script: list[tuple[str, ...]], protocol: int) -> list[Any]:
    return assert_same_replies(redis_server.port, fanout_broker.port, script, protocol=protocol,
                               normalize=normalize)


# ------------------------------------------------------------------ corpus

TYPES = [("SET", "str", "v"), ("HSET", "hash", "f", "v"), ("SADD", "set", "m"), ("ZADD", "zset", "1", "m")]

SCRIPTS: dict[str, list[tuple[str, ...]]] = {
    "get_set": [
        ("GET", "k"), ("SET", "k", "v"), ("GET", "k"), ("SET", "k", ""), ("GET", "k"), ("SET", "k", "bin\x00\r\n"),
        ("GET", "k"), ("SET", "k"), ("GET", "k", "x"), ("GET",), ("SET", "k", "v", "junk"), ("set", "k", "lower"),
        ("GET", "k"), ("SET", "h", "x"), ("HSET", "hh", "f", "v"), ("GET", "hh"), ("SET", "hh", "now-string"),
        ("GET", "hh"), ("TYPE", "hh"),
    ],
    "set_nx_xx_get": [
        ("SET", "k", "1", "NX"), ("SET", "k", "2", "NX"), ("GET", "k"), ("SET", "k", "3", "XX"), ("GET", "k"),
        ("SET", "new", "1", "XX"), ("EXISTS", "new"), ("SET", "k", "4", "NX", "XX"), ("SET", "k", "4", "XX", "NX"),
        ("SET", "k", "4", "nx", "nx"), ("SET", "k", "5", "xx", "xx"), ("SET", "k", "6", "GET"), ("SET", "k", "7", "GET", "GET"),
        ("SET", "nokey", "1", "GET"), ("SET", "k", "8", "NX", "GET"), ("SET", "absent", "8", "XX", "GET"),
        ("SET", "absent2", "9", "NX", "GET"), ("GET", "absent2"), ("HSET", "h", "f", "v"), ("SET", "h", "x", "GET"),
        ("TYPE", "h"), ("SET", "h", "x", "NX", "GET"), ("SET", "h", "x", "XX"), ("TYPE", "h"), ("SETNX", "k", "z"),
        ("SETNX", "fresh", "z"), ("GET", "fresh"), ("SETNX", "fresh"), ("SET", "k", "v", "GETX"),
    ],
    "set_ttl_options": [
        ("SET", "k", "v", "EX", "100"), ("TTL", "k"), ("PTTL", "k"), ("SET", "k", "v", "PX", "100000"), ("TTL", "k"),
        ("SET", "k", "v", "EXAT", FAR), ("EXPIRETIME", "k"), ("PEXPIRETIME", "k"), ("SET", "k", "v", "PXAT", FAR_MS + "1"),
        ("PEXPIRETIME", "k"), ("EXPIRETIME", "k"), ("SET", "k", "w", "KEEPTTL"), ("PEXPIRETIME", "k"), ("GET", "k"),
        ("SET", "k", "w"), ("TTL", "k"), ("SET", "k", "v", "EX", "0"), ("SET", "k", "v", "EX", "-1"),
        ("SET", "k", "v", "PX", "0"), ("SET", "k", "v", "EX", "x"), ("SET", "k", "v", "EX", "1.5"),
        ("SET", "k", "v", "EX"), ("SET", "k", "v", "EX", "10", "PX", "100"), ("SET", "k", "v", "EX", "10", "EX", "20"),
        ("TTL", "k"), ("SET", "k", "v", "PX", "5000", "PX", "100000"), ("TTL", "k"),
        ("SET", "k", "v", "EX", "10", "KEEPTTL"), ("SET", "k", "v", "KEEPTTL", "EX", "10"),
        ("SET", "k", "v", "KEEPTTL", "KEEPTTL"), ("SET", "k", "v", "EXAT", FAR, "PXAT", FAR_MS),
        ("SET", "k", "v", "EX", "9223372036854775807"), ("SET", "k", "v", "EX", "9223372036854775"),
        ("SET", "k", "v", "EX", "9223372036854776"), ("SET", "k", "v", "PX", "9223372036854775807"),
        ("SET", "k", "v", "EXAT", "9223372036854775"), ("EXPIRETIME", "k"), ("SET", "k", "v", "PXAT", "9223372036854775807"),
        ("PEXPIRETIME", "k"), ("SET", "k", "v", "EX", "9223372036854775808"), ("SET", "k", "v", "PERSIST"),
        ("SET", "k", "v", "EXAT", "1"), ("GET", "k"), ("EXISTS", "k"), ("SET", "k", "v", "PXAT", "1", "GET"),
        ("SET", "k", "v", "NX", "EX", "100", "GET"), ("TTL", "k"), ("SET", "k", "v2", "XX", "PX", "100000", "GET"),
        ("TTL", "k"), ("SET", "k", "v3", "GET", "KEEPTTL", "XX"), ("TTL", "k"), ("SET", "k", "v", "ex", "100"),
        ("SET", "k", "v", "Ex", "100"), ("TTL", "k"),
    ],
    "setex_psetex": [
        ("SETEX", "k", "100", "v"), ("TTL", "k"), ("GET", "k"), ("PSETEX", "k", "100000", "w"), ("TTL", "k"),
        ("GET", "k"), ("SETEX", "k", "0", "v"), ("SETEX", "k", "-5", "v"), ("SETEX", "k", "x", "v"),
        ("PSETEX", "k", "0", "v"), ("PSETEX", "k", "-1", "v"), ("SETEX", "k", "100"), ("PSETEX", "k"),
        ("SETEX", "k", "9223372036854775", "v"), ("SETEX", "k", "9223372036854776", "v"), ("HSET", "h", "f", "v"),
        ("SETEX", "h", "100", "str"), ("TYPE", "h"), ("GET", "k"),
    ],
    "getset_getdel": [
        ("GETSET", "k", "v1"), ("GETSET", "k", "v2"), ("GET", "k"), ("SET", "t", "v", "EX", "100"), ("GETSET", "t", "x"),
        ("TTL", "t"), ("HSET", "h", "f", "v"), ("GETSET", "h", "x"), ("TYPE", "h"), ("GETSET", "k"),
        ("GETDEL", "k"), ("GETDEL", "k"), ("EXISTS", "k"), ("GETDEL", "h"), ("EXISTS", "h"), ("GETDEL", "nokey"),
        ("GETDEL", "k", "x"), ("GETDEL",),
    ],
    "getex": [
        ("SET", "k", "v"), ("GETEX", "k"), ("TTL", "k"), ("GETEX", "k", "EX", "100"), ("TTL", "k"),
        ("GETEX", "k", "PX", "200000"), ("TTL", "k"), ("GETEX", "k", "EXAT", FAR), ("EXPIRETIME", "k"),
        ("GETEX", "k", "PXAT", FAR_MS + "7"), ("PEXPIRETIME", "k"), ("GETEX", "k", "PERSIST"), ("TTL", "k"),
        ("GETEX", "k", "PERSIST"), ("GETEX", "k", "EX", "0"), ("GETEX", "k", "EX", "-1"), ("GETEX", "k", "EX", "x"),
        ("GETEX", "k", "EX"), ("GETEX", "k", "EX", "10", "PX", "10"), ("GETEX", "k", "EX", "10", "PERSIST"),
        ("GETEX", "k", "PERSIST", "EX", "10"), ("GETEX", "k", "NX"), ("GETEX", "k", "KEEPTTL"), ("GETEX", "k", "GET"),
        ("GETEX", "k", "EX", "10", "EX", "100"), ("TTL", "k"), ("GETEX", "nokey", "EX", "10"),
        ("GETEX", "nokey", "EX", "0"), ("GETEX", "nokey", "BOGUS"), ("HSET", "h", "f", "v"),
        ("GETEX", "h", "EX", "10"), ("GETEX", "h", "EX", "0"), ("GETEX", "k", "EXAT", "1"), ("EXISTS", "k"),
        ("SET", "k", "v"), ("GETEX", "k", "PXAT", "1"), ("EXISTS", "k"), ("SET", "k", "v"),
        ("GETEX", "k", "EX", "9223372036854776"), ("GETEX", "k", "PX", "9223372036854775807"), ("TTL", "k"),
        ("GETEX",),
    ],
    "mget_mset": [
        ("MSET", "a", "1", "b", "2", "c", "3"), ("MGET", "a", "b", "c", "d"), ("MSET", "a", "x", "a", "y"),
        ("GET", "a"), ("MSET", "a"), ("MSET", "a", "1", "b"), ("MSET",), ("HSET", "h", "f", "v"),
        ("MGET", "a", "h", "nokey", "a"), ("MSET", "h", "now-str"), ("TYPE", "h"), ("MSETNX", "a", "1", "z", "2"),
        ("EXISTS", "z"), ("MSETNX", "y", "1", "z", "2"), ("MGET", "y", "z"), ("MSETNX", "y", "1", "z"),
        ("MSETNX", "q", "1", "q", "2"), ("GET", "q"), ("SET", "t", "v", "EX", "100"), ("MSET", "t", "w"),
        ("TTL", "t"), ("MGET",),
    ],
    "incr_decr": [
        ("INCR", "n"), ("INCR", "n"), ("INCRBY", "n", "10"), ("DECR", "n"), ("DECRBY", "n", "5"), ("GET", "n"),
        ("INCRBY", "n", "-100"), ("DECRBY", "n", "-3"), ("DECR", "fresh"), ("INCRBY", "n", "x"), ("INCRBY", "n", "1.5"),
        ("INCRBY", "n", " 1"), ("INCRBY", "n", "+1"), ("INCRBY", "n", "01"), ("INCRBY", "n", ""),
        ("INCRBY", "n", "9223372036854775808"), ("SET", "max", "9223372036854775807"), ("INCR", "max"),
        ("INCRBY", "max", "0"), ("DECR", "max"), ("INCRBY", "max", "1"), ("SET", "min", "-9223372036854775808"),
        ("DECR", "min"), ("DECRBY", "min", "1"), ("INCR", "min"), ("DECRBY", "n", "-9223372036854775808"),
        ("DECRBY", "n", "9223372036854775807"), ("INCRBY", "n", "-9223372036854775808"), ("GET", "n"),
        ("SET", "s", "abc"), ("INCR", "s"), ("SET", "s", "1.0"), ("INCR", "s"), ("SET", "s", " 1"), ("INCR", "s"),
        ("SET", "s", "007"), ("INCR", "s"), ("SET", "s", "-0"), ("INCR", "s"), ("SET", "s", ""), ("INCR", "s"),
        ("SET", "s", "12345678901234567890"), ("INCR", "s"), ("HSET", "h", "f", "1"), ("INCR", "h"),
        ("DECRBY", "h", "1"), ("SET", "t", "5", "EX", "100"), ("INCR", "t"), ("TTL", "t"), ("INCR",),
        ("INCRBY", "n"), ("DECR", "n", "1"), ("INCR", "n", "1"),
    ],
    "incrbyfloat": [
        ("INCRBYFLOAT", "f", "0.1"), ("INCRBYFLOAT", "f", "0.2"), ("INCRBYFLOAT", "f", "-0.3"), ("GET", "f"),
        ("INCRBYFLOAT", "f", "1e3"), ("INCRBYFLOAT", "f", "3.0e-5"), ("INCRBYFLOAT", "f", "5.0e3"),
        ("INCRBYFLOAT", "g", "10.50"), ("INCRBYFLOAT", "g", "1e200"), ("INCRBYFLOAT", "g", "-1e200"),
        ("INCRBYFLOAT", "g", "1e400"), ("INCRBYFLOAT", "h", "1e4932"), ("INCRBYFLOAT", "h", "1e4932"),
        ("INCRBYFLOAT", "g", "1e-4950"), ("INCRBYFLOAT", "g", "inf"), ("INCRBYFLOAT", "g", "-inf"),
        ("INCRBYFLOAT", "g", "nan"), ("INCRBYFLOAT", "g", "abc"), ("INCRBYFLOAT", "g", ""), ("INCRBYFLOAT", "g", " 1"),
        ("INCRBYFLOAT", "g", "1 "), ("INCRBYFLOAT", "g", "0x10"), ("INCRBYFLOAT", "g", ".5"), ("INCRBYFLOAT", "g", "5."),
        ("INCRBYFLOAT", "g", "+2"), ("INCRBYFLOAT", "g", "1_0"), ("GET", "g"), ("SET", "i", "10"),
        ("INCRBYFLOAT", "i", "1"), ("SET", "i", "inf"), ("INCRBYFLOAT", "i", "1"), ("SET", "i", "nan"),
        ("INCRBYFLOAT", "i", "1"), ("SET", "i", "abc"), ("INCRBYFLOAT", "i", "1"), ("INCRBYFLOAT", "i", "x"),
        ("SET", "i", ""), ("INCRBYFLOAT", "i", "1"), ("SET", "i", "1e5"), ("INCRBYFLOAT", "i", "0"),
        ("SET", "i", "-0.0"), ("INCRBYFLOAT", "i", "0"), ("INCRBYFLOAT", "i", "-0.0"),
        ("SET", "i", "123456789012345678"), ("INCRBYFLOAT", "i", "1.5"), ("HSET", "hh", "f", "1"),
        ("INCRBYFLOAT", "hh", "1"), ("SET", "t", "1", "EX", "100"), ("INCRBYFLOAT", "t", "1.5"), ("TTL", "t"),
        ("INCRBYFLOAT", "t"), ("INCRBYFLOAT", "z", "3"), ("TYPE", "z"),
    ],
    "append_strlen": [
        ("APPEND", "k", "hello"), ("APPEND", "k", " world"), ("GET", "k"), ("STRLEN", "k"), ("APPEND", "k", ""),
        ("APPEND", "e", ""), ("EXISTS", "e"), ("STRLEN", "e"), ("STRLEN", "nokey"), ("SET", "n", "10"),
        ("APPEND", "n", "5"), ("INCR", "n"), ("STRLEN", "n"), ("HSET", "h", "f", "v"), ("APPEND", "h", "x"),
        ("STRLEN", "h"), ("SET", "t", "a", "EX", "100"), ("APPEND", "t", "b"), ("TTL", "t"), ("APPEND", "k"),
        ("STRLEN",), ("STRLEN", "k", "x"),
    ],
    "setrange_getrange": [
        ("SETRANGE", "k", "0", "hello"), ("SETRANGE", "k", "6", "world"), ("GET", "k"), ("STRLEN", "k"),
        ("SETRANGE", "k", "1", "E"), ("GET", "k"), ("SETRANGE", "k", "2", ""), ("SETRANGE", "nokey", "5", ""),
        ("EXISTS", "nokey"), ("SETRANGE", "nokey", "3", "x"), ("GET", "nokey"), ("SETRANGE", "k", "-1", "x"),
        ("SETRANGE", "k", "x", "x"), ("SETRANGE", "k", "536870911", "x"), ("SETRANGE", "k", "536870912", "x"),
        ("SETRANGE", "k", "536870912", ""), ("SETRANGE", "k", "9223372036854775807", "x"), ("SETRANGE", "n2", "-1", ""),
        ("SET", "n", "12345"), ("SETRANGE", "n", "1", "x"), ("GET", "n"), ("HSET", "h", "f", "v"),
        ("SETRANGE", "h", "0", "x"), ("SETRANGE", "h", "0", ""), ("SETRANGE", "h", "-1", "x"),
        ("SET", "s", "This is a string"), ("GETRANGE", "s", "0", "3"), ("GETRANGE", "s", "-3", "-1"),
        ("GETRANGE", "s", "0", "-1"), ("GETRANGE", "s", "10", "100"), ("GETRANGE", "s", "5", "3"),
        ("GETRANGE", "s", "-1", "-5"), ("GETRANGE", "s", "-100", "-99"), ("GETRANGE", "s", "-100", "2"),
        ("GETRANGE", "s", "100", "200"), ("GETRANGE", "s", "0", "0"), ("GETRANGE", "s", "-1", "-1"),
        ("GETRANGE", "s", "-1", "100"), ("GETRANGE", "s", "3", "-100"), ("GETRANGE", "s", "x", "1"),
        ("GETRANGE", "s", "0", "1.5"), ("GETRANGE", "nokey", "0", "-1"), ("GETRANGE", "nokey", "x", "1"),
        ("GETRANGE", "h", "0", "-1"), ("GETRANGE", "h", "x", "-1"), ("SET", "e", ""), ("GETRANGE", "e", "0", "-1"),
        ("GETRANGE", "e", "0", "0"), ("GETRANGE", "s", "-9223372036854775808", "9223372036854775807"),
        ("SUBSTR", "s", "0", "3"), ("SUBSTR", "s", "-3", "-1"), ("SUBSTR", "h", "0", "1"), ("SUBSTR", "s", "0"),
        ("GETRANGE", "s", "0"), ("SETRANGE", "s", "0"),
    ],
    "del_exists_touch_type": TYPES + [
        ("EXISTS", "str", "hash", "set", "zset", "nokey", "str"), ("TOUCH", "str", "nokey", "str", "hash"),
        ("TYPE", "str"), ("TYPE", "hash"), ("TYPE", "set"), ("TYPE", "zset"), ("TYPE", "nokey"),
        ("DEL", "str", "nokey", "str"), ("UNLINK", "hash", "set", "nokey"), ("EXISTS", "str", "hash", "set"),
        ("DEL", "set", "zset"), ("DEL", "zset"), ("DEL",), ("UNLINK",), ("EXISTS",), ("TOUCH",), ("TYPE",),
        ("TYPE", "a", "b"), ("SET", "", "empty-name"), ("EXISTS", ""), ("TYPE", ""), ("DEL", ""),
    ],
    "expire_family": [
        ("SET", "k", "v"), ("EXPIRE", "k", "100"), ("TTL", "k"), ("PTTL", "k"), ("PEXPIRE", "k", "200000"),
        ("TTL", "k"), ("EXPIREAT", "k", FAR), ("EXPIRETIME", "k"), ("PEXPIRETIME", "k"), ("PEXPIREAT", "k", FAR_MS + "5"),
        ("PEXPIRETIME", "k"), ("EXPIRETIME", "k"), ("PEXPIREAT", "k", FAR_MS + "499"), ("EXPIRETIME", "k"),
        ("PEXPIREAT", "k", FAR_MS + "500"), ("EXPIRETIME", "k"), ("EXPIRE", "nokey", "100"),
        ("PEXPIRE", "nokey", "100"), ("EXPIREAT", "nokey", FAR), ("PEXPIREAT", "nokey", FAR_MS), ("TTL", "nokey"),
        ("PTTL", "nokey"), ("EXPIRETIME", "nokey"), ("PEXPIRETIME", "nokey"), ("SET", "p", "v"), ("TTL", "p"),
        ("PTTL", "p"), ("EXPIRETIME", "p"), ("PEXPIRETIME", "p"), ("EXPIRE", "k", "x"), ("EXPIRE", "k", "1.5"),
        ("EXPIRE", "k", ""), ("EXPIRE", "k"), ("EXPIRE", "k", "9223372036854775807"),
        ("EXPIRE", "k", "9223372036854775"), ("EXPIRE", "k", "9223372036854776"), ("EXPIRE", "k", "-9223372036854775"),
        ("EXISTS", "k"), ("SET", "k", "v"), ("EXPIRE", "k", "-9223372036854776"), ("PEXPIRE", "k", "9223372036854775807"),
        ("PEXPIREAT", "k", "9223372036854775807"), ("PEXPIRETIME", "k"), ("EXPIREAT", "k", "9223372036854775"),
        ("EXPIRETIME", "k"), ("EXPIREAT", "k", "9223372036854776"), ("EXPIREAT", "k", "-9223372036854775808"),
        ("EXISTS", "k"), ("SET", "k", "v"), ("EXPIRE", "k", "0"), ("EXISTS", "k"), ("SET", "k", "v"),
        ("EXPIRE", "k", "-10"), ("EXISTS", "k"), ("SET", "k", "v"), ("PEXPIRE", "k", "-1"), ("EXISTS", "k"),
        ("SET", "k", "v"), ("EXPIREAT", "k", "1"), ("EXISTS", "k"), ("SET", "k", "v"), ("PEXPIREAT", "k", "0"),
        ("EXISTS", "k"), ("HSET", "h", "f", "v"), ("EXPIRE", "h", "100"), ("TTL", "h"), ("HSET", "h", "g", "w"),
        ("TTL", "h"), ("EXPIRE", "k", "100", "BOGUS"), ("EXPIRE", "nokey", "100", "BOGUS"),
        ("EXPIRE", "k", "x", "BOGUS"), ("EXPIRE", "k", "x", "NX", "XX"),
    ],
    "expire_options": [
        ("SET", "k", "v"), ("EXPIRE", "k", "100", "XX"), ("TTL", "k"), ("EXPIRE", "k", "100", "GT"),
        ("TTL", "k"), ("EXPIRE", "k", "100", "LT"), ("TTL", "k"), ("EXPIRE", "k", "100", "NX"), ("TTL", "k"),
        ("EXPIRE", "k", "200", "NX"), ("EXPIRE", "k", "200", "XX"), ("TTL", "k"), ("EXPIRE", "k", "150", "GT"),
        ("EXPIRE", "k", "300", "GT"), ("TTL", "k"), ("EXPIRE", "k", "400", "LT"), ("EXPIRE", "k", "50", "LT"),
        ("TTL", "k"), ("EXPIRE", "k", "60", "xx", "gt"), ("TTL", "k"), ("EXPIRE", "k", "70", "XX", "LT"),
        ("EXPIRE", "k", "10", "NX", "XX"), ("EXPIRE", "k", "10", "NX", "GT"), ("EXPIRE", "k", "10", "NX", "LT"),
        ("EXPIRE", "k", "10", "GT", "LT"), ("EXPIRE", "k", "10", "XX", "GT", "LT"), ("EXPIRE", "k", "10", "NX", "GT", "LT"),
        ("EXPIRE", "k", "10", "XX", "XX"), ("TTL", "k"), ("EXPIRE", "k", "10", "FOO"), ("EXPIRE", "k", "10", "NX", "FOO"),
        ("PEXPIRE", "k", "10", "gtx"), ("EXPIREAT", "k", "10", "XX", "BAR"), ("SET", "p", "v"),
        ("EXPIRE", "p", "-1", "LT"), ("EXISTS", "p"), ("SET", "p", "v"), ("EXPIRE", "p", "-1", "GT"), ("EXISTS", "p"),
        ("EXPIRE", "p", "-1", "XX"), ("EXISTS", "p"), ("EXPIRE", "p", "-1", "NX"), ("EXISTS", "p"),
        ("EXPIREAT", "p", FAR, "NX"), ("EXPIREAT", "p", FAR, "GT"), ("PEXPIREAT", "p", FAR_MS + "1", "GT"),
        ("PEXPIRETIME", "p"), ("PEXPIREAT", "p", FAR_MS, "LT"), ("PEXPIRETIME", "p"), ("EXPIRE", "nokey", "10", "NX"),
        ("EXPIRE", "nokey", "10", "NX", "XX"),
    ],
    "persist": [
        ("SET", "k", "v", "EX", "100"), ("PERSIST", "k"), ("TTL", "k"), ("PERSIST", "k"), ("PERSIST", "nokey"),
        ("HSET", "h", "f", "v"), ("EXPIRE", "h", "100"), ("PERSIST", "h"), ("TTL", "h"), ("PERSIST",),
        ("PERSIST", "k", "x"),
    ],
    "keys_scan": [
        ("MSET", "one", "1", "two", "2", "three", "3", "four", "4", "a[b", "5", "a*b", "6", "", "7"),
        ("HSET", "h1", "f", "v"), ("SADD", "s1", "m"), ("ZADD", "z1", "1", "m"),
        ("KEYS", "*"), ("KEYS", "t*"), ("KEYS", "*o*"), ("KEYS", "?wo"), ("KEYS", "[ot]*"), ("KEYS", "[^o]*"),
        ("KEYS", "a\\[b"), ("KEYS", "a\\*b"), ("KEYS", "a[*]b"), ("KEYS", "nomatch*"), ("KEYS", ""),
        ("KEYS", "[a-h]?"), ("KEYS", "*1"), ("KEYS",), ("KEYS", "a", "b"),
        ("SCAN", "0"), ("SCAN", "0", "MATCH", "t*"), ("SCAN", "0", "COUNT", "100"), ("SCAN", "0", "TYPE", "string"),
        ("SCAN", "0", "TYPE", "hash"), ("SCAN", "0", "TYPE", "HASH"), ("SCAN", "0", "TYPE", "set"),
        ("SCAN", "0", "TYPE", "zset"), ("SCAN", "0", "TYPE", "nosuchtype"),
        ("SCAN", "0", "MATCH", "*1", "TYPE", "set", "COUNT", "1000"), ("SCAN", "0", "COUNT", "0"),
        ("SCAN", "0", "COUNT", "-1"), ("SCAN", "0", "COUNT", "x"), ("SCAN", "0", "MATCH"), ("SCAN", "0", "BOGUS", "1"),
        ("SCAN", "x"), ("SCAN", "0", "COUNT"), ("SCAN", "0", "TYPE"), ("SCAN",),
        ("SCAN", "18446744073709551616"), ("SCAN", "1x"),
    ],
    "rename": [
        ("SET", "a", "1"), ("RENAME", "a", "b"), ("GET", "b"), ("EXISTS", "a"), ("RENAME", "a", "c"),
        ("RENAME", "b", "b"), ("RENAME", "nokey", "nokey"), ("SET", "c", "3"), ("RENAME", "b", "c"), ("GET", "c"),
        ("HSET", "h", "f", "v"), ("RENAME", "c", "h"), ("TYPE", "h"), ("GET", "h"), ("HSET", "h2", "f", "v"),
        ("RENAME", "h2", "x"), ("HGET", "x", "f"), ("SET", "t", "v", "EX", "100"), ("RENAME", "t", "u"), ("TTL", "u"),
        ("SET", "t", "v"), ("EXPIRE", "u", "100"), ("RENAME", "t", "u"), ("TTL", "u"), ("RENAMENX", "u", "v"),
        ("RENAMENX", "v", "v"), ("RENAMENX", "nokey", "x"), ("RENAMENX", "v", "x"), ("EXISTS", "v", "x"),
        ("RENAMENX", "nokey", "nokey"), ("RENAME", "a"), ("RENAMENX", "a", "b", "c"),
    ],
    "move_copy": [
        ("SET", "a", "1"), ("MOVE", "a", "1"), ("EXISTS", "a"), ("MOVE", "a", "1"), ("SELECT", "1"), ("GET", "a"),
        ("SET", "b", "2"), ("SELECT", "0"), ("SET", "b", "local"), ("MOVE", "b", "1"), ("GET", "b"),
        ("MOVE", "b", "0"), ("MOVE", "b", "16"), ("MOVE", "b", "-1"), ("MOVE", "b", "x"), ("MOVE", "b", "2147483648"),
        ("MOVE", "nokey", "1"), ("MOVE", "nokey", "0"), ("SET", "t", "v", "EX", "100"), ("MOVE", "t", "2"),
        ("SELECT", "2"), ("TTL", "t"), ("SELECT", "0"),
        ("HSET", "h", "f", "v"), ("COPY", "h", "h2"), ("HSET", "h2", "g", "w"), ("HGETALL", "h"), ("HGETALL", "h2"),
        ("COPY", "h", "h2"), ("COPY", "h", "h2", "REPLACE"), ("HGETALL", "h2"), ("COPY", "h", "h"),
        ("COPY", "h", "h", "REPLACE"), ("COPY", "nokey", "x"), ("COPY", "h", "h", "DB", "3"), ("SELECT", "3"),
        ("HGETALL", "h"), ("SELECT", "0"), ("COPY", "h", "h", "DB", "3"), ("COPY", "h", "h", "DB", "3", "replace"),
        ("COPY", "h", "x", "DB", "16"), ("COPY", "h", "x", "DB", "-2147483649"), ("COPY", "h", "x", "DB", "x"), ("COPY", "h", "x", "DB"),
        ("COPY", "h", "x", "BOGUS"), ("COPY", "h", "x", "DB", "0"), ("COPY", "h", "h", "DB", "0"),
        ("SADD", "s", "1", "2"), ("COPY", "s", "s2"), ("SREM", "s2", "1"), ("SMEMBERS", "s"), ("ZADD", "z", "1", "a", "2", "b"),
        ("COPY", "z", "z2"), ("ZREM", "z2", "a"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
        ("SET", "t", "v", "PXAT", FAR_MS + "3"), ("COPY", "t", "t2"), ("PEXPIRETIME", "t2"), ("SET", "str", "x"),
        ("COPY", "str", "h2", "REPLACE"), ("TYPE", "h2"), ("COPY", "h"), ("MOVE", "h"),
    ],
    "randomkey_object": [
        ("RANDOMKEY",), ("SET", "k", "v"), ("RANDOMKEY",), ("RANDOMKEY", "x"),
        ("SET", "int", "123"), ("SET", "big", "99999"), ("SET", "neg", "-5"), ("SET", "emb", "hello"),
        ("SET", "raw", "x" * 45), ("SET", "e44", "y" * 44), ("SET", "lead", "007"), ("HSET", "h", "f", "v"),
        ("SADD", "si", "1", "2"), ("SADD", "ss", "a"), ("ZADD", "z", "1", "m"),
        ("HSET", "hbig", "f", "v" * 65),
        ("OBJECT", "ENCODING", "int"), ("OBJECT", "ENCODING", "big"), ("OBJECT", "ENCODING", "neg"),
        ("OBJECT", "ENCODING", "emb"), ("OBJECT", "ENCODING", "raw"), ("OBJECT", "ENCODING", "e44"),
        ("OBJECT", "ENCODING", "lead"), ("OBJECT", "ENCODING", "h"), ("OBJECT", "ENCODING", "si"),
        ("OBJECT", "ENCODING", "ss"), ("OBJECT", "ENCODING", "z"),
        ("OBJECT", "ENCODING", "hbig"), ("OBJECT", "ENCODING", "nokey"), ("OBJECT", "REFCOUNT", "int"),
        ("OBJECT", "REFCOUNT", "big"), ("OBJECT", "REFCOUNT", "emb"), ("OBJECT", "REFCOUNT", "h"),
        ("OBJECT", "REFCOUNT", "nokey"), ("OBJECT", "IDLETIME", "nokey"), ("OBJECT", "FREQ", "k"),
        ("OBJECT", "FREQ", "nokey"), ("OBJECT", "HELP"), ("OBJECT", "help"), ("OBJECT", "BOGUS"),
        ("OBJECT", "ENCODING"), ("OBJECT", "ENCODING", "a", "b"), ("OBJECT",), ("INCR", "n"),
        ("OBJECT", "ENCODING", "n"), ("INCRBYFLOAT", "f", "1.5"), ("OBJECT", "ENCODING", "f"),
    ],
    "wrongtype_matrix": TYPES + [
        (cmd, key) + extra
        for key in ("hash", "set", "zset")
        for cmd, extra in (("GET", ()), ("GETDEL", ()), ("GETEX", ()), ("STRLEN", ()), ("INCR", ()),
                           ("INCRBYFLOAT", ("1",)), ("APPEND", ("x",)), ("SETRANGE", ("0", "x")),
                           ("GETRANGE", ("0", "1")), ("GETSET", ("x",)))
    ] + [("MGET", "hash", "set", "zset", "str"), ("TYPE", "zset"), ("EXISTS", "hash", "set", "zset")],
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_corpus(redis_server, fanout_broker, name: str, protocol: int) -> None:
    same(redis_server, fanout_broker, SCRIPTS[name], protocol)


def test_normalize_keeps_what_is_defined() -> None:
    """The normaliser must not hide differences in content or sign."""
    assert normalize(("KEYS", "*"), [b"a", b"b"]) != normalize(("KEYS", "*"), [b"a"])
    assert normalize(("SCAN", "0"), [b"0", [b"b", b"a"]]) == [b"a", b"b"]
    assert normalize(("PTTL", "k"), -2) == -2
    assert normalize(("GET", "k"), [b"b", b"a"]) == [b"b", b"a"]


# ---------------------------------------------------------------- full scans

def _scan_all(client: RespClient, *options: str) -> list[bytes]:
    cursor, seen = b"0", []
    for _ in range(10_000):
        cursor, keys = client.call("SCAN", cursor, *options)
        seen.extend(keys)
        if cursor == b"0":
            return sorted(set(seen))
    raise AssertionError("scan never ended")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_full_scan_of_a_large_keyspace(redis_server, fanout_broker, protocol: int) -> None:
    results = []
    for port in (redis_server.port, fanout_broker.port):
        with RespClient(port, protocol=protocol) as client:
            client.call("FLUSHALL")
            client.call("MSET", *[x for i in range(500) for x in (f"key:{i}", str(i))])
            client.call("HSET", "key:h", "f", "v")
            results.append((_scan_all(client), _scan_all(client, "COUNT", "7", "MATCH", "key:1*"),
                            _scan_all(client, "TYPE", "hash", "COUNT", "50"), sorted(client.call("KEYS", "key:4?"))))
    assert results[0] == results[1]
    assert len(results[0][0]) == 501 and results[0][2] == [b"key:h"]


# ----------------------------------------------------------- notifications

def _events(port: int, script: list[tuple[str, ...]], flags: str) -> list[Any]:
    """Keyspace/keyevent messages seen while ``script`` runs, up to a marker publish.

    The script runs as one MULTI/EXEC: both servers also expire keys from a timer,
    which could otherwise take a key whose deadline has passed between two
    commands and move its ``expired`` event.
    """
    with RespClient(port) as admin, RespClient(port) as subscriber:
        admin.call("FLUSHALL")
        admin.call("CONFIG", "SET", "notify-keyspace-events", flags)
        subscriber.call("PSUBSCRIBE", "__key*__:*")
        subscriber.call("SUBSCRIBE", "done")
        try:
            admin.call("MULTI")
            queued = [admin.call(*cmd) for cmd in script]
            assert all(reply == b"QUEUED" for reply in queued), queued
            assert isinstance(admin.call("EXEC"), list)
            admin.call("PUBLISH", "done", "x")
            seen: list[Any] = []
            for _ in range(10_000):
                message = subscriber.read()
                if message[0] == b"message" and message[1] == b"done":
                    return seen
                seen.append(message)
            raise AssertionError("no end marker")
        finally:
            admin.call("CONFIG", "SET", "notify-keyspace-events", "")


EVENT_SCRIPT: list[tuple[str, ...]] = [
    ("SET", "a", "1"), ("SET", "a", "2"), ("SET", "a", "3", "NX"), ("SET", "b", "1", "XX"), ("SET", "b", "1", "EX", "100"),
    ("SET", "b", "2", "KEEPTTL"), ("SET", "c", "1", "PXAT", FAR_MS), ("SET", "c", "x", "GET"), ("SETNX", "c", "1"),
    ("SETNX", "d", "1"), ("SETEX", "e", "100", "v"), ("PSETEX", "e", "100000", "v"), ("SETEX", "e", "0", "v"),
    ("GETSET", "e", "w"), ("GETSET", "f", "w"), ("MSET", "g", "1", "h", "2", "g", "3"), ("MSETNX", "g", "1", "i", "2"),
    ("MSETNX", "i", "1", "j", "2"), ("GETDEL", "j"), ("GETDEL", "j"), ("GET", "nokey"), ("MGET", "a", "nokey"),
    ("GETEX", "a", "EX", "100"), ("GETEX", "a", "PERSIST"), ("GETEX", "a", "PERSIST"), ("GETEX", "a"),
    ("GETEX", "a", "PXAT", "1"), ("GETEX", "nokey", "EX", "10"), ("INCR", "n"), ("INCRBY", "n", "5"), ("DECR", "n"),
    ("DECRBY", "n", "2"), ("INCR", "a2"), ("INCRBY", "b", "x"), ("INCRBYFLOAT", "n", "1.5"), ("INCRBYFLOAT", "m", "1"),
    ("INCRBYFLOAT", "m", "inf"), ("APPEND", "p", "x"), ("APPEND", "p", "y"), ("APPEND", "p", ""),
    ("SETRANGE", "p", "5", "z"), ("SETRANGE", "p", "1", ""), ("SETRANGE", "q", "3", ""), ("SETRANGE", "q", "0", "x"),
    ("STRLEN", "p"), ("GETRANGE", "nokey", "0", "1"), ("DEL", "p", "q", "nokey"), ("UNLINK", "n", "nokey"),
    ("EXISTS", "a", "nokey"), ("TYPE", "nokey"), ("TOUCH", "a"), ("EXPIRE", "a", "100"), ("PEXPIRE", "a", "100000", "GT"),
    ("EXPIREAT", "a", FAR, "LT"), ("EXPIRE", "a", "100", "NX"), ("PEXPIREAT", "a", FAR_MS, "XX"), ("TTL", "a"),
    ("PERSIST", "a"), ("PERSIST", "a"), ("EXPIRE", "a", "-1"), ("EXPIRE", "nokey", "10"), ("SET", "a", "1"),
    ("EXPIREAT", "a", "1"), ("SET", "x", "1", "EXAT", "1"), ("GET", "x"), ("SET", "x", "1", "PXAT", "1"),
    ("DEL", "x"), ("SET", "x", "1", "PXAT", "1"), ("EXISTS", "x"), ("SET", "r", "1"), ("RENAME", "r", "s"),
    ("SET", "t", "2"), ("RENAME", "s", "t"), ("RENAMENX", "t", "t"), ("RENAMENX", "t", "u"), ("SET", "v", "1"),
    ("RENAMENX", "u", "v"), ("RENAME", "nokey", "w"), ("RENAME", "u", "u"), ("MOVE", "u", "1"), ("SELECT", "1"),
    ("SET", "v", "db1"), ("MOVE", "v", "0"), ("MOVE", "u", "0"), ("SELECT", "0"), ("COPY", "v", "cv"),
    ("COPY", "v", "cv"), ("COPY", "v", "cv", "REPLACE"), ("COPY", "v", "v", "DB", "2"), ("HSET", "hh", "f", "1"),
    ("COPY", "hh", "v", "REPLACE"), ("RENAME", "hh", "v"), ("OBJECT", "ENCODING", "nokey"), ("RANDOMKEY",),
    ("SCAN", "0", "MATCH", "nokey"), ("KEYS", "nokey"),
]


# Each command meets a key whose deadline (PXAT 1) has passed: Redis removes it with
# ``expired`` first, then the command runs as on a missing key (``new`` ...).
_DEAD_KEYS = ["x", "y", "z", "w", "v", "u", "t", "s", "r", "q", "p", "o", "n", "m", "l", "k", "j", "i", "h", "f",
              "e", "d", "c", "b", "a", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "b1", "b2", "b3", "b4"]
EXPIRED_SCRIPT: list[tuple[str, ...]] = [("SELECT", "1"), ("SET", "q", "1", "PXAT", "1"), ("SELECT", "0")] + [
    ("SET", key, "1", "PXAT", "1") for key in _DEAD_KEYS] + [
    ("SET", "x", "2"), ("SET", "y", "2", "EX", "10"), ("MSET", "z", "2"), ("GETSET", "w", "2"), ("INCR", "v"),
    ("APPEND", "u", "x"), ("RENAME", "x", "t"), ("HSET", "s", "f", "v"), ("COPY", "y", "r"), ("MOVE", "q", "1"),
    ("EXPIRE", "p", "100"), ("PERSIST", "o"), ("TTL", "n"), ("SETNX", "m", "2"), ("MSETNX", "l", "2"),
    ("SETRANGE", "k", "0", "z"), ("INCRBYFLOAT", "j", "1"), ("RENAMENX", "z", "i"), ("RENAME", "h", "g"),
    ("GETEX", "f", "PERSIST"), ("TOUCH", "e"), ("TYPE", "d"), ("OBJECT", "ENCODING", "c"),
    ("SCAN", "0", "MATCH", "b", "COUNT", "1000"), ("KEYS", "a"), ("UNLINK", "a"), ("GET", "a2"), ("EXISTS", "a3"),
    ("MGET", "a4"), ("STRLEN", "a5"), ("DEL", "a6"), ("GETDEL", "a7"), ("SET", "a8", "v", "NX"),
    ("SET", "a9", "v", "XX"), ("SET", "b1", "v", "GET"), ("COPY", "b2", "b3"), ("COPY", "i", "b4", "REPLACE"),
    # Dead keys no command took would expire from a timer before the end marker, or not.
    ("EXISTS", *_DEAD_KEYS), ("SELECT", "1"), ("EXISTS", "q"), ("SELECT", "0"),
]


@pytest.mark.parametrize("flags", ["KEA", "KEAn", "KEAm", "Eg", "K$"])
@pytest.mark.parametrize("script", ["corpus", "expired"])
def test_keyspace_events(redis_server, fanout_broker, flags: str, script: str) -> None:
    commands = EVENT_SCRIPT if script == "corpus" else EXPIRED_SCRIPT
    want = _events(redis_server.port, commands, flags)
    got = _events(fanout_broker.port, commands, flags)
    assert want, "the script must produce events"
    assert got == want


def test_watch_is_invalidated_by_string_and_key_writes(redis_server, fanout_broker) -> None:
    """WATCH sees every write of these commands, and not reads or no-op writes."""
    writes = [("SET", "k", "v"), ("INCR", "k"), ("APPEND", "k", "x"), ("EXPIRE", "k", "100"), ("DEL", "k"),
              ("RENAME", "other", "k"), ("GETDEL", "k"), ("PERSIST", "k"), ("GET", "k"), ("SETRANGE", "k", "0", ""),
              ("EXPIRE", "k", "100", "NX"), ("COPY", "other", "k", "REPLACE"), ("MOVE", "k", "1")]
    results = []
    for port in (redis_server.port, fanout_broker.port):
        outcome = []
        for write in writes:
            with RespClient(port) as watcher, RespClient(port) as other:
                other.call("FLUSHALL")
                other.call("SET", "k", "1", "EX", "1000")
                other.call("SET", "other", "2")
                watcher.call("WATCH", "k")
                other.call(*write)
                watcher.call("MULTI")
                watcher.call("PING")
                outcome.append(watcher.call("EXEC"))
        results.append(outcome)
    assert results[0] == results[1]
    assert results[0].count(None) >= 9


def test_keyspace_hit_and_miss_counters(fanout_broker) -> None:
    with RespClient(fanout_broker.port) as client:
        client.call("FLUSHALL")
        client.call("CONFIG", "RESETSTAT")
        client.call("SET", "k", "v")
        client.call("GET", "k")
        client.call("GET", "nokey")
        client.call("MGET", "k", "nokey", "nokey2")
        client.call("INCR", "n")  # a write lookup: counted neither way
        info = client.call("INFO", "stats").decode()
    stats = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    assert (stats.get("keyspace_hits"), stats.get("keyspace_misses")) == ("2", "3")


# ------------------------------------------------------------------ randomised

KEYS = st.sampled_from(["k", "k2", "n"])
VALUES = st.sampled_from(["1", "-2", "x", "1.5", "0", "10", "", "9223372036854775807"])
NUMBERS = st.sampled_from(["1", "-1", "0", "x", "2.5", "100", "-100", "9223372036854775807"])
TTL_OPTIONS = st.sampled_from([(), ("EX", "100"), ("PX", "100000"), ("EXAT", FAR), ("PXAT", "1"), ("KEEPTTL",),
                               ("EX", "0"), ("NX",), ("XX",), ("GET",), ("NX", "GET"), ("XX", "EX", "100")])

COMMANDS = st.one_of(
    st.builds(lambda k, v, o: ("SET", k, v) + o, KEYS, VALUES, TTL_OPTIONS),
    st.tuples(st.sampled_from(["SETNX", "GETSET", "APPEND"]), KEYS, VALUES),
    # TTLs stay far above a script's run time, so no key expires on one server only.
    st.tuples(st.just("SETEX"), KEYS, st.sampled_from(["100", "0", "x"]), VALUES),
    st.tuples(st.just("PSETEX"), KEYS, st.sampled_from(["100000", "0", "x"]), VALUES),
    st.tuples(st.sampled_from(["GET", "GETDEL", "STRLEN", "INCR", "DECR", "TTL", "PTTL", "PERSIST", "TYPE",
                               "EXISTS", "DEL", "UNLINK", "TOUCH"]), KEYS),
    st.tuples(st.sampled_from(["INCRBY", "DECRBY", "INCRBYFLOAT"]), KEYS, NUMBERS),
    st.builds(lambda k, o: ("GETEX", k) + o, KEYS,
              st.sampled_from([(), ("EX", "100"), ("PERSIST",), ("PXAT", "1"), ("EXAT", FAR), ("EX", "0")])),
    st.tuples(st.sampled_from(["MGET", "EXISTS", "DEL"]), KEYS, KEYS),
    st.tuples(st.sampled_from(["MSET", "MSETNX"]), KEYS, VALUES, KEYS, VALUES),
    st.tuples(st.sampled_from(["SETRANGE"]), KEYS, st.sampled_from(["0", "2", "-1"]), VALUES),
    st.tuples(st.sampled_from(["GETRANGE"]), KEYS, st.sampled_from(["0", "-1", "2"]), st.sampled_from(["0", "-1", "5"])),
    # Never the same relative time as SET's EX/PX: GT/LT on a tie would depend on
    # whether a millisecond ticked between the two commands.
    st.builds(lambda c, k, o: (c[0], k, c[1]) + o, st.sampled_from([
        ("EXPIRE", "200"), ("PEXPIRE", "250000"), ("EXPIREAT", FAR), ("EXPIRE", "-1"), ("PEXPIRE", "0"),
        ("EXPIREAT", "1")]), KEYS,
        st.sampled_from([(), ("NX",), ("XX",), ("GT",), ("LT",)])),
    st.tuples(st.sampled_from(["RENAME", "RENAMENX", "COPY"]), KEYS, KEYS),
    st.tuples(st.just("HSET"), KEYS, st.just("f"), VALUES),
    st.tuples(st.just("KEYS"), st.sampled_from(["*", "k*", "?"])),
)


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(COMMANDS, min_size=1, max_size=25), protocol=st.sampled_from(PROTOCOLS))
def test_random_scripts(redis_server, fanout_broker, script, protocol) -> None:
    full = script + [("MGET", "k", "k2", "n"), ("TYPE", "k"), ("TYPE", "k2"), ("TYPE", "n"), ("KEYS", "*")]
    same(redis_server, fanout_broker, full, protocol)


def test_run_script_reports_errors_as_values(redis_server) -> None:
    replies = run_script(redis_server.port, [("INCR", "k"), ("INCRBY", "k", "x")])
    assert replies == [1, RespError("ERR value is not an integer or out of range")]
