"""LCS, as redis-server 7.0 (``t_string.c`` ``lcsCommand``).

The longest common subsequence of two strings by the textbook dynamic programme,
O(len(a) * len(b)) time and table, walked back from the end exactly as Redis walks
it, so the string, the match ranges and their order are Redis's. Redis refuses a
table larger than proto-max-bulk-len; so do we. In Python a table costs about a
second per few million cells, during which the server serves nobody else: LCS is
meant for the short strings it is used on.
"""

from __future__ import annotations

from typing import Any

from broker.commands.args import SYNTAX, parse_int
from broker.client import Client
from broker.resp import CommandError
from broker.table import command

__all__: list[str] = []


# LCS key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]
@command("lcs", -3, "readonly", keys=(1, 2, 1), group="string", since="7.0.0")
def lcs(client: Client, argv: list[bytes]) -> Any:
    db = client.db
    a, b = db.read(argv[1]), db.read(argv[2])
    if (a is not None and type(a) is not bytes) or (b is not None and type(b) is not bytes):
        raise CommandError("ERR The specified keys must contain string values")
    a = a or b""
    b = b or b""
    get_len = get_idx = with_match_len = False
    min_match_len = 0
    index = 3
    while index < len(argv):
        option = argv[index].lower()
        more = len(argv) - 1 - index
        if option == b"idx":
            get_idx = True
        elif option == b"len":
            get_len = True
        elif option == b"withmatchlen":
            with_match_len = True
        elif option == b"minmatchlen" and more:
            min_match_len = max(parse_int(argv[index + 1]), 0)
            index += 1
        else:
            raise CommandError(SYNTAX)
        index += 1
    if get_len and get_idx:
        raise CommandError("ERR If you want both the length and indexes, please just use IDX.")
    alen, blen = len(a), len(b)
    if (alen + 1) * (blen + 1) * 4 > int(client.broker.config.get("proto-max-bulk-len")):
        raise CommandError("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    table = _table(a, b)
    length = table[alen][blen]
    if get_len and not get_idx:
        return length
    result = bytearray(length)
    matches: list[Any] = []
    pos = length
    a_start, a_end, b_start, b_end = alen, 0, 0, 0
    i, j = alen, blen
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            result[pos - 1] = a[i - 1]
            if a_start == alen:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            pos -= 1
            i -= 1
            j -= 1
        else:
            if table[i - 1][j] > table[i][j - 1]:
                i -= 1
            else:
                j -= 1
            if a_start != alen:
                emit = True
        if emit:
            match_len = a_end - a_start + 1
            if get_idx and (min_match_len == 0 or match_len >= min_match_len):
                entry: list[Any] = [[a_start, a_end], [b_start, b_end]]
                if with_match_len:
                    entry.append(match_len)
                matches.append(entry)
            a_start = alen
    if get_idx:
        return {b"matches": matches, b"len": length}
    return bytes(result)


def _table(a: bytes, b: bytes) -> list[list[int]]:
    """LCS lengths of every pair of prefixes: ``table[i][j]`` for ``a[:i]``, ``b[:j]``."""
    previous = [0] * (len(b) + 1)
    table = [previous]
    for ca in a:
        row = [0]
        left = 0
        for j, cb in enumerate(b):
            if ca == cb:
                left = previous[j] + 1
            else:
                up = previous[j + 1]
                if up > left:
                    left = up
            row.append(left)
        table.append(row)
        previous = row
    return table
