"""Zipmaps (``src/zipmap.c``), the small-hash encoding of RDB files before Redis
2.6: ``<zmlen u8> (<len> key <len> <free u8> value <free bytes>)* 0xFF``, where a
length is one byte below 254, else 0xFE and a u32 LE. Read for old files;
``encode`` builds them for tests."""

from __future__ import annotations

import struct

__all__ = ["encode", "decode"]


def _length(blob: bytes, pos: int) -> tuple[int, int]:
    first = blob[pos]
    if first < 254:
        return first, pos + 1
    if first == 254:
        return struct.unpack_from("<I", blob, pos + 1)[0], pos + 5
    raise ValueError("invalid zipmap length")


def decode(blob: bytes) -> list[tuple[bytes, bytes]]:
    """The (field, value) pairs of a zipmap.

    Raises:
        ValueError: an entry runs past the end or the terminator is missing.
    """
    if len(blob) < 2:
        raise ValueError("zipmap too short")
    pairs = []
    pos = 1
    while True:
        if pos >= len(blob):
            raise ValueError("zipmap without terminator")
        if blob[pos] == 0xFF:
            break
        klen, pos = _length(blob, pos)
        key = blob[pos:pos + klen]
        pos += klen
        vlen, pos = _length(blob, pos)
        free = blob[pos]
        value = blob[pos + 1:pos + 1 + vlen]
        pos += 1 + vlen + free
        if pos > len(blob) or len(key) != klen or len(value) != vlen:
            raise ValueError("zipmap entry runs past the end")
        pairs.append((key, value))
    if pos != len(blob) - 1:
        raise ValueError("zipmap has trailing bytes")
    return pairs


def _len(n: int) -> bytes:
    return bytes((n,)) if n < 254 else b"\xfe" + struct.pack("<I", n)


def encode(pairs: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(_len(len(k)) + k + _len(len(v)) + b"\x00" + v for k, v in pairs)
    return bytes((min(len(pairs), 254),)) + body + b"\xff"
