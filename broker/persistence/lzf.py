"""LZF, the compression Redis applies to RDB strings over 20 bytes (``lzf_c.c``,
``lzf_d.c``; the raw liblzf format, no header).

A compressed stream is a run of items, each starting with a control byte ``c``:
``c < 32`` is a literal run of ``c + 1`` bytes that follow; otherwise it is a
back reference of length ``(c >> 5) + 2`` (7 means one more length byte follows,
added) at distance ``((c & 31) << 8) + next byte + 1`` behind the output end.

Compression uses python-lzf (liblzf in C) when it is installed; a pure-Python
compressor would cost more than the write it saves, so without it strings are
stored uncompressed (which every reader accepts). Decompression has a pure-Python
fallback so any file loads.
"""

from __future__ import annotations

__all__ = ["compress", "decompress", "HAVE_COMPRESSOR"]

try:
    import lzf as _lzf
    HAVE_COMPRESSOR = True
except ImportError:  # pragma: no cover
    _lzf = None
    HAVE_COMPRESSOR = False


def compress(data: bytes) -> bytes | None:
    """``data`` compressed, or None when compression would not save 4 bytes
    (Redis's rule: it only keeps a compressed form shorter than ``len - 4``)."""
    if _lzf is None or len(data) <= 4:
        return None
    return _lzf.compress(data, len(data) - 4)  # type: ignore[no-any-return]


def decompress(data: bytes, length: int) -> bytes:
    """Expand ``data`` to exactly ``length`` bytes.

    Raises:
        ValueError: the stream is corrupt or does not expand to ``length``.
    """
    if _lzf is not None:
        try:
            out = _lzf.decompress(data, length)
        except ValueError:
            out = None
        if out is None or len(out) != length:
            raise ValueError("invalid LZF compressed string")
        return out  # type: ignore[no-any-return]
    return _decompress_py(data, length)


def _decompress_py(data: bytes, length: int) -> bytes:
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            run = ctrl + 1
            if i + run > n:
                raise ValueError("invalid LZF compressed string")
            out += data[i:i + run]
            i += run
            continue
        size = ctrl >> 5
        if size == 7:
            if i >= n:
                raise ValueError("invalid LZF compressed string")
            size += data[i]
            i += 1
        if i >= n:
            raise ValueError("invalid LZF compressed string")
        ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
        i += 1
        if ref < 0:
            raise ValueError("invalid LZF compressed string")
        for _ in range(size + 2):  # byte by byte: the reference may overlap the output
            out.append(out[ref])
            ref += 1
    if len(out) != length:
        raise ValueError("invalid LZF compressed string")
    return bytes(out)
