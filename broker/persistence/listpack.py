"""Listpacks (``src/listpack.c``): the compact sequence Redis 7 keeps small
hashes, sorted sets, list nodes, stream nodes (and, from 7.2, small sets) in.

Layout: ``<total-bytes u32 LE> <num-elements u16 LE> <entry>* 0xFF``; each entry
is ``<encoding+data> <backlen>`` where backlen is the size of encoding+data in
1-5 bytes read right to left (7 bits per byte, the high bit meaning "more").
A string that is a canonical int64 is stored as an integer, as ``lpAppend`` does.
"""

from __future__ import annotations

import struct

__all__ = ["encode", "decode", "as_int"]

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def as_int(value: bytes) -> int | None:
    """The int64 ``value`` spells canonically (``string2ll``: no sign but a leading
    minus, no leading zeros, no spaces), else None."""
    if not value or len(value) > 20:
        return None
    first = value[0]
    if not (48 <= first <= 57 or (first == 45 and len(value) > 1)):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    if b"%d" % number != value or not _INT64_MIN <= number <= _INT64_MAX:
        return None
    return number


def _backlen(size: int) -> bytes:
    if size <= 127:
        return bytes((size,))
    if size < 16383:
        return bytes((size >> 7, (size & 127) | 128))
    if size < 2097151:
        return bytes((size >> 14, ((size >> 7) & 127) | 128, (size & 127) | 128))
    if size < 268435455:
        return bytes((size >> 21, ((size >> 14) & 127) | 128, ((size >> 7) & 127) | 128, (size & 127) | 128))
    return bytes((size >> 28, ((size >> 21) & 127) | 128, ((size >> 14) & 127) | 128,
                  ((size >> 7) & 127) | 128, (size & 127) | 128))


# Encoded integers 0..127 and their backlen, the commonest entries, made once.
_SMALL = [bytes((i, 1)) for i in range(128)]


def encode_int(number: int) -> bytes:
    """One listpack entry (with its backlen) holding the integer ``number``."""
    if 0 <= number <= 127:
        return _SMALL[number]
    if -4096 <= number <= 4095:
        u = number & 0x1FFF
        return bytes((0xC0 | (u >> 8), u & 0xFF, 2))
    if -32768 <= number <= 32767:
        return b"\xf1" + struct.pack("<h", number) + b"\x03"
    if -8388608 <= number <= 8388607:
        return b"\xf2" + (number & 0xFFFFFF).to_bytes(3, "little") + b"\x04"
    if -(1 << 31) <= number < (1 << 31):
        return b"\xf3" + struct.pack("<i", number) + b"\x05"
    return b"\xf4" + struct.pack("<q", number) + b"\x09"


def encode_entry(value: bytes | int) -> bytes:
    """One entry: an int, or a string (stored as an int when it spells one)."""
    if type(value) is int:
        return encode_int(value)
    number = as_int(value)  # type: ignore[arg-type]
    if number is not None:
        return encode_int(number)
    size = len(value)  # type: ignore[arg-type]
    if size < 64:
        head = bytes((0x80 | size,))
    elif size < 4096:
        head = bytes((0xE0 | (size >> 8), size & 0xFF))
    else:
        head = b"\xf0" + struct.pack("<I", size)
    body = len(head) + size
    return head + value + _backlen(body)  # type: ignore[operator]


def encode(values: list[bytes | int] | list[bytes]) -> bytes:
    """A whole listpack holding ``values`` in order."""
    body = b"".join([encode_entry(v) for v in values])
    count = len(values) if len(values) < 65535 else 65535
    return struct.pack("<IH", len(body) + 7, count) + body + b"\xff"


def decode(blob: bytes) -> list[bytes | int]:
    """The entries of a listpack: ints for integer entries, bytes for strings.

    Raises:
        ValueError: the blob is not a well-formed listpack (sizes disagree, an
            entry runs past the end, the terminator is missing).
    """
    size = len(blob)
    if size < 7:
        raise ValueError("listpack too short")
    total, count = struct.unpack_from("<IH", blob)
    if total != size or blob[-1] != 0xFF:
        raise ValueError("listpack header size does not match")
    out: list[bytes | int] = []
    append = out.append
    pos, end = 6, size - 1
    while pos < end:
        byte = blob[pos]
        start = pos
        if byte < 0x80:
            append(byte)
            pos += 1
        elif byte < 0xC0:
            length = byte & 0x3F
            append(blob[pos + 1:pos + 1 + length])
            pos += 1 + length
        elif byte < 0xE0:
            u = ((byte & 0x1F) << 8) | blob[pos + 1]
            append(u - 0x2000 if u >= 0x1000 else u)
            pos += 2
        elif byte < 0xF0:
            length = ((byte & 0x0F) << 8) | blob[pos + 1]
            append(blob[pos + 2:pos + 2 + length])
            pos += 2 + length
        elif byte == 0xF0:
            length = struct.unpack_from("<I", blob, pos + 1)[0]
            append(blob[pos + 5:pos + 5 + length])
            pos += 5 + length
        elif byte == 0xF1:
            append(struct.unpack_from("<h", blob, pos + 1)[0])
            pos += 3
        elif byte == 0xF2:
            u = int.from_bytes(blob[pos + 1:pos + 4], "little")
            append(u - 0x1000000 if u >= 0x800000 else u)
            pos += 4
        elif byte == 0xF3:
            append(struct.unpack_from("<i", blob, pos + 1)[0])
            pos += 5
        elif byte == 0xF4:
            append(struct.unpack_from("<q", blob, pos + 1)[0])
            pos += 9
        else:
            raise ValueError("invalid listpack entry encoding")
        body = pos - start
        pos += 1 if body <= 127 else 2 if body < 16383 else 3 if body < 2097151 else 4 if body < 268435455 else 5
        if pos > end:
            raise ValueError("listpack entry runs past the end")
    if pos != end:
        raise ValueError("listpack entry runs past the end")
    if count != 65535 and count != len(out):
        raise ValueError("listpack element count does not match")
    return out


def to_bytes(values: list[bytes | int]) -> list[bytes]:
    """Entries as Redis replies them: integers in decimal."""
    return [v if type(v) is bytes else b"%d" % v for v in values]  # type: ignore[misc]
