"""HyperLogLog in Redis's own representation (sans-I/O), as redis-server 7.0's
``hyperloglog.c``: the same hash, the same sparse and dense encodings byte for byte,
the same estimator, so a value moves between fanout and Redis (GET/SET, DUMP,
RDB) and PFCOUNT gives the same number on both.

Layout of a value: a 16-byte header (``HYLL``, encoding, 3 unused bytes, the cached
cardinality as 8 bytes little endian whose top bit marks it stale), then either
12,288 bytes of 16,384 six-bit registers (dense), or a run-length opcode stream
(sparse): ``00xxxxxx`` ZERO (1-64 zero registers), ``01xxxxxx yyyyyyyy`` XZERO
(1-16,384 zeros), ``1vvvvvxx`` VAL (1-4 registers of value 1-32).

How it stays fast in Python:
- The sparse stream is worked on as a list of opcodes (each its own 1- or 2-byte
  ``bytes``) with the first register each one covers beside it, so finding the
  opcode of a register is a bisect, not a walk over the stream; the lists of the
  value a command wrote are kept (a few hundred values at most) for the next
  command on that value, so a PFADD does not re-parse what the last one wrote.
- The dense registers are turned into one byte per register, and back, with
  ``bytes.translate`` and big-integer shifts over the four interleaved register
  streams, and the register-wise maximum of two HLLs is done on big integers in
  parallel lanes; PFCOUNT's histogram is 52 ``bytes.count`` calls.
The results are Redis's, including the order-dependent shape of the sparse
stream (Redis merges adjacent VAL opcodes only near the one it changed).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right

__all__ = [
    "DENSE", "SPARSE", "HllError", "Hll", "count_registers", "dense_add", "estimate", "murmurhash64a", "murmurhash64a_many", "pattern", "registers_max",
]

P = 14
Q = 64 - P
REGISTERS = 1 << P
HEADER_SIZE = 16
DENSE_SIZE = HEADER_SIZE + REGISTERS * 6 // 8
DENSE, SPARSE = 0, 1
ALPHA_INF = 0.721347520444481703680  # 0.5 / ln(2)
_U64 = (1 << 64) - 1
_M = 0xC6A4A7935BD1E995
_SEED = 0xADC83B19
_VAL_MAX_VALUE, _VAL_MAX_LEN, _ZERO_MAX_LEN, _XZERO_MAX_LEN = 32, 4, 64, 16384


class HllError(Exception):
    """A corrupted HLL: the caller answers ``-INVALIDOBJ``."""


# ------------------------------------------------------------------ hashing

def murmurhash64a(data: bytes, seed: int = _SEED) -> int:
    """MurmurHash2, 64-bit, endian-neutral as Redis modified it."""
    length = len(data)
    h = (seed ^ (length * _M)) & _U64
    tail = length - (length & 7)
    for i in range(0, tail, 8):
        k = int.from_bytes(data[i:i + 8], "little")
        k = (k * _M) & _U64
        k ^= k >> 47
        k = (k * _M) & _U64
        h ^= k
        h = (h * _M) & _U64
    rest = length & 7
    if rest:
        h ^= int.from_bytes(data[tail:], "little")
        h = (h * _M) & _U64
    h ^= h >> 47
    h = (h * _M) & _U64
    h ^= h >> 47
    return h


_LANE_BYTES = 16  # a 64-bit hash in a 128-bit lane: a lane's product never reaches the next


def _lanes_of(data: bytes, length: int, count: int, start: int, size: int) -> int:
    """Bytes ``start .. start + size`` of each of the ``count`` elements of ``length``
    bytes joined in ``data``, as one integer of little-endian 128-bit lanes."""
    lanes = bytearray(_LANE_BYTES * count)
    for b in range(size):
        lanes[b::_LANE_BYTES] = data[start + b::length]
    return int.from_bytes(lanes, "little")


def murmurhash64a_many(elements: list[bytes], seed: int = _SEED) -> list[int]:
    """``murmurhash64a`` of each element, the elements of one length hashed together.

    MurmurHash64A is multiplications mod 2^64, shifts and XORs of 64-bit words: done
    on one big integer holding a word of every element in its own 128-bit lane
    (masked back to 64 bits after each step, so no lane spills into the next), each
    step is one C-speed big-integer operation for all elements (PFADD with many
    elements), where the loop of ``murmurhash64a`` costs microseconds per element.
    """
    hashes = [0] * len(elements)
    lengths = set(map(len, elements))
    groups: dict[int, list[int]] = {}
    if len(lengths) == 1:
        groups[lengths.pop()] = list(range(len(elements)))  # the usual case: ids of one format
    else:
        for position, element in enumerate(elements):
            groups.setdefault(len(element), []).append(position)
    m = _M
    for length, positions in groups.items():
        count = len(positions)
        if count < 4:
            for position in positions:
                hashes[position] = murmurhash64a(elements[position], seed)
            continue
        data = b"".join([elements[position] for position in positions])
        mask = int.from_bytes((b"\xff" * 8 + bytes(8)) * count, "little")
        h = ((seed ^ (length * m)) & _U64) * int.from_bytes((b"\x01" + bytes(15)) * count, "little")
        tail = length - (length & 7)
        for start in range(0, tail, 8):
            k = _lanes_of(data, length, count, start, 8) * m & mask
            k = ((k ^ k >> 47) & mask) * m & mask
            h = (h ^ k) * m & mask
        if length & 7:
            h = (h ^ _lanes_of(data, length, count, tail, length & 7)) * m & mask
        h = (h ^ h >> 47) & mask
        h = h * m & mask
        h ^= h >> 47
        words = memoryview(h.to_bytes(_LANE_BYTES * count + 8, "little")).cast("Q")
        for position, value in zip(positions, words[0:2 * count:2]):
            hashes[position] = value
    return hashes


def pattern(element: bytes) -> tuple[int, int]:
    """``hllPatLen``: (register index, run length of zeros + 1) of ``element``."""
    hashed = murmurhash64a(element)
    index = hashed & (REGISTERS - 1)
    hashed = (hashed >> P) | (1 << Q)
    return index, (hashed & -hashed).bit_length()


# ------------------------------------------------------------------ opcodes

_BYTE = [bytes([i]) for i in range(256)]
_NONZERO = re.compile(rb"[^\x00]")


def _val(value: int, run: int) -> bytes:
    return _BYTE[0x80 | (value - 1) << 2 | (run - 1)]


def _zero(run: int) -> bytes:
    """A ZERO opcode for up to 64 registers, an XZERO beyond."""
    if run > _ZERO_MAX_LEN:
        run -= 1
        return bytes((0x40 | run >> 8, run & 0xFF))
    return _BYTE[run - 1]


def _span(op: bytes) -> int:
    first = op[0]
    if first & 0x80:
        return (first & 3) + 1
    if first & 0x40:
        # a stream cut inside an XZERO reads its second byte as 0 (Redis reads the
        # string's terminating NUL there)
        return ((first & 0x3F) << 8 | (op[1] if len(op) > 1 else 0)) + 1
    return first + 1


def _parse_sparse(stream: bytes) -> tuple[list[bytes], list[int]]:
    """Opcodes of a sparse stream and the first register of each (a truncated
    XZERO at the end is kept as one byte, as Redis would read past it)."""
    ops: list[bytes] = []
    starts: list[int] = []
    first = 0
    i, end = 0, len(stream)
    byte = _BYTE
    while i < end:
        b = stream[i]
        starts.append(first)
        if b & 0x80:
            ops.append(byte[b])
            first += (b & 3) + 1
            i += 1
        elif b & 0x40:
            op = stream[i:i + 2]
            ops.append(op)
            first += ((b & 0x3F) << 8 | (op[1] if len(op) > 1 else 0)) + 1
            i += 2
        else:
            ops.append(byte[b])
            first += b + 1
            i += 1
    return ops, starts


# What this module knows of values it wrote, by id of the value (checked by
# identity): a sparse value's opcode lists and byte size, a dense value's register
# histogram. The next command on the same value takes them over instead of
# parsing or counting again (a command that changes the value owns them: nothing
# is shared between two values).
_Cached = tuple[bytes, list[bytes], list[int], int, "list[int] | None"]
_CACHE: dict[int, _Cached] = {}
_CACHE_SIZE = 256


def dense_add(value: bytes, element: bytes) -> bytes | None:
    """``hllAdd`` of one element to a valid dense value: the new value, or None when
    no register changed (then nothing was copied: the 12 KB value is only read).

    The common PFADD (one element into a big HLL) without building an ``Hll``; a
    histogram known for ``value`` moves to the new value, updated.
    """
    hashed = murmurhash64a(element)
    index = hashed & (REGISTERS - 1)
    hashed = (hashed >> P) | (1 << Q)
    count = (hashed & -hashed).bit_length()
    byte, shift = HEADER_SIZE + (index * 6 >> 3), index * 6 & 7
    low = value[byte]
    high = value[byte + 1] if byte + 1 < DENSE_SIZE else 0
    old = ((low >> shift) | (high << (8 - shift))) & 63
    if count <= old:
        return None
    registers = bytearray(value)
    registers[byte] = (low & ~(63 << shift) | count << shift) & 0xFF
    if shift > 2:
        registers[byte + 1] = (high & ~(63 >> (8 - shift)) | count >> (8 - shift)) & 0xFF
    registers[15] |= 0x80  # the cached cardinality is stale
    new = bytes(registers)
    cached = _CACHE.pop(id(value), None)
    if cached is not None and cached[0] is value and cached[4] is not None:
        histogram = cached[4]
        histogram[old] -= 1
        histogram[count] += 1
        if len(_CACHE) >= _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]
        _CACHE[id(new)] = (new, [], [], 0, histogram)
    return new


# ------------------------------------------------------------ dense registers

def _table(f: object) -> bytes:
    return bytes(f(i) & 0xFF for i in range(256))  # type: ignore[operator]


_LOW6 = _table(lambda b: b & 63)
_HIGH2 = _table(lambda b: b >> 6)
_LOW4_UP2 = _table(lambda b: (b & 15) << 2)
_HIGH4 = _table(lambda b: b >> 4)
_LOW2_UP4 = _table(lambda b: (b & 3) << 4)
_HIGH6 = _table(lambda b: b >> 2)
_UP6 = _table(lambda b: b << 6)
_DOWN2 = _table(lambda b: b >> 2)
_UP4 = _table(lambda b: b << 4)
_DOWN4 = _table(lambda b: b >> 4)
_UP2 = _table(lambda b: b << 2)
_STREAM = REGISTERS // 4


def _or(a: bytes, b: bytes) -> bytes:
    """Byte-wise OR of two equal-length strings (big-integer OR: C speed)."""
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(len(a), "little")


def unpack_dense(packed: bytes | bytearray) -> bytearray:
    """12,288 bytes of 6-bit registers (LSB first) -> 16,384 bytes, one per register."""
    b0, b1, b2 = bytes(packed[0::3]), bytes(packed[1::3]), bytes(packed[2::3])
    registers = bytearray(REGISTERS)
    registers[0::4] = b0.translate(_LOW6)
    registers[1::4] = _or(b0.translate(_HIGH2), b1.translate(_LOW4_UP2))
    registers[2::4] = _or(b1.translate(_HIGH4), b2.translate(_LOW2_UP4))
    registers[3::4] = b2.translate(_HIGH6)
    return registers


def pack_dense(registers: bytes | bytearray) -> bytearray:
    """16,384 register bytes (each < 64) -> the 12,288-byte dense form."""
    r0, r1, r2, r3 = (bytes(registers[i::4]) for i in range(4))
    packed = bytearray(REGISTERS * 6 // 8)
    packed[0::3] = _or(r0, r1.translate(_UP6))
    packed[1::3] = _or(r1.translate(_DOWN2), r2.translate(_UP4))
    packed[2::3] = _or(r2.translate(_DOWN4), r3.translate(_UP2))
    return packed


_LANE_HIGH = int.from_bytes(b"\x80" * REGISTERS, "little")
_LANE_ONES = int.from_bytes(b"\x01" * REGISTERS, "little")
_ALL = (1 << (8 * REGISTERS)) - 1


def registers_max(a: bytes | bytearray, b: bytes | bytearray) -> bytes:
    """Register-wise maximum of two 16,384-byte register arrays (values < 128).

    Every byte is a lane of one big integer: (a | 0x80) - b keeps bit 7 of a lane
    exactly where a >= b, and no lane borrows from its neighbour.
    """
    x, y = int.from_bytes(a, "little"), int.from_bytes(b, "little")
    keep = (((x | _LANE_HIGH) - y) & _LANE_HIGH) >> 7
    mask = keep * 0xFF
    return ((x & mask) | (y & ~mask & _ALL)).to_bytes(REGISTERS, "little")


def _dense_get(packed: bytearray, index: int) -> int:
    byte, shift = index * 6 >> 3, index * 6 & 7
    low = packed[byte]
    high = packed[byte + 1] if byte + 1 < len(packed) else 0
    return ((low >> shift) | (high << (8 - shift))) & 63


def _dense_set(packed: bytearray, index: int, value: int) -> bool:
    """``hllDenseSet``: raise register ``index`` to ``value``; True if it changed."""
    byte, shift = index * 6 >> 3, index * 6 & 7
    low = packed[byte]
    high = packed[byte + 1] if byte + 1 < len(packed) else 0
    if value <= ((low >> shift) | (high << (8 - shift))) & 63:
        return False
    packed[byte] = (low & ~(63 << shift) | value << shift) & 0xFF
    if shift > 2:
        packed[byte + 1] = (high & ~(63 >> (8 - shift)) | value >> (8 - shift)) & 0xFF
    return True


# ------------------------------------------------------------------ estimate

def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if previous == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= math.pow(1.0 - x, 2) * y
        if previous == z:
            return z / 3


def estimate(histogram: list[int]) -> int:
    """``hllCount``'s estimator (Ertl's improved raw estimate) from the histogram of
    register values."""
    m = float(REGISTERS)
    z = m * _tau((m - histogram[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += histogram[j]
        z *= 0.5
    z += m * _sigma(histogram[0] / m)
    # llroundl: halves away from zero (the value is never negative); x - floor(x)
    # is exact, x + 0.5 would not be
    raw = ALPHA_INF * m * m / z
    whole = math.floor(raw)
    return int(whole) + (1 if raw - whole >= 0.5 else 0)


def _histogram(registers: bytes | bytearray) -> list[int]:
    data = bytes(registers)
    return [data.count(_BYTE[v]) for v in range(64)]


def count_registers(registers: bytes | bytearray) -> int:
    """The estimate of one byte per register (PFCOUNT of several keys: their union)."""
    return estimate(_histogram(registers))


# ------------------------------------------------------------------ the value

class Hll:
    """One HLL value being read or changed by a command; ``to_bytes()`` stores it."""

    __slots__ = ("header", "dense", "ops", "starts", "size", "histogram")

    def __init__(self, header: bytearray, dense: bytearray | None = None,
                 ops: list[bytes] | None = None, starts: list[int] | None = None, size: int = -1,
                 histogram: list[int] | None = None) -> None:
        self.header = header
        # dense: the packed registers; sparse: the opcodes, their first registers and
        # the stream's length in bytes (for the hll-sparse-max-bytes promotion)
        self.dense = dense
        self.ops = ops if ops is not None else []
        self.starts = starts if starts is not None else []
        self.size = size if size >= 0 else sum(len(op) for op in self.ops)
        # dense only, when known: how many registers hold each value (kept up to date
        # by every register change, so PFCOUNT after PFADD does not count 16,384)
        self.histogram = histogram

    # ---------------------------------------------------------- (de)serialise

    @classmethod
    def new(cls) -> "Hll":
        """``createHLLObject``: sparse, every register zero, cached cardinality 0."""
        header = bytearray(b"HYLL" + bytes([SPARSE]) + bytes(11))
        return cls(header, ops=[_zero(_XZERO_MAX_LEN)], starts=[0])

    @staticmethod
    def valid(value: bytes) -> bool:
        """``isHLLObjectOrReply``'s checks of a string value."""
        if len(value) < HEADER_SIZE or value[:4] != b"HYLL" or value[4] > SPARSE:
            return False
        return value[4] != DENSE or len(value) == DENSE_SIZE

    @classmethod
    def load(cls, value: bytes, for_write: bool = True) -> "Hll":
        """The value of a key that passed ``valid``.

        ``for_write=False`` promises not to change it: the parsed opcodes stay
        cached for the value (a change takes them over, so nothing is shared).
        """
        header = bytearray(value[:HEADER_SIZE])
        cached = _CACHE.pop(id(value), None) if for_write else _CACHE.get(id(value))
        if cached is not None and cached[0] is not value:
            cached = None
        if value[4] == DENSE:
            histogram = cached[4] if cached is not None else None
            if histogram is not None and not for_write:
                histogram = list(histogram)
            return cls(header, dense=bytearray(value[HEADER_SIZE:]), histogram=histogram)
        if cached is not None:
            return cls(header, ops=cached[1], starts=cached[2], size=cached[3])
        ops, starts = _parse_sparse(value[HEADER_SIZE:])
        return cls(header, ops=ops, starts=starts, size=len(value) - HEADER_SIZE)

    def to_bytes(self) -> bytes:
        if self.dense is not None:
            value = bytes(self.header) + bytes(self.dense)
        else:
            value = bytes(self.header) + b"".join(self.ops)
        self.keep(value)
        return value

    def keep(self, value: bytes) -> None:
        """Remember what is known of ``value``, the bytes of this HLL as it is now."""
        if len(_CACHE) >= _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]
        _CACHE[id(value)] = (value, self.ops, self.starts, self.size, self.histogram)

    # ----------------------------------------------------------------- state

    @property
    def encoding(self) -> int:
        return DENSE if self.dense is not None else SPARSE

    def invalidate(self) -> None:
        self.header[15] |= 0x80

    def cached_count(self) -> int | None:
        if self.header[15] & 0x80:
            return None
        return int.from_bytes(self.header[8:16], "little")

    def set_cached_count(self, count: int) -> None:
        self.header[8:16] = count.to_bytes(8, "little")

    # ------------------------------------------------------------- registers

    def registers(self) -> bytes:
        """One byte per register (a sparse stream that is corrupt raises HllError)."""
        if self.dense is not None:
            return bytes(unpack_dense(self.dense))
        registers = bytearray(REGISTERS)
        index = 0
        for op in self.ops:
            first = op[0]
            if first & 0x80:
                run = (first & 3) + 1
                if index + run > REGISTERS:
                    # Redis breaks off here and then checks the count; redis-server
                    # 7.0.15 as Debian ships it (CVE-2025-32023 fix) refuses the value
                    # even when the registers before were exactly all of them
                    raise HllError
                registers[index:index + run] = _BYTE[((first >> 2) & 31) + 1] * run
                index += run
            else:
                index += _span(op)
        if index != REGISTERS:
            raise HllError
        return bytes(registers)

    def count(self) -> int:
        """``hllCount`` (raises HllError for a sparse stream that does not cover
        exactly every register)."""
        if self.dense is not None:
            if self.histogram is None:
                self.histogram = _histogram(unpack_dense(self.dense))
            return estimate(self.histogram)
        histogram = [0] * 64
        index = 0
        for op in self.ops:
            first = op[0]
            if first & 0x80:
                run = (first & 3) + 1
                histogram[((first >> 2) & 31) + 1] += run
            else:
                run = _span(op)
                histogram[0] += run
            index += run
        if index != REGISTERS:
            raise HllError
        return estimate(histogram)

    def to_dense(self) -> bool:
        """``hllSparseToDense``; True if it converted (the header is kept)."""
        if self.dense is not None:
            return False
        registers = self.registers()
        self.dense = pack_dense(registers)
        self.histogram = _histogram(registers)
        self.header[4] = DENSE
        self.ops, self.starts, self.size = [], [], 0
        return True

    def add(self, element: bytes, sparse_max_bytes: int) -> bool:
        """``hllAdd``: True if a register changed."""
        index, run = pattern(element)
        return self.set(index, run, sparse_max_bytes)

    def add_many(self, elements: list[bytes], sparse_max_bytes: int) -> int:
        """``hllAdd`` of each element in order; how many changed a register."""
        updated = 0
        hashes = murmurhash64a_many(elements)
        dense = self.dense
        if dense is not None:
            # hllDenseSet inlined: this loop runs once per element
            histogram = self.histogram
            size = len(dense)
            for hashed in hashes:
                index = hashed & (REGISTERS - 1)
                hashed = (hashed >> P) | (1 << Q)
                count = (hashed & -hashed).bit_length()
                byte, shift = index * 6 >> 3, index * 6 & 7
                low = dense[byte]
                high = dense[byte + 1] if byte + 1 < size else 0
                old = ((low >> shift) | (high << (8 - shift))) & 63
                if count > old:
                    dense[byte] = (low & ~(63 << shift) | count << shift) & 0xFF
                    if shift > 2:
                        dense[byte + 1] = (high & ~(63 >> (8 - shift)) | count >> (8 - shift)) & 0xFF
                    if histogram is not None:
                        histogram[old] -= 1
                        histogram[count] += 1
                    updated += 1
            return updated
        for hashed in hashes:
            index = hashed & (REGISTERS - 1)
            hashed = (hashed >> P) | (1 << Q)
            if self.set(index, (hashed & -hashed).bit_length(), sparse_max_bytes):
                updated += 1
        return updated

    def set(self, index: int, count: int, sparse_max_bytes: int) -> bool:
        if self.dense is not None:
            return self._dense_set(index, count)
        return self._sparse_set(index, count, sparse_max_bytes)

    def _dense_set(self, index: int, count: int) -> bool:
        assert self.dense is not None
        if self.histogram is None:
            return _dense_set(self.dense, index, count)
        old = _dense_get(self.dense, index)
        if not _dense_set(self.dense, index, count):
            return False
        self.histogram[old] -= 1
        self.histogram[count] += 1
        return True

    def merge_max(self, registers: bytes, sparse_max_bytes: int) -> None:
        """PFMERGE's final step: raise every register to ``registers``'s value, in
        register order (in sparse form that may promote to dense on the way)."""
        if self.dense is None:
            for match in _NONZERO.finditer(registers):
                index = match.start()
                self._sparse_set(index, registers[index], sparse_max_bytes)
                if self.dense is not None:
                    break
            else:
                return
        # dense: raising a register is max(), so the ones already set are no matter
        assert self.dense is not None
        merged = registers_max(unpack_dense(self.dense), registers)
        self.dense = pack_dense(merged)
        self.histogram = _histogram(merged)

    def _sparse_set(self, index: int, count: int, sparse_max_bytes: int) -> bool:
        """``hllSparseSet``, step for step (see the module docstring)."""
        if count > _VAL_MAX_VALUE:
            return self._promote(index, count)
        ops, starts = self.ops, self.starts
        i = bisect_right(starts, index) - 1
        if i < 0 or i >= len(ops) or index > starts[i] + _span(ops[i]) - 1:
            raise HllError
        op = ops[i]
        head = op[0]
        first = starts[i]
        span = _span(op)
        if head & 0x80:
            if ((head >> 2) & 31) + 1 >= count:
                return False
            if span == 1:
                ops[i] = _val(count, 1)
                return self._updated(i)
        elif not head & 0x40 and span == 1:
            ops[i] = _val(count, 1)
            return self._updated(i)
        last = first + span - 1
        seq: list[bytes] = []
        seq_starts: list[int] = []
        if head & 0x80:
            value = ((head >> 2) & 31) + 1
            if index != first:
                seq.append(_val(value, index - first))
                seq_starts.append(first)
            seq.append(_val(count, 1))
            seq_starts.append(index)
            if index != last:
                seq.append(_val(value, last - index))
                seq_starts.append(index + 1)
        else:
            if index != first:
                seq.append(_zero(index - first))
                seq_starts.append(first)
            seq.append(_val(count, 1))
            seq_starts.append(index)
            if index != last:
                seq.append(_zero(last - index))
                seq_starts.append(index + 1)
        delta = sum(len(part) for part in seq) - len(op)
        if delta > 0 and HEADER_SIZE + self.size + delta > sparse_max_bytes:
            return self._promote(index, count)
        ops[i:i + 1] = seq
        starts[i:i + 1] = seq_starts
        self.size += delta
        return self._updated(i)

    def _updated(self, i: int) -> bool:
        """Step 4 of ``hllSparseSet``: merge adjacent equal VALs, scanning at most five
        opcodes from the one before the change."""
        ops, starts = self.ops, self.starts
        p = i - 1 if i > 0 else 0
        scan = 5
        while p < len(ops) and scan:
            scan -= 1
            head = ops[p][0]
            if not head & 0x80:
                p += 1
                continue
            if p + 1 < len(ops) and ops[p + 1][0] & 0x80:
                nxt = ops[p + 1][0]
                value = ((head >> 2) & 31) + 1
                if value == ((nxt >> 2) & 31) + 1:
                    run = (head & 3) + (nxt & 3) + 2
                    if run <= _VAL_MAX_LEN:
                        ops[p:p + 2] = [_val(value, run)]
                        del starts[p + 1]
                        self.size -= 1
                        continue
            p += 1
        self.invalidate()
        return True

    def _promote(self, index: int, count: int) -> bool:
        self.to_dense()
        changed = self._dense_set(index, count)
        assert changed
        return True

    def decode(self) -> bytes:
        """PFDEBUG DECODE of a sparse value."""
        words = []
        for op in self.ops:
            head = op[0]
            if head & 0x80:
                words.append(b"v:%d,%d" % (((head >> 2) & 31) + 1, (head & 3) + 1))
            elif head & 0x40:
                words.append(b"Z:%d" % _span(op))
            else:
                words.append(b"z:%d" % (head + 1))
        return b" ".join(words)
