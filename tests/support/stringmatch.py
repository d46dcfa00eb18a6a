"""A straightforward port of Redis 7.0's ``stringmatchlen`` (util.c), for tests only.

Recursive and exponential on some inputs, exactly like the original: the referee
for ``broker.glob`` on small generated inputs. Reads past the end of the pattern
return NUL, as they do on Redis's NUL-terminated sds strings; chars are signed,
as on x86-64.
"""

from __future__ import annotations

__all__ = ["stringmatchlen"]


def _signed(b: int) -> int:
    return b - 256 if b >= 128 else b


def _tolower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


def stringmatchlen(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """Redis's stringmatchlen(pattern, string, nocase)."""
    skip = [False]
    return _impl(pattern + b"\x00", 0, len(pattern), string, 0, len(string), nocase, skip)


def _impl(p: bytes, pi: int, plen: int, s: bytes, si: int, slen: int, nocase: bool, skip: list[bool]) -> bool:
    while plen and slen:
        c = p[pi]
        if c == 42:  # '*'
            while plen and p[pi + 1] == 42:
                pi += 1
                plen -= 1
            if plen == 1:
                return True
            while slen:
                if _impl(p, pi + 1, plen - 1, s, si, slen, nocase, skip):
                    return True
                if skip[0]:
                    return False
                si += 1
                slen -= 1
            skip[0] = True
            return False
        elif c == 63:  # '?'
            si += 1
            slen -= 1
        elif c == 91:  # '['
            pi += 1
            plen -= 1
            negate = p[pi] == 94
            if negate:
                pi += 1
                plen -= 1
            match = False
            while True:
                if p[pi] == 92 and plen >= 2:
                    pi += 1
                    plen -= 1
                    if p[pi] == s[si]:
                        match = True
                elif p[pi] == 93:
                    break
                elif plen == 0:
                    pi -= 1
                    plen += 1
                    break
                elif plen >= 3 and p[pi + 1] == 45:
                    start, end, ch = _signed(p[pi]), _signed(p[pi + 2]), _signed(s[si])
                    if start > end:
                        start, end = end, start
                    if nocase:
                        start, end, ch = _tolower(start), _tolower(end), _tolower(ch)
                    pi += 2
                    plen -= 2
                    if start <= ch <= end:
                        match = True
                else:
                    if not nocase:
                        if p[pi] == s[si]:
                            match = True
                    elif _tolower(p[pi]) == _tolower(s[si]):
                        match = True
                pi += 1
                plen -= 1
            if negate:
                match = not match
            if not match:
                return False
            si += 1
            slen -= 1
        else:
            if c == 92 and plen >= 2:  # '\\'
                pi += 1
                plen -= 1
            if not nocase:
                if p[pi] != s[si]:
                    return False
            elif _tolower(p[pi]) != _tolower(s[si]):
                return False
            si += 1
            slen -= 1
        pi += 1
        plen -= 1
        if slen == 0:
            while p[pi] == 42:
                pi += 1
                plen -= 1
            break
    return plen == 0 and slen == 0
