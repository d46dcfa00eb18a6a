"""Bitmap commands on strings, as redis-server 7.0 (``bitops.c``).

A bitmap is a plain string value: bit 0 is the most significant bit of byte 0, as
in SETBIT. Strings are immutable ``bytes`` here, so a write copies the value once
(a ``bytearray`` while the command runs, ``bytes`` again when stored): for the
bitmaps apps keep (online flags of a million users: 125 KB) that is a few µs of
memcpy, and every other command keeps seeing ``bytes``.

Counting and searching use whole-string operations (``int.bit_count``,
``bytes.lstrip``) rather than loops over bits, so BITCOUNT and BITPOS of a large
bitmap cost C speed per byte.
"""

from __future__ import annotations

from broker.commands.args import SYNTAX, parse_int
from broker.client import Client
from broker.encoding import mark_raw
from broker.keyspace import WRONGTYPE
from broker.notify import NotifyClass
from broker.resp import CommandError
from broker.table import command

__all__: list[str] = []

_STRING = NotifyClass.STRING
_GENERIC = NotifyClass.GENERIC
BAD_OFFSET = "ERR bit offset is not an integer or out of range"
BAD_BIT = "ERR bit is not an integer or out of range"
BAD_TYPE = ("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported "
            "but i64 is.")
_U64 = (1 << 64) - 1
_WRAP, _SAT, _FAIL = 0, 1, 2
_SMALL_OFFSETS = 8 * 1024 * 1024


# ------------------------------------------------------------------ helpers

def _bit_offset(client: Client, raw: bytes, width: int = 0) -> int:
    """``getBitOffsetFromArgument``: a bit offset within proto-max-bulk-len bytes.

    With ``width`` (BITFIELD), ``#N`` means the N-th field of that width.
    """
    by_field = width > 0 and raw[:1] == b"#"
    offset = parse_int(raw[1:] if by_field else raw, BAD_OFFSET)
    if by_field:
        offset *= width
    if offset < 0 or (offset >> 3) >= int(client.broker.config.get("proto-max-bulk-len")):
        raise CommandError(BAD_OFFSET)
    return offset


def _string_for_write(client: Client, key: bytes, max_bit: int) -> tuple[bytearray, bool]:
    """``lookupStringForBitCommand``: the value padded with zero bytes so ``max_bit``
    is addressable, and whether it was created or grown (that alone makes it dirty).

    A missing key is created at once (``dbAdd``, so its ``new`` event comes first);
    the caller stores the bytes back with ``_store``.
    """
    db = client.db
    value = db.lookup(key)
    if value is not None and type(value) is not bytes:
        raise CommandError(WRONGTYPE)
    size = (max_bit >> 3) + 1
    if value is None:
        buffer = bytearray(size)
        db.add(key, bytes(buffer))
        return buffer, True
    buffer = bytearray(value)
    if len(buffer) < size:
        buffer.extend(bytes(size - len(buffer)))
        return buffer, True
    return buffer, False


def _store(client: Client, key: bytes, buffer: bytearray) -> None:
    client.db.replace(key, bytes(buffer))


def _raw(client: Client, key: bytes) -> None:
    """After a SETBIT or a writing BITFIELD, changed or not: ``raw``, as
    lookupStringForBitCommand's dbUnshareStringValue leaves the string."""
    mark_raw(client.db, key, client.db.data[key])


def _in_bits(unit: bytes) -> bool:
    """A BITCOUNT/BITPOS range unit: BIT (True) or BYTE (False)."""
    lowered = unit.lower()
    if lowered not in (b"bit", b"byte"):
        raise CommandError(SYNTAX)
    return lowered == b"bit"


def _clamp(start: int, end: int, total: int) -> tuple[int, int]:
    """Negative indexes from the end, then clamped to [0, total - 1] (end only above)."""
    if start < 0:
        start += total
    if end < 0:
        end += total
    start = max(start, 0)
    end = max(end, 0)
    if end >= total:
        end = total - 1
    return start, end


def _region(value: bytes, start: int, end: int, in_bits: bool, fill: int) -> tuple[bytes, int]:
    """The bytes holding bits [start, end] (bit or byte units), with the bits of the
    first and last byte outside the range forced to ``fill`` (0 or 1); and the bit
    position of the region's first bit."""
    if not in_bits:
        return value[start:end + 1], start * 8
    first, last = start >> 3, end >> 3
    region = bytearray(value[first:last + 1])
    head = 0xFF & ~((1 << (8 - (start & 7))) - 1)   # bits before start in the first byte
    tail = (1 << (7 - (end & 7))) - 1               # bits after end in the last byte
    if fill:
        region[0] |= head
        region[-1] |= tail
    else:
        region[0] &= ~head & 0xFF
        region[-1] &= ~tail & 0xFF
    return bytes(region), first * 8


def _first_bit(region: bytes, bit: int) -> int:
    """Index of the first bit equal to ``bit`` in ``region``, or -1."""
    skip = b"\x00" if bit else b"\xff"
    index = len(region) - len(region.lstrip(skip))
    if index == len(region):
        return -1
    byte = region[index] if bit else region[index] ^ 0xFF
    return index * 8 + (8 - byte.bit_length())


def _wrap_i64(value: int) -> int:
    value &= _U64
    return value - (1 << 64) if value >> 63 else value


# ------------------------------------------------------------------ commands

# SETBIT key offset value
@command("setbit", 4, "write denyoom", keys=(1, 1, 1), group="bitmap", since="2.2.0")
def setbit(client: Client, argv: list[bytes]) -> object:
    raw = argv[2]
    # plain digits below 2^23 bits are within every allowed proto-max-bulk-len (1 MB
    # at least): no config lookup for the usual offset
    if raw.isdigit() and len(raw) < 8 and (raw[0] != 48 or len(raw) == 1) and int(raw) < _SMALL_OFFSETS:
        offset = int(raw)
    else:
        offset = _bit_offset(client, raw)
    bit = argv[3]
    on = 1 if bit == b"1" else 0 if bit == b"0" else parse_int(bit, BAD_BIT)
    if on & ~1:
        raise CommandError(BAD_BIT)
    key = argv[1]
    db = client.db
    value = db.lookup(key)
    byte = offset >> 3
    if type(value) is bytes and byte < len(value):
        # the usual case, a bit inside the string: no copy unless the bit changes
        mask = 1 << (7 - (offset & 7))
        current = value[byte]
        was = 1 if current & mask else 0
        if was != on:
            buffer = bytearray(value)
            buffer[byte] = current ^ mask
            db.replace(key, bytes(buffer))
            db.notify(_STRING, b"setbit", key)
        mark_raw(db, key, db.data[key])
        return was
    buffer, dirty = _string_for_write(client, key, offset)
    byte, mask = offset >> 3, 1 << (7 - (offset & 7))
    was = 1 if buffer[byte] & mask else 0
    if dirty or was != on:
        buffer[byte] = (buffer[byte] & ~mask) | (mask if on else 0)
        _store(client, key, buffer)
        client.db.notify(_STRING, b"setbit", key)
    _raw(client, key)
    return was


# GETBIT key offset
@command("getbit", 3, "readonly fast", keys=(1, 1, 1), group="bitmap", since="2.2.0")
def getbit(client: Client, argv: list[bytes]) -> object:
    offset = _bit_offset(client, argv[2])
    value = client.db.read_typed(argv[1], bytes)
    if value is None:
        return 0
    byte = offset >> 3
    if byte >= len(value):
        return 0
    return 1 if value[byte] & (1 << (7 - (offset & 7))) else 0


# BITCOUNT key [start end [BYTE|BIT]]
@command("bitcount", -2, "readonly", keys=(1, 1, 1), group="bitmap", since="2.6.0")
def bitcount(client: Client, argv: list[bytes]) -> object:
    value = client.db.read_typed(argv[1], bytes)
    if value is None:
        return 0
    if len(argv) == 2:
        return int.from_bytes(value, "big").bit_count()
    if len(argv) not in (4, 5):
        raise CommandError(SYNTAX)
    start, end = parse_int(argv[2]), parse_int(argv[3])
    if start < 0 and end < 0 and start > end:
        return 0
    in_bits = len(argv) == 5 and _in_bits(argv[4])
    start, end = _clamp(start, end, len(value) * 8 if in_bits else len(value))
    if start > end:
        return 0
    region, _ = _region(value, start, end, in_bits, 0)
    return int.from_bytes(region, "big").bit_count()


# BITPOS key bit [start [end [BYTE|BIT]]]
@command("bitpos", -3, "readonly", keys=(1, 1, 1), group="bitmap", since="2.8.7")
def bitpos(client: Client, argv: list[bytes]) -> object:
    bit = parse_int(argv[2])
    if bit not in (0, 1):
        raise CommandError("ERR The bit argument must be 1 or 0.")
    value = client.db.read_typed(argv[1], bytes)
    if value is None:
        # a missing key is an endless run of zeros
        return -1 if bit else 0
    if len(argv) > 6:
        raise CommandError(SYNTAX)
    in_bits, end_given = False, len(argv) >= 5
    if len(argv) == 3:
        start, end = 0, len(value) - 1
    else:
        start = parse_int(argv[3])
        in_bits = len(argv) == 6 and _in_bits(argv[5])
        end = parse_int(argv[4]) if end_given else (len(value) * 8 - 1 if in_bits else len(value) - 1)
        start, end = _clamp(start, end, len(value) * 8 if in_bits else len(value))
    if start > end:
        # an empty range holds neither a 0 nor a 1
        return -1
    region, base = _region(value, start, end, in_bits, 0 if bit else 1)
    found = _first_bit(region, bit)
    if found >= 0:
        return base + found
    if bit or end_given:
        return -1
    # looking for a 0 with no end given: the string is padded with zeros on the right
    return base + len(region) * 8


# BITOP AND|OR|XOR|NOT destkey key [key ...]
@command("bitop", -4, "write denyoom", keys=(2, -1, 1), group="bitmap", since="2.6.0")
def bitop(client: Client, argv: list[bytes]) -> object:
    op = argv[1].lower()
    if op not in (b"and", b"or", b"xor", b"not"):
        raise CommandError(SYNTAX)
    if op == b"not" and len(argv) != 4:
        raise CommandError("ERR BITOP NOT must be called with a single source key.")
    db = client.db
    sources = [db.read_typed(key, bytes) or b"" for key in argv[3:]]
    size = max(len(value) for value in sources)
    target = argv[2]
    db.lookup(target)  # lookupKeyWrite: an expired target goes first, with its event
    if size == 0:
        if db.delete(target):
            db.notify(_GENERIC, b"del", target)
        return 0
    # missing bytes of shorter strings are zeros: pad on the right before the big-int op
    numbers = [int.from_bytes(value.ljust(size, b"\x00"), "big") for value in sources]
    result = numbers[0]
    if op == b"not":
        result = ~result & ((1 << (size * 8)) - 1)
    elif op == b"and":
        for number in numbers[1:]:
            result &= number
    elif op == b"or":
        for number in numbers[1:]:
            result |= number
    else:
        for number in numbers[1:]:
            result ^= number
    db.set(target, result.to_bytes(size, "big"))
    db.notify(_STRING, b"set", target)
    return size


# BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
#   [OVERFLOW WRAP|SAT|FAIL] ...
@command("bitfield", -2, "write denyoom", keys=(1, 1, 1), group="bitmap", since="3.2.0")
def bitfield(client: Client, argv: list[bytes]) -> object:
    return _bitfield(client, argv, read_only=False)


# BITFIELD_RO key [GET type offset ...]
@command("bitfield_ro", -2, "readonly fast", keys=(1, 1, 1), group="bitmap", since="6.0.0")
def bitfield_ro(client: Client, argv: list[bytes]) -> object:
    return _bitfield(client, argv, read_only=True)


def _field_type(raw: bytes) -> tuple[bool, int]:
    """``getBitfieldTypeFromArgument``: (signed, width) of ``i1..i64`` / ``u1..u63``."""
    signed = raw[:1] == b"i"
    if not signed and raw[:1] != b"u":
        raise CommandError(BAD_TYPE)
    width = parse_int(raw[1:], BAD_TYPE)
    if width < 1 or width > (64 if signed else 63):
        raise CommandError(BAD_TYPE)
    return signed, width


def _bitfield(client: Client, argv: list[bytes], read_only: bool) -> object:
    # (opcode, signed, width, offset, value, overflow) parsed in full before anything runs
    ops: list[tuple[bytes, bool, int, int, int, int]] = []
    overflow = _WRAP
    writes, highest = False, 0
    index = 2
    while index < len(argv):
        remaining = len(argv) - index - 1
        sub = argv[index].lower()
        if sub == b"overflow" and remaining >= 1:
            mode = argv[index + 1].lower()
            if mode not in (b"wrap", b"sat", b"fail"):
                raise CommandError("ERR Invalid OVERFLOW type specified")
            overflow = (b"wrap", b"sat", b"fail").index(mode)
            index += 2
            continue
        if not ((sub == b"get" and remaining >= 2) or (sub in (b"set", b"incrby") and remaining >= 3)):
            raise CommandError(SYNTAX)
        signed, width = _field_type(argv[index + 1])
        offset = _bit_offset(client, argv[index + 2], width)
        amount = 0
        if sub != b"get":
            writes = True
            highest = max(highest, offset + width - 1)
            amount = parse_int(argv[index + 3])
        ops.append((sub, signed, width, offset, amount, overflow))
        index += 3 if sub == b"get" else 4
    key = argv[1]
    if not writes:
        value = client.db.read_typed(key, bytes)
        return [_get_field(value or b"", signed, width, offset) for _, signed, width, offset, _, _ in ops]
    if read_only:
        raise CommandError("ERR BITFIELD_RO only supports the GET subcommand")
    buffer, dirty = _string_for_write(client, key, highest)
    replies: list[int | None] = []
    changes = 0
    for sub, signed, width, offset, amount, mode in ops:
        if sub == b"get":
            replies.append(_get_field(buffer, signed, width, offset))
            continue
        old = _get_field(buffer, signed, width, offset)
        if sub == b"incrby":
            result = _overflow(old, amount, signed, width, mode)
            new = reply = old + amount if result is None else result
        else:
            result = _overflow(amount, 0, signed, width, mode)
            new, reply = (amount if result is None else result), old
        if result == _FAILED:
            replies.append(None)
            continue
        replies.append(reply)
        _set_field(buffer, offset, width, new)
        if dirty or old != new:
            changes += 1
    _store(client, key, buffer)
    _raw(client, key)
    if changes:
        client.db.notify(_STRING, b"setbit", key)
    return replies


def _get_field(value: bytes | bytearray, signed: bool, width: int, offset: int) -> int:
    """The ``width``-bit integer at bit ``offset`` (zeros past the end of ``value``)."""
    first, last = offset >> 3, (offset + width - 1) >> 3
    chunk = bytes(value[first:last + 1]).ljust(last - first + 1, b"\x00")
    number = int.from_bytes(chunk, "big") >> (7 - ((offset + width - 1) & 7))
    number &= (1 << width) - 1
    if signed and number >> (width - 1):
        number -= 1 << width
    return number


def _set_field(buffer: bytearray, offset: int, width: int, number: int) -> None:
    """Write the low ``width`` bits of ``number`` at bit ``offset`` (buffer is long enough)."""
    first, last = offset >> 3, (offset + width - 1) >> 3
    shift = 7 - ((offset + width - 1) & 7)
    size = last - first + 1
    current = int.from_bytes(buffer[first:last + 1], "big")
    mask = ((1 << width) - 1) << shift
    current = (current & ~mask) | ((number << shift) & mask)
    buffer[first:last + 1] = current.to_bytes(size, "big")


# _overflow's answer for OVERFLOW FAIL: nothing is written, the reply is nil
_FAILED: int = -(1 << 80)


def _overflow(value: int, incr: int, signed: bool, width: int, mode: int) -> int | None:
    """``check(Un)signedBitfieldOverflow``: None when ``value + incr`` fits, else the
    value to store under ``mode`` (wrapped or saturated), or ``_FAILED`` under FAIL.

    The comparisons are Redis's own, in its 64-bit C arithmetic (signed wrap-around
    of ``maxincr``/``minincr`` included), so odd inputs such as SET i8 -2^63 get the
    same answers.
    """
    if signed:
        top = (1 << 63) - 1 if width == 64 else (1 << (width - 1)) - 1
        bottom = -top - 1
        max_incr, min_incr = _wrap_i64(top - value), _wrap_i64(bottom - value)
        if value > top or (width != 64 and incr > max_incr) or (value >= 0 and incr > 0 and incr > max_incr):
            limit = top
        elif value < bottom or (width != 64 and incr < min_incr) or (value < 0 and incr < 0 and incr < min_incr):
            limit = bottom
        else:
            return None
        if mode == _FAIL:
            return _FAILED
        if mode == _SAT:
            return limit
        total = (value + incr) & _U64
        if width < 64:
            # sign-extend from the field's top bit, or mask to the positive range
            if total >> (width - 1) & 1:
                total |= (_U64 << width) & _U64
            else:
                total &= (1 << width) - 1
        return _wrap_i64(total)
    unsigned = value & _U64  # a SET value is taken as uint64, as Redis casts it
    top = (1 << width) - 1
    max_incr, min_incr = _wrap_i64(top - unsigned), _wrap_i64(-unsigned)
    if unsigned > top or (incr > 0 and incr > max_incr):
        limit = top
    elif incr < 0 and incr < min_incr:
        limit = 0
    else:
        return None
    if mode == _FAIL:
        return _FAILED
    if mode == _SAT:
        return limit
    return (unsigned + incr) & ((1 << width) - 1)
