"""C ``long double`` as Redis computes with it (x87 80-bit extended precision on x86-64).

HINCRBYFLOAT and INCRBYFLOAT parse with ``strtold``, add in long double and print
with ``%.17Lf``; GEO prints distances the same way. ``parse_long_double`` /
``round_long_double`` / ``format_long_double`` reproduce each step exactly with
rationals, so results such as ``HINCRBYFLOAT h f 1e400`` match digit for digit.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["Overflow", "format_long_double", "parse_long_double", "round_long_double"]


# x87 extended precision: 64-bit significand (explicit integer bit), exponents
# down to -16382 for normal numbers, subnormals down to 2**-16445.
_LD_DIGITS = 64
_LD_MIN_QUANTUM = -16445
_LD_MAX = Fraction((2**64 - 1) * 2**(16383 - 63))
# Redis MAX_LONG_DOUBLE_CHARS: longer strings are refused before strtold.
_MAX_LONG_DOUBLE_CHARS = 5 * 1024
_DECIMAL = re.compile(rb"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_HEX = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?")
_INFINITY = re.compile(rb"[+-]?(inf|infinity)", re.IGNORECASE)
# Past these binary exponents a value is certainly out of long double range; they
# keep 2**exponent from being computed for absurd inputs like 1e999999999.
_EXP_CEILING = 17000
_EXP_FLOOR = -17000


class Overflow(Exception):
    """strtold reported ERANGE with HUGE_VAL, or a sum left the finite range."""


def round_long_double(exact: Fraction) -> Fraction:
    """Round an exact value to the nearest long double (ties to even)."""
    if exact == 0:
        return exact
    negative = exact < 0
    num, den = abs(exact.numerator), exact.denominator
    exponent = num.bit_length() - den.bit_length()
    # Make 2**exponent <= |exact| < 2**(exponent + 1).
    if (num << -exponent if exponent < 0 else num) < (den << exponent if exponent > 0 else den):
        exponent -= 1
    quantum = max(exponent - (_LD_DIGITS - 1), _LD_MIN_QUANTUM)
    if quantum < 0:
        num <<= -quantum
    else:
        den <<= quantum
    units, rest = divmod(num, den)
    if 2 * rest > den or (2 * rest == den and units & 1):
        units += 1
    result = Fraction(units) * (Fraction(2) ** quantum)
    if result > _LD_MAX:
        raise Overflow()
    return -result if negative else result


def parse_long_double(raw: bytes) -> Fraction | float | None:
    """``string2ld``: the long double ``raw`` spells, +-inf as floats, None if refused.

    Like Redis: no leading space (strtold would skip it, Redis refuses it), no
    trailing garbage, no NaN, and no value strtold flags ERANGE as 0 or HUGE_VAL.
    A NUL byte is refused: strtold would stop there, short of the whole length.
    """
    if not raw or len(raw) >= _MAX_LONG_DOUBLE_CHARS or raw[:1].isspace() or b"\0" in raw:
        return None
    text = raw
    try:
        value = _parse_finite(text)
    except Overflow:
        return None
    if value is None and _INFINITY.fullmatch(text):
        return float("-inf") if text[:1] == b"-" else float("inf")
    return value


def _parse_finite(text: bytes) -> Fraction | None:
    match = _DECIMAL.fullmatch(text)
    if match and (match.group(2) or match.group(3)):
        sign, whole, fraction, exp = match.groups()
        mantissa_text = whole + (fraction or b"")
        exponent = _exponent(exp) - len(fraction or b"")
        mantissa = _int_from_digits(mantissa_text)
        if mantissa == 0:
            return Fraction(0)
        magnitude = len(mantissa_text.lstrip(b"0")) + exponent
        if magnitude > 5000:
            raise Overflow()
        if magnitude < -5000:
            return None  # underflow to zero: ERANGE, refused
        exact = Fraction(mantissa) * Fraction(10) ** exponent
        return _nonzero(round_long_double(-exact if sign == b"-" else exact))
    match = _HEX.fullmatch(text)
    if match and (match.group(2) or match.group(3)):
        sign, whole, fraction, exp = match.groups()
        digits = whole + (fraction or b"")
        exponent = _exponent(exp) - 4 * len(fraction or b"")
        mantissa = int(digits, 16)  # hex digits are not subject to the decimal length limit
        if mantissa == 0:
            return Fraction(0)
        if exponent + mantissa.bit_length() > _EXP_CEILING:
            raise Overflow()
        if exponent + mantissa.bit_length() < _EXP_FLOOR:
            return None
        exact = Fraction(mantissa) * Fraction(2) ** exponent
        return _nonzero(round_long_double(-exact if sign == b"-" else exact))
    return None


# Python refuses int <-> decimal string conversions past 4300 digits (a guard
# against quadratic time); long doubles reach 4933 digits, so convert in chunks.
_CHUNK = 4000


def _int_from_digits(text: bytes) -> int:
    value = 0
    for start in range(0, len(text), _CHUNK):
        chunk = text[start:start + _CHUNK]
        value = value * 10**len(chunk) + int(chunk)
    return value


def _digits_of(value: int) -> bytes:
    if value < 10**_CHUNK:
        return b"%d" % value
    high, low = divmod(value, 10**_CHUNK)
    return _digits_of(high) + b"%0*d" % (_CHUNK, low)


def _exponent(text: bytes | None) -> int:
    """An exponent field, clamped: beyond a million it over/underflows anyway."""
    if not text:
        return 0
    sign = -1 if text[:1] == b"-" else 1
    digits = text.lstrip(b"+-").lstrip(b"0") or b"0"
    return sign * (int(digits) if len(digits) <= 7 else 10**7)


def _nonzero(value: Fraction) -> Fraction | None:
    # A non-zero input that rounds to 0 is an ERANGE underflow, which Redis refuses.
    return value if value != 0 else None


def format_long_double(value: Fraction) -> bytes:
    """``ld2string(LD_STR_HUMAN)``: ``%.17Lf`` without trailing zeros; ``-0`` is ``0``."""
    negative = value < 0
    scaled = abs(value) * 10**17
    units, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest > scaled.denominator or (2 * rest == scaled.denominator and units & 1):
        units += 1
    whole, fraction = divmod(units, 10**17)
    text = (_digits_of(whole) + b".%017d" % fraction).rstrip(b"0").rstrip(b".")
    if negative and text != b"0":
        return b"-" + text
    return text
