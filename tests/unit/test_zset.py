"""ZSet, the sorted set structure: checked against a naive sorted-list model."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from broker.zset import MAX_MEMBER, LexRange, ScoreRange, ZSet

MEMBERS = st.binary(min_size=0, max_size=3)
SCORES = st.one_of(st.sampled_from([0.0, -0.0, 1.0, 1.5, -2.0, math.inf, -math.inf, 5e-324, -5e-324, 1e308, -1e308]),
                   st.floats(allow_nan=False, min_value=-1e6, max_value=1e6))


def model_order(model: dict[bytes, float]) -> list[tuple[bytes, float]]:
    """What Redis orders by: score, then member bytes (memcmp)."""
    return sorted(model.items(), key=lambda item: (item[1], item[0]))


class ZSetMachine(RuleBasedStateMachine):
    """Random adds/removes/pops; every structure query must agree with the model."""

    def __init__(self) -> None:
        super().__init__()
        self.zset = ZSet()
        self.model: dict[bytes, float] = {}

    @rule(member=MEMBERS, score=SCORES)
    def add(self, member: bytes, score: float) -> None:
        assert self.zset.add(member, score) == (member not in self.model)
        self.model[member] = score + 0.0

    @rule(member=MEMBERS)
    def remove(self, member: bytes) -> None:
        assert self.zset.remove(member) == (member in self.model)
        self.model.pop(member, None)

    @rule(count=st.integers(0, 4), highest=st.booleans())
    def pop(self, count: int, highest: bool) -> None:
        ordered = model_order(self.model)
        expected = (ordered[::-1] if highest else ordered)[:count]
        assert self.zset.pop(count, highest) == expected
        for member, _ in expected:
            del self.model[member]

    @rule(start=st.integers(0, 10), length=st.integers(1, 4))
    def remove_rank_range(self, start: int, length: int) -> None:
        ordered = model_order(self.model)
        stop = min(start + length, len(ordered)) - 1
        if start > stop:
            return
        expected = [member for member, _ in ordered[start:stop + 1]]
        assert self.zset.remove_rank_range(start, stop) == expected
        for member in expected:
            del self.model[member]

    @rule(low=SCORES, high=SCORES, low_ex=st.booleans(), high_ex=st.booleans(),
          reverse=st.booleans(), offset=st.integers(-1, 3), limit=st.integers(-1, 3))
    def score_range(self, low: float, high: float, low_ex: bool, high_ex: bool, reverse: bool,
                    offset: int, limit: int) -> None:
        inside = [(m, s) for m, s in model_order(self.model)
                  if (s > low if low_ex else s >= low) and (s < high if high_ex else s <= high)]
        first, end = self.zset.score_bounds(ScoreRange(low, high, low_ex, high_ex))
        assert end - first == len(inside)
        walk = inside[::-1] if reverse else inside
        expected = [] if offset < 0 else walk[offset:]
        if limit >= 0:
            expected = expected[:limit]
        assert self.zset.slice(first, end, reverse, offset, limit) == expected

    @invariant()
    def agrees_with_model(self) -> None:
        ordered = model_order(self.model)
        assert len(self.zset) == len(self.model)
        assert list(self.zset) == ordered
        for rank, (member, score) in enumerate(ordered):
            assert self.zset.rank(member) == rank
            assert self.zset.rank(member, reverse=True) == len(ordered) - 1 - rank
            assert self.zset.score(member) == score
            assert self.zset.at(rank) == (member, score)
        if ordered:
            assert self.zset.range(0, len(ordered) - 1, reverse=True) == ordered[::-1]


TestZSetMachine = ZSetMachine.TestCase
TestZSetMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


@settings(max_examples=200, deadline=None)
@given(members=st.lists(st.binary(min_size=0, max_size=2), max_size=15), low=MEMBERS, high=MEMBERS,
       low_ex=st.booleans(), high_ex=st.booleans())
def test_lex_bounds_on_equal_scores(members: list[bytes], low: bytes, high: bytes, low_ex: bool,
                                    high_ex: bool) -> None:
    zset = ZSet((member, 0.0) for member in members)
    first, end = zset.lex_bounds(LexRange(low, high, low_ex, high_ex))
    expected = [m for m in sorted(set(members))
                if (m > low if low_ex else m >= low) and (m < high if high_ex else m <= high)]
    assert [member for member, _ in zset.slice(first, end)] == expected


def test_lex_open_ends() -> None:
    zset = ZSet([(b"a", 0.0), (b"b", 0.0), (b"c", 0.0)])
    assert zset.lex_bounds(LexRange(b"", MAX_MEMBER)) == (0, 3)   # - +
    assert zset.lex_bounds(LexRange(MAX_MEMBER, MAX_MEMBER)) == (0, 0)  # + +
    assert zset.lex_bounds(LexRange(b"", None)) == (0, 0)   # - -
    assert zset.lex_bounds(LexRange(b"b", MAX_MEMBER, low_ex=True)) == (2, 3)


def test_ties_order_by_member_bytes() -> None:
    zset = ZSet()
    for member in (b"b", b"a\xff", b"a", b"", b"ab"):
        zset.add(member, 1.0)
    assert [m for m, _ in zset] == [b"", b"a", b"ab", b"a\xff", b"b"]


def test_update_moves_member_and_keeps_one_entry() -> None:
    zset = ZSet([(b"x", 1.0), (b"y", 2.0)])
    assert zset.add(b"x", 3.0) is False
    assert list(zset) == [(b"y", 2.0), (b"x", 3.0)]
    assert len(zset.order) == 2
    assert zset.add(b"x", 3.0) is False  # same score: no change


def test_negative_zero_is_zero_while_compact_only() -> None:
    zset = ZSet([(b"a", -0.0)])
    zset.add(b"b", -0.0)
    assert all(math.copysign(1.0, score) == 1.0 for _, score in zset)
    for i in range(200):
        zset.add(b"m%d" % i, float(i))
    assert zset.encoding == b"skiplist"
    zset.add(b"c", -0.0)
    assert math.copysign(1.0, zset.scores[b"c"]) == -1.0


def test_encoding_follows_redis_conversion_rules() -> None:
    zset = ZSet()
    for i in range(128):
        zset.add(b"%d" % i, 1.0)
    assert zset.encoding == b"listpack"
    zset.add(b"one more", 1.0)
    assert zset.encoding == b"skiplist"
    zset.pop(100)
    assert zset.encoding == b"skiplist"  # Redis never converts back on removal
    assert ZSet([(b"x" * 65, 1.0)]).encoding == b"skiplist"
    long_member = ZSet()
    long_member.add(b"x" * 64, 1.0)
    assert long_member.encoding == b"listpack"
    long_member.add(b"y" * 65, 1.0)
    assert long_member.encoding == b"skiplist"
    assert ZSet([(b"%d" % i, 1.0) for i in range(129)]).encoding == b"skiplist"


def test_copy_is_independent() -> None:
    zset = ZSet([(b"a", 1.0)])
    clone = zset.copy()
    clone.add(b"b", 2.0)
    zset.remove(b"a")
    assert list(clone) == [(b"a", 1.0), (b"b", 2.0)] and len(zset) == 0 and not zset


def test_rank_of_missing_member_is_none() -> None:
    assert ZSet().rank(b"nope") is None
    assert ZSet([(b"a", 1.0)]).rank(b"b") is None


def test_empty_score_ranges() -> None:
    zset = ZSet([(b"a", 1.0), (b"b", 2.0)])
    assert zset.score_bounds(ScoreRange(2.0, 1.0))[1] - zset.score_bounds(ScoreRange(2.0, 1.0))[0] == 0
    first, end = zset.score_bounds(ScoreRange(1.0, 1.0, low_ex=True))
    assert first == end
    assert zset.score_bounds(ScoreRange(-math.inf, math.inf)) == (0, 2)
