"""The live-view core without sockets: specs, validation, sharing and coalescing (issue 6)."""

from __future__ import annotations

import orjson
import pytest

from gateway.views import MAX_TOP, ViewError, ViewRegistry, ViewSpec, keyspace_channel, parse_view
from gateway.notify_flags import merged_notify_flags
from gateway.watch import NOTIFY_CLASSES

CHANNEL = keyspace_channel(b"board")


def _payload(frame: bytes) -> dict:
    assert frame[0] == 0x81  # one unfragmented text frame
    length = frame[1]
    start = 2 if length < 126 else 4
    return orjson.loads(frame[start:])


# ------------------------------------------------------------------ specs

@pytest.mark.parametrize("view, spec", [
    ({"type": "zset_top", "n": 10}, ViewSpec("zset_top", n=10)),
    ({"type": "zset_top", "n": 3, "scores": False}, ViewSpec("zset_top", n=3, scores=False)),
    ({"type": "hash"}, ViewSpec("hash")),
    ({"type": "string"}, ViewSpec("string")),
    ({"type": "list"}, ViewSpec("list", start=0, stop=-1)),
    ({"type": "list", "start": -5, "stop": -1}, ViewSpec("list", start=-5, stop=-1)),
])
def test_valid_views(view, spec):
    assert parse_view(view) == spec


@pytest.mark.parametrize("view, message", [
    (None, "'view' must be an object"),
    ([1], "'view' must be an object"),
    ({}, "view 'type' must be one of zset_top, hash, string, list; got None"),
    ({"type": "set"}, "got 'set'"),
    ({"type": "zset_top"}, "a zset_top view needs 'n'"),
    ({"type": "zset_top", "n": 0}, f"view 'n' must be between 1 and {MAX_TOP}, got 0"),
    ({"type": "zset_top", "n": MAX_TOP + 1}, f"got {MAX_TOP + 1}"),
    ({"type": "zset_top", "n": "10"}, "view 'n' must be an integer, got str"),
    ({"type": "zset_top", "n": True}, "view 'n' must be an integer, got bool"),
    ({"type": "zset_top", "n": 5, "scores": 1}, "view 'scores' must be true or false"),
    ({"type": "hash", "n": 5}, "unknown option(s) n for a hash view"),
    ({"type": "list", "start": 1.5}, "view 'start' must be an integer, got float"),
])
def test_invalid_views_say_what_is_wrong(view, message):
    with pytest.raises(ViewError) as error:
        parse_view(view)
    assert message in str(error.value)


def test_commands_read_the_view_in_one_call():
    assert ViewSpec("zset_top", n=10).command(b"k") == ["ZREVRANGE", b"k", 0, 9, "WITHSCORES"]
    assert ViewSpec("zset_top", n=2, scores=False).command(b"k") == ["ZREVRANGE", b"k", 0, 1]
    assert ViewSpec("hash").command(b"k") == ["HGETALL", b"k"]
    assert ViewSpec("string").command(b"k") == ["GET", b"k"]
    assert ViewSpec("list", start=-3, stop=-1).command(b"k") == ["LRANGE", b"k", -3, -1]


def test_values_from_resp2_and_resp3_replies():
    top = ViewSpec("zset_top", n=3)
    expected = [{"member": "b", "score": 2.5}, {"member": "a", "score": 1}]
    assert orjson.loads(top.encode([[b"b", 2.5], [b"a", 1.0]])) == expected  # RESP3 pairs
    assert orjson.loads(top.encode([b"b", b"2.5", b"a", b"1"])) == expected  # RESP2 flat
    assert orjson.loads(top.encode([b"x", b"inf"])) == [{"member": "x", "score": "inf"}]
    assert orjson.loads(ViewSpec("zset_top", n=3, scores=False).encode([b"b", b"a"])) == ["b", "a"]
    assert orjson.loads(ViewSpec("hash").encode({b"f": b"1"})) == {"f": "1"}
    assert orjson.loads(ViewSpec("hash").encode([b"f", b"1", b"g", b"\xff"])) == {"f": "1", "g": "\ufffd"}
    assert ViewSpec("string").encode(b'{"x": 1}') == b'"{\\"x\\": 1}"'
    assert ViewSpec("string").encode(b"") == b'""'
    assert orjson.loads(ViewSpec("list").encode([b"a", b"b"])) == ["a", "b"]


@pytest.mark.parametrize("spec, missing", [
    (ViewSpec("zset_top", n=3), []), (ViewSpec("hash"), {}), (ViewSpec("string"), None), (ViewSpec("list"), []),
])
def test_a_missing_key_reads_as_null(spec, missing):
    assert spec.encode(missing) == b"null"


def test_notify_flags_are_only_ever_added():
    assert merged_notify_flags("", NOTIFY_CLASSES) == "Kg$lhzxe"
    assert merged_notify_flags("KEA", NOTIFY_CLASSES) is None
    assert merged_notify_flags("Ex", NOTIFY_CLASSES) == "ExKg$lhz" + "e"
    assert merged_notify_flags("AK", NOTIFY_CLASSES) is None
    assert merged_notify_flags("Kg$lshzxetdmn", NOTIFY_CLASSES) is None


# --------------------------------------------------------------- registry

def _watched(registry: ViewRegistry, watcher: str, spec: ViewSpec = ViewSpec("zset_top", n=3),
             key: bytes = b"board", value: bytes = b"[]", now: float = 0.0):
    view, new_channel = registry.watch(watcher, key, spec)
    if view.value is None:
        registry.start(view, now)
        assert registry.computed(view, value) is None  # the first value goes in the reply, not a push
    assert registry.ready(view, watcher) == view.value
    return view, new_channel


def test_watchers_of_the_same_view_share_it_and_one_channel_per_key():
    registry = ViewRegistry(0.05)
    first, new = _watched(registry, "alice")
    second, again = _watched(registry, "bob")
    other, third = _watched(registry, "bob", ViewSpec("hash"), value=b"{}")
    assert (new, again, third) == (True, False, False)
    assert first is second and first is not other and first.id != other.id
    assert list(first.watchers) == ["alice", "bob"]
    assert list(registry.by_channel) == [CHANNEL]
    assert registry.count("bob") == 2 and registry.watch_count == 3
    assert registry.computations == 2  # one per view, not per watcher
    # watching a view already watched is idempotent
    assert registry.watch("alice", b"board", ViewSpec("zset_top", n=3)) == (first, False)
    assert registry.count("alice") == 1 and list(first.watchers) == ["alice", "bob"]


def test_unwatch_and_drop_release_the_channel_with_the_last_view():
    registry = ViewRegistry(0.05)
    view, _ = _watched(registry, "alice")
    hash_view, _ = _watched(registry, "bob", ViewSpec("hash"), value=b"{}")
    _watched(registry, "bob")
    assert registry.unwatch("alice", hash_view.id) == (False, None)  # not alice's
    assert registry.unwatch("alice", view.id) == (True, None)  # bob still watches it
    assert registry.unwatch("alice", view.id) == (False, None)
    assert registry.drop("bob") == [CHANNEL]
    assert registry.views == {} and registry.by_channel == {} and registry.by_watcher == {}
    assert registry.changed(CHANNEL) is False


def test_first_change_computes_at_once_then_once_per_interval():
    registry = ViewRegistry(0.05)
    view, _ = _watched(registry, "alice", now=0.0)
    assert registry.next_due() is None
    assert registry.changed(CHANNEL) is True
    assert registry.next_due() == pytest.approx(0.05)  # the first read was at 0.0
    assert registry.due(0.01) == []
    assert registry.due(0.05) == [view]
    assert view.computing and registry.next_due() is None
    # 1,000 changes while computing and in the following interval: one more computation
    for _ in range(1000):
        registry.changed(CHANNEL)
    assert registry.due(0.06) == []  # still computing: never twice at once
    frame = registry.computed(view, b"[1]")
    assert _payload(frame) == {"watch": view.id, "key": "board", "value": [1]}
    assert registry.next_due() == pytest.approx(0.10)
    assert registry.due(0.099) == []
    assert registry.due(0.10) == [view]
    assert registry.computed(view, b"[2]") is not None
    assert registry.computations == 3 and registry.pushes == 2
    # quiet for a while: the next change is computed immediately
    registry.changed(CHANNEL)
    assert registry.due(5.0) == [view]


def test_unchanged_values_are_not_pushed_and_failures_retry_next_interval():
    registry = ViewRegistry(0.05)
    view, _ = _watched(registry, "alice", value=b"[1]")
    registry.changed(CHANNEL)
    assert registry.due(1.0) == [view]
    assert registry.computed(view, b"[1]") is None  # e.g. EXPIRE: same value
    registry.changed(CHANNEL)
    assert registry.due(2.0) == [view]
    assert registry.computed(view, None) is None  # the backend failed
    assert registry.next_due() == pytest.approx(2.05)
    assert registry.due(2.05) == [view]
    assert _payload(registry.computed(view, b"[2]"))["value"] == [2]
    assert registry.pushes == 1


def test_pending_watchers_get_no_push_before_their_reply():
    registry = ViewRegistry(0.05)
    view, _ = _watched(registry, "alice", value=b"[1]")
    registry.watch("bob", b"board", ViewSpec("zset_top", n=3))  # bob's reply not sent yet
    assert list(view.watchers) == ["alice"] and list(view.pending) == ["bob"]
    registry.changed(CHANNEL)
    registry.due(1.0)
    assert registry.computed(view, b"[2]") is not None
    assert list(view.watchers) == ["alice"]
    assert registry.ready(view, "bob") == b"[2]"  # the reply carries the latest value
    assert list(view.watchers) == ["alice", "bob"]


def test_a_view_unwatched_during_its_computation_is_forgotten():
    registry = ViewRegistry(0.05)
    view, _ = _watched(registry, "alice")
    registry.changed(CHANNEL)
    registry.due(1.0)
    registry.changed(CHANNEL)
    assert registry.drop("alice") == [CHANNEL]
    assert registry.computed(view, b"[3]") is None
    assert registry.dirty == {} and registry.next_due() is None
    assert registry.ready(view, "alice") is None


def test_one_frame_for_a_thousand_watchers():
    registry = ViewRegistry(0.05)
    views = {_watched(registry, f"w{index}")[0] for index in range(1000)}
    assert len(views) == 1
    view = views.pop()
    now = 0.0
    frames = []
    for step in range(1000):  # a change every millisecond for one second
        now = step * 0.001
        registry.changed(CHANNEL)
        for due in registry.due(now):
            frames.append(registry.computed(due, b"[%d]" % step))
    assert len(view.watchers) == 1000
    # at 50, 100, ... 950 ms (the first value, at 0, went in the replies)
    assert len(frames) == registry.pushes == 19
    assert registry.computations == 20
