"""Hand-built RDB files in the formats older (and newer) servers wrote, built from
the format's spec (rdb.h, ziplist.c, zipmap.c), so readers can be tested on
encodings redis-server 7.0 no longer writes: zipmap and ziplist hashes, ziplist
sorted sets and lists, quicklists of ziplists, plain lists, string-score sorted
sets, seconds expiries, version-1 stream listpacks; and 7.2's set listpacks."""

from __future__ import annotations

import struct

from broker.persistence import intset, listpack, ziplist, zipmap
from broker.persistence.crc64 import crc64

__all__ = ["string", "length", "rdb_file", "old_format_body", "OLD_FORMAT_EXPECTED"]


def length(n: int) -> bytes:
    if n < 64:
        return bytes((n,))
    if n < 16384:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    return b"\x80" + struct.pack(">I", n)


def string(value: bytes) -> bytes:
    return length(len(value)) + value


def rdb_file(body: bytes, version: int = 9, checksum: bool = True) -> bytes:
    """Magic + ``body`` (opcodes and keys) + EOF + CRC-64."""
    data = b"REDIS%04d" % version + b"\xfa" + string(b"redis-ver") + string(b"5.0.0") + body + b"\xff"
    return data + struct.pack("<Q", crc64(data) if checksum else 0)


def _stream_v1() -> bytes:
    # one node, master fields (f), two entries: 10-1 same fields, 10-2 other fields
    lp = listpack.encode([2, 0, 1, b"f", 0,
                          2, 0, 0, b"a", 4,
                          0, 0, 1, 1, b"g", b"b", 6])
    return (length(1) + string(struct.pack(">QQ", 10, 1)) + string(lp)
            + length(2) + length(10) + length(2) + length(0))


def old_format_body(deadline_s: int) -> bytes:
    """Keys in db 0 (and one in db 2) of every pre-7 encoding."""
    parts = [b"\xfe\x00"]
    parts.append(b"\x09" + string(b"h:zipmap") + string(zipmap.encode([(b"a", b"1"), (b"bb", b"x" * 300)])))
    parts.append(b"\x0d" + string(b"h:ziplist") + string(ziplist.encode([b"f1", b"v1", b"f2", b"12", b"n", b"-70000"])))
    parts.append(b"\x0c" + string(b"z:ziplist") + string(ziplist.encode([b"a", b"1", b"b", b"2.5", b"c", b"300"])))
    parts.append(b"\x0a" + string(b"l:ziplist") + string(ziplist.encode([b"x", b"7", b"5000000000", b""])))
    parts.append(b"\x0e" + string(b"l:quicklist") + length(2) + string(ziplist.encode([b"a", b"b"]))
                 + string(ziplist.encode([b"c", b"x" * 70])))
    parts.append(b"\x01" + string(b"l:plain") + length(2) + string(b"one") + string(b"two"))
    parts.append(b"\x03" + string(b"z:plain") + length(3) + string(b"m1") + b"\x031.5"
                 + string(b"m2") + b"\xfe" + string(b"m3") + b"\xff")
    parts.append(b"\x0b" + string(b"s:intset") + string(intset.encode([3, 1, -2])))
    parts.append(b"\x02" + string(b"s:plain") + length(2) + string(b"p") + string(b"q"))
    parts.append(b"\x04" + string(b"h:plain") + length(1) + string(b"k") + string(b"v"))
    parts.append(b"\xfd" + struct.pack("<i", deadline_s) + b"\x00" + string(b"expiring") + string(b"soon"))
    parts.append(b"\x0f" + string(b"stream:v1") + _stream_v1())
    parts.append(b"\xfe\x02" + b"\x00" + string(b"in2") + b"\xc1" + struct.pack("<h", 1234))
    return b"".join(parts)


# What every reader must see (db, key) -> (type, value).
OLD_FORMAT_EXPECTED = {
    (0, b"h:zipmap"): (b"hash", {b"a": b"1", b"bb": b"x" * 300}),
    (0, b"h:ziplist"): (b"hash", {b"f1": b"v1", b"f2": b"12", b"n": b"-70000"}),
    (0, b"z:ziplist"): (b"zset", [b"a", b"1", b"b", b"2.5", b"c", b"300"]),
    (0, b"l:ziplist"): (b"list", [b"x", b"7", b"5000000000", b""]),
    (0, b"l:quicklist"): (b"list", [b"a", b"b", b"c", b"x" * 70]),
    (0, b"l:plain"): (b"list", [b"one", b"two"]),
    (0, b"z:plain"): (b"zset", [b"m3", b"-inf", b"m1", b"1.5", b"m2", b"inf"]),
    (0, b"s:intset"): (b"set", {b"1", b"3", b"-2"}),
    (0, b"s:plain"): (b"set", {b"p", b"q"}),
    (0, b"h:plain"): (b"hash", {b"k": b"v"}),
    (0, b"expiring"): (b"string", b"soon"),
    (2, b"in2"): (b"string", b"1234"),
}
