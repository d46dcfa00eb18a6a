"""Intsets (``src/intset.c``): a sorted array of unique integers, the encoding
of sets of at most 512 integers. ``<encoding u32 LE: 2|4|8> <length u32 LE>
<length little-endian signed integers of that width, ascending>``."""

from __future__ import annotations

import struct

__all__ = ["encode", "decode"]

_FORMATS = {2: "h", 4: "i", 8: "q"}


def encode(numbers: list[int]) -> bytes:
    """The intset of ``numbers`` (sorted here), in the narrowest width that fits."""
    numbers = sorted(numbers)
    low, high = (numbers[0], numbers[-1]) if numbers else (0, 0)
    width = 2 if -32768 <= low and high <= 32767 else 4 if -(1 << 31) <= low and high < (1 << 31) else 8
    return struct.pack("<II%d%s" % (len(numbers), _FORMATS[width]), width, len(numbers), *numbers)


def decode(blob: bytes) -> list[int]:
    """The integers of an intset.

    Raises:
        ValueError: bad width, a size that disagrees with the length, or values
            not strictly ascending (what ``intsetValidateIntegrity`` refuses).
    """
    if len(blob) < 8:
        raise ValueError("intset too short")
    width, length = struct.unpack_from("<II", blob)
    if width not in _FORMATS or 8 + width * length != len(blob):
        raise ValueError("intset size does not match")
    numbers = list(struct.unpack_from("<%d%s" % (length, _FORMATS[width]), blob, 8))
    for i in range(1, length):
        if numbers[i - 1] >= numbers[i]:
            raise ValueError("intset not sorted")
    return numbers
