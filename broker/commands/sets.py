"""Set commands (SADD, SMEMBERS, SINTERSTORE, SPOP, SMOVE, SSCAN ...), as redis-server 7.

Values are ``set[bytes]``. Replies that are sets in Redis (SMEMBERS, SINTER,
SUNION, SDIFF, SPOP with a count) are returned as Python sets, which the encoder
writes as a RESP3 set (``~``) or a RESP2 array; SRANDMEMBER answers an array in
both protocols, as Redis does. Member order is unspecified, as in Redis.

Costs: membership and single updates O(1); SRANDMEMBER without a count O(n) (a
Python set has no random access), SPOP without a count O(n) up to 1024 members
and O(1) past that; set algebra O(total size); each SSCAN page O(n).
"""

from __future__ import annotations

import random
from typing import Any

from broker.commands.args import SYNTAX, parse_int
from broker.commands.scan import parse_scan_args, scan_page
from broker.client import Client
from broker.encoding import keep_converted
from broker.glob import glob_match
from broker.keyspace import Keyspace
from broker.notify import NotifyClass
from broker.resp import CommandError
from broker.table import command

__all__: list[str] = []

_SET = NotifyClass.SET
_GENERIC = NotifyClass.GENERIC
_LONG_MAX = 2**63 - 1
# Up to this size a single SPOP picks uniformly (copying the set, O(n)).
_FAIR_PICK_LIMIT = 1024


# -------------------------------------------------------------------- helpers

def _get(db: Keyspace, key: bytes) -> set[bytes] | None:
    return db.get_typed(key, set)  # type: ignore[no-any-return]


def _read_set(db: Keyspace, key: bytes) -> set[bytes] | None:
    """The lookup of a read command (``lookupKeyRead``): counts a hit or miss, keymiss on a miss."""
    return db.read_typed(key, set)  # type: ignore[no-any-return]


def _ranged_long(raw: bytes, low: int, high: int, error: str | None = None) -> int:
    """``getRangeLongFromObjectOrReply``: a custom message replaces both errors."""
    value = parse_int(raw, error) if error else parse_int(raw)
    if not low <= value <= high:
        raise CommandError(error or f"ERR value is out of range, value must between {low} and {high}")
    return value


def _positive_long(raw: bytes, error: str = "ERR value is out of range, must be positive") -> int:
    return _ranged_long(raw, 0, _LONG_MAX, error)


def _sources(db: Keyspace, keys: list[bytes]) -> list[set[bytes] | None]:
    """Every source set (None when missing); WRONGTYPE if any key holds another type.

    All keys are checked, even after a missing one, and looked up as reads (hits,
    misses, keymiss) by the STORE forms too, like Redis.
    """
    return [_read_set(db, key) for key in keys]


def _intersection(sources: list[set[bytes] | None], limit: int = 0) -> set[bytes]:
    """Members of every source; stops once ``limit`` members are found (0: no limit)."""
    if not sources or any(source is None for source in sources):
        return set()
    present = sorted((s for s in sources if s is not None), key=len)
    smallest, others = present[0], present[1:]
    result: set[bytes] = set()
    for member in smallest:
        if all(member in other for other in others):
            result.add(member)
            if limit and len(result) >= limit:
                break
    return result


def _union(sources: list[set[bytes] | None]) -> set[bytes]:
    result: set[bytes] = set()
    for source in sources:
        if source:
            result |= source
    return result


def _difference(sources: list[set[bytes] | None]) -> set[bytes]:
    first = sources[0]
    if not first:
        return set()
    result = set(first)
    for source in sources[1:]:
        if source:
            result -= source
            if not result:
                break
    return result


def _store(db: Keyspace, key: bytes, result: set[bytes], event: bytes) -> int:
    """Write a *STORE result like Redis ``setKey``; an empty result deletes ``key``.

    The destination may hold any type: it is overwritten (and loses its TTL).
    """
    if result:
        db.lookup(key)  # an expired destination goes first, with its `expired` event
        db.set(key, result)
        db.notify(_SET, event, key)
        return len(result)
    # Redis dbDelete()s without an expiry check, so even a logically expired
    # destination reports `del` here.
    if db.delete(key):
        db.notify(_GENERIC, b"del", key)
    return 0


def _removed(db: Keyspace, key: bytes, members: set[bytes], event: bytes) -> None:
    db.notify(_SET, event, key)
    db.delete_if_empty(key, members)


# -------------------------------------------------------------------- writes

# SADD key member [member ...]
@command("sadd", -3, "write denyoom fast", keys=(1, 1, 1), group="set")
def sadd(client: Client, argv: list[bytes]) -> Any:
    db = client.db
    members = _get(db, argv[1])
    if members is None:
        members = set()
        db.add(argv[1], members)
    before = len(members)
    members.update(argv[2:])
    added = len(members) - before
    if added:
        db.notify(_SET, b"sadd", argv[1])
    return added


# SREM key member [member ...]
@command("srem", -3, "write fast", keys=(1, 1, 1), group="set")
def srem(client: Client, argv: list[bytes]) -> Any:
    db = client.db
    members = _get(db, argv[1])
    if members is None:
        return 0
    keep_converted(db, argv[1], members, argv[2:])
    before = len(members)
    members.difference_update(argv[2:])
    removed = before - len(members)
    if removed:
        _removed(db, argv[1], members, b"srem")
    return removed


# SMOVE source destination member
@command("smove", 4, "write fast", keys=(1, 2, 1), group="set")
def smove(client: Client, argv: list[bytes]) -> Any:
    db = client.db
    source_key, destination_key, member = argv[1], argv[2], argv[3]
    source = db.lookup(source_key)
    destination = db.lookup(destination_key)
    # A missing source answers 0 before any type check, as in Redis.
    if source is None:
        return 0
    source = _get(db, source_key)
    destination = _get(db, destination_key)
    assert source is not None
    if source_key == destination_key:
        return 1 if member in source else 0
    if member not in source:
        return 0
    keep_converted(db, source_key, source, (member,))
    source.discard(member)
    # Redis order: srem, del (source emptied), new (destination created), sadd.
    _removed(db, source_key, source, b"srem")
    if destination is None:
        destination = set()
        db.add(destination_key, destination)
    if member not in destination:
        destination.add(member)
        db.notify(_SET, b"sadd", destination_key)
    return 1


# SPOP key [count]
@command("spop", -2, "write fast", keys=(1, 1, 1), group="set")
def spop(client: Client, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    db = client.db
    if len(argv) == 3:
        return _spop_count(db, argv[1], _positive_long(argv[2]))
    members = _get(db, argv[1])
    if members is None:
        return None
    if len(members) <= _FAIR_PICK_LIMIT:
        member = random.choice(tuple(members))
        members.discard(member)
    else:
        # O(1) instead of O(n): the slot order of bytes in a set follows the
        # per-process hash seed, so this is arbitrary, if not uniform (Redis's
        # own pick is not uniform either).
        member = members.pop()
    keep_converted(db, argv[1], members, (member,), gone=1)
    _removed(db, argv[1], members, b"spop")
    return member


def _spop_count(db: Keyspace, key: bytes, count: int) -> set[bytes]:
    members = _get(db, key)
    if members is None or count == 0:
        return set()
    if count >= len(members):
        db.notify(_SET, b"spop", key)
        db.delete(key)
        db.notify(_GENERIC, b"del", key)
        return members
    popped = set(random.sample(tuple(members), count))
    members -= popped
    keep_converted(db, key, members, popped, gone=len(popped))
    db.notify(_SET, b"spop", key)
    return popped


# SINTERSTORE destination key [key ...]
@command("sinterstore", -3, "write denyoom", keys=(1, -1, 1), group="set")
def sinterstore(client: Client, argv: list[bytes]) -> Any:
    db = client.db
    return _store(db, argv[1], _intersection(_sources(db, argv[2:])), b"sinterstore")


# SUNIONSTORE destination key [key ...]
@command("sunionstore", -3, "write denyoom", keys=(1, -1, 1), group="set")
def sunionstore(client: Client, argv: list[bytes]) -> Any:
    db = client.db
    return _store(db, argv[1], _union(_sources(db, argv[2:])), b"sunionstore")


# SDIFFSTORE destination key [key ...]
@command("sdiffstore", -3, "write denyoom", keys=(1, -1, 1), group="set")
def sdiffstore(client: Client, argv: list[bytes]) -> Any:
    db = client.db
    return _store(db, argv[1], _difference(_sources(db, argv[2:])), b"sdiffstore")


# --------------------------------------------------------------------- reads

# SMEMBERS key
@command("smembers", 2, "readonly", keys=(1, 1, 1), group="set")
def smembers(client: Client, argv: list[bytes]) -> Any:
    return set(_read_set(client.db, argv[1]) or ())


# SISMEMBER key member
@command("sismember", 3, "readonly fast", keys=(1, 1, 1), group="set")
def sismember(client: Client, argv: list[bytes]) -> Any:
    return 1 if argv[2] in (_read_set(client.db, argv[1]) or ()) else 0


# SMISMEMBER key member [member ...]
@command("smismember", -3, "readonly fast", keys=(1, 1, 1), group="set", since="6.2.0")
def smismember(client: Client, argv: list[bytes]) -> Any:
    members = _read_set(client.db, argv[1]) or set()
    return [1 if member in members else 0 for member in argv[2:]]


# SCARD key
@command("scard", 2, "readonly fast", keys=(1, 1, 1), group="set")
def scard(client: Client, argv: list[bytes]) -> Any:
    return len(_read_set(client.db, argv[1]) or ())


# SRANDMEMBER key [count]
@command("srandmember", -2, "readonly", keys=(1, 1, 1), group="set")
def srandmember(client: Client, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    if len(argv) == 2:
        members = _read_set(client.db, argv[1])
        return None if members is None else random.choice(tuple(members))
    count = _ranged_long(argv[2], -_LONG_MAX, _LONG_MAX)
    members = _read_set(client.db, argv[1])
    if members is None or count == 0:
        return []
    pool = tuple(members)
    if count < 0 or count == 1:
        # Repetitions allowed: each pick is independent.
        return [random.choice(pool) for _ in range(-count if count < 0 else 1)]
    if count >= len(pool):
        return list(pool)
    return random.sample(pool, count)


# SINTER key [key ...]
@command("sinter", -2, "readonly", keys=(1, -1, 1), group="set")
def sinter(client: Client, argv: list[bytes]) -> Any:
    return _intersection(_sources(client.db, argv[1:]))


# SUNION key [key ...]
@command("sunion", -2, "readonly", keys=(1, -1, 1), group="set")
def sunion(client: Client, argv: list[bytes]) -> Any:
    return _union(_sources(client.db, argv[1:]))


# SDIFF key [key ...]
@command("sdiff", -2, "readonly", keys=(1, -1, 1), group="set")
def sdiff(client: Client, argv: list[bytes]) -> Any:
    return _difference(_sources(client.db, argv[1:]))


# SINTERCARD numkeys key [key ...] [LIMIT limit]
@command("sintercard", -3, "readonly", keys=(0, 0, 0), group="set", since="7.0.0")
def sintercard(client: Client, argv: list[bytes]) -> Any:
    numkeys = _ranged_long(argv[1], 1, _LONG_MAX, "ERR numkeys should be greater than 0")
    if numkeys > len(argv) - 2:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    limit = 0
    index = 2 + numkeys
    while index < len(argv):
        if argv[index].upper() == b"LIMIT" and index + 1 < len(argv):
            limit = _positive_long(argv[index + 1], "ERR LIMIT can't be negative")
            index += 2
        else:
            raise CommandError(SYNTAX)
    return len(_intersection(_sources(client.db, argv[2:2 + numkeys]), limit))


# SSCAN key cursor [MATCH pattern] [COUNT count]
@command("sscan", -3, "readonly", keys=(1, 1, 1), group="set", since="2.8.0")
def sscan(client: Client, argv: list[bytes]) -> Any:
    # Redis checks the cursor, then the key, and only then the options: a missing
    # key answers an empty page even when the options are wrong.
    parse_scan_args(argv[:3], 2)
    members = _read_set(client.db, argv[1])
    if members is None:
        return [b"0", []]
    args = parse_scan_args(argv, 2)
    cursor, page = scan_page(list(members), args.cursor, args.count)
    matched = [m for m in page if args.match is None or glob_match(args.match, m)]
    return [b"%d" % cursor, matched]
