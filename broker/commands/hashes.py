"""Hash commands (HSET, HGET, HINCRBYFLOAT, HRANDFIELD, HSCAN ...), as redis-server 7.

Values are ``dict[bytes, bytes]``. A Python dict keeps insertion order and updates
a field in place, which is also the order of Redis's small (listpack) hashes, so
HKEYS/HGETALL of a small hash come back in the order Redis gives.

HINCRBYFLOAT computes in C ``long double`` in Redis (x87 80-bit on x86-64) and
prints with ``%.17Lf``: ``broker.longdouble`` reproduces both exactly.
"""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

from broker.commands.args import SYNTAX, parse_int
from broker.commands.scan import parse_scan_args, scan_page
from broker.client import Client
from broker.encoding import keep_converted
from broker.glob import glob_match
from broker.keyspace import WRONGTYPE, Keyspace
from broker.longdouble import Overflow, format_long_double, parse_long_double, round_long_double
from broker.notify import NotifyClass
from broker.resp import OK, CommandError
from broker.table import command

__all__: list[str] = []  # the commands register themselves in broker.table

_HASH = NotifyClass.HASH
_LONG_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
NOT_FLOAT = "ERR value is not a valid float"


# -------------------------------------------------------------------- helpers

def _get(db: Keyspace, key: bytes) -> dict[bytes, bytes] | None:
    return db.get_typed(key, dict)  # type: ignore[no-any-return]


def _read_hash(db: Keyspace, key: bytes) -> dict[bytes, bytes] | None:
    """The lookup of a read command (``lookupKeyRead``): counts a hit or miss, keymiss on a miss."""
    return db.read_typed(key, dict)  # type: ignore[no-any-return]


def _get_or_create(db: Keyspace, key: bytes) -> dict[bytes, bytes]:
    """``hashTypeLookupWriteOrCreate``: the hash, created (``new`` event) if missing."""
    value = _get(db, key)
    if value is None:
        value = {}
        db.add(key, value)
    return value


def _check_pairs(argv: list[bytes]) -> None:
    if len(argv) % 2 == 1:
        raise CommandError(f"ERR wrong number of arguments for '{argv[0].decode().lower()}' command")


# -------------------------------------------------------------------- writes

# HSET key field value [field value ...]
@command("hset", -4, "write denyoom fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hset(client: Client, argv: list[bytes]) -> Any:
    if len(argv) == 4:
        return _hset_one(client, argv[1], argv[2], argv[3])
    _check_pairs(argv)
    db = client.db
    key = argv[1]
    hash_ = _get_or_create(db, key)
    created = 0
    for i in range(2, len(argv), 2):
        if argv[i] not in hash_:
            created += 1
        hash_[argv[i]] = argv[i + 1]
    # One event per command, even when no value changed (Redis does the same).
    db.notify(_HASH, b"hset", key)
    return created


def _hset_one(client: Client, key: bytes, field: bytes, value: bytes) -> int:
    """HSET of one field, the common form, without the general loop."""
    db = client.db
    hash_ = db.lookup(key)
    if hash_ is None:
        db.add(key, {field: value})
        created = 1
    elif type(hash_) is not dict:
        raise CommandError(WRONGTYPE)
    else:
        created = 0 if field in hash_ else 1
        hash_[field] = value
    db.notify(_HASH, b"hset", key)
    return created


# HMSET key field value [field value ...]
@command("hmset", -4, "write denyoom fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hmset(client: Client, argv: list[bytes]) -> Any:
    hset(client, argv)
    return OK


# HSETNX key field value
@command("hsetnx", 4, "write denyoom fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hsetnx(client: Client, argv: list[bytes]) -> Any:
    db = client.db
    hash_ = _get_or_create(db, argv[1])
    if argv[2] in hash_:
        return 0
    hash_[argv[2]] = argv[3]
    db.notify(_HASH, b"hset", argv[1])
    return 1


# HDEL key field [field ...]
@command("hdel", -3, "write fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hdel(client: Client, argv: list[bytes]) -> Any:
    db = client.db
    hash_ = _get(db, argv[1])
    if hash_ is None:
        return 0
    keep_converted(db, argv[1], hash_, argv[2:])
    deleted = 0
    for field in argv[2:]:
        if hash_.pop(field, None) is not None:
            deleted += 1
            if not hash_:
                break
    if deleted:
        db.notify(_HASH, b"hdel", argv[1])
        db.delete_if_empty(argv[1], hash_)
    return deleted


# HINCRBY key field increment
@command("hincrby", 4, "write denyoom fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hincrby(client: Client, argv: list[bytes]) -> Any:
    increment = parse_int(argv[3])
    db = client.db
    hash_ = _get_or_create(db, argv[1])
    old = hash_.get(argv[2])
    current = 0 if old is None else parse_int(old, "ERR hash value is not an integer")
    result = current + increment
    if not _INT64_MIN <= result <= _LONG_MAX:
        raise CommandError("ERR increment or decrement would overflow")
    hash_[argv[2]] = b"%d" % result
    db.notify(_HASH, b"hincrby", argv[1])
    return result


# HINCRBYFLOAT key field increment
@command("hincrbyfloat", 4, "write denyoom fast", keys=(1, 1, 1), group="hash", since="2.6.0")
def hincrbyfloat(client: Client, argv: list[bytes]) -> Any:
    increment = parse_long_double(argv[3])
    if increment is None:
        raise CommandError(NOT_FLOAT)
    if isinstance(increment, float):
        raise CommandError("ERR value is NaN or Infinity")
    db = client.db
    hash_ = _get_or_create(db, argv[1])
    old = hash_.get(argv[2])
    current = Fraction(0) if old is None else parse_long_double(old)
    if current is None:
        raise CommandError("ERR hash value is not a float")
    if isinstance(current, float):
        # inf + a finite increment stays infinite.
        raise CommandError("ERR increment would produce NaN or Infinity")
    try:
        result = round_long_double(current + increment)
    except Overflow:
        raise CommandError("ERR increment would produce NaN or Infinity") from None
    text = format_long_double(result)
    hash_[argv[2]] = text
    db.notify(_HASH, b"hincrbyfloat", argv[1])
    return text


# --------------------------------------------------------------------- reads

# HGET key field
@command("hget", 3, "readonly fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hget(client: Client, argv: list[bytes]) -> Any:
    hash_ = _read_hash(client.db, argv[1])
    return None if hash_ is None else hash_.get(argv[2])


# HMGET key field [field ...]
@command("hmget", -3, "readonly fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hmget(client: Client, argv: list[bytes]) -> Any:
    hash_ = _read_hash(client.db, argv[1]) or {}
    return [hash_.get(field) for field in argv[2:]]


# HGETALL key
@command("hgetall", 2, "readonly", keys=(1, 1, 1), group="hash", since="2.0.0")
def hgetall(client: Client, argv: list[bytes]) -> Any:
    hash_ = _read_hash(client.db, argv[1])
    # A dict is a RESP3 map and a flat field/value array in RESP2.
    return {} if hash_ is None else dict(hash_)


# HKEYS key
@command("hkeys", 2, "readonly", keys=(1, 1, 1), group="hash", since="2.0.0")
def hkeys(client: Client, argv: list[bytes]) -> Any:
    return list(_read_hash(client.db, argv[1]) or ())


# HVALS key
@command("hvals", 2, "readonly", keys=(1, 1, 1), group="hash", since="2.0.0")
def hvals(client: Client, argv: list[bytes]) -> Any:
    return list((_read_hash(client.db, argv[1]) or {}).values())


# HLEN key
@command("hlen", 2, "readonly fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hlen(client: Client, argv: list[bytes]) -> Any:
    return len(_read_hash(client.db, argv[1]) or ())


# HSTRLEN key field
@command("hstrlen", 3, "readonly fast", keys=(1, 1, 1), group="hash", since="3.2.0")
def hstrlen(client: Client, argv: list[bytes]) -> Any:
    hash_ = _read_hash(client.db, argv[1]) or {}
    return len(hash_.get(argv[2], b""))


# HEXISTS key field
@command("hexists", 3, "readonly fast", keys=(1, 1, 1), group="hash", since="2.0.0")
def hexists(client: Client, argv: list[bytes]) -> Any:
    hash_ = _read_hash(client.db, argv[1]) or {}
    return 1 if argv[2] in hash_ else 0


# HRANDFIELD key [count [WITHVALUES]]
@command("hrandfield", -2, "readonly", keys=(1, 1, 1), group="hash", since="6.2.0")
def hrandfield(client: Client, argv: list[bytes]) -> Any:
    if len(argv) == 2:
        hash_ = _read_hash(client.db, argv[1])
        if hash_ is None:
            return None
        return random.choice(list(hash_))
    count = parse_int(argv[2])
    if not -_LONG_MAX <= count <= _LONG_MAX:
        raise CommandError(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    if len(argv) > 4 or (len(argv) == 4 and argv[3].upper() != b"WITHVALUES"):
        raise CommandError(SYNTAX)
    withvalues = len(argv) == 4
    if withvalues and not -(_LONG_MAX // 2) <= count <= _LONG_MAX // 2:
        raise CommandError("ERR value is out of range")
    hash_ = _read_hash(client.db, argv[1])
    if hash_ is None or count == 0:
        return []
    fields = list(hash_)
    if count < 0 or count == 1:
        # Repetitions allowed: each pick is independent (Redis's case 1).
        picks = [random.choice(fields) for _ in range(-count if count < 0 else 1)]
    elif count >= len(fields):
        picks = fields
    else:
        picks = random.sample(fields, count)
    return _with_values(client, hash_, picks, withvalues)


def _with_values(client: Client, hash_: dict[bytes, bytes], fields: list[bytes],
                 withvalues: bool) -> list[Any]:
    """Fields, or field/value pairs: flat in RESP2, two-element arrays in RESP3."""
    if not withvalues:
        return fields
    if client.proto >= 3:
        return [[field, hash_[field]] for field in fields]
    flat: list[bytes] = []
    for field in fields:
        flat.append(field)
        flat.append(hash_[field])
    return flat


# HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]
@command("hscan", -3, "readonly", keys=(1, 1, 1), group="hash", since="2.8.0")
def hscan(client: Client, argv: list[bytes]) -> Any:
    # Redis checks the cursor, then the key, and only then the options: a missing
    # key answers an empty page even when the options are wrong.
    parse_scan_args(argv[:3], 2)
    hash_ = _read_hash(client.db, argv[1])
    if hash_ is None:
        return [b"0", []]
    args = parse_scan_args(argv, 2, allow_novalues=True)
    cursor, page = scan_page(list(hash_.items()), args.cursor, args.count)
    flat: list[bytes] = []
    for field, value in page:
        if args.match is None or glob_match(args.match, field):
            flat.append(field)
            if not args.novalues:
                flat.append(value)
    return [b"%d" % cursor, flat]

