"""PatternIndex finds exactly the patterns a full scan would, in the same order (issue 13, item 6)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.glob import glob_match
from broker.patternindex import CACHE_SIZE, PatternIndex
from broker.pubsub import PubSub

_pattern = st.binary(max_size=7).map(lambda raw: bytes(b"ab:*?[]^\\-"[b % 10] for b in raw))
_channel = st.binary(max_size=8).map(lambda raw: bytes(b"ab:*[]\\"[b % 7] for b in raw))


def _scan(order: list[bytes], channel: bytes) -> tuple[bytes, ...]:
    return tuple(pattern for pattern in order if glob_match(pattern, channel))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _pattern), max_size=25), st.lists(_channel, min_size=1, max_size=8))
def test_same_answers_as_a_full_scan(operations, channels):
    index = PatternIndex()
    order: list[bytes] = []  # the registry dict's insertion order
    for add, pattern in operations:
        if add and pattern not in order:
            index.add(pattern)
            order.append(pattern)
        elif not add and pattern in order:
            index.remove(pattern)
            order.remove(pattern)
        for channel in channels:  # asked between changes: the cache must not go stale
            assert index.match(channel) == _scan(order, channel)
    assert len(index) == len(order)


def test_shapes_and_literals():
    index = PatternIndex()
    for pattern in [b"user:*:inbox", b"user:*", b"*", b"news", b"n\\ews", b"*:inbox", b"[u]ser:?:inbox"]:
        index.add(pattern)
    assert index.match(b"user:7:inbox") == (b"user:*:inbox", b"user:*", b"*", b"*:inbox", b"[u]ser:?:inbox")
    assert index.match(b"news") == (b"*", b"news", b"n\\ews")
    assert index.match(b"") == ()
    index.remove(b"*")
    assert index.match(b"news") == (b"news", b"n\\ews")


def test_cache_is_bounded():
    index = PatternIndex()
    index.add(b"c:*")
    for i in range(CACHE_SIZE * 2):
        assert index.match(b"c:%d" % i) == (b"c:*",)
    assert len(index._cache) == CACHE_SIZE


class Collector:
    def __init__(self) -> None:
        self.got: list[bytes] = []

    def deliver(self, message) -> None:
        self.got.append(message.pattern)


def test_publish_goes_to_matching_patterns_in_subscription_order():
    registry = PubSub()
    a = Collector()
    for pattern in [b"z*", b"a*", b"*", b"b*"]:
        registry.psubscribe(a, pattern)
    assert registry.publish(b"abc", b"x") == 2
    assert a.got == [b"a*", b"*"]
    registry.punsubscribe(a, b"a*")
    registry.psubscribe(a, b"a*")  # re-subscribed: now last
    a.got.clear()
    registry.publish(b"abc", b"x")
    assert a.got == [b"*", b"a*"]
    for pattern in [b"z*", b"a*", b"*", b"b*"]:
        registry.punsubscribe(a, pattern)
    assert len(registry.pattern_index) == 0 and registry.publish(b"abc", b"x") == 0


def test_inner_literal_runs_both_ways():
    # Many '*room<i>*' patterns: a short channel meets their runs by substring sets,
    # a long one (few patterns per byte of channel) tries them all; same answers.
    index = PatternIndex()
    order = [b"*room%d*" % i for i in range(60)] + [b"?x*", b"*[ab]*", b"*:*:end?"]
    for pattern in order:
        index.add(pattern)
    for channel in [b"a:room7:b", b"room59", b"xroom1", b"q" * 300 + b"room12" + b":z:end!", b"", b"b"]:
        assert index.match(channel) == _scan(order, channel)
    for pattern in order[::2]:
        index.remove(pattern)
    rest = order[1::2]
    for channel in [b"a:room7:b", b"room59", b"q" * 300 + b"room13"]:
        assert index.match(channel) == _scan(rest, channel)
