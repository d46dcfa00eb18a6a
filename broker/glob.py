"""Glob matching exactly as Redis does it (``util.c`` ``stringmatchlen``).

Used by PSUBSCRIBE, PUBSUB CHANNELS, KEYS, SCAN MATCH and the gateway's channel
permissions. Binary safe: patterns and subjects are bytes.

Syntax: ``*`` any run, ``?`` any byte, ``[abc]`` a set, ``[^a]`` a negated set,
``[a-z]`` a range (either order), ``\\x`` the byte x literally. A ``[`` set with no
closing ``]`` runs to the end of the pattern, as in Redis.

Cost: O(len(pattern) * len(subject)) at worst. A pattern with many stars could
backtrack exponentially; like Redis 7 we stop trying longer matches once a star
has failed to match the rest (``skipLongerMatches``), and cap nesting.
"""

from __future__ import annotations

from functools import lru_cache
import re

__all__ = ["glob_match", "compile_glob"]

_MAX_NESTING = 1000


def glob_match(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    """True if ``subject`` matches the Redis glob ``pattern``."""
    compiled = compile_glob(pattern)
    if compiled is not None and not nocase:
        return compiled(subject) is not None
    skip = [False]
    return _match(pattern, 0, subject, 0, nocase, skip, 0)


@lru_cache(maxsize=4096)
def compile_glob(pattern: bytes):  # type: ignore[no-untyped-def]
    """A compiled regex ``fullmatch`` for simple patterns, or None.

    Patterns made only of literals, ``?`` and at most two ``*`` (the common
    ``chat:*``) are translated to a regex, which runs in C; anything else takes the
    exact Redis algorithm in ``_match``.
    """
    # Sets and escapes need the exact algorithm; so do patterns with many stars,
    # where a backtracking regex can take exponential time (a*a*a*...b).
    if b"[" in pattern or b"\\" in pattern or pattern.count(b"*") > 2:
        return None
    parts: list[bytes] = []
    for byte in pattern:
        if byte == 42:
            if not parts or parts[-1] != b".*":
                parts.append(b".*")
        elif byte == 63:
            parts.append(b".")
        else:
            parts.append(re.escape(bytes((byte,))))
    return re.compile(b"".join(parts), re.DOTALL).fullmatch


def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


def _match(p: bytes, pi: int, s: bytes, si: int, nocase: bool, skip: list[bool],
           nesting: int) -> bool:
    if nesting > _MAX_NESTING:
        return False
    plen, slen = len(p), len(s)
    while pi < plen and si < slen:
        c = p[pi]
        if c == 42:  # '*'
            while pi + 1 < plen and p[pi + 1] == 42:
                pi += 1
            if pi + 1 == plen:
                return True
            while si < slen:
                if _match(p, pi + 1, s, si, nocase, skip, nesting + 1):
                    return True
                if skip[0]:
                    return False
                si += 1
            skip[0] = True
            return False
        elif c == 63:  # '?'
            si += 1
        elif c == 91:  # '['
            pi += 1
            negate = pi < plen and p[pi] == 94
            if negate:
                pi += 1
            matched = False
            while True:
                if pi < plen and p[pi] == 92 and pi + 1 < plen:
                    pi += 1
                    if p[pi] == s[si]:
                        matched = True
                elif pi >= plen or p[pi] == 93:
                    break
                elif pi + 2 < plen and p[pi + 1] == 45:  # a-z
                    start, end = p[pi], p[pi + 2]
                    if start > end:
                        start, end = end, start
                    sc = s[si]
                    if nocase:
                        start, end, sc = _lower(start), _lower(end), _lower(sc)
                    pi += 2
                    if start <= sc <= end:
                        matched = True
                else:
                    if nocase:
                        if _lower(p[pi]) == _lower(s[si]):
                            matched = True
                    elif p[pi] == s[si]:
                        matched = True
                pi += 1
            if pi >= plen:
                pi -= 1  # unterminated set: Redis treats the end as the closing ']'
            if negate:
                matched = not matched
            if not matched:
                return False
            si += 1
        else:
            if c == 92 and pi + 1 < plen:  # backslash escape
                pi += 1
                c = p[pi]
            if nocase:
                if _lower(c) != _lower(s[si]):
                    return False
            elif c != s[si]:
                return False
            si += 1
        pi += 1
        if si >= slen:
            while pi < plen and p[pi] == 42:
                pi += 1
            break
    return pi >= plen and si >= slen
