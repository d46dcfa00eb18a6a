"""The sorted set value type (``ZSet``): members with float scores, kept in order.

Two structures over the same members, like Redis's skiplist encoding:

- ``scores``: a dict member -> score, for O(1) ZSCORE and membership;
- ``order``: a ``sortedcontainers.SortedList`` of order keys, for O(log n)
  insert, remove, rank and positional access (ZRANK, ZRANGE, ZPOPMIN ...).

An order key is one ``bytes``: 9 bytes that sort as the score does, then the
member. Ties are thereby ordered by member bytes, which is what Redis's
``zslInsert`` does (``sdscmp`` = memcmp, then length), as Python's ``bytes``
ordering does. Comparing two keys is one memcmp, where ``(score, member)`` tuples
took two object hops and two comparisons each, and keys are not tracked by the
cyclic GC: ZADD into a 100k-member set costs ~40% less. A leaderboard of a million
members pays ~log n per ZINCRBY, not n.

Scores are never NaN (callers refuse it, as Redis does). ``compact`` mirrors
Redis's choice of encoding (listpack while small, skiplist for good once a set
outgrows 128 members or gets a member over 64 bytes), for OBJECT ENCODING and for
one visible quirk: the listpack stores ``-0`` as the integer ``0``, the skiplist
keeps ``-0.0``, so ZSCORE answers ``0`` or ``-0`` depending on the encoding.
"""

from __future__ import annotations

import struct
from typing import Iterable, Iterator

from sortedcontainers import SortedList

__all__ = ["ZSet", "ScoreRange", "LexRange", "MAX_MEMBER", "LISTPACK_ENTRIES", "LISTPACK_VALUE"]

# zset-max-listpack-entries and zset-max-listpack-value (Redis's defaults until a
# broker's CONFIG changes them: see set_listpack_limits).
LISTPACK_ENTRIES = 128
LISTPACK_VALUE = 64


def set_listpack_limits(entries: int, value: int) -> None:
    """CONFIG SET zset-max-listpack-*: the sizes past which a sorted set stops being
    compact (process-wide: the broker of a process owns its sorted sets)."""
    global LISTPACK_ENTRIES, LISTPACK_VALUE
    LISTPACK_ENTRIES, LISTPACK_VALUE = entries, value


class _MaxMember:
    """The ``+`` of lex ranges: above every member (a sentinel, never compared)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MAX_MEMBER"


MAX_MEMBER = _MaxMember()

_TAGGED = struct.Struct(">Bd").pack
_DOUBLE = struct.Struct(">d").pack
_INVERT = bytes(range(255, -1, -1))
PREFIX = 9  # bytes of an order key before the member


def score_prefix(score: float) -> bytes:
    """9 bytes whose byte order is the numeric order of scores (-0.0 as 0.0, as
    Redis compares them): a 1 tag and the big-endian double for scores >= 0 (IEEE
    doubles of one sign sort like their bits), a 0 tag and the inverted bits of the
    magnitude for negative ones."""
    if score >= 0:
        return _TAGGED(1, score + 0.0)
    return b"\x00" + _DOUBLE(-score).translate(_INVERT)


def _after(prefix: bytes) -> bytes:
    """The smallest key above every key starting with ``prefix``."""
    return (int.from_bytes(prefix, "big") + 1).to_bytes(PREFIX, "big")


class ScoreRange:
    """A score interval as ZRANGEBYSCORE takes it (``(1`` exclusive, ``-inf``, ``+inf``)."""

    __slots__ = ("min", "max", "min_ex", "max_ex")

    def __init__(self, low: float, high: float, low_ex: bool = False, high_ex: bool = False) -> None:
        self.min, self.max, self.min_ex, self.max_ex = low, high, low_ex, high_ex

    def is_empty(self) -> bool:
        return self.min > self.max or (self.min == self.max and (self.min_ex or self.max_ex))


class LexRange:
    """A member interval as ZRANGEBYLEX takes it; ``b""`` with inclusive min is ``-``.

    ``max`` may be ``MAX_MEMBER`` (``+``); ``min`` may be MAX_MEMBER too (``+`` given
    as the minimum, an empty range), and ``max`` may be None (``-`` as the maximum).
    """

    __slots__ = ("min", "max", "min_ex", "max_ex")

    def __init__(self, low: bytes | _MaxMember, high: bytes | _MaxMember | None,
                 low_ex: bool = False, high_ex: bool = False) -> None:
        self.min, self.max, self.min_ex, self.max_ex = low, high, low_ex, high_ex


class ZSet:
    """A Redis sorted set. Every update and rank query costs O(log n)."""

    TYPE_NAME = b"zset"
    __slots__ = ("scores", "order", "compact")

    def __init__(self, items: Iterable[tuple[bytes, float]] = ()) -> None:
        self.scores: dict[bytes, float] = dict(items)
        # A bulk-built set (ZUNIONSTORE, ZRANGESTORE) is compact if it fits, as
        # Redis's zsetConvertToListpackIfNeeded decides.
        self.compact = (len(self.scores) <= LISTPACK_ENTRIES
                        and all(len(member) <= LISTPACK_VALUE for member in self.scores))
        if self.compact:
            for member, score in self.scores.items():
                self.scores[member] = score + 0.0  # -0.0 -> 0.0
        # Built in one sort: O(n log n) for ZUNIONSTORE-style bulk creation.
        self.order: SortedList = SortedList(score_prefix(score) + member for member, score in self.scores.items())

    def __len__(self) -> int:
        return len(self.scores)

    def __bool__(self) -> bool:
        return bool(self.scores)

    def __contains__(self, member: object) -> bool:
        return member in self.scores

    def __iter__(self) -> Iterator[tuple[bytes, float]]:
        """(member, score) pairs in ascending order."""
        scores = self.scores
        for key in self.order:
            member = key[PREFIX:]
            yield member, scores[member]

    def __repr__(self) -> str:
        return f"ZSet({list(self)!r})"

    @property
    def encoding(self) -> bytes:
        """What OBJECT ENCODING would say in Redis."""
        return b"listpack" if self.compact else b"skiplist"

    def copy(self) -> "ZSet":
        clone = ZSet.__new__(ZSet)
        clone.scores = dict(self.scores)
        clone.order = self.order.copy()
        clone.compact = self.compact
        return clone

    # ------------------------------------------------------------- updates

    def score(self, member: bytes) -> float | None:
        return self.scores.get(member)

    def add(self, member: bytes, score: float) -> bool:
        """Set ``member``'s score; returns True if the member is new. O(log n)."""
        old = self.scores.get(member)
        if self.compact:
            # Redis converts before inserting the member that does not fit (zsetAdd).
            if old is None and (len(self.scores) >= LISTPACK_ENTRIES or len(member) > LISTPACK_VALUE):
                self.compact = False
            else:
                score += 0.0  # -0.0 -> 0.0
        if old is not None:
            if old == score:
                return False
            self.order.remove(score_prefix(old) + member)
            self.scores[member] = score
            self.order.add(score_prefix(score) + member)
            return False
        self.scores[member] = score
        self.order.add(score_prefix(score) + member)
        return True

    def remove(self, member: bytes) -> bool:
        """Remove ``member``; returns True if it was there. O(log n)."""
        old = self.scores.pop(member, None)
        if old is None:
            return False
        self.order.remove(score_prefix(old) + member)
        return True

    def pop(self, count: int, highest: bool = False) -> list[tuple[bytes, float]]:
        """Remove and return up to ``count`` lowest (or highest) members, in pop order."""
        count = min(count, len(self.scores))
        popped: list[tuple[bytes, float]] = []
        for _ in range(count):
            member = self.order.pop(-1 if highest else 0)[PREFIX:]
            popped.append((member, self.scores.pop(member)))
        return popped

    def remove_rank_range(self, start: int, stop: int) -> list[bytes]:
        """Remove members at ranks ``start..stop`` inclusive (valid, ascending)."""
        removed = [key[PREFIX:] for key in self.order[start:stop + 1]]
        del self.order[start:stop + 1]
        for member in removed:
            del self.scores[member]
        return removed

    # ------------------------------------------------------------- queries

    def rank(self, member: bytes, reverse: bool = False) -> int | None:
        """0-based rank of ``member`` (from the highest score if ``reverse``). O(log n)."""
        score = self.scores.get(member)
        if score is None:
            return None
        rank: int = self.order.index(score_prefix(score) + member)
        return len(self.scores) - 1 - rank if reverse else rank

    def at(self, rank: int) -> tuple[bytes, float]:
        """The (member, score) at ascending rank ``rank``. O(log n)."""
        member = self.order[rank][PREFIX:]
        return member, self.scores[member]

    def range(self, start: int, stop: int, reverse: bool = False) -> list[tuple[bytes, float]]:
        """(member, score) at ascending ranks ``start..stop`` inclusive, reversed if asked.

        ``start``/``stop`` must already be valid ranks (0 <= start <= stop < len).
        """
        return self.decode(self.order.islice(start, stop + 1, reverse=reverse))

    def decode(self, keys: Iterable[bytes]) -> list[tuple[bytes, float]]:
        """(member, score) for order keys."""
        scores = self.scores
        pairs = []
        for key in keys:
            member = key[PREFIX:]
            pairs.append((member, scores[member]))
        return pairs

    def score_bounds(self, rng: ScoreRange) -> tuple[int, int]:
        """Ascending ranks [first, end) of the members whose score is in ``rng``."""
        if rng.is_empty():
            return 0, 0
        order = self.order
        low, high = score_prefix(rng.min), score_prefix(rng.max)
        first = order.bisect_left(_after(low) if rng.min_ex else low)
        end = order.bisect_left(high if rng.max_ex else _after(high))
        return first, max(first, end)

    def lex_bounds(self, rng: LexRange, reverse: bool = False) -> tuple[int, int]:
        """Ascending ranks [first, end) of the members in ``rng``.

        Meaningful, as in Redis, only when all members have the same score. A
        compact set is scanned as Redis scans its listpack (from the head, or from
        the tail for a reversed range), which gives Redis's answer for any scores;
        a large one is searched with the lowest score present (Redis's skiplist
        answer for mixed scores depends on its random levels).
        """
        if self.compact:
            return self._scan_lex(rng, reverse)
        order = self.order
        if not order or rng.max is None or rng.min is MAX_MEMBER:
            return 0, 0
        prefix = order[0][:PREFIX]
        if rng.min_ex:
            first = order.bisect_right(prefix + rng.min)  # type: ignore[operator]
        else:
            first = order.bisect_left(prefix + rng.min)  # type: ignore[operator]
        if rng.max is MAX_MEMBER:
            end = len(order)
        elif rng.max_ex:
            end = order.bisect_left(prefix + rng.max)  # type: ignore[operator]
        else:
            end = order.bisect_right(prefix + rng.max)  # type: ignore[operator]
        return first, max(first, end)

    def _scan_lex(self, rng: LexRange, reverse: bool) -> tuple[int, int]:
        """``zzlFirstInLexRange``/``zzlLastInLexRange`` and the walk after them."""
        low, high = rng.min, rng.max
        if low is MAX_MEMBER or high is None:
            return 0, 0
        if high is not MAX_MEMBER and (low > high or (low == high and (rng.min_ex or rng.max_ex))):  # type: ignore[operator]
            return 0, 0

        def above_min(member: bytes) -> bool:
            return member > low if rng.min_ex else member >= low  # type: ignore[operator]

        def below_max(member: bytes) -> bool:
            if high is MAX_MEMBER:
                return True
            return member < high if rng.max_ex else member <= high  # type: ignore[operator]

        members = [key[PREFIX:] for key in self.order]
        if not members or not above_min(members[-1]) or not below_max(members[0]):
            return 0, 0
        if reverse:
            last = len(members) - 1
            while last >= 0 and not below_max(members[last]):
                last -= 1
            if last < 0 or not above_min(members[last]):
                return 0, 0
            first = last
            while first > 0 and above_min(members[first - 1]):
                first -= 1
            return first, last + 1
        first = 0
        while first < len(members) and not above_min(members[first]):
            first += 1
        if first == len(members) or not below_max(members[first]):
            return 0, 0
        end = first
        while end < len(members) and below_max(members[end]):
            end += 1
        return first, end

    def slice(self, first: int, end: int, reverse: bool = False, offset: int = 0,
              limit: int = -1) -> list[tuple[bytes, float]]:
        """Members at ascending ranks [first, end), walked in the asked direction.

        ``offset`` skips that many members from the start of the walk; a negative
        ``limit`` means no limit (ZRANGEBYSCORE ... LIMIT offset count).
        """
        count = end - first
        if offset < 0 or offset >= count or limit == 0:
            return []
        count -= offset
        if 0 <= limit < count:
            count = limit
        if reverse:
            stop = end - offset
            it = self.order.islice(stop - count, stop, reverse=True)
        else:
            start = first + offset
            it = self.order.islice(start, start + count)
        return self.decode(it)

    def items_sorted(self) -> list[tuple[bytes, float]]:
        return self.decode(self.order)
