"""Glob matching exactly as Redis 7.0 does it (``util.c`` ``stringmatchlen``), in bounded time.

Used by PSUBSCRIBE, PUBSUB CHANNELS, KEYS, SCAN MATCH, CONFIG GET and the gateway's
channel permissions. Binary safe: patterns and subjects are bytes.

Syntax, as Redis reads it:

- ``*`` any run of bytes (runs of stars are one star), ``?`` any one byte;
- ``[abc]`` a set, ``[^abc]`` its complement (``!`` is NOT a negation in Redis: it is
  a member), ``[a-z]`` a range, either order (``[z-a]`` is ``[a-z]``), ``[\\]]`` an
  escaped member; a set with no closing ``]`` runs to the end of the pattern (Redis
  steps back and reads the last byte as the ``]``: ``a[bc`` is ``a[bc]``, ``[^`` is
  any byte, ``[`` alone matches nothing);
- ``\\x`` the byte x; a trailing ``\\`` is a literal backslash;
- range bounds compare as *signed* chars, as Redis built for x86-64 does (and the
  Debian build the tests run): ``[a-\\xff]`` is -1..97, i.e. bytes 0x00-0x61 and
  0xff (0x80 is -128, outside);
- ``nocase``: literals and range bounds compare lowercased (ASCII only; the range is
  swapped *before* lowercasing, as in Redis), escaped set members stay exact;
- the empty subject matches only the empty pattern (``*`` does not match ``""``;
  KEYS and SCAN treat a lone ``*`` as "everything" before they get here).

Every token but ``*`` consumes exactly one byte, so a pattern is segments of
one-byte classes between stars. That shape is matched in linear-ish time without
recursion: the pattern is translated once into a regex whose middle segments sit in
atomic groups ``(?>.*?SEG)`` (the leftmost place a segment fits is always a right
choice, so nothing is retried), and runs in C. Cost: O(len(subject) * longest
segment) at worst; no exponential case (Redis 7.0's ``skipLongerMatches`` still
allows ``a*a*a*...`` patterns quadratic-or-worse work) and no Python stack use.
Patterns over ``MAX_REGEX_PATTERN`` bytes are not compiled: a loop over their
tokens that backtracks only to the last star matches them in O(1) extra memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

__all__ = ["glob_match", "compile_glob", "parse_glob", "GlobToken", "STAR", "literal_parts", "single_byte"]

# A token is STAR or a 256-entry bytes table: table[b] == 1 when byte b matches.
GlobToken = bytes
STAR: GlobToken = b"*"
_ALL = bytes([1]) * 256
# Interned set tables (bounded: cleared when it grows past 4,096).
_TABLES: dict[bytes, bytes] = {}


def glob_match(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    """True if ``subject`` matches the Redis glob ``pattern`` (see the module docstring)."""
    return compile_glob(pattern, nocase)(subject)


# Patterns longer than this are matched by a plain loop over their tokens instead
# of a regex: compiling (and caching) a regex of a multi-megabyte KEYS pattern would
# cost far more memory than the pattern itself.
MAX_REGEX_PATTERN = 16 * 1024


def compile_glob(pattern: bytes, nocase: bool = False) -> Callable[[bytes], bool]:
    """A predicate ``subject -> bool`` for ``pattern``, built once (cached, LRU 4096).

    Args:
        pattern: a Redis glob.
        nocase: match ASCII letters case-insensitively, as Redis's ``nocase`` does.

    Returns:
        A function of one bytes subject. Cost of building: O(len(pattern)).
    """
    if len(pattern) > MAX_REGEX_PATTERN:
        return _compile_long(pattern, nocase)
    return _compile(pattern, nocase)


# Few entries: each holds a token list of 8 bytes per pattern byte, but SCAN MATCH
# asks once per key, so the last few long patterns are worth keeping.
@lru_cache(maxsize=4)
def _compile_long(pattern: bytes, nocase: bool) -> Callable[[bytes], bool]:
    tokens = parse_glob(pattern, nocase)
    return lambda subject: _scan(tokens, subject)


@lru_cache(maxsize=4096)
def _compile(pattern: bytes, nocase: bool) -> Callable[[bytes], bool]:
    if not pattern:
        return _is_empty
    tokens = parse_glob(pattern, nocase)
    if tokens == [STAR]:
        return _non_empty
    regex = re.compile(_regex(tokens), re.DOTALL)
    fullmatch = regex.fullmatch
    return lambda subject: fullmatch(subject) is not None


def _scan(tokens: list[GlobToken], subject: bytes) -> bool:
    """The tokens against ``subject`` by a loop that backtracks only to the last star.

    Correct because each non-star token takes one byte (the leftmost fit of what
    follows a star is always a right choice); O(len(tokens) * len(subject)) at
    worst, O(1) extra memory, no recursion. Used for very long patterns.
    """
    if not subject:
        return not tokens
    m, n = len(tokens), len(subject)
    pi = si = 0
    star, mark = -1, 0
    while si < n:
        token = tokens[pi] if pi < m else None
        if token is STAR:
            star, mark = pi, si
            pi += 1
        elif token is not None and token[subject[si]]:
            pi += 1
            si += 1
        elif star >= 0:
            mark += 1
            pi, si = star + 1, mark
        else:
            return False
    while pi < m and tokens[pi] is STAR:
        pi += 1
    return pi == m


def _is_empty(subject: bytes) -> bool:
    return not subject


def _non_empty(subject: bytes) -> bool:
    return bool(subject)


def parse_glob(pattern: bytes, nocase: bool = False) -> list[GlobToken]:
    """The pattern as Redis's ``stringmatchlen`` reads it: STAR or one-byte tables.

    Consecutive stars are merged. The reading does not depend on the subject, which
    is what lets the matcher (and ``broker.globinclusion``'s inclusion test) work on
    tokens. Cost: O(len(pattern)).
    """
    tokens: list[GlobToken] = []
    if len(_TABLES) > 4096:
        _TABLES.clear()
    plen = len(pattern)
    i = 0
    while i < plen:
        c = pattern[i]
        if c == 42:  # '*'
            if not tokens or tokens[-1] != STAR:
                tokens.append(STAR)
            i += 1
            continue
        if c == 63:  # '?'
            tokens.append(_ALL)
            i += 1
            continue
        if c == 91:  # '['
            table, i = _parse_set(pattern, i + 1, nocase)
            # One object per distinct table, so a long pattern costs a pointer a token.
            tokens.append(_TABLES.setdefault(table, table))
            continue
        if c == 92 and i + 1 < plen:  # '\x': the byte x (a trailing '\' is itself)
            i += 1
            c = pattern[i]
        tokens.append(_literal(c, nocase))
        i += 1
    return tokens


def _parse_set(p: bytes, i: int, nocase: bool) -> tuple[GlobToken, int]:
    """Reads a set whose ``[`` was at i - 1; returns its table and the index after it.

    Mirrors the ``case '['`` loop of stringmatchlen, item for item: ``\\x`` first
    (compared exactly, even with nocase), then ``]``, then the end of the pattern
    (where Redis steps back one byte and takes the last byte as the closing ``]``),
    then a range ``x-y`` (three bytes must remain), else a member.
    """
    plen = len(p)
    negate = i < plen and p[i] == 94  # '^' only; Redis has no '[!...]'
    if negate:
        i += 1
    members = bytearray(256)
    while True:
        remaining = plen - i
        if remaining >= 2 and p[i] == 92:  # '\x'
            i += 1
            members[p[i]] = 1
        elif remaining > 0 and p[i] == 93:  # ']'
            break
        elif remaining <= 0:
            # Unterminated: Redis steps back, so the set ends with the pattern.
            i = plen - 1
            break
        elif remaining >= 3 and p[i + 1] == 45:  # 'x-y'
            start, end = _signed(p[i]), _signed(p[i + 2])
            if start > end:
                start, end = end, start
            if nocase:
                start, end = _lower(start), _lower(end)
            for b in range(256):
                value = _lower(_signed(b)) if nocase else _signed(b)
                if start <= value <= end:
                    members[b] = 1
            i += 2
        else:
            members[p[i]] = 1
            if nocase:
                members[_swapcase(p[i])] = 1
        i += 1
    table = bytes(members)
    if negate:
        table = bytes(1 - m for m in table)
    return table, i + 1


def _signed(b: int) -> int:
    # Redis compares range bounds as C chars, signed on x86-64 (and on the Debian
    # build the tests run): 0x80-0xff are -128..-1.
    return b - 256 if b >= 128 else b


def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


def _swapcase(c: int) -> int:
    if 65 <= c <= 90:
        return c + 32
    if 97 <= c <= 122:
        return c - 32
    return c


@lru_cache(maxsize=512)
def _literal(c: int, nocase: bool) -> GlobToken:
    table = bytearray(256)
    table[c] = 1
    if nocase:
        table[_swapcase(c)] = 1
    return bytes(table)


def literal_parts(tokens: list[GlobToken]) -> tuple[bytes, bytes, bool]:
    """``(prefix, suffix, has_wildcard)``: the literal bytes before the first and after
    the last non-literal token (a one-byte table is a literal), used to index patterns.

    For a pattern of literals only, prefix is the whole pattern and suffix is empty.
    """
    prefix = bytearray()
    i = 0
    while i < len(tokens) and (single := single_byte(tokens[i])) is not None:
        prefix.append(single)
        i += 1
    if i == len(tokens):
        return bytes(prefix), b"", False
    suffix = bytearray()
    j = len(tokens) - 1
    while j > i and (single := single_byte(tokens[j])) is not None:
        suffix.append(single)
        j -= 1
    suffix.reverse()
    return bytes(prefix), bytes(suffix), True


def single_byte(token: GlobToken) -> int | None:
    """The byte a token matches if it matches exactly one (a literal), else None."""
    if token == STAR or token.count(1) != 1:
        return None
    return token.index(1)


# ----------------------------------------------------------- translation


def _regex(tokens: list[GlobToken]) -> bytes:
    """A regex for fullmatch that never backtracks into a finished segment.

    ``SEG0 (?>.*?SEG1) ... (?>.*?SEGk-1) .*SEGk``: the first segment is anchored at the
    start, the last at the end (the greedy ``.*`` tries end positions only for a
    fixed-length segment), each middle one is taken at its leftmost fit and never
    reconsidered. Leftmost is always safe: a later fit leaves a shorter rest, and
    whatever matches a shorter rest after a star matches the longer one too.
    """
    segments: list[list[GlobToken]] = [[]]
    for token in tokens:
        if token == STAR:
            segments.append([])
        else:
            segments[-1].append(token)
    parts = [_segment(segments[0])]
    if len(segments) > 1:
        for middle in segments[1:-1]:
            if middle:
                parts.append(b"(?>.*?" + _segment(middle) + b")")
        parts.append(b".*" + _segment(segments[-1]))
    return b"".join(parts)


def _segment(tokens: list[GlobToken]) -> bytes:
    return b"".join(_class(token) for token in tokens)


@lru_cache(maxsize=1024)
def _class(table: GlobToken) -> bytes:
    """A regex atom for a one-byte table: ``\\xHH``, ``.``, ``(?!)`` or ``[...]``."""
    count = table.count(1)
    if count == 256:
        return b"."
    if count == 0:
        return b"(?!)"
    if count == 1:
        return b"\\x%02x" % table.index(1)
    ranges = []
    b = 0
    while b < 256:
        if table[b]:
            start = b
            while b + 1 < 256 and table[b + 1]:
                b += 1
            ranges.append(b"\\x%02x" % start if start == b else b"\\x%02x-\\x%02x" % (start, b))
        b += 1
    return b"[" + b"".join(ranges) + b"]"
