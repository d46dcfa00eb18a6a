"""The RDB file format (``src/rdb.c``, ``src/rdb.h`` of Redis 7.0/7.2), sans-I/O.

Writing produces what redis-server 7.0.15 writes (RDB version 10): the ``REDIS0010``
magic, the aux fields (redis-ver, redis-bits, ctime, used-mem, aof-base), per
non-empty db a SELECTDB and a RESIZEDB, then each key (EXPIRETIME_MS first when it
has a TTL), EOF, and the CRC-64 of everything before it (zero with
``rdbchecksum no``). Encodings chosen as Redis chooses them for a value built in
one go:

=======  ============================================================
string   integer-encoded when it spells an int32, LZF over 20 bytes
list     quicklist 2: listpack nodes of at most 8 KB (list-max-listpack-size -2)
set      intset (<= 512 integers), else a plain set
hash     listpack (<= 128 fields, each <= 64 bytes), else a plain hash
zset     listpack (<= 128 members, each <= 64 bytes), else ZSET_2 with binary doubles
stream   STREAM_LISTPACKS_2: nodes of 100 entries, no consumer groups
=======  ============================================================

Reading accepts RDB versions 1 to 11: every type above, and what older and newer
servers write: zipmap and ziplist hashes, ziplist sorted sets and lists,
quicklists of ziplists, plain lists and string-score sorted sets, 7.2's set
listpacks (type 20) and STREAM_LISTPACKS_3 (type 21), seconds expiries, LRU/LFU
opcodes (skipped). Loading is all-or-nothing: ``load_rdb`` parses into fresh
dicts and only swaps them into the broker once the whole file, checksum
included, has been read. What fanout cannot hold (module values, function
libraries; consumer groups in a build without ``broker.stream_groups``) is
refused with an error naming the key.
"""

from __future__ import annotations

import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterable

from broker.persistence import intset, listpack, lzf, ziplist, zipmap
from broker.persistence.crc64 import crc64
from broker.stream import Stream, estimate_distance
from broker.stream_groups import ConsumerGroup, Nack
from broker.zset import ZSet

__all__ = [
    "RDB_VERSION", "RdbError", "LoadReport", "dump_rdb", "load_rdb", "parse_rdb", "dump_value",
    "load_value", "DumpError",
]

RDB_VERSION = 10
MAX_READ_VERSION = 11

# Object types (rdb.h)
T_STRING, T_LIST, T_SET, T_ZSET, T_HASH, T_ZSET_2, T_MODULE, T_MODULE_2 = 0, 1, 2, 3, 4, 5, 6, 7
T_HASH_ZIPMAP, T_LIST_ZIPLIST, T_SET_INTSET, T_ZSET_ZIPLIST, T_HASH_ZIPLIST = 9, 10, 11, 12, 13
T_LIST_QUICKLIST, T_STREAM_LISTPACKS, T_HASH_LISTPACK, T_ZSET_LISTPACK = 14, 15, 16, 17
T_LIST_QUICKLIST_2, T_STREAM_LISTPACKS_2, T_SET_LISTPACK, T_STREAM_LISTPACKS_3 = 18, 19, 20, 21

# Opcodes
OP_FUNCTION2, OP_FUNCTION, OP_MODULE_AUX, OP_IDLE, OP_FREQ, OP_AUX = 245, 246, 247, 248, 249, 250
OP_RESIZEDB, OP_EXPIRETIME_MS, OP_EXPIRETIME, OP_SELECTDB, OP_EOF = 251, 252, 253, 254, 255

# Encoding thresholds: redis-server 7.0's compiled defaults (config.c).
HASH_LISTPACK_ENTRIES = 512  # config.c default (redis.conf says 128)
HASH_LISTPACK_VALUE = 64
SET_INTSET_ENTRIES = 512
ZSET_LISTPACK_ENTRIES = 128
ZSET_LISTPACK_VALUE = 64
LIST_NODE_BYTES = 8192  # list-max-listpack-size -2
STREAM_NODE_ENTRIES = 100  # stream-node-max-entries
# Quicklist node containers (quicklist.h)
_NODE_PLAIN, _NODE_PACKED = 1, 2
# Elements at least this big get a node of their own (quicklist packed_threshold).
_PACKED_THRESHOLD = 1 << 30
# Stream entry flags (t_stream.c)
_FLAG_DELETED, _FLAG_SAMEFIELDS = 1, 2

_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1


class RdbError(ValueError):
    """An RDB file (or DUMP payload) fanout cannot load; ``offset`` is where."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message if offset is None else f"{message} (at offset {offset})")
        self.offset = offset
        self.reason = message


class DumpError(RdbError):
    """A DUMP payload whose footer (version, checksum) is wrong."""


@dataclass
class LoadReport:
    """What a load found: counts per db, the aux fields, the format version."""

    version: int = 0
    keys: int = 0
    expired_skipped: int = 0
    per_db: dict[int, int] = field(default_factory=dict)
    aux: dict[bytes, bytes] = field(default_factory=dict)
    size: int = 0
    checksum_checked: bool = False
    # the code of each function library in the file (loaded by whoever installs the data)
    functions: list[bytes] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Writing


def _length(n: int) -> bytes:
    """``rdbSaveLen``: 6-bit, 14-bit, 32-bit or 64-bit big-endian length."""
    if n < 64:
        return bytes((n,))
    if n < 16384:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + struct.pack(">I", n)
    return b"\x81" + struct.pack(">Q", n)


# Lengths below 64 are most keys' and values' lengths: one table lookup.
_LEN = [bytes((n,)) for n in range(64)]


def _int_encoded(value: bytes) -> bytes | None:
    """``rdbTryIntegerEncoding``: an int32 spelled canonically, as 1, 2 or 4 bytes."""
    number = listpack.as_int(value)
    if number is None:
        return None
    if -128 <= number <= 127:
        return b"\xc0" + struct.pack("<b", number)
    if -32768 <= number <= 32767:
        return b"\xc1" + struct.pack("<h", number)
    if _INT32_MIN <= number <= _INT32_MAX:
        return b"\xc2" + struct.pack("<i", number)
    return None


def _string(value: bytes, compress: bool) -> bytes:
    """``rdbSaveRawString``: integer encoding for short strings, LZF for long ones."""
    size = len(value)
    if size <= 11:
        if size and value[0] in b"-0123456789":
            encoded = _int_encoded(value)
            if encoded is not None:
                return encoded
        return _LEN[size] + value
    if compress and size > 20:
        packed = lzf.compress(value)
        if packed is not None:
            return b"\xc3" + _length(len(packed)) + _length(size) + packed
    return (_LEN[size] if size < 64 else _length(size)) + value


def _type_and_body(value: Any, compress: bool) -> tuple[int, bytes]:
    """The RDB type byte and serialized body of one value (``rdbSaveObject``)."""
    kind = type(value)
    if kind is bytes:
        return T_STRING, _string(value, compress)
    if kind is dict:
        return _hash(value, compress)
    if kind is set:
        return _set(value, compress)
    if kind is deque:
        return T_LIST_QUICKLIST_2, _list(value, compress)
    if kind is ZSet:
        return _zset(value, compress)
    if kind is Stream:
        return T_STREAM_LISTPACKS_2, _stream(value, compress)
    raise TypeError(f"cannot serialize a {kind.__name__}")


def _hash(value: dict[bytes, bytes], compress: bool) -> tuple[int, bytes]:
    if len(value) <= HASH_LISTPACK_ENTRIES and all(
            len(f) <= HASH_LISTPACK_VALUE and len(v) <= HASH_LISTPACK_VALUE for f, v in value.items()):
        flat: list[bytes] = []
        for item in value.items():
            flat += item
        return T_HASH_LISTPACK, _string(listpack.encode(flat), compress)
    parts = [_length(len(value))]
    for f, v in value.items():
        parts.append(_string(f, compress))
        parts.append(_string(v, compress))
    return T_HASH, b"".join(parts)


def _set(value: set[bytes], compress: bool) -> tuple[int, bytes]:
    if len(value) <= SET_INTSET_ENTRIES:
        numbers = [listpack.as_int(member) for member in value]
        if None not in numbers:
            return T_SET_INTSET, _string(intset.encode(numbers), compress)  # type: ignore[arg-type]
    return T_SET, _length(len(value)) + b"".join([_string(m, compress) for m in value])


def _list(value: deque[bytes], compress: bool) -> bytes:
    nodes: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for item in value:
        if len(item) >= _PACKED_THRESHOLD:
            if chunk:
                nodes.append(b"\x02" + _string(listpack.encode(chunk), compress))
                chunk, size = [], 0
            nodes.append(b"\x01" + _string(item, compress))
            continue
        # ~ the entry's encoded size; a node is closed before it would pass 8 KB
        grow = len(item) + 11
        if chunk and (size + grow > LIST_NODE_BYTES or len(chunk) >= 65535):
            nodes.append(b"\x02" + _string(listpack.encode(chunk), compress))
            chunk, size = [], 0
        chunk.append(item)
        size += grow
    if chunk:
        nodes.append(b"\x02" + _string(listpack.encode(chunk), compress))
    return _length(len(nodes)) + b"".join(nodes)


def _score_entry(score: float) -> bytes | int:
    # zzlInsertAt stores d2string(score) and lpAppend keeps an integral one as an int
    if score.is_integer() and -(1 << 63) <= score < (1 << 63):
        return int(score)
    return repr(score).encode()


def _zset(value: ZSet, compress: bool) -> tuple[int, bytes]:
    scores = value.scores
    members = [key[9:] for key in value.order]
    if len(scores) <= ZSET_LISTPACK_ENTRIES and all(len(m) <= ZSET_LISTPACK_VALUE for m in scores):
        flat: list[bytes | int] = []
        for member in members:
            flat.append(member)
            flat.append(_score_entry(scores[member]))
        return T_ZSET_LISTPACK, _string(listpack.encode(flat), compress)
    # Redis writes the skiplist from the tail, so a load inserts at the head: O(1) each.
    pack = struct.Struct("<d").pack
    parts = [_length(len(scores))]
    for member in reversed(members):
        parts.append(_string(member, compress))
        parts.append(pack(scores[member]))
    return T_ZSET_2, b"".join(parts)


def _raw_id(stream_id: tuple[int, int]) -> bytes:
    return struct.pack(">QQ", *stream_id)


def _stream(value: Stream, compress: bool) -> bytes:
    ids, values = value.ids, value.values
    nodes: list[bytes] = []
    for start in range(0, len(ids), STREAM_NODE_ENTRIES):
        stop = min(start + STREAM_NODE_ENTRIES, len(ids))
        master_ms, master_seq = ids[start]
        master_fields = values[start][0::2]
        nfields = len(master_fields)
        lp: list[bytes | int] = [stop - start, 0, nfields, *master_fields, 0]
        for i in range(start, stop):
            ms, seq = ids[i]
            pairs = values[i]
            fields = pairs[0::2]
            if fields == master_fields:
                lp += [_FLAG_SAMEFIELDS, ms - master_ms, seq - master_seq, *pairs[1::2], nfields + 3]
            else:
                lp += [0, ms - master_ms, seq - master_seq, len(fields), *pairs, 2 * len(fields) + 4]
        nodes.append(_string(_raw_id(ids[start]), False) + _string(listpack.encode(lp), compress))
    first = ids[0] if ids else (0, 0)
    groups = getattr(value, "groups", None)
    tail = [len(ids), *value.last_id, *first, *value.max_deleted_id, value.entries_added, len(groups or ())]
    out = [_length(len(nodes)), *nodes, *[_length(n) for n in tail]]
    if groups:
        out += _groups(groups, compress)
    return b"".join(out)


_MS_TIME = struct.Struct("<q").pack  # rdbSaveMillisecondTime


def _groups(groups: dict[bytes, Any], compress: bool) -> list[bytes]:
    """Consumer groups as 7.0 writes them (``rdbSaveStreamPEL``, ``rdbSaveStreamConsumers``):
    by name, each with its last id, entries-read, the global PEL with delivery
    times and counts, then each consumer with its seen-time and its PEL's ids.
    The model is ``broker.stream_groups``'s (ConsumerGroup, Consumer, Nack)."""
    out: list[bytes] = []
    for name in sorted(groups):
        group = groups[name]
        out.append(_string(name, compress) + _length(group.last_id[0]) + _length(group.last_id[1])
                   + _length(group.entries_read & 0xFFFFFFFFFFFFFFFF))  # -1 is stored as 2^64-1
        out.append(_length(len(group.pel)))
        for stream_id, nack in group.pel.items():
            out.append(_raw_id(stream_id) + _MS_TIME(nack.delivery_time) + _length(nack.delivery_count))
        out.append(_length(len(group.consumers)))
        for consumer_name in sorted(group.consumers):
            consumer = group.consumers[consumer_name]
            out.append(_string(consumer_name, compress) + _MS_TIME(consumer.seen_time) + _length(len(consumer.pel)))
            out.append(b"".join([_raw_id(stream_id) for stream_id in consumer.pel]))
    return out


class _Sink:
    """Buffers output, writes it in large chunks and keeps the running CRC."""

    def __init__(self, out: BinaryIO, checksum: bool) -> None:
        self.out = out
        self.checksum = checksum
        self.crc = 0
        self.parts: list[bytes] = []
        self.pending = 0
        self.written = 0

    def add(self, data: bytes) -> None:
        self.parts.append(data)
        self.pending += len(data)
        if self.pending >= 1 << 20:
            self.flush()

    def flush(self) -> None:
        if not self.parts:
            return
        data = b"".join(self.parts)
        self.parts = []
        self.pending = 0
        if self.checksum:
            self.crc = crc64(data, self.crc)
        self.out.write(data)
        self.written += len(data)


def _aux(key: bytes, value: bytes) -> bytes:
    return b"\xfa" + _string(key, False) + _string(value, False)


def dump_rdb(broker: Any, out: BinaryIO, *, aof_base: bool = False, compress: bool | None = None,
             checksum: bool | None = None, now_ms: int | None = None, used_mem: int = 0) -> int:
    """Write the whole dataset of ``broker`` (all 16 dbs) to ``out`` as an RDB file.

    Args:
        broker: anything with ``dbs`` (keyspaces with ``data`` and ``expires``),
            ``version`` and ``config`` (``rdbcompression``/``rdbchecksum``).
        out: a binary file; written in chunks of about 1 MB.
        aof_base: the ``aof-base`` aux field: 1 for an AOF's RDB preamble.
        compress, checksum: override the broker's rdbcompression/rdbchecksum.
        now_ms: the time for the ``ctime`` aux field (default: now).
        used_mem: the ``used-mem`` aux field.

    Returns:
        The number of bytes written. Cost O(size of the dataset).
    """
    config = getattr(broker, "config", None)
    if compress is None:
        compress = config is None or config.get("rdbcompression") == "yes"
    if checksum is None:
        checksum = config is None or config.get("rdbchecksum") == "yes"
    sink = _Sink(out, checksum)
    ctime = (now_ms if now_ms is not None else int(time.time() * 1000)) // 1000
    sink.add(b"REDIS%04d" % RDB_VERSION)
    sink.add(_aux(b"redis-ver", str(getattr(broker, "version", "7.0.15")).encode()))
    sink.add(_aux(b"redis-bits", b"64"))
    sink.add(_aux(b"ctime", b"%d" % ctime))
    sink.add(_aux(b"used-mem", b"%d" % used_mem))
    sink.add(_aux(b"aof-base", b"1" if aof_base else b"0"))
    for code in function_libraries(broker):  # rdbSaveFunctions: one opcode per library
        sink.add(b"\xf5" + _string(code, compress))
    for db in broker.dbs:
        data, expires = db.data, db.expires
        if not data:
            continue
        sink.add(b"\xfe" + _length(db.index) + b"\xfb" + _length(len(data)) + _length(len(expires)))
        add = sink.add
        for key, value in data.items():
            if expires:
                deadline = expires.get(key)
                if deadline is not None:
                    add(b"\xfc" + struct.pack("<q", deadline))
            kind = type(value)
            if kind is bytes:  # the commonest value, inlined
                add(b"\x00" + _string(key, compress) + _string(value, compress))
            else:
                rdb_type, body = _type_and_body(value, compress)
                add(bytes((rdb_type,)) + _string(key, compress) + body)
    sink.add(b"\xff")
    sink.flush()
    out.write(struct.pack("<Q", sink.crc if checksum else 0))
    return sink.written + 8


def function_libraries(broker: Any) -> list[bytes]:
    """The code of every FUNCTION library of ``broker`` (none without scripting)."""
    scripting = getattr(broker, "scripting", None)
    if scripting is None:
        return []
    return [library.code for library in scripting.functions.libraries.values()]


def scripting_available() -> bool:
    """Whether this build can load function libraries (``broker.scripting``)."""
    try:
        import broker.scripting  # noqa: F401
    except ImportError:
        return False
    return True


def load_function_libraries(broker: Any, codes: list[bytes]) -> None:
    """FUNCTION LOAD each library found in a file, replacing any of the same name.

    Raises:
        RdbError: a library that does not load (its error message included).
    """
    if not codes:
        return
    from broker.resp import CommandError
    from broker.scripting import scripting_of

    functions = scripting_of(broker).functions
    for code in codes:
        try:
            functions.load(code, True)
        except CommandError as exc:
            raise RdbError(f"a function library in the file does not load: {exc.message}") from None


def dump_value(value: Any, compress: bool = True) -> bytes:
    """The DUMP payload of ``value``: type byte, body, RDB version (u16 LE), CRC-64 (LE)."""
    rdb_type, body = _type_and_body(value, compress)
    payload = bytes((rdb_type,)) + body + struct.pack("<H", RDB_VERSION)
    return payload + struct.pack("<Q", crc64(payload))


# ---------------------------------------------------------------------------
# Reading


class _Reader:
    """A cursor over the bytes of a file or payload; every read checks bounds."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, end: int | None = None) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data) if end is None else end

    def fail(self, message: str) -> RdbError:
        return RdbError(message, self.pos)

    def take(self, n: int) -> bytes:
        pos = self.pos
        if pos + n > self.end:
            raise self.fail("unexpected end of file")
        self.pos = pos + n
        return self.data[pos:pos + n]

    def byte(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise self.fail("unexpected end of file")
        self.pos = pos + 1
        return self.data[pos]

    def length(self) -> int:
        """``rdbLoadLen`` of a plain length (an encoded-string marker is an error)."""
        n, encoded = self.length_or_encoding()
        if encoded:
            raise self.fail("unexpected string encoding where a length was expected")
        return n

    def length_or_encoding(self) -> tuple[int, bool]:
        first = self.byte()
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return ((first & 0x3F) << 8) | self.byte(), False
        if kind == 3:
            return first & 0x3F, True
        if first == 0x80:
            return struct.unpack(">I", self.take(4))[0], False
        if first == 0x81:
            return struct.unpack(">Q", self.take(8))[0], False
        raise self.fail(f"unknown length encoding {first}")

    def string(self) -> bytes:
        """``rdbGenericLoadStringObject``: raw, integer-encoded or LZF."""
        n, encoded = self.length_or_encoding()
        if not encoded:
            return self.take(n)
        if n == 0:
            return b"%d" % struct.unpack("<b", self.take(1))[0]
        if n == 1:
            return b"%d" % struct.unpack("<h", self.take(2))[0]
        if n == 2:
            return b"%d" % struct.unpack("<i", self.take(4))[0]
        if n == 3:
            packed_len = self.length()
            size = self.length()
            start = self.pos
            packed = self.take(packed_len)
            try:
                return lzf.decompress(packed, size)
            except ValueError:
                raise RdbError("invalid LZF compressed string", start) from None
        raise self.fail(f"unknown string encoding {n}")

    def double_text(self) -> float:
        """The old string form of a score (``rdbLoadDoubleValue``)."""
        n = self.byte()
        if n == 253:
            return float("nan")
        if n == 254:
            return float("inf")
        if n == 255:
            return float("-inf")
        try:
            return float(self.take(n))
        except ValueError:
            raise self.fail("invalid double value") from None

    def double_binary(self) -> float:
        return struct.unpack("<d", self.take(8))[0]  # type: ignore[no-any-return]


def _blob(reader: _Reader, decode: Any, what: str) -> list[Any]:
    start = reader.pos
    blob = reader.string()
    try:
        return decode(blob)  # type: ignore[no-any-return]
    except (ValueError, struct.error, IndexError) as exc:
        raise RdbError(f"invalid {what} ({exc})", start) from None


def _as_bytes(items: Iterable[bytes | int]) -> list[bytes]:
    return [v if type(v) is bytes else b"%d" % v for v in items]  # type: ignore[misc]


def _pairs_to_dict(flat: list[bytes], reader: _Reader, start: int, key: bytes) -> dict[bytes, bytes]:
    if len(flat) % 2:
        raise RdbError(f"odd number of elements in the hash of key {key!r}", start)
    out = dict(zip(flat[0::2], flat[1::2]))
    if len(out) != len(flat) // 2:
        raise RdbError(f"duplicate field in the hash of key {key!r}", start)
    return out


def _zset_from_flat(flat: list[bytes | int], start: int, key: bytes) -> ZSet:
    if len(flat) % 2:
        raise RdbError(f"odd number of elements in the sorted set of key {key!r}", start)
    items = []
    for i in range(0, len(flat), 2):
        member = flat[i]
        score = flat[i + 1]
        try:
            value = float(score)
        except ValueError:
            raise RdbError(f"invalid score in the sorted set of key {key!r}", start) from None
        if value != value:
            raise RdbError(f"NaN score in the sorted set of key {key!r}", start)
        items.append((member if type(member) is bytes else b"%d" % member, value))  # type: ignore[str-format]
    zset = ZSet(items)
    if len(zset) != len(items):
        raise RdbError(f"duplicate member in the sorted set of key {key!r}", start)
    return zset


def _read_stream(reader: _Reader, rdb_type: int, key: bytes) -> Stream:
    stream = Stream()
    ids, values = stream.ids, stream.values
    nodes = reader.length()
    for _ in range(nodes):
        start = reader.pos
        node_key = reader.string()
        if len(node_key) != 16:
            raise RdbError(f"stream node key of key {key!r} is not a 128-bit id", start)
        master_ms, master_seq = struct.unpack(">QQ", node_key)
        lp_start = reader.pos
        lp = _blob(reader, listpack.decode, "stream listpack")
        if not lp:
            raise RdbError(f"empty listpack inside the stream of key {key!r}", lp_start)
        try:
            count, deleted, nfields = lp[0], lp[1], lp[2]
            master_fields = _as_bytes(lp[3:3 + nfields])
            i = 4 + nfields
            for _ in range(count + deleted):  # type: ignore[operator]
                flags = lp[i]
                entry_id = (master_ms + lp[i + 1], master_seq + lp[i + 2])  # type: ignore[operator]
                i += 3
                if flags & _FLAG_SAMEFIELDS:  # type: ignore[operator]
                    vals = _as_bytes(lp[i:i + nfields])  # type: ignore[operator]
                    i += nfields  # type: ignore[operator]
                    pairs = [x for pair in zip(master_fields, vals) for x in pair]
                else:
                    n = lp[i]
                    pairs = _as_bytes(lp[i + 1:i + 1 + 2 * n])  # type: ignore[operator]
                    i += 1 + 2 * n  # type: ignore[operator]
                i += 1  # lp-count
                if not flags & _FLAG_DELETED:  # type: ignore[operator]
                    if ids and entry_id <= ids[-1]:
                        raise ValueError("entry ids out of order")
                    ids.append(entry_id)
                    values.append(pairs)
        except (IndexError, TypeError, ValueError) as exc:
            raise RdbError(f"corrupt stream listpack in key {key!r} ({exc})", lp_start) from None
    length = reader.length()
    stream.last_id = (reader.length(), reader.length())
    if rdb_type >= T_STREAM_LISTPACKS_2:
        reader.length(), reader.length()  # first id: ours is the first entry's
        stream.max_deleted_id = (reader.length(), reader.length())
        stream.entries_added = reader.length()
    else:
        stream.entries_added = len(ids)
    if length != len(ids):
        raise reader.fail(f"stream of key {key!r} says {length} entries, holds {len(ids)}")
    groups = reader.length()
    if groups:
        _read_groups(reader, rdb_type, key, stream, groups)
    return stream


def _read_groups(reader: _Reader, rdb_type: int, key: bytes, stream: Stream, count: int) -> None:
    """The consumer groups of a stream into ``broker.stream_groups``'s model."""
    groups: dict[bytes, Any] = {}
    for _ in range(count):
        start = reader.pos
        name = reader.string()
        last_id = (reader.length(), reader.length())
        if rdb_type >= T_STREAM_LISTPACKS_2:
            entries_read = reader.length()
            if entries_read >= 1 << 63:
                entries_read -= 1 << 64  # -1 (unknown) is stored as 2^64-1
        else:
            entries_read = estimate_distance(stream, last_id)
        if name in groups:
            raise RdbError(f"duplicated consumer group name {name!r} in key {key!r}", start)
        group = groups[name] = ConsumerGroup(last_id, entries_read)
        for _ in range(reader.length()):
            stream_id = struct.unpack(">QQ", reader.take(16))
            delivery_time = struct.unpack("<q", reader.take(8))[0]
            if stream_id in group.pel:
                raise reader.fail(f"duplicated global PEL entry in key {key!r}")
            group.pel[stream_id] = Nack(None, delivery_time, reader.length())
        for _ in range(reader.length()):
            consumer_name = reader.string()
            seen = struct.unpack("<q", reader.take(8))[0]
            # 7.2 (type 21) stores active-time next; older files leave it as seen-time, as 7.2 does
            active = struct.unpack("<q", reader.take(8))[0] if rdb_type == T_STREAM_LISTPACKS_3 else seen
            consumer = group.create_consumer(consumer_name, seen)
            if consumer is None:
                raise reader.fail(f"duplicate stream consumer {consumer_name!r} in key {key!r}")
            consumer.active_time = active
            for _ in range(reader.length()):
                stream_id = struct.unpack(">QQ", reader.take(16))
                nack = group.pel.get(stream_id)
                if nack is None:
                    raise reader.fail(f"consumer entry not found in group global PEL in key {key!r}")
                if stream_id in consumer.pel:
                    raise reader.fail(f"duplicated consumer PEL entry in key {key!r}")
                nack.consumer = consumer
                consumer.pel[stream_id] = nack
    stream.groups = groups  # type: ignore[attr-defined]


def read_value(reader: _Reader, rdb_type: int, key: bytes) -> Any:
    """One value of type ``rdb_type`` (``rdbLoadObject``); None for an empty one
    (Redis skips empty keys with a warning)."""
    start = reader.pos
    if rdb_type == T_STRING:
        return reader.string()
    if rdb_type == T_LIST:
        return deque(reader.string() for _ in range(reader.length())) or None
    if rdb_type == T_SET:
        n = reader.length()
        members = {reader.string() for _ in range(n)}
        if len(members) != n:
            raise RdbError(f"duplicate set member in key {key!r}", start)
        return members or None
    if rdb_type in (T_ZSET, T_ZSET_2):
        n = reader.length()
        items = []
        for _ in range(n):
            member = reader.string()
            score = reader.double_binary() if rdb_type == T_ZSET_2 else reader.double_text()
            if score != score:
                raise RdbError(f"NaN score in the sorted set of key {key!r}", start)
            items.append((member, score))
        zset = ZSet(items)
        if len(zset) != n:
            raise RdbError(f"duplicate member in the sorted set of key {key!r}", start)
        return zset or None
    if rdb_type == T_HASH:
        n = reader.length()
        flat = []
        for _ in range(2 * n):
            flat.append(reader.string())
        return _pairs_to_dict(flat, reader, start, key) or None
    if rdb_type == T_HASH_ZIPMAP:
        pairs = _blob(reader, zipmap.decode, "zipmap")
        out = dict(pairs)
        if len(out) != len(pairs):
            raise RdbError(f"duplicate field in the hash of key {key!r}", start)
        return out or None
    if rdb_type in (T_HASH_ZIPLIST, T_HASH_LISTPACK):
        decode = ziplist.decode if rdb_type == T_HASH_ZIPLIST else listpack.decode
        flat = _as_bytes(_blob(reader, decode, "ziplist" if rdb_type == T_HASH_ZIPLIST else "listpack"))
        return _pairs_to_dict(flat, reader, start, key) or None
    if rdb_type == T_SET_INTSET:
        numbers = _blob(reader, intset.decode, "intset")
        return {b"%d" % n for n in numbers} or None
    if rdb_type == T_SET_LISTPACK:
        flat = _as_bytes(_blob(reader, listpack.decode, "listpack"))
        members = set(flat)
        if len(members) != len(flat):
            raise RdbError(f"duplicate set member in key {key!r}", start)
        return members or None
    if rdb_type in (T_ZSET_ZIPLIST, T_ZSET_LISTPACK):
        decode = ziplist.decode if rdb_type == T_ZSET_ZIPLIST else listpack.decode
        flat = _blob(reader, decode, "ziplist" if rdb_type == T_ZSET_ZIPLIST else "listpack")
        return _zset_from_flat(flat, start, key) or None
    if rdb_type == T_LIST_ZIPLIST:
        return deque(_as_bytes(_blob(reader, ziplist.decode, "ziplist"))) or None
    if rdb_type == T_LIST_QUICKLIST:
        items: deque[bytes] = deque()
        for _ in range(reader.length()):
            items.extend(_as_bytes(_blob(reader, ziplist.decode, "ziplist")))
        return items or None
    if rdb_type == T_LIST_QUICKLIST_2:
        items = deque()
        for _ in range(reader.length()):
            container = reader.length()
            if container == _NODE_PLAIN:
                items.append(reader.string())
            elif container == _NODE_PACKED:
                items.extend(_as_bytes(_blob(reader, listpack.decode, "listpack")))
            else:
                raise reader.fail(f"quicklist node container {container} in key {key!r}")
        return items or None
    if rdb_type in (T_STREAM_LISTPACKS, T_STREAM_LISTPACKS_2, T_STREAM_LISTPACKS_3):
        return _read_stream(reader, rdb_type, key)
    if rdb_type in (T_MODULE, T_MODULE_2):
        module_id = reader.length()
        name = _module_name(module_id)
        raise RdbError(f"key {key!r} holds a value of module type '{name}', which fanout cannot load", start)
    raise RdbError(f"unknown RDB value type {rdb_type} for key {key!r}", start - 1)


_MODULE_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _module_name(module_id: int) -> str:
    """The 9-letter module type name packed in the top 54 bits of its id."""
    return "".join(_MODULE_CHARSET[(module_id >> (64 - 6 * (i + 1))) & 63] for i in range(9))


def parse_rdb(data: bytes, *, now_ms: int | None = None, num_dbs: int = 16,
              skip_expired: bool = True, functions: Any = None,
              progress: Any = None) -> tuple[list[dict[bytes, Any]], list[dict[bytes, int]], LoadReport]:
    """Parse a whole RDB file into fresh dicts (touching no broker).

    Args:
        data: the file's bytes.
        now_ms: keys whose deadline has passed are skipped, as a Redis master
            does on load (default: now).
        skip_expired: False keeps them (an AOF preamble does).
        functions: a callable taking a function library's code (RDB_OPCODE_FUNCTION2),
            or None to refuse files that hold libraries.
        progress: called as ``progress(keys, offset)`` every 16,384 keys.

    Returns:
        (data per db, expires per db, report).

    Raises:
        RdbError: with the offset of the first thing that is wrong.
    """
    if now_ms is None:
        now_ms = int(time.time() * 1000)
    reader = _Reader(data)
    report = LoadReport(size=len(data))
    magic = reader.take(9) if len(data) >= 9 else b""
    if magic[:5] != b"REDIS" or not magic[5:].isdigit():
        raise RdbError("wrong signature trying to load DB from file", 0)
    version = int(magic[5:])
    if not 1 <= version <= MAX_READ_VERSION:
        raise RdbError(f"can't handle RDB format version {version}", 5)
    report.version = version
    dbs: list[dict[bytes, Any]] = [{} for _ in range(num_dbs)]
    expires: list[dict[bytes, int]] = [{} for _ in range(num_dbs)]
    db_index = 0
    deadline: int | None = None
    while True:
        op_start = reader.pos
        op = reader.byte()
        if op == OP_EOF:
            break
        if op == OP_EXPIRETIME_MS:
            deadline = struct.unpack("<q", reader.take(8))[0]
            continue
        if op == OP_EXPIRETIME:
            deadline = struct.unpack("<i", reader.take(4))[0] * 1000
            continue
        if op == OP_SELECTDB:
            db_index = reader.length()
            if db_index >= num_dbs:
                raise RdbError(f"FATAL: Data file was created with a Redis server configured to handle "
                               f"more than {num_dbs} databases. Exiting", op_start)
            continue
        if op == OP_RESIZEDB:
            reader.length(), reader.length()
            continue
        if op == OP_AUX:
            name = reader.string()
            report.aux[name] = reader.string()
            continue
        if op == OP_IDLE:
            reader.length()
            continue
        if op == OP_FREQ:
            reader.byte()
            continue
        if op == OP_MODULE_AUX:
            module_id = reader.length()
            raise RdbError(f"the file holds aux data of module '{_module_name(module_id)}', "
                           "which fanout cannot load", op_start)
        if op == OP_FUNCTION:
            raise RdbError("the file holds a function library in the pre-release 7.0 format", op_start)
        if op == OP_FUNCTION2:
            code = reader.string()
            if functions is None:
                raise RdbError("the file holds a function library (FUNCTION LOAD), and this fanout build "
                               "has no scripting to load it into", op_start)
            functions(code)
            continue
        key = reader.string()
        value = read_value(reader, op, key)
        if value is None:  # an empty container: Redis skips it with a warning
            deadline = None
            continue
        if skip_expired and deadline is not None and deadline < now_ms:
            report.expired_skipped += 1
            deadline = None
            continue
        db = dbs[db_index]
        if key in db:
            raise RdbError(f"duplicated key {key!r} in DB {db_index}", op_start)
        db[key] = value
        if deadline is not None:
            expires[db_index][key] = deadline
            deadline = None
        report.keys += 1
        report.per_db[db_index] = report.per_db.get(db_index, 0) + 1
        if progress is not None and not report.keys & 16383:
            progress(report.keys, reader.pos)
    if version >= 5:
        end = reader.pos
        stored = reader.take(8)
        expected = struct.unpack("<Q", stored)[0]
        if expected:
            actual = crc64(bytes(data[:end]))
            if actual != expected:
                raise RdbError("wrong RDB checksum expected: (%x) got: (%x)" % (expected, actual), end)
            report.checksum_checked = True
    return dbs, expires, report


def load_rdb(broker: Any, data: bytes | BinaryIO, *, skip_expired: bool = True,
             functions: Any = None) -> LoadReport:
    """Replace ``broker``'s whole dataset with the RDB in ``data``, or change nothing.

    The file is parsed completely (checksum included) into new dicts first; only
    then are the keyspaces swapped in, so a bad file never leaves a half-loaded
    dataset.

    Raises:
        RdbError: the file is not one fanout can load; the broker is untouched.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        data = data.read()
    codes: list[bytes] = []
    if functions is None and scripting_available():
        functions = codes.append
    dbs, expires, report = parse_rdb(bytes(data), now_ms=broker.clock_ms(), num_dbs=len(broker.dbs),
                                     skip_expired=skip_expired, functions=functions)
    load_function_libraries(broker, codes)  # before the swap: a library that fails changes no key
    for keyspace, new_data, new_expires in zip(broker.dbs, dbs, expires):
        keyspace.flush()
        keyspace.data.update(new_data)
        keyspace.loaded()
        for key, deadline in new_expires.items():
            keyspace.set_expire(key, deadline)
    return report


def load_value(payload: bytes, key: bytes = b"") -> Any:
    """The value of a DUMP payload (RESTORE).

    Raises:
        DumpError: version or checksum wrong (``ERR DUMP payload version or
            checksum are wrong``).
        RdbError: the body is malformed (``ERR Bad data format``).
    """
    if len(payload) < 10:
        raise DumpError("DUMP payload version or checksum are wrong")
    version = struct.unpack("<H", payload[-10:-8])[0]
    if version > MAX_READ_VERSION or struct.unpack("<Q", payload[-8:])[0] != crc64(payload[:-8]):
        raise DumpError("DUMP payload version or checksum are wrong")
    reader = _Reader(payload, len(payload) - 10)
    try:
        rdb_type = reader.byte()
        value = read_value(reader, rdb_type, key)
    except RdbError as exc:
        if isinstance(exc, DumpError):
            raise
        raise RdbError("Bad data format") from exc
    if value is None:
        raise RdbError("Bad data format")
    return value
