"""IEEE 754 conversions for the Lua libraries (struct's f/d, cmsgpack's float32/64).

Lua 5.1 has no way to see a double's bits, so the libraries call these three host
functions. Bytes go in as separate numbers (a Lua string would cross lupa decoded
when the runtime has an encoding) and come back as a Python ``bytes``, which lupa
always hands to Lua as a string.
"""

from __future__ import annotations

import math
import struct

__all__ = ["pack", "unpack", "msgpack"]


def _to_float32(n: float, order: str) -> bytes:
    """Return ``(float)n`` as C casts it: out of range rounds to an infinity.

    Python's struct raises OverflowError where C's cast gives inf.
    """
    try:
        return struct.pack(order + "f", n)
    except OverflowError:
        return struct.pack(order + "f", math.copysign(math.inf, n))


def pack(n: float, size: int, little: bool) -> bytes:
    """Return the bytes of ``n`` as a float (size 4) or double (size 8).

    Args:
        n: The Lua number.
        size: 4 or 8.
        little: Little-endian when true, big-endian otherwise.

    Returns:
        ``size`` bytes.
    """
    order = "<" if little else ">"
    if size == 4:
        return _to_float32(n, order)
    return struct.pack(order + "d", n)


def unpack(little: bool, *octets: int) -> float:
    """Return the float (4 octets) or double (8 octets) the octets encode.

    Args:
        little: Little-endian when true, big-endian otherwise.
        octets: The bytes as integers 0..255.

    Returns:
        The value as a Python float (a Lua number).
    """
    order = "<" if little else ">"
    data = bytes(octets)
    return struct.unpack(order + ("f" if len(data) == 4 else "d"), data)[0]


def msgpack(n: float) -> bytes:
    """Return lua-cmsgpack's encoding of a non-integral number.

    A float32 (0xca) when ``(double)(float)n == n``, else a float64 (0xcb), big-endian.

    Args:
        n: The Lua number (not an int64-equivalent one; those are integers).

    Returns:
        5 or 9 bytes.
    """
    n = float(n)
    f = _to_float32(n, ">")
    if struct.unpack(">f", f)[0] == n:
        return b"\xca" + f
    return b"\xcb" + struct.pack(">d", n)
