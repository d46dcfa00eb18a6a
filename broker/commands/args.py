"""Argument parsing shared by command handlers, with Redis's error wording."""

from __future__ import annotations

import math

from broker.resp import CommandError

__all__ = [
    "NOT_INTEGER", "NOT_FLOAT", "SYNTAX", "parse_int", "parse_float", "parse_timeout",
    "parse_expire_option",
]

NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def parse_int(raw: bytes, error: str = NOT_INTEGER) -> int:
    """A signed 64-bit integer written exactly as Redis ``string2ll`` accepts it.

    No spaces, no '+', no leading zeros; raises CommandError(``error``) otherwise.
    """
    # Fast path: up to 18 plain digits, no leading zero, always in range.
    if raw.isdigit() and len(raw) < 19 and (raw[0] != 48 or len(raw) == 1):
        return int(raw)
    if not raw or len(raw) > 20:
        raise CommandError(error)
    first = raw[0]
    if not (48 <= first <= 57 or first == 45):
        raise CommandError(error)
    try:
        value = int(raw)
    except ValueError:
        raise CommandError(error) from None
    # int() tolerates '_', spaces and leading zeros; Redis does not.
    if b"%d" % value != raw or not _INT64_MIN <= value <= _INT64_MAX:
        raise CommandError(error)
    return value


def parse_float(raw: bytes, error: str = NOT_FLOAT, allow_nan: bool = False) -> float:
    """A double as Redis ``strtold``/``string2d`` accepts it (inf allowed, no spaces)."""
    if not raw or raw[0] in b" \t\r\n" or raw[-1] in b" \t\r\n":
        raise CommandError(error)
    try:
        value = float(raw)
    except ValueError:
        raise CommandError(error) from None
    if b"_" in raw or (math.isnan(value) and not allow_nan):
        raise CommandError(error)
    return value


def parse_timeout(raw: bytes) -> int:
    """A blocking timeout in seconds (may be fractional) -> milliseconds; 0 = forever."""
    try:
        seconds = parse_float(raw, "ERR timeout is not a float or out of range")
    except CommandError:
        raise
    if seconds < 0:
        raise CommandError("ERR timeout is negative")
    if math.isinf(seconds) or seconds * 1000 > _INT64_MAX:
        raise CommandError("ERR timeout is out of range")
    return int(seconds * 1000)


def parse_expire_option(argv: list[bytes], start: int) -> tuple[bool, bool, bool, bool]:
    """EXPIRE-family options NX XX GT LT -> flags, with Redis's conflict errors."""
    nx = xx = gt = lt = False
    for raw in argv[start:]:
        option = raw.upper()
        if option == b"NX":
            nx = True
        elif option == b"XX":
            xx = True
        elif option == b"GT":
            gt = True
        elif option == b"LT":
            lt = True
        else:
            raise CommandError(f"ERR Unsupported option {raw.decode('utf-8', 'replace')}")
    if nx and (xx or gt or lt):
        raise CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if gt and lt:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    return nx, xx, gt, lt
