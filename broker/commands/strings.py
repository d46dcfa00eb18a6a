"""String commands, as redis-server 7 (``t_string.c``).

Values are ``bytes``; counters are parsed on use, as Redis does with strings that
are not int-encoded. Every mutation emits its keyspace event in Redis's order:
``new`` (inside ``db.add``) first, then the command's own event, then ``expire``.
Reads go through ``Keyspace.read`` so keyspace hits/misses and ``keymiss`` are counted
like ``lookupKeyRead``; writes use plain ``db.lookup`` (``lookupKeyWrite``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from broker.commands.args import SYNTAX, parse_int
from broker.client import Client
from broker.encoding import mark_raw
from broker.keyspace import WRONGTYPE, Keyspace
from broker.longdouble import Overflow, format_long_double, parse_long_double, round_long_double
from broker.notify import NotifyClass
from broker.resp import OK, CommandError
from broker.table import command

__all__ = ["expire_deadline"]

_STRING = NotifyClass.STRING
_GENERIC = NotifyClass.GENERIC
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Small counters as stored bytes and back, made once (like Redis's shared integers):
# int() of bytes and b"%d" formatting are most of a short INCR otherwise.
_SMALL = 4096
_SMALL_BYTES = [b"%d" % i for i in range(_SMALL)]
_SMALL_VALUES = {raw: i for i, raw in enumerate(_SMALL_BYTES)}
NOT_FLOAT = "ERR value is not a valid float"
TOO_BIG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

# SET/GETEX option flags, as ``parseExtendedStringArgumentsOrReply`` keeps them.
_NX, _XX, _GET, _KEEPTTL, _PERSIST = 1, 2, 4, 8, 16
_EX, _PX, _EXAT, _PXAT = 32, 64, 128, 256
_ANY_TTL = _EX | _PX | _EXAT | _PXAT
_UNITS = {b"EX": _EX, b"PX": _PX, b"EXAT": _EXAT, b"PXAT": _PXAT}


# ------------------------------------------------------------------ helpers

def _read_string(client: Client, key: bytes) -> bytes | None:
    """``getGenericCommand``'s lookup: the string, None if missing, WRONGTYPE otherwise."""
    return client.db.read_typed(key, bytes)  # type: ignore[no-any-return]


def _write_string(db: Keyspace, key: bytes) -> bytes | None:
    """``lookupKeyWrite`` + ``checkType``: the string or None."""
    value = db.lookup(key)
    if value is not None and type(value) is not bytes:
        raise CommandError(WRONGTYPE)
    return value  # type: ignore[no-any-return]


def _check_length(client: Client, size: int, append: int) -> None:
    """``checkStringLength``: the result may not exceed proto-max-bulk-len."""
    if size + append > int(client.broker.config.get("proto-max-bulk-len")):
        raise CommandError(TOO_BIG)


def expire_deadline(client: Client, flag: int, raw: bytes, command_name: str) -> int:
    """``getExpireMillisecondsOrReply``: absolute deadline in ms of EX/PX/EXAT/PXAT ``raw``."""
    amount = parse_int(raw)
    error = f"ERR invalid expire time in '{command_name}' command"
    if amount <= 0 or (flag & (_EX | _EXAT) and amount > _INT64_MAX // 1000):
        raise CommandError(error)
    if flag & (_EX | _EXAT):
        amount *= 1000
    if flag & (_EX | _PX):
        amount += client.broker.now_ms
        # Redis adds in signed 64 bits; a wrapped (negative) sum is refused.
        if amount > _INT64_MAX:
            raise CommandError(error)
    return amount


def _parse_string_options(argv: list[bytes], start: int, for_set: bool) -> tuple[int, bytes]:
    """``parseExtendedStringArgumentsOrReply``: (flags, raw expire argument).

    Mirrors its quirks: a repeated EX (or PX ...) is accepted and the last one
    wins, but mixing two different TTL options is a syntax error.
    """
    flags = 0
    raw_ttl = b""
    i = start
    while i < len(argv):
        option = argv[i].upper()
        has_next = i + 1 < len(argv)
        if option == b"NX" and for_set and not flags & _XX:
            flags |= _NX
        elif option == b"XX" and for_set and not flags & _NX:
            flags |= _XX
        elif option == b"GET" and for_set:
            flags |= _GET
        elif option == b"KEEPTTL" and for_set and not flags & (_PERSIST | _ANY_TTL):
            flags |= _KEEPTTL
        elif option == b"PERSIST" and not for_set and not flags & (_ANY_TTL | _KEEPTTL):
            flags |= _PERSIST
        elif option in _UNITS and has_next and not flags & (_KEEPTTL | _PERSIST) \
                and not flags & (_ANY_TTL & ~_UNITS[option]):
            flags |= _UNITS[option]
            raw_ttl = argv[i + 1]
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    return flags, raw_ttl


# ------------------------------------------------------------------- GET/SET

# GET key
@command("get", 2, "readonly fast", keys=(1, 1, 1), group="string")
def get(client: Client, argv: list[bytes]) -> object:
    db = client.db
    key = argv[1]
    value = db.data.get(key)
    if value is not None and db.expires:
        value = db.lookup(key)  # expires it if its time is up
    if value is None:
        client.broker.count_read(db.index, key, False)
        return None
    host = db.host
    if not db.access:  # lookupKey's touch (ACCESS_CLOCK inline: Keyspace.touch)
        db.lru[key] = host.lru_clock
    else:
        db.touch(key)
    client.broker.stats.keyspace_hits += 1
    if type(value) is not bytes:
        raise CommandError(WRONGTYPE)
    return value


def _set_generic(client: Client, key: bytes, value: bytes, flags: int, raw_ttl: bytes,
                 name: str, ok_reply: Any = OK, abort_reply: Any = None) -> Any:
    """``setGenericCommand``: TTL checked first, then GET's type check, then NX/XX."""
    db = client.db
    deadline = expire_deadline(client, flags, raw_ttl, name) if flags & _ANY_TTL else None
    old = _read_string(client, key) if flags & _GET else None
    found = db.lookup(key) is not None
    if (flags & _NX and found) or (flags & _XX and not found):
        return old if flags & _GET else abort_reply
    db.set(key, value, keep_ttl=bool(flags & _KEEPTTL))
    db.notify(_STRING, b"set", key)
    if deadline is not None:
        db.set_expire(key, deadline)
        db.notify(_GENERIC, b"expire", key)
    return old if flags & _GET else ok_reply


# SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds
#   | PXAT unix-time-milliseconds | KEEPTTL]
@command("set", -3, "write denyoom", keys=(1, 1, 1), group="string")
def set_(client: Client, argv: list[bytes]) -> object:
    key = argv[1]
    if len(argv) == 3:
        # Fast path for the plain form: no option parsing. With TTLs in the db, the
        # lookup runs so that a key whose TTL is up goes with ``expired`` before the
        # ``new``, and the TTL of the key is dropped.
        db = client.db
        data = db.data
        value = argv[2]
        old = data.get(key)
        if db.expires:
            db.lookup(key)
            db.set(key, value)
        elif type(old) is bytes:
            # Keyspace.set inline: the value's cost and the new object's access time
            data[key] = value
            db.account.dataset += len(value) - len(old)
            if db.encodings:  # a new object: no raw mark (the same 1-byte one may come back)
                db.encodings.pop(key, None)
            if not db.access:  # (ACCESS_CLOCK inline: Keyspace.touch)
                db.lru[key] = db.host.lru_clock
            else:  # (LFU: the lookup's touch; dbOverwrite keeps the field)
                db.touch(key)
            # Keyspace.notify inline for a string (no container to re-cost): this
            # overwrite is the commonest write, and the call was ~4% of it
            host = db.host
            host.changes += 1
            if db.watched:
                host.touch_watched(db.index, key)
            if host.notify_flags:
                host.notify(_STRING, b"set", key, db.index)
            return OK
        else:
            # absent, or another type (a stream's blocked XREADGROUP readers must hear of it)
            db.set(key, value)
        db.notify(_STRING, b"set", key)
        return OK
    flags, raw_ttl = _parse_string_options(argv, 3, for_set=True)
    return _set_generic(client, key, argv[2], flags, raw_ttl, "set")


# SETNX key value
@command("setnx", 3, "write denyoom fast", keys=(1, 1, 1), group="string")
def setnx(client: Client, argv: list[bytes]) -> object:
    return _set_generic(client, argv[1], argv[2], _NX, b"", "setnx", 1, 0)


# SETEX key seconds value
@command("setex", 4, "write denyoom", keys=(1, 1, 1), group="string", since="2.0.0")
def setex(client: Client, argv: list[bytes]) -> object:
    return _set_generic(client, argv[1], argv[3], _EX, argv[2], "setex")


# PSETEX key milliseconds value
@command("psetex", 4, "write denyoom", keys=(1, 1, 1), group="string", since="2.6.0")
def psetex(client: Client, argv: list[bytes]) -> object:
    return _set_generic(client, argv[1], argv[3], _PX, argv[2], "psetex")


# GETSET key value
@command("getset", 3, "write denyoom fast", keys=(1, 1, 1), group="string")
def getset(client: Client, argv: list[bytes]) -> object:
    old = _read_string(client, argv[1])
    db = client.db
    db.set(argv[1], argv[2])
    db.notify(_STRING, b"set", argv[1])
    return old


# GETDEL key
@command("getdel", 2, "write fast", keys=(1, 1, 1), group="string", since="6.2.0")
def getdel(client: Client, argv: list[bytes]) -> object:
    old = _read_string(client, argv[1])
    if old is not None:
        client.db.delete(argv[1])
        client.db.notify(_GENERIC, b"del", argv[1])
    return old


# GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]
@command("getex", -2, "write fast", keys=(1, 1, 1), group="string", since="6.2.0")
def getex(client: Client, argv: list[bytes]) -> object:
    flags, raw_ttl = _parse_string_options(argv, 2, for_set=False)
    key = argv[1]
    value = _read_string(client, key)
    if value is None:
        return None
    db = client.db
    if flags & _ANY_TTL:
        deadline = expire_deadline(client, flags, raw_ttl, "getex")
        if flags & (_EXAT | _PXAT) and deadline <= client.broker.now_ms:
            # An absolute time already past deletes the key, reported as a DEL.
            db.delete(key)
            db.notify(_GENERIC, b"del", key)
        else:
            db.set_expire(key, deadline)
            db.notify(_GENERIC, b"expire", key)
    elif flags & _PERSIST and db.persist(key):
        db.notify(_GENERIC, b"persist", key)
    return value


# MGET key [key ...]
@command("mget", -2, "readonly fast", keys=(1, -1, 1), group="string")
def mget(client: Client, argv: list[bytes]) -> object:
    replies = []
    for key in argv[1:]:
        value = client.db.read(key)
        replies.append(value if type(value) is bytes else None)
    return replies


def _check_pairs(argv: list[bytes], name: str) -> None:
    if len(argv) % 2 == 0:
        raise CommandError(f"ERR wrong number of arguments for '{name}' command")


# MSET key value [key value ...]
@command("mset", -3, "write denyoom", keys=(1, -1, 2), group="string", since="1.0.1")
def mset(client: Client, argv: list[bytes]) -> object:
    _check_pairs(argv, "mset")
    db = client.db
    for i in range(1, len(argv), 2):
        db.lookup(argv[i])  # setKey's lookupKeyWrite: an expired key goes first
        db.set(argv[i], argv[i + 1])
        db.notify(_STRING, b"set", argv[i])
    return OK


# MSETNX key value [key value ...]
@command("msetnx", -3, "write denyoom", keys=(1, -1, 2), group="string", since="1.0.1")
def msetnx(client: Client, argv: list[bytes]) -> object:
    _check_pairs(argv, "msetnx")
    db = client.db
    if any(db.lookup(argv[i]) is not None for i in range(1, len(argv), 2)):
        return 0
    for i in range(1, len(argv), 2):
        db.set(argv[i], argv[i + 1])
        db.notify(_STRING, b"set", argv[i])
    return 1


# ------------------------------------------------------------------ counters

def _incr_by(client: Client, key: bytes, increment: int) -> int:
    """``incrDecrCommand``: the counter keeps its TTL; a new key emits ``new`` first."""
    db = client.db
    old = db.lookup(key)
    if old is None:
        result = increment  # callers parsed it as a 64-bit integer
        db.add(key, _SMALL_BYTES[result] if 0 <= result < _SMALL else b"%d" % result)
    else:
        if type(old) is not bytes:
            raise CommandError(WRONGTYPE)
        current = _SMALL_VALUES.get(old)
        result = (parse_int(old) if current is None else current) + increment
        if not _INT64_MIN <= result <= _INT64_MAX:
            raise CommandError("ERR increment or decrement would overflow")
        # in place: the TTL stays (Keyspace.replace inline: this is INCR's hot path)
        new = db.data[key] = _SMALL_BYTES[result] if 0 <= result < _SMALL else b"%d" % result
        db.account.dataset += len(new) - len(old)
    db.notify(_STRING, b"incrby", key)
    return result


# INCR key
@command("incr", 2, "write denyoom fast", keys=(1, 1, 1), group="string")
def incr(client: Client, argv: list[bytes]) -> object:
    return _incr_by(client, argv[1], 1)


# DECR key
@command("decr", 2, "write denyoom fast", keys=(1, 1, 1), group="string")
def decr(client: Client, argv: list[bytes]) -> object:
    return _incr_by(client, argv[1], -1)


# INCRBY key increment
@command("incrby", 3, "write denyoom fast", keys=(1, 1, 1), group="string")
def incrby(client: Client, argv: list[bytes]) -> object:
    return _incr_by(client, argv[1], parse_int(argv[2]))


# DECRBY key decrement
@command("decrby", 3, "write denyoom fast", keys=(1, 1, 1), group="string")
def decrby(client: Client, argv: list[bytes]) -> object:
    decrement = parse_int(argv[2])
    if decrement == _INT64_MIN:
        # -LLONG_MIN does not exist in 64 bits.
        raise CommandError("ERR decrement would overflow")
    return _incr_by(client, argv[1], -decrement)


def _long_double_or_error(raw: bytes) -> Fraction | float:
    # string2ld insists that strtold consume every byte, so a NUL inside is refused.
    value = None if b"\0" in raw else parse_long_double(raw)
    if value is None:
        raise CommandError(NOT_FLOAT)
    return value


# INCRBYFLOAT key increment
@command("incrbyfloat", 3, "write denyoom fast", keys=(1, 1, 1), group="string", since="2.6.0")
def incrbyfloat(client: Client, argv: list[bytes]) -> object:
    db = client.db
    key = argv[1]
    old = _write_string(db, key)
    # Redis reads the stored value before the increment, so its error wins.
    current = Fraction(0) if old is None else _long_double_or_error(old)
    increment = _long_double_or_error(argv[2])
    if isinstance(current, float) or isinstance(increment, float):
        raise CommandError("ERR increment would produce NaN or Infinity")
    try:
        result = round_long_double(current + increment)
    except Overflow:
        raise CommandError("ERR increment would produce NaN or Infinity") from None
    text = format_long_double(result)
    if old is None:
        db.add(key, text)
    else:
        db.replace(key, text)
    db.notify(_STRING, b"incrbyfloat", key)
    return text


# ------------------------------------------------------------- byte ranges

# APPEND key value
@command("append", 3, "write denyoom fast", keys=(1, 1, 1), group="string", since="2.0.0")
def append(client: Client, argv: list[bytes]) -> object:
    db = client.db
    key, tail = argv[1], argv[2]
    old = _write_string(db, key)
    if old is None:
        db.add(key, tail)
        length = len(tail)
    else:
        _check_length(client, len(old), len(tail))
        db.replace(key, old + tail)
        length = len(old) + len(tail)
        if tail:  # appended to in place: raw (an empty tail leaves the very same object)
            mark_raw(db, key, db.data[key])
    db.notify(_STRING, b"append", key)
    return length


# STRLEN key
@command("strlen", 2, "readonly fast", keys=(1, 1, 1), group="string", since="2.2.0")
def strlen(client: Client, argv: list[bytes]) -> object:
    value = _read_string(client, argv[1])
    return 0 if value is None else len(value)


# SETRANGE key offset value
@command("setrange", 4, "write denyoom", keys=(1, 1, 1), group="string", since="2.2.0")
def setrange(client: Client, argv: list[bytes]) -> object:
    offset = parse_int(argv[2])
    if offset < 0:
        raise CommandError("ERR offset is out of range")
    db = client.db
    key, patch = argv[1], argv[3]
    old = _write_string(db, key)
    if old is None:
        if not patch:
            return 0
        _check_length(client, offset, len(patch))
        db.add(key, bytes(offset) + patch)
    else:
        if not patch:
            return len(old)
        _check_length(client, offset, len(patch))
        # One copy of the value, however long (slices of a memoryview copy nothing):
        # a patch into a 512 MB string must not build three 512 MB temporaries.
        view = memoryview(old)
        if offset > len(old):
            db.replace(key, b"".join((view, bytes(offset - len(old)), patch)))
        else:
            db.replace(key, b"".join((view[:offset], patch, view[offset + len(patch):])))
    value = db.data[key]
    mark_raw(db, key, value)  # written in place: raw whatever it reads as
    db.notify(_STRING, b"setrange", key)
    return len(value)


# GETRANGE key start end
@command("getrange", 4, "readonly", keys=(1, 1, 1), group="string", since="2.4.0")
def getrange(client: Client, argv: list[bytes]) -> object:
    start, end = parse_int(argv[2]), parse_int(argv[3])
    value = _read_string(client, argv[1])
    if value is None:
        return b""
    length = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(length + start, 0)
    if end < 0:
        end = max(length + end, 0)
    end = min(end, length - 1)
    if start > end or length == 0:
        return b""
    return value[start:end + 1]


# SUBSTR key start end
@command("substr", 4, "readonly", keys=(1, 1, 1), group="string")
def substr(client: Client, argv: list[bytes]) -> object:
    return getrange(client, argv)
