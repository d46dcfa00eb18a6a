"""Cursor iteration shared by SCAN, HSCAN, SSCAN and ZSCAN.

Redis cursors walk its hash tables in reverse-binary order; ours are positions in
a snapshot of the collection's insertion order. As in Redis, a small collection
(up to ``WHOLE_COLLECTION`` items, where Redis keeps a listpack/intset) is returned
in one call with cursor 0 whatever COUNT says. Elements present for the whole
iteration are returned at least once unless elements before the cursor are removed
meanwhile (then some may be skipped: callers should treat SCAN as best effort, as
they must with Redis when the table shrinks).
"""

from __future__ import annotations

from typing import Sequence, TypeVar

from broker.commands.args import SYNTAX, parse_int
from broker.resp import CommandError

__all__ = ["ScanArgs", "parse_scan_args", "scan_page", "WHOLE_COLLECTION"]

WHOLE_COLLECTION = 128
_ULONG_LIMIT = 2**64
T = TypeVar("T")


class ScanArgs:
    __slots__ = ("cursor", "match", "count", "type", "novalues")

    def __init__(self) -> None:
        self.cursor = 0
        self.match: bytes | None = None
        self.count = 10
        self.type: bytes | None = None
        self.novalues = False


def parse_scan_args(argv: list[bytes], cursor_index: int, allow_type: bool = False,
                    allow_novalues: bool = False) -> ScanArgs:
    """Parse ``cursor [MATCH pattern] [COUNT count] [TYPE type] [NOVALUES]``."""
    args = ScanArgs()
    args.cursor = _parse_cursor(argv[cursor_index])
    i = cursor_index + 1
    while i < len(argv):
        option = argv[i].upper()
        remaining = len(argv) - i - 1
        if option == b"MATCH" and remaining >= 1:
            # A lone '*' means no filter, as in Redis's scanGenericCommand: the glob
            # '*' itself does not match the empty key.
            args.match = None if argv[i + 1] == b"*" else argv[i + 1]
            i += 2
        elif option == b"COUNT" and remaining >= 1:
            args.count = parse_int(argv[i + 1])
            if args.count < 1:
                raise CommandError(SYNTAX)
            i += 2
        elif option == b"TYPE" and remaining >= 1 and allow_type:
            args.type = argv[i + 1].lower()
            i += 2
        elif option == b"NOVALUES" and allow_novalues:
            args.novalues = True
            i += 1
        else:
            raise CommandError(SYNTAX)
    return args


def _parse_cursor(raw: bytes) -> int:
    """C ``strtoul`` as Redis ``parseScanCursorOrReply`` uses it: an optional sign
    (``-1`` wraps to 2**64-1), digits, nothing else; ``""`` reads as 0."""
    sign = raw[:1] if raw[:1] in (b"+", b"-") else b""
    digits = raw[len(sign):]
    if not raw:
        return 0
    if not digits.isdigit() or not digits.isascii():
        raise CommandError("ERR invalid cursor")
    digits = digits.lstrip(b"0") or b"0"
    value = int(digits) if len(digits) <= 20 else _ULONG_LIMIT
    if value >= _ULONG_LIMIT:
        raise CommandError("ERR invalid cursor")
    return (_ULONG_LIMIT - value) % _ULONG_LIMIT if sign == b"-" else value


def scan_page(items: Sequence[T], cursor: int, count: int) -> tuple[int, Sequence[T]]:
    """The slice of ``items`` for this cursor and the next cursor (0 at the end)."""
    if len(items) <= WHOLE_COLLECTION:
        # Redis ignores the cursor of a listpack/intset and sends it all.
        return 0, items
    page = items[cursor:cursor + count]
    following = cursor + count
    return (following if following < len(items) else 0), page
