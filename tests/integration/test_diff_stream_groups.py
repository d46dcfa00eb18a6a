"""Stream consumer groups: replies, errors and keyspace events compared with redis-server 7.0.

Idle times and delivery times depend on each server's wall clock, so the
comparisons mask exactly those fields (``mask_times``); everything else is equal.
Claims are made deterministic by choosing the times: ``TIME 1000`` (an
absolute time long past) makes an entry idle for decades, a fresh delivery is
idle for far less than ``BIG`` ms.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.differential import Command, assert_same_replies, keyspace_events, run_script
from tests.support.resp_client import RespClient

BIG = 3_600_000  # an idle time no fresh delivery reaches during a test
IDLE = "<idle>"
TIME = "<time>"


def mask_times(command: Command, reply: Any) -> Any:
    """Replace the wall-clock fields of a reply (idle ms, delivery and seen times)."""
    name = str(command[0]).upper()
    sub = str(command[1]).upper() if len(command) > 1 else ""
    if isinstance(reply, list) and name == "XPENDING" and len(command) > 3:
        return [[item[0], item[1], IDLE, item[3]] if isinstance(item, list) and len(item) == 4 else item
                for item in reply]
    if name == "XINFO" and sub == "CONSUMERS" and isinstance(reply, list):
        return [_mask_pairs(item, {b"idle"}) for item in reply]
    if name == "XINFO" and sub == "STREAM" and len(command) > 3:
        return _mask_full(reply)
    return reply


def _mask_pairs(item: Any, fields: set[bytes]) -> Any:
    """A map reply (flat list in RESP2, dict in RESP3) with ``fields`` masked."""
    if isinstance(item, dict):
        return {k: (IDLE if k in fields else v) for k, v in item.items()}
    if isinstance(item, list):
        out = list(item)
        for index in range(0, len(out) - 1, 2):
            if out[index] in fields:
                out[index + 1] = IDLE
        return out
    return item


def _as_dict(item: Any) -> dict[Any, Any]:
    if isinstance(item, dict):
        return dict(item)
    return {item[i]: item[i + 1] for i in range(0, len(item), 2)}


def _mask_full(reply: Any) -> Any:
    if not isinstance(reply, (list, dict)):
        return reply
    info = _as_dict(reply)
    groups = []
    for group in info.get(b"groups", []):
        group = _as_dict(group)
        group[b"pending"] = [[p[0], p[1], TIME, p[3]] for p in group[b"pending"]]
        consumers = []
        for consumer in group[b"consumers"]:
            consumer = _as_dict(consumer)
            consumer[b"seen-time"] = TIME
            consumer[b"pending"] = [[p[0], TIME, p[2]] for p in consumer[b"pending"]]
            consumers.append(consumer)
        group[b"consumers"] = consumers
        groups.append(group)
    info[b"groups"] = groups
    return info


def same(redis_server, fanout_broker, script, protocol=2):
    return assert_same_replies(redis_server.port, fanout_broker.port, script, protocol=protocol,
                               normalize=mask_times)


def _entries(key: str, n: int, start: int = 1) -> list[Command]:
    return [("XADD", key, f"{i}-1", "n", str(i)) for i in range(start, start + n)]


XGROUP_CASES: list[Command] = [
    ("XGROUP", "CREATE", "s", "g", "$"),  # no key
    ("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"), ("TYPE", "s"), ("XLEN", "s"),
    ("XGROUP", "CREATE", "s", "g", "$"), ("XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"),
    ("XGROUP", "CREATE", "s", "g2", "-"), ("XGROUP", "CREATE", "s", "g3", "+"), ("XGROUP", "CREATE", "s", "g3", "x"),
    ("XGROUP", "CREATE", "s", "g3", "5", "ENTRIESREAD", "3"), ("XGROUP", "CREATE", "s", "g4", "5", "ENTRIESREAD", "-2"),
    ("XGROUP", "CREATE", "s", "g4", "5", "ENTRIESREAD", "x"), ("XGROUP", "CREATE", "s", "g4", "5", "ENTRIESREAD"),
    ("XGROUP", "CREATE", "s", "g4", "5", "BOGUS"), ("XGROUP", "CREATE", "s", "g4", "5", "MKSTREAM", "MKSTREAM",
                                                      "MKSTREAM", "MKSTREAM"),
    ("XGROUP", "CREATE", "s", "g5", "0", "ENTRIESREAD", "-1"), ("XGROUP", "create", "s", "g6", "0-0", "mkstream"),
    ("XGROUP", "CREATE", "s"), ("XGROUP", "CREATE", "s", "g"),
    ("XINFO", "GROUPS", "s"),
    ("XGROUP", "SETID", "s", "g", "7-7"), ("XGROUP", "SETID", "s", "g", "+"), ("XGROUP", "SETID", "s", "g", "-"),
    ("XGROUP", "SETID", "s", "g", "$", "ENTRIESREAD", "2"), ("XGROUP", "SETID", "s", "g", "1", "MKSTREAM"),
    ("XGROUP", "SETID", "s", "g", "1", "ENTRIESREAD"), ("XGROUP", "SETID", "s", "nog", "1"),
    ("XGROUP", "SETID", "missing", "g", "1"), ("XGROUP", "SETID", "s", "g", "bad"),
    ("XGROUP", "SETID", "s", "g", "1", "ENTRIESREAD", "-5"),
    ("XINFO", "GROUPS", "s"),
    ("XGROUP", "CREATECONSUMER", "s", "g", "alice"), ("XGROUP", "CREATECONSUMER", "s", "g", "alice"),
    ("XGROUP", "CREATECONSUMER", "s", "nog", "alice"), ("XGROUP", "CREATECONSUMER", "missing", "g", "alice"),
    ("XGROUP", "CREATECONSUMER", "s", "g"), ("XGROUP", "CREATECONSUMER", "s", "g", "a", "b"),
    ("XGROUP", "DELCONSUMER", "s", "g", "bob"), ("XGROUP", "DELCONSUMER", "s", "g", "alice"),
    ("XGROUP", "DELCONSUMER", "s", "nog", "alice"),
    ("XGROUP", "DESTROY", "s", "g"), ("XGROUP", "DESTROY", "s", "g"), ("XGROUP", "DESTROY", "missing", "g"),
    ("XGROUP", "DESTROY", "s", "g", "x"), ("XGROUP", "DESTROY", "s"),
    ("XGROUP", "HELP"), ("XGROUP", "help", "x"), ("XGROUP", "BOGUS", "s", "g"), ("XGROUP",),
    ("SET", "str", "x"), ("XGROUP", "CREATE", "str", "g", "$"), ("XGROUP", "CREATE", "str", "g", "$", "MKSTREAM"),
    ("XGROUP", "DESTROY", "str", "g"),
    ("XINFO", "GROUPS", "s"), ("XINFO", "GROUPS", "missing"), ("XINFO", "GROUPS", "str"),
    ("XINFO", "GROUPS", "s", "x"), ("XINFO", "HELP"), ("XINFO", "BOGUS", "s"),
]


def test_xgroup(redis_server, fanout_broker):
    same(redis_server, fanout_broker, XGROUP_CASES)


READGROUP_CASES: list[Command] = [
    *_entries("s", 5),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),  # no group
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "missing", ">"),
    ("XGROUP", "CREATE", "s", "g", "0"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "$"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "s", ">"),
    ("XREADGROUP", "STREAMS", "s", ">"), ("XREADGROUP", "GROUP", "g", "c", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "c", "COUNT", "x", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "-1", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "x", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "bad"), ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "+"),
    ("XREADGROUP", "GROUP", "g", "c", "BOGUS", "STREAMS", "s", ">"),
    ("XREAD", "GROUP", "g", "c", "STREAMS", "s", ">"), ("XREAD", "NOACK", "STREAMS", "s", "0"),
    ("XREAD", "STREAMS", "s", ">"), ("XREAD", "STREAMS", "s", "s", "0"),
    ("XINFO", "CONSUMERS", "s", "g"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"),  # empty history; creates the consumer
    ("XINFO", "CONSUMERS", "s", "g"),
    ("XREADGROUP", "GROUP", "g", "c", "COUNT", "2", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "c", "COUNT", "-3", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
    ("XINFO", "GROUPS", "s"),
    ("XADD", "s", "6-1", "n", "6"), ("XADD", "s", "7-1", "n", "7"),
    ("XREADGROUP", "GROUP", "g", "d", "NOACK", "COUNT", "1", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", "0"),
    ("XREADGROUP", "GROUP", "g", "e", "COUNT", "1", "BLOCK", "100", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"),
    ("XREADGROUP", "GROUP", "g", "c", "COUNT", "2", "STREAMS", "s", "2-1"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "18446744073709551615-18446744073709551615"),
    ("XDEL", "s", "2-1", "4-1"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0-0"),
    ("XPENDING", "s", "g"),
    ("XPENDING", "s", "g", "-", "+", "10"),
    ("XINFO", "GROUPS", "s"),
    ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "10", "STREAMS", "s", ">"),
    ("MULTI",), ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"), ("EXEC",),
    # two streams, one group each
    *_entries("t", 3),
    ("XGROUP", "CREATE", "t", "g", "$"), ("XADD", "t", "9-1", "k", "v"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "t", ">", ">"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "t", "0", ">"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "t", "missing", ">", ">"),
    ("SET", "str", "x"), ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "str", ">"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "t", "str", ">", ">"),
    # SETID back: entries already pending move to the new reader with count 1
    ("XGROUP", "SETID", "s", "g", "0"), ("XREADGROUP", "GROUP", "g", "z", "COUNT", "3", "STREAMS", "s", ">"),
    ("XPENDING", "s", "g"), ("XPENDING", "s", "g", "-", "+", "10", "z"),
    ("XINFO", "GROUPS", "s"), ("XINFO", "CONSUMERS", "s", "g"),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_xreadgroup(redis_server, fanout_broker, protocol):
    same(redis_server, fanout_broker, READGROUP_CASES, protocol)


ACK_PENDING_CASES: list[Command] = [
    ("XACK", "missing", "g", "1-1"), ("XACK", "missing", "g", "bad"),
    *_entries("s", 6),
    ("XACK", "s", "g", "1-1"), ("XACK", "s", "g", "bad"),
    ("XGROUP", "CREATE", "s", "g", "0"),
    ("XPENDING", "s", "g"), ("XPENDING", "s", "g", "-", "+", "10"),
    ("XREADGROUP", "GROUP", "g", "a", "COUNT", "2", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "b", "COUNT", "3", "STREAMS", "s", ">"),
    ("XPENDING", "s", "g"),
    ("XPENDING", "s", "g", "-", "+", "10"), ("XPENDING", "s", "g", "-", "+", "2"),
    ("XPENDING", "s", "g", "(1-1", "(5-1", "10"), ("XPENDING", "s", "g", "2", "4", "10"),
    ("XPENDING", "s", "g", "-", "+", "10", "a"), ("XPENDING", "s", "g", "-", "+", "10", "nobody"),
    ("XPENDING", "s", "g", "-", "+", "10", "b", "ignored", "extra"),
    ("XPENDING", "s", "g", "-", "+", "-5"), ("XPENDING", "s", "g", "-", "+", "0"),
    ("XPENDING", "s", "g", "IDLE", str(BIG), "-", "+", "10"),
    ("XPENDING", "s", "g", "IDLE", "0", "-", "+", "10"), ("XPENDING", "s", "g", "IDLE", "-5", "-", "+", "10"),
    ("XPENDING", "s", "g", "IDLE", str(BIG), "-", "+", "10", "a"),
    ("XPENDING", "s", "g", "IDLE", "x", "-", "+", "10"), ("XPENDING", "s", "g", "IDLE", "5", "-", "+"),
    ("XPENDING", "s", "g", "-", "+"), ("XPENDING", "s", "g", "-"), ("XPENDING", "s", "g", "-", "+", "x"),
    ("XPENDING", "s", "g", "x", "+", "10"), ("XPENDING", "s", "g", "-", "x", "10"),
    ("XPENDING", "s", "g", "(-", "+", "10"), ("XPENDING", "s", "g", "-", "(+", "10"),
    ("XPENDING", "s", "g", "(18446744073709551615-18446744073709551615", "+", "10"),
    ("XPENDING", "s", "g", "-", "(0-0", "10"),
    ("XPENDING", "s", "g", "IDLE", "1", "-", "+", "10", "a", "b"),
    ("XPENDING", "s", "nog"), ("XPENDING", "missing", "g"), ("XPENDING", "missing", "g", "-", "+", "1"),
    ("XPENDING", "s", "g", "-", "+", "x", "a", "b", "c", "d"),
    ("XACK", "s", "g", "1-1", "1-1", "9-9", "3-1"), ("XACK", "s", "g", "2-1", "bad"), ("XACK", "s", "g", "-"),
    ("XACK", "s", "nog", "2-1"),
    ("XPENDING", "s", "g"), ("XPENDING", "s", "g", "-", "+", "10"),
    ("XACK", "s", "g", "2", "4-1", "5-1"), ("XPENDING", "s", "g"), ("XINFO", "CONSUMERS", "s", "g"),
    ("XINFO", "CONSUMERS", "s", "nog"), ("XINFO", "CONSUMERS", "missing", "g"), ("XINFO", "CONSUMERS", "s"),
    ("SET", "str", "x"), ("XACK", "str", "g", "1-1"), ("XPENDING", "str", "g"), ("XINFO", "CONSUMERS", "str", "g"),
    ("XGROUP", "DELCONSUMER", "s", "g", "a"), ("XPENDING", "s", "g"),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_xack_xpending(redis_server, fanout_broker, protocol):
    same(redis_server, fanout_broker, ACK_PENDING_CASES, protocol)


CLAIM_CASES: list[Command] = [
    ("XCLAIM", "missing", "g", "c", "0", "1-1"), ("XCLAIM", "missing", "g", "c", "x", "1-1"),
    *_entries("s", 8),
    ("XCLAIM", "s", "g", "c", "0", "1-1"),
    ("XGROUP", "CREATE", "s", "g", "0"),
    ("XREADGROUP", "GROUP", "g", "a", "COUNT", "5", "STREAMS", "s", ">"),
    ("XCLAIM", "s", "g", "b", "x", "1-1"), ("XCLAIM", "s", "g", "b", "0", "1-1", "IDLE", "x"),
    ("XCLAIM", "s", "g", "b", "0", "1-1", "TIME", "x"), ("XCLAIM", "s", "g", "b", "0", "1-1", "RETRYCOUNT", "x"),
    ("XCLAIM", "s", "g", "b", "0", "1-1", "LASTID", "x"), ("XCLAIM", "s", "g", "b", "0", "1-1", "BOGUS"),
    ("XCLAIM", "s", "g", "b", "0", "1-1", "IDLE"), ("XCLAIM", "s", "g", "b", "0", "bad"),
    ("XINFO", "CONSUMERS", "s", "g"),
    # fresh deliveries are not idle enough for a big min-idle-time
    ("XCLAIM", "s", "g", "b", str(BIG), "1-1", "2-1"),
    ("XINFO", "CONSUMERS", "s", "g"),
    ("XCLAIM", "s", "g", "b", "0", "1-1", "2-1", "9-9"),
    ("XPENDING", "s", "g", "-", "+", "10"),
    ("XCLAIM", "s", "g", "b", "0", "3-1", "JUSTID"), ("XPENDING", "s", "g", "-", "+", "10"),
    ("XCLAIM", "s", "g", "b", "0", "3-1", "RETRYCOUNT", "7", "JUSTID"),
    ("XCLAIM", "s", "g", "c", "-10", "4-1", "TIME", "1000"),
    ("XPENDING", "s", "g", "-", "+", "10"),
    ("XCLAIM", "s", "g", "d", str(BIG), "4-1", "5-1"),  # 4-1 is idle since 1970, 5-1 is not
    ("XCLAIM", "s", "g", "d", "0", "5-1", "IDLE", str(BIG)), ("XCLAIM", "s", "g", "e", str(BIG - 10), "5-1"),
    ("XCLAIM", "s", "g", "e", "0", "5-1", "IDLE", "-5"), ("XCLAIM", "s", "g", "e", "0", "5-1", "TIME", "-5"),
    ("XCLAIM", "s", "g", "e", "0", "5-1", "TIME", "99999999999999"),
    ("XPENDING", "s", "g", "IDLE", str(BIG), "-", "+", "10"),
    # FORCE: ids in the stream but not pending become pending; ids not in the stream never
    ("XCLAIM", "s", "g", "f", "0", "6-1", "7-1"), ("XCLAIM", "s", "g", "f", "0", "6-1", "99-1", "FORCE"),
    ("XCLAIM", "s", "g", "f", str(BIG), "7-1", "FORCE", "JUSTID"),
    ("XPENDING", "s", "g"),
    ("XCLAIM", "s", "g", "f", "0", "8-1", "FORCE", "RETRYCOUNT", "3", "LASTID", "100-0"),
    ("XINFO", "GROUPS", "s"),
    ("XCLAIM", "s", "g", "f", "0", "8-1", "LASTID", "50-0"), ("XINFO", "GROUPS", "s"),
    ("XCLAIM", "s", "g", "f", "0", "8-1", "LASTID", "+"),
    # deleted entries: XCLAIM drops them from the PEL and says nothing
    ("XDEL", "s", "1-1", "6-1"), ("XPENDING", "s", "g"),
    ("XCLAIM", "s", "g", "f", "0", "1-1", "6-1", "2-1"), ("XPENDING", "s", "g"),
    ("XCLAIM", "s", "g", "f", "0", "2-1", "2-1", "JUSTID"),
    ("XCLAIM", "s", "nog", "f", "0", "2-1"), ("SET", "str", "x"), ("XCLAIM", "str", "g", "c", "0", "1-1"),
    ("XINFO", "CONSUMERS", "s", "g"),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_xclaim(redis_server, fanout_broker, protocol):
    same(redis_server, fanout_broker, CLAIM_CASES, protocol)


AUTOCLAIM_CASES: list[Command] = [
    ("XAUTOCLAIM", "missing", "g", "c", "0", "0"), ("XAUTOCLAIM", "missing", "g", "c", "x", "0"),
    ("XAUTOCLAIM", "missing", "g", "c", "0", "bad"), ("XAUTOCLAIM", "missing", "g", "c", "0", "0", "COUNT", "0"),
    *_entries("s", 12),
    ("XGROUP", "CREATE", "s", "g", "0"),
    ("XAUTOCLAIM", "s", "g", "c", "0", "0"),
    ("XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"),
    ("XAUTOCLAIM", "s", "g", "b", "0", "0", "COUNT", "3"),
    ("XAUTOCLAIM", "s", "g", "b", "0", "(3-1", "COUNT", "2", "JUSTID"),
    ("XAUTOCLAIM", "s", "g", "b", str(BIG), "0"),
    ("XCLAIM", "s", "g", "a", "0", "6-1", "7-1", "8-1", "TIME", "1000", "JUSTID"),
    ("XAUTOCLAIM", "s", "g", "c", str(BIG), "-", "COUNT", "2"),
    ("XAUTOCLAIM", "s", "g", "c", str(BIG), "7-1"),
    ("XDEL", "s", "9-1", "10-1", "2-1"),
    ("XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "3"),
    ("XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "100"),
    ("XPENDING", "s", "g"),
    ("XAUTOCLAIM", "s", "g", "d", "0", "+"), ("XAUTOCLAIM", "s", "g", "d", "0", "(+"),
    ("XAUTOCLAIM", "s", "g", "d", "0", "(18446744073709551615-18446744073709551615"),
    ("XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "0"), ("XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "x"),
    ("XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "-1"), ("XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT"),
    ("XAUTOCLAIM", "s", "g", "d", "0", "0", "BOGUS"),
    ("XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "1152921504606846975"),
    ("XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "1152921504606846976"),
    ("XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "576460752303423487"),
    ("XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "576460752303423488"),
    ("XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "100000000000000000"),
    ("XAUTOCLAIM", "missing", "g", "d", "0", "0", "COUNT", "100000000000000000"),
    ("XAUTOCLAIM", "s", "nog", "d", "0", "0"), ("SET", "str", "x"), ("XAUTOCLAIM", "str", "g", "d", "0", "0"),
    ("XAUTOCLAIM", "str", "g", "d", "x", "0"),
    ("XINFO", "CONSUMERS", "s", "g"), ("XINFO", "GROUPS", "s"),
    # the attempts budget (COUNT * 10) ends a scan of a long run of entries not idle enough
    *_entries("u", 40), ("XGROUP", "CREATE", "u", "g", "0"), ("XREADGROUP", "GROUP", "g", "a", "STREAMS", "u", ">"),
    ("XCLAIM", "u", "g", "a", "0", "35-1", "TIME", "1000", "JUSTID"),
    ("XAUTOCLAIM", "u", "g", "b", str(BIG), "0", "COUNT", "2"),
    ("XAUTOCLAIM", "u", "g", "b", str(BIG), "21-1", "COUNT", "2"),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_xautoclaim(redis_server, fanout_broker, protocol):
    same(redis_server, fanout_broker, AUTOCLAIM_CASES, protocol)


LAG_CASES: list[Command] = [
    ("XGROUP", "CREATE", "s", "g0", "$", "MKSTREAM"), ("XINFO", "GROUPS", "s"),
    *_entries("s", 5),
    ("XGROUP", "CREATE", "s", "g1", "0"), ("XGROUP", "CREATE", "s", "g2", "$"), ("XGROUP", "CREATE", "s", "g3", "3-1"),
    ("XINFO", "GROUPS", "s"),
    ("XREADGROUP", "GROUP", "g1", "c", "COUNT", "2", "STREAMS", "s", ">"), ("XINFO", "GROUPS", "s"),
    ("XDEL", "s", "4-1"), ("XINFO", "GROUPS", "s"),
    ("XREADGROUP", "GROUP", "g1", "c", "COUNT", "1", "STREAMS", "s", ">"), ("XINFO", "GROUPS", "s"),
    ("XREADGROUP", "GROUP", "g1", "c", "STREAMS", "s", ">"), ("XINFO", "GROUPS", "s"),
    ("XREADGROUP", "GROUP", "g3", "c", "STREAMS", "s", ">"), ("XINFO", "GROUPS", "s"),
    ("XADD", "s", "6-1", "n", "6"), ("XTRIM", "s", "MAXLEN", "2"), ("XINFO", "GROUPS", "s"),
    ("XINFO", "STREAM", "s"),
    ("XGROUP", "CREATE", "s", "g4", "0"), ("XINFO", "GROUPS", "s"),
    ("XREADGROUP", "GROUP", "g4", "c", "COUNT", "1", "STREAMS", "s", ">"), ("XINFO", "GROUPS", "s"),
    ("XGROUP", "SETID", "s", "g4", "0", "ENTRIESREAD", "0"), ("XINFO", "GROUPS", "s"),
    ("XGROUP", "SETID", "s", "g2", "$"), ("XINFO", "GROUPS", "s"),
    ("XSETID", "s", "10-0", "ENTRIESADDED", "20", "MAXDELETEDID", "7-0"), ("XINFO", "GROUPS", "s"),
    ("XSETID", "s", "1-0"), ("XSETID", "s", "10-0", "ENTRIESADDED", "1"), ("XSETID", "s", "+"),
    ("XSETID", "s", "10-0", "MAXDELETEDID", "+"), ("XSETID", "s", "10-0", "MAXDELETEDID", "11-0"),
    ("XDEL", "s", "6-1", "5-1"), ("XSETID", "s", "4-0"), ("XINFO", "GROUPS", "s"), ("XINFO", "STREAM", "s"),
    ("XADD", "s", "20-1", "n", "20"), ("XINFO", "GROUPS", "s"),
    ("XREADGROUP", "GROUP", "g1", "c", "STREAMS", "s", ">"), ("XINFO", "GROUPS", "s"),
    ("XINFO", "STREAM", "s", "FULL"),
    # COPY takes the groups, consumers and pending entries along (streamDup)
    ("COPY", "s", "copy"), ("XINFO", "GROUPS", "copy"), ("XPENDING", "copy", "g1", "-", "+", "10"),
    ("XACK", "copy", "g1", "20-1"), ("XPENDING", "s", "g1"), ("XPENDING", "copy", "g1"),
    ("XINFO", "STREAM", "copy", "FULL"),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_lag_and_entries_read(redis_server, fanout_broker, protocol):
    same(redis_server, fanout_broker, LAG_CASES, protocol)


INFO_FULL_CASES: list[Command] = [
    ("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"), ("XINFO", "STREAM", "s"), ("XINFO", "STREAM", "s", "FULL"),
    *_entries("s", 15),
    ("XGROUP", "CREATE", "s", "b", "0"), ("XGROUP", "CREATECONSUMER", "s", "b", "idle"),
    ("XREADGROUP", "GROUP", "g", "x", "COUNT", "12", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "y", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "b", "z", "COUNT", "1", "STREAMS", "s", ">"),
    ("XCLAIM", "s", "g", "y", "0", "2-1", "TIME", "12345", "RETRYCOUNT", "9"),
    ("XINFO", "STREAM", "s"),
    ("XINFO", "STREAM", "s", "FULL"), ("XINFO", "STREAM", "s", "FULL", "COUNT", "3"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT", "0"), ("XINFO", "STREAM", "s", "FULL", "COUNT", "-1"),
    ("XINFO", "STREAM", "s", "full", "count", "2"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT"), ("XINFO", "STREAM", "s", "FULL", "COUNT", "x"),
    ("XINFO", "STREAM", "s", "FULL", "BOGUS", "1"), ("XINFO", "STREAM", "s", "BOGUS"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT", "1", "x"),
    ("XINFO", "STREAM", "missing"), ("XINFO", "STREAM", "missing", "FULL"), ("XINFO", "STREAM", "s", "BOGUS", "x"),
    ("OBJECT", "ENCODING", "s"), ("TYPE", "s"),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_xinfo_stream_full(redis_server, fanout_broker, protocol):
    same(redis_server, fanout_broker, INFO_FULL_CASES, protocol)


def test_group_keyspace_events(redis_server, fanout_broker):
    script = [command for command in XGROUP_CASES + READGROUP_CASES + ACK_PENDING_CASES + CLAIM_CASES
              + AUTOCLAIM_CASES + LAG_CASES
              if command[0] not in ("MULTI", "EXEC") and "BLOCK" not in command]
    expected = keyspace_events(redis_server.port, script)
    events = {message[2].split(b":", 1)[1] for message in expected if message[2].startswith(b"__keyevent")}
    assert {b"xgroup-create", b"xgroup-createconsumer", b"xgroup-delconsumer", b"xgroup-destroy",
            b"xgroup-setid"} <= events
    assert keyspace_events(fanout_broker.port, script) == expected


def test_watch_is_not_touched_by_group_commands(redis_server, fanout_broker):
    """Redis's group commands do not signal a modified key (only XGROUP CREATE MKSTREAM does)."""
    def run(port: int) -> list[Any]:
        with RespClient(port) as admin, RespClient(port) as watcher:
            admin.call("FLUSHALL")
            for command in _entries("s", 3):
                admin.call(*command)
            admin.call("XGROUP", "CREATE", "s", "g", "0")
            out = []
            for change in [("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">"),
                           ("XACK", "s", "g", "1-1"), ("XGROUP", "CREATECONSUMER", "s", "g", "d"),
                           ("XCLAIM", "s", "g", "d", "0", "2-1"), ("XGROUP", "SETID", "s", "g", "0"),
                           ("XGROUP", "CREATE", "s", "h", "$"), ("XGROUP", "DESTROY", "s", "h"),
                           ("XDEL", "s", "3-1"), ("XGROUP", "CREATE", "new", "g", "$", "MKSTREAM")]:
                key = change[2] if change[0] == "XGROUP" else change[1]
                watcher.call("WATCH", key)
                watcher.call("MULTI")
                watcher.call("PING")
                admin.call(*change)
                out.append(watcher.call("EXEC"))
            return out

    expected = run(redis_server.port)
    assert None in expected and [b"PONG"] in expected
    assert run(fanout_broker.port) == expected


# ----------------------------------------------------------------- blocking


def _wait_blocked(port: int, n: int) -> None:
    with RespClient(port) as admin:
        for _ in range(2000):
            if b"blocked_clients:%d\r" % n in admin.call("INFO", "clients"):
                return
        raise AssertionError(f"never saw {n} blocked clients")


SERVERS = ["redis-server", "fanout"]


def _port(redis_server, fanout_broker, server: str) -> int:
    return (redis_server if server == "redis-server" else fanout_broker).port


@pytest.mark.parametrize("server", SERVERS)
def test_blocked_readers_are_served_in_arrival_order(redis_server, fanout_broker, server):
    """Three consumers of one group block; each XADD wakes the oldest waiter only."""
    port = _port(redis_server, fanout_broker, server)
    readers = [RespClient(port) for _ in range(3)]
    try:
        with RespClient(port) as writer:
            writer.call("FLUSHALL")
            writer.call("XGROUP", "CREATE", "q", "g", "$", "MKSTREAM")
            for index, reader in enumerate(readers):
                reader.send("XREADGROUP", "GROUP", "g", f"c{index}", "BLOCK", "0", "STREAMS", "q", ">")
                _wait_blocked(port, index + 1)
            for n in range(3):
                writer.call("XADD", "q", f"{n + 1}-1", "job", str(n))
                assert readers[n].read() == [[b"q", [[f"{n + 1}-1".encode(), [b"job", str(n).encode()]]]]]
            pending = writer.call("XPENDING", "q", "g", "-", "+", "10")
            assert [(item[0], item[1]) for item in pending] == [(b"1-1", b"c0"), (b"2-1", b"c1"), (b"3-1", b"c2")]
    finally:
        for reader in readers:
            reader.close()


@pytest.mark.parametrize("server", SERVERS)
def test_blocked_readers_of_two_groups_both_get_the_entry(redis_server, fanout_broker, server):
    port = _port(redis_server, fanout_broker, server)
    with RespClient(port) as a, RespClient(port) as b, RespClient(port) as plain, RespClient(port) as writer:
        writer.call("FLUSHALL")
        writer.call("XGROUP", "CREATE", "q", "g1", "$", "MKSTREAM")
        writer.call("XGROUP", "CREATE", "q", "g2", "$")
        writer.call("XGROUP", "SETID", "q", "g2", "5-0")  # g2 waits past 5-0: 1-1 is not for it
        a.send("XREADGROUP", "GROUP", "g2", "c", "BLOCK", "0", "STREAMS", "q", ">")
        _wait_blocked(port, 1)
        b.send("XREADGROUP", "GROUP", "g1", "c", "COUNT", "5", "BLOCK", "0", "STREAMS", "q", ">")
        _wait_blocked(port, 2)
        plain.send("XREAD", "BLOCK", "0", "STREAMS", "q", "$")
        _wait_blocked(port, 3)
        writer.call("XADD", "q", "1-1", "f", "v")
        assert b.read() == [[b"q", [[b"1-1", [b"f", b"v"]]]]]
        assert plain.read() == [[b"q", [[b"1-1", [b"f", b"v"]]]]]
        writer.call("XADD", "q", "6-1", "f", "w")
        assert a.read() == [[b"q", [[b"6-1", [b"f", b"w"]]]]]


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("how", ["destroy", "del", "set", "flushall", "recreate", "rename", "expire", "swapdb"])
def test_blocked_reader_released_when_group_or_stream_goes(redis_server, fanout_broker, server, how):
    port = _port(redis_server, fanout_broker, server)
    with RespClient(port) as reader, RespClient(port) as plain, RespClient(port) as writer:
        writer.call("FLUSHALL")
        writer.call("XGROUP", "CREATE", "q", "g", "$", "MKSTREAM")
        reader.send("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "q", ">")
        _wait_blocked(port, 1)
        plain.send("XREAD", "BLOCK", "0", "STREAMS", "q", "$")
        _wait_blocked(port, 2)
        if how == "destroy":
            writer.call("XGROUP", "DESTROY", "q", "g")
        elif how == "del":
            writer.call("DEL", "q")
        elif how == "set":
            writer.call("SET", "q", "x")
        elif how == "flushall":
            writer.call("FLUSHALL")
        elif how == "rename":
            writer.call("RENAME", "q", "elsewhere")
        elif how == "expire":
            writer.call("PEXPIRE", "q", 1)  # the active expiry cycle deletes it
        elif how == "swapdb":
            writer.call("SWAPDB", "0", "1")  # db 1 has no q: the waiters' stream is gone
            writer.call("SWAPDB", "0", "1")  # and back, for the XREAD part below
        else:
            writer.call("MULTI")
            writer.call("DEL", "q")
            writer.call("XADD", "q", "1-1", "f", "v")
            writer.call("EXEC")
        reply = reader.read()
        _wait_blocked(port, 0 if how == "recreate" else 1)
        # the plain XREAD waits on (or is served the new entry, when the key came back)
        writer.call("DEL", "q")
        writer.call("XADD", "q", "9-1", "f", "v")
        served = plain.read()
    expected_error = {
        "destroy": "NOGROUP the consumer group this client was blocked on no longer exists",
        "del": "UNBLOCKED the stream key no longer exists",
        "set": "UNBLOCKED the stream key no longer exists",
        "flushall": "UNBLOCKED the stream key no longer exists",
        "recreate": "NOGROUP the consumer group this client was blocked on no longer exists",
        "rename": "UNBLOCKED the stream key no longer exists",
        "expire": "UNBLOCKED the stream key no longer exists",
        "swapdb": "UNBLOCKED the stream key no longer exists",
    }[how]
    assert getattr(reply, "message", None) == expected_error
    if how == "recreate":
        assert served == [[b"q", [[b"1-1", [b"f", b"v"]]]]]
    else:
        assert served == [[b"q", [[b"9-1", [b"f", b"v"]]]]]


@pytest.mark.parametrize("server", SERVERS)
def test_blocked_reader_times_out_with_null_and_creates_no_consumer(redis_server, fanout_broker, server):
    port = _port(redis_server, fanout_broker, server)
    with RespClient(port) as reader, RespClient(port) as writer:
        writer.call("FLUSHALL")
        writer.call("XGROUP", "CREATE", "q", "g", "$", "MKSTREAM")
        assert reader.call("XREADGROUP", "GROUP", "g", "c", "BLOCK", "20", "STREAMS", "q", ">") is None
        assert writer.call("XINFO", "CONSUMERS", "q", "g") == []


# ---------------------------------------------------------- random sessions

KEYS = ["s1", "s2"]
GROUPS = ["g1", "g2"]
CONSUMERS = ["a", "b", "c"]


def _random_command(rng: random.Random, counter: list[int]) -> Command:
    key = rng.choice(KEYS)
    group = rng.choice(GROUPS)
    consumer = rng.choice(CONSUMERS)
    low = max(1, counter[0] - 12)

    def some_id() -> str:
        return f"{rng.randint(low, counter[0] + 1)}-{rng.choice([0, 1])}"

    kind = rng.choices(
        ["xadd", "readgroup", "history", "ack", "claim", "autoclaim", "pending", "trim", "del", "group",
         "info", "setid"],
        weights=[8, 6, 2, 4, 3, 3, 3, 1, 2, 2, 2, 1])[0]
    if kind == "xadd":
        counter[0] += 1
        trim = rng.choice([[], [], ["MAXLEN", str(rng.randint(2, 8))]])
        return ("XADD", key, *trim, f"{counter[0]}-{rng.choice([0, 1])}", "n", str(counter[0]))
    if kind == "readgroup":
        extra = rng.choice([[], ["COUNT", str(rng.randint(1, 3))], ["NOACK"], ["COUNT", "1", "NOACK"]])
        return ("XREADGROUP", "GROUP", group, consumer, *extra, "STREAMS", key, ">")
    if kind == "history":
        return ("XREADGROUP", "GROUP", group, consumer, "COUNT", str(rng.randint(0, 3)), "STREAMS", key,
                rng.choice(["0", some_id()]))
    if kind == "ack":
        return ("XACK", key, group, *[some_id() for _ in range(rng.randint(1, 3))])
    if kind == "claim":
        idle = rng.choice(["0", str(BIG)])
        options = rng.choice([[], ["JUSTID"], ["TIME", "1000"], ["FORCE"], ["RETRYCOUNT", "5"], ["IDLE", str(2 * BIG)],
                              ["FORCE", "JUSTID", "LASTID", some_id()]])
        return ("XCLAIM", key, group, consumer, idle, *[some_id() for _ in range(rng.randint(1, 3))], *options)
    if kind == "autoclaim":
        return ("XAUTOCLAIM", key, group, consumer, rng.choice(["0", str(BIG)]), rng.choice(["0", some_id()]),
                "COUNT", str(rng.randint(1, 4)), *rng.choice([[], ["JUSTID"]]))
    if kind == "pending":
        return rng.choice([("XPENDING", key, group), ("XPENDING", key, group, "-", "+", "20"),
                           ("XPENDING", key, group, "IDLE", str(BIG), "-", "+", "20"),
                           ("XPENDING", key, group, "-", "+", "20", consumer)])
    if kind == "trim":
        return ("XTRIM", key, rng.choice(["MAXLEN", "MINID"]), str(rng.randint(1, 6)) if rng.random() < 0.5
                else some_id())
    if kind == "del":
        return ("XDEL", key, *[some_id() for _ in range(rng.randint(1, 2))])
    if kind == "group":
        return rng.choice([("XGROUP", "CREATE", key, group, rng.choice(["0", "$", some_id()]), "MKSTREAM"),
                           ("XGROUP", "SETID", key, group, rng.choice(["0", "$", some_id()])),
                           ("XGROUP", "DESTROY", key, group), ("XGROUP", "CREATECONSUMER", key, group, consumer),
                           ("XGROUP", "DELCONSUMER", key, group, consumer)])
    if kind == "setid":
        return ("XSETID", key, f"{counter[0] + rng.randint(0, 2)}-5")
    return rng.choice([("XINFO", "GROUPS", key), ("XINFO", "CONSUMERS", key, group), ("XINFO", "STREAM", key),
                       ("XINFO", "STREAM", key, "FULL"), ("XLEN", key)])


def random_session(choices: list[int]) -> list[Command]:
    """One command per number (it seeds that command's random choices), so hypothesis
    shrinks a failing session by dropping and simplifying commands."""
    counter = [0]
    script: list[Command] = [("XGROUP", "CREATE", key, group, "$", "MKSTREAM") for key in KEYS for group in GROUPS]
    script += [_random_command(random.Random(choice), counter) for choice in choices]
    return script


SESSIONS = st.lists(st.integers(0, 2**32 - 1), min_size=60, max_size=200)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choices=SESSIONS, protocol=st.sampled_from([2, 3]))
def test_random_group_sessions(redis_server, fanout_broker, choices, protocol):
    same(redis_server, fanout_broker, random_session(choices), protocol)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choices=SESSIONS)
def test_random_group_sessions_keyspace_events(redis_server, fanout_broker, choices):
    script = random_session(choices)
    assert keyspace_events(fanout_broker.port, script) == keyspace_events(redis_server.port, script)


def test_random_sessions_reach_the_interesting_states(redis_server):
    """The generator is not vacuous: its sessions claim, autoclaim deleted ids and see null lags."""
    replies: list[Any] = []
    scripts = [random_session([random.Random(seed).getrandbits(32) for seed in range(base, base + 120)])
               for base in range(0, 720, 120)]
    for script in scripts:
        replies.append(run_script(redis_server.port, script))
    flat = [(command, reply) for script, out in zip(scripts, replies) for command, reply in zip(script, out)]
    assert any(c[0] == "XAUTOCLAIM" and isinstance(r, list) and r[2] for c, r in flat)
    assert any(c[0] == "XCLAIM" and isinstance(r, list) and r for c, r in flat)
    assert any(c[0] == "XREADGROUP" and isinstance(r, list) and r for c, r in flat)


def test_woken_reader_replies_match_in_both_protocols(redis_server, fanout_broker):
    """The reply a blocked XREADGROUP/XREAD gets when woken, RESP2 and RESP3, NOACK
    or not, several keys of which one gets data: the same bytes on both servers."""
    def run(port: int, protocol: int) -> list[Any]:
        out = []
        for command in [("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "a", "b", ">", ">"),
                        ("XREADGROUP", "GROUP", "g", "c", "NOACK", "COUNT", "1", "BLOCK", "0", "STREAMS", "b", ">"),
                        ("XREAD", "BLOCK", "0", "STREAMS", "a", "b", "$", "$")]:
            with RespClient(port, protocol=protocol) as reader, RespClient(port) as writer:
                writer.call("FLUSHALL")
                for key in ("a", "b"):
                    writer.call("XGROUP", "CREATE", key, "g", "$", "MKSTREAM")
                reader.send(*command)
                _wait_blocked(port, 1)
                writer.call("MULTI")
                writer.call("XADD", "b", "5-1", "f", "1")
                writer.call("XADD", "b", "6-1", "f", "2")
                writer.call("EXEC")
                out.append(reader.read())
                out.append(writer.call("XPENDING", "b", "g"))
        return out

    for protocol in (2, 3):
        expected = run(redis_server.port, protocol)
        assert expected[0] and run(fanout_broker.port, protocol) == expected


SCRIPT_CASES: list[Command] = [
    *_entries("s", 3), ("XGROUP", "CREATE", "s", "g", "0"),
    ("EVAL", "return redis.call('XREADGROUP','GROUP','g','c','COUNT','1','STREAMS',KEYS[1],'>')", 1, "s"),
    ("EVAL", "return redis.call('XREADGROUP','GROUP','g','c','BLOCK','0','STREAMS',KEYS[1],'>')", 1, "s"),
    ("EVAL", "return redis.call('XREAD','BLOCK','0','STREAMS',KEYS[1],'$')", 1, "s"),
    ("EVAL", "return redis.call('XAUTOCLAIM',KEYS[1],'g','d','0','0')", 1, "s"),
    ("EVAL", "return redis.call('XPENDING',KEYS[1],'g')", 1, "s"),
    ("EVAL", "return redis.pcall('XGROUP','CREATE',KEYS[1],'g','$')", 1, "s"),
    ("EVAL_RO", "return redis.call('XACK',KEYS[1],'g','1-1')", 1, "s"),
    ("EVAL", "return redis.call('XACK',KEYS[1],'g','1-1')", 1, "s"),
    ("XINFO", "CONSUMERS", "s", "g"),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_group_commands_from_scripts(redis_server, fanout_broker, protocol):
    """Through EVAL: replies converted as Redis converts them, BLOCK refused, writes
    refused in EVAL_RO."""
    same(redis_server, fanout_broker, SCRIPT_CASES, protocol)


def test_groups_survive_an_aof_restart(tmp_path):
    """XGROUP, XREADGROUP (also NOACK and woken from BLOCK), XACK, XCLAIM and XAUTOCLAIM
    are in the AOF: after a restart the groups, consumers and pending ids are back
    (delivery and seen times are those of the replay, which this does not compare)."""
    from tests.support.servers import free_port, start_fanout
    script: list[Command] = [
        *_entries("s", 6), ("XGROUP", "CREATE", "s", "g", "0"), ("XGROUP", "CREATE", "s", "h", "$"),
        ("XREADGROUP", "GROUP", "g", "a", "COUNT", "3", "STREAMS", "s", ">"),
        ("XREADGROUP", "GROUP", "g", "b", "NOACK", "COUNT", "1", "STREAMS", "s", ">"),
        ("XREADGROUP", "GROUP", "g", "b", "STREAMS", "s", ">"), ("XACK", "s", "g", "1-1", "5-1"),
        ("XCLAIM", "s", "g", "c", "0", "2-1", "JUSTID"), ("XGROUP", "CREATECONSUMER", "s", "h", "idle"),
        ("XDEL", "s", "3-1"), ("XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "1"),
    ]

    def state(port: int) -> Any:
        with RespClient(port) as client:
            return mask_times(("XINFO", "STREAM", "s", "FULL"), client.call("XINFO", "STREAM", "s", "FULL"))

    server = start_fanout("broker", "--port", str(free_port()), "--dir", str(tmp_path), "--appendonly", "yes")
    try:
        with RespClient(server.port) as client:
            for command in script:
                client.call(*command)
        before = state(server.port)
    finally:
        server.stop()
    server = start_fanout("broker", "--port", str(free_port()), "--dir", str(tmp_path), "--appendonly", "yes")
    try:
        after = state(server.port)
    finally:
        server.stop()
    assert after[b"groups"] and after == before
