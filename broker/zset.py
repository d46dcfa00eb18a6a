"""The sorted set value type (``ZSet``): members with float scores, kept in order.

Two structures over the same members, like Redis's skiplist encoding:

- ``scores``: a dict member -> score, for O(1) ZSCORE and membership;
- ``order``: a ``sortedcontainers.SortedList`` of ``(score, member)`` tuples, for
  O(log n) insert, remove, rank and positional access (ZRANK, ZRANGE, ZPOPMIN ...).

Ties are ordered by member bytes, which is what Redis's ``zslInsert`` does
(``sdscmp`` = memcmp, then length), and Python's ``bytes`` ordering is the same.
A leaderboard of a million members therefore pays ~log n per ZINCRBY, not n.

Scores are never NaN (callers refuse it, as Redis does). ``compact`` mirrors
Redis's choice of encoding (listpack while small, skiplist for good once a set
outgrows 128 members or gets a member over 64 bytes), for OBJECT ENCODING and for
one visible quirk: the listpack stores ``-0`` as the integer ``0``, the skiplist
keeps ``-0.0``, so ZSCORE answers ``0`` or ``-0`` depending on the encoding.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from sortedcontainers import SortedList

__all__ = ["ZSet", "ScoreRange", "LexRange", "MAX_MEMBER", "LISTPACK_ENTRIES", "LISTPACK_VALUE"]

# Redis defaults of zset-max-listpack-entries and zset-max-listpack-value.
LISTPACK_ENTRIES = 128
LISTPACK_VALUE = 64


class _MaxMember:
    """Compares above every ``bytes``: the ``+`` of lex ranges and bisect bounds."""

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        return False

    def __le__(self, other: object) -> bool:
        return other is self

    def __gt__(self, other: object) -> bool:
        return other is not self

    def __ge__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "MAX_MEMBER"


MAX_MEMBER = _MaxMember()


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
        self.order: SortedList = SortedList((score, member) for member, score in self.scores.items())

    def __len__(self) -> int:
        return len(self.scores)

    def __bool__(self) -> bool:
        return bool(self.scores)

    def __contains__(self, member: object) -> bool:
        return member in self.scores

    def __iter__(self) -> Iterator[tuple[bytes, float]]:
        """(member, score) pairs in ascending order."""
        for score, member in self.order:
            yield member, score

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
            self.order.remove((old, member))
            self.scores[member] = score
            self.order.add((score, member))
            return False
        self.scores[member] = score
        self.order.add((score, member))
        return True

    def remove(self, member: bytes) -> bool:
        """Remove ``member``; returns True if it was there. O(log n)."""
        old = self.scores.pop(member, None)
        if old is None:
            return False
        self.order.remove((old, member))
        return True

    def pop(self, count: int, highest: bool = False) -> list[tuple[bytes, float]]:
        """Remove and return up to ``count`` lowest (or highest) members, in pop order."""
        count = min(count, len(self.scores))
        popped: list[tuple[bytes, float]] = []
        for _ in range(count):
            score, member = self.order.pop(-1 if highest else 0)
            del self.scores[member]
            popped.append((member, score))
        return popped

    def remove_rank_range(self, start: int, stop: int) -> list[bytes]:
        """Remove members at ranks ``start..stop`` inclusive (valid, ascending)."""
        removed = [member for _, member in self.order[start:stop + 1]]
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
        rank: int = self.order.index((score, member))
        return len(self.scores) - 1 - rank if reverse else rank

    def at(self, rank: int) -> tuple[bytes, float]:
        """The (member, score) at ascending rank ``rank``. O(log n)."""
        score, member = self.order[rank]
        return member, score

    def range(self, start: int, stop: int, reverse: bool = False) -> list[tuple[bytes, float]]:
        """(member, score) at ascending ranks ``start..stop`` inclusive, reversed if asked.

        ``start``/``stop`` must already be valid ranks (0 <= start <= stop < len).
        """
        it = self.order.islice(start, stop + 1, reverse=reverse)
        return [(member, score) for score, member in it]

    def score_bounds(self, rng: ScoreRange) -> tuple[int, int]:
        """Ascending ranks [first, end) of the members whose score is in ``rng``."""
        if rng.is_empty():
            return 0, 0
        order = self.order
        first = order.bisect_right((rng.min, MAX_MEMBER)) if rng.min_ex else order.bisect_left((rng.min, b""))
        end = order.bisect_left((rng.max, b"")) if rng.max_ex else order.bisect_right((rng.max, MAX_MEMBER))
        return first, max(first, end)

    def lex_bounds(self, rng: LexRange) -> tuple[int, int]:
        """Ascending ranks [first, end) of the members in ``rng``.

        Meaningful, as in Redis, only when all members have the same score: the
        search uses the lowest score present.
        """
        order = self.order
        if not order or rng.max is None or rng.min is MAX_MEMBER:
            return 0, 0
        score = order[0][0]
        if rng.min_ex:
            first = order.bisect_right((score, rng.min))
        else:
            first = order.bisect_left((score, rng.min))
        if rng.max is MAX_MEMBER:
            end = len(order)
        elif rng.max_ex:
            end = order.bisect_left((score, rng.max))
        else:
            end = order.bisect_right((score, rng.max))
        return first, max(first, end)

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
        return [(member, score) for score, member in it]

    def items_sorted(self) -> list[tuple[bytes, float]]:
        return [(member, score) for score, member in self.order]
