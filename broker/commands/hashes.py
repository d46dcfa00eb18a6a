"""Hash commands (HSET, HGET, HINCRBYFLOAT, HRANDFIELD, HSCAN ...), as redis-server 7.

Values are ``dict[bytes, bytes]``. A Python dict keeps insertion order and updates
a field in place, which is also the order of Redis's small (listpack) hashes, so
HKEYS/HGETALL of a small hash come back in the order Redis gives.

HINCRBYFLOAT computes in C ``long double`` in Redis (x87 80-bit on x86-64) and
prints with ``%.17Lf``; ``parse_long_double``/``format_long_double`` below
reproduce both exactly with rationals, so results such as ``HINCRBYFLOAT h f 1e400`` match digit for digit.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction
from typing import Any

from broker.commands.args import SYNTAX, parse_int
from broker.commands.scan import parse_scan_args, scan_page
from broker.core import Client
from broker.glob import glob_match
from broker.keyspace import WRONGTYPE, Keyspace
from broker.notify import NotifyClass
from broker.resp import OK, CommandError
from broker.table import command

__all__ = ["parse_long_double", "format_long_double"]

_HASH = NotifyClass.HASH
_LONG_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
NOT_FLOAT = "ERR value is not a valid float"


# ---------------------------------------------------------------- long double

# x87 extended precision: 64-bit significand (explicit integer bit), exponents
# down to -16382 for normal numbers, subnormals down to 2**-16445.
_LD_DIGITS = 64
_LD_MIN_QUANTUM = -16445
_LD_MAX = Fraction((2**64 - 1) * 2**(16383 - 63))
# Redis MAX_LONG_DOUBLE_CHARS: longer strings are refused before strtold.
_MAX_LONG_DOUBLE_CHARS = 5 * 1024
_DECIMAL = re.compile(rb"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_HEX = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?")
_INFINITY = re.compile(rb"[+-]?(inf|infinity)", re.IGNORECASE)
# Past these binary exponents a value is certainly out of long double range; they
# keep 2**exponent from being computed for absurd inputs like 1e999999999.
_EXP_CEILING = 17000
_EXP_FLOOR = -17000


class _Overflow(Exception):
    """strtold reported ERANGE with HUGE_VAL, or a sum left the finite range."""


def _round_long_double(exact: Fraction) -> Fraction:
    """Round an exact value to the nearest long double (ties to even)."""
    if exact == 0:
        return exact
    negative = exact < 0
    num, den = abs(exact.numerator), exact.denominator
    exponent = num.bit_length() - den.bit_length()
    # Make 2**exponent <= |exact| < 2**(exponent + 1).
    if (num << -exponent if exponent < 0 else num) < (den << exponent if exponent > 0 else den):
        exponent -= 1
    quantum = max(exponent - (_LD_DIGITS - 1), _LD_MIN_QUANTUM)
    if quantum < 0:
        num <<= -quantum
    else:
        den <<= quantum
    units, rest = divmod(num, den)
    if 2 * rest > den or (2 * rest == den and units & 1):
        units += 1
    result = Fraction(units) * (Fraction(2) ** quantum)
    if result > _LD_MAX:
        raise _Overflow()
    return -result if negative else result


def parse_long_double(raw: bytes) -> Fraction | float | None:
    """``string2ld``: the long double ``raw`` spells, +-inf as floats, None if refused.

    Like Redis: no leading space (strtold would skip it, Redis refuses it), no
    trailing garbage, no NaN, and no value strtold flags ERANGE as 0 or HUGE_VAL.
    A NUL byte is refused: strtold would stop there, short of the whole length.
    """
    if not raw or len(raw) >= _MAX_LONG_DOUBLE_CHARS or raw[:1].isspace() or b"\0" in raw:
        return None
    text = raw
    try:
        value = _parse_finite(text)
    except _Overflow:
        return None
    if value is None and _INFINITY.fullmatch(text):
        return float("-inf") if text[:1] == b"-" else float("inf")
    return value


def _parse_finite(text: bytes) -> Fraction | None:
    match = _DECIMAL.fullmatch(text)
    if match and (match.group(2) or match.group(3)):
        sign, whole, fraction, exp = match.groups()
        mantissa_text = whole + (fraction or b"")
        exponent = _exponent(exp) - len(fraction or b"")
        mantissa = _int_from_digits(mantissa_text)
        if mantissa == 0:
            return Fraction(0)
        magnitude = len(mantissa_text.lstrip(b"0")) + exponent
        if magnitude > 5000:
            raise _Overflow()
        if magnitude < -5000:
            return None  # underflow to zero: ERANGE, refused
        exact = Fraction(mantissa) * Fraction(10) ** exponent
        return _nonzero(_round_long_double(-exact if sign == b"-" else exact))
    match = _HEX.fullmatch(text)
    if match and (match.group(2) or match.group(3)):
        sign, whole, fraction, exp = match.groups()
        digits = whole + (fraction or b"")
        exponent = _exponent(exp) - 4 * len(fraction or b"")
        mantissa = int(digits, 16)  # hex digits are not subject to the decimal length limit
        if mantissa == 0:
            return Fraction(0)
        if exponent + mantissa.bit_length() > _EXP_CEILING:
            raise _Overflow()
        if exponent + mantissa.bit_length() < _EXP_FLOOR:
            return None
        exact = Fraction(mantissa) * Fraction(2) ** exponent
        return _nonzero(_round_long_double(-exact if sign == b"-" else exact))
    return None


# Python refuses int <-> decimal string conversions past 4300 digits (a guard
# against quadratic time); long doubles reach 4933 digits, so convert in chunks.
_CHUNK = 4000


def _int_from_digits(text: bytes) -> int:
    value = 0
    for start in range(0, len(text), _CHUNK):
        chunk = text[start:start + _CHUNK]
        value = value * 10**len(chunk) + int(chunk)
    return value


def _digits_of(value: int) -> bytes:
    if value < 10**_CHUNK:
        return b"%d" % value
    high, low = divmod(value, 10**_CHUNK)
    return _digits_of(high) + b"%0*d" % (_CHUNK, low)


def _exponent(text: bytes | None) -> int:
    """An exponent field, clamped: beyond a million it over/underflows anyway."""
    if not text:
        return 0
    sign = -1 if text[:1] == b"-" else 1
    digits = text.lstrip(b"+-").lstrip(b"0") or b"0"
    return sign * (int(digits) if len(digits) <= 7 else 10**7)


def _nonzero(value: Fraction) -> Fraction | None:
    # A non-zero input that rounds to 0 is an ERANGE underflow, which Redis refuses.
    return value if value != 0 else None


def format_long_double(value: Fraction) -> bytes:
    """``ld2string(LD_STR_HUMAN)``: ``%.17Lf`` without trailing zeros; ``-0`` is ``0``."""
    negative = value < 0
    scaled = abs(value) * 10**17
    units, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest > scaled.denominator or (2 * rest == scaled.denominator and units & 1):
        units += 1
    whole, fraction = divmod(units, 10**17)
    text = (_digits_of(whole) + b".%017d" % fraction).rstrip(b"0").rstrip(b".")
    if negative and text != b"0":
        return b"-" + text
    return text


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
        result = _round_long_double(current + increment)
    except _Overflow:
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

