"""Ziplists (``src/ziplist.c``), the compact encoding of RDB files before Redis 7
(hashes, sorted sets, list quicklist nodes). Read for old files; ``encode`` exists
for building such files in tests.

Layout: ``<zlbytes u32 LE> <zltail u32 LE> <zllen u16 LE> <entry>* 0xFF``; an entry
is ``<prevlen: 1 byte, or 0xFE + u32 LE> <encoding> <data>``.
"""

from __future__ import annotations

import struct

from broker.persistence.listpack import as_int

__all__ = ["encode", "decode"]


def decode(blob: bytes) -> list[bytes | int]:
    """The entries of a ziplist (ints for integer entries).

    Raises:
        ValueError: sizes that disagree, an entry past the end, a bad encoding.
    """
    if len(blob) < 11:
        raise ValueError("ziplist too short")
    total, _tail, count = struct.unpack_from("<IIH", blob)
    if total != len(blob) or blob[-1] != 0xFF:
        raise ValueError("ziplist header size does not match")
    out: list[bytes | int] = []
    pos, end = 10, len(blob) - 1
    while pos < end:
        pos += 5 if blob[pos] == 0xFE else 1
        enc = blob[pos]
        if enc >> 6 == 0:
            length = enc & 0x3F
            out.append(blob[pos + 1:pos + 1 + length])
            pos += 1 + length
        elif enc >> 6 == 1:
            length = ((enc & 0x3F) << 8) | blob[pos + 1]
            out.append(blob[pos + 2:pos + 2 + length])
            pos += 2 + length
        elif enc >> 6 == 2:
            length = struct.unpack_from(">I", blob, pos + 1)[0]
            out.append(blob[pos + 5:pos + 5 + length])
            pos += 5 + length
        elif enc == 0xC0:
            out.append(struct.unpack_from("<h", blob, pos + 1)[0])
            pos += 3
        elif enc == 0xD0:
            out.append(struct.unpack_from("<i", blob, pos + 1)[0])
            pos += 5
        elif enc == 0xE0:
            out.append(struct.unpack_from("<q", blob, pos + 1)[0])
            pos += 9
        elif enc == 0xF0:
            u = int.from_bytes(blob[pos + 1:pos + 4], "little")
            out.append(u - 0x1000000 if u >= 0x800000 else u)
            pos += 4
        elif enc == 0xFE:
            out.append(struct.unpack_from("<b", blob, pos + 1)[0])
            pos += 2
        elif 0xF1 <= enc <= 0xFD:
            out.append((enc & 0x0F) - 1)
            pos += 1
        else:
            raise ValueError("invalid ziplist entry encoding")
        if pos > end:
            raise ValueError("ziplist entry runs past the end")
    if count != 65535 and count != len(out):
        raise ValueError("ziplist element count does not match")
    return out


def _entry(value: bytes, prevlen: int) -> bytes:
    prev = bytes((prevlen,)) if prevlen < 254 else b"\xfe" + struct.pack("<I", prevlen)
    number = as_int(value)
    if number is not None:
        if 0 <= number <= 12:
            body = bytes((0xF1 + number,))
        elif -128 <= number <= 127:
            body = b"\xfe" + struct.pack("<b", number)
        elif -32768 <= number <= 32767:
            body = b"\xc0" + struct.pack("<h", number)
        elif -8388608 <= number <= 8388607:
            body = b"\xf0" + (number & 0xFFFFFF).to_bytes(3, "little")
        elif -(1 << 31) <= number < (1 << 31):
            body = b"\xd0" + struct.pack("<i", number)
        else:
            body = b"\xe0" + struct.pack("<q", number)
    elif len(value) < 64:
        body = bytes((len(value),)) + value
    elif len(value) < 16384:
        body = bytes((0x40 | (len(value) >> 8), len(value) & 0xFF)) + value
    else:
        body = b"\x80" + struct.pack(">I", len(value)) + value
    return prev + body


def encode(values: list[bytes]) -> bytes:
    """A ziplist of ``values`` (for building old-format files in tests)."""
    entries, prevlen, tail = [], 0, 10
    offset = 10
    for value in values:
        entry = _entry(value, prevlen)
        tail = offset
        offset += len(entry)
        prevlen = len(entry)
        entries.append(entry)
    body = b"".join(entries)
    return struct.pack("<IIH", 11 + len(body), tail, min(len(values), 65535)) + body + b"\xff"
