"""Live views of keys, sans-I/O: view specs, a shared registry and a coalescing scheduler.

A *view* is one way of reading a key (the top N of a sorted set, a whole hash,
a string, a list range). Every watcher of the same ``(key, view)`` shares ONE
``View``: a change to the key marks it dirty, it is recomputed at most once per
``interval`` seconds, and the push frame is encoded once and written to every
watcher (``O(watchers)`` appends per push, one computation).

Scheduling is a throttle with a leading edge: the first change after a quiet
period is computed at once; changes within ``interval`` of the last computation
wait for the end of that interval and are merged into one computation. A view
is never computed twice concurrently: a change during a computation leaves it
dirty for the next slot.

No asyncio here: the shell (``gateway.watch``) passes ``now``, runs the commands
returned by ``ViewSpec.command`` and hands the replies back.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Hashable

import orjson

from gateway.connection import text_frame

__all__ = ["ViewError", "ViewSpec", "parse_view", "View", "ViewRegistry", "keyspace_channel",
           "MAX_TOP", "DEFAULT_INTERVAL"]

# Largest N of a zset_top view: a push is one frame to every watcher, keep it small.
MAX_TOP = 1000
DEFAULT_INTERVAL = 0.05
_TYPES = ("zset_top", "hash", "string", "list")


class ViewError(ValueError):
    """An invalid view object in a watch request (becomes a bad_request reply)."""


def keyspace_channel(key: bytes, db: int = 0) -> bytes:
    """The channel Redis publishes a key's changes on (``K`` in notify-keyspace-events)."""
    return b"__keyspace@%d__:" % db + key


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """A validated view; hashable, so equal specs share one ``View``."""

    type: str
    # zset_top: how many members, highest score first, and whether scores come along
    n: int = 0
    scores: bool = True
    # list: LRANGE indexes (inclusive, negative from the end)
    start: int = 0
    stop: int = -1

    def command(self, key: bytes) -> list[bytes | str | int]:
        """The one read command that computes this view."""
        if self.type == "zset_top":
            argv: list[bytes | str | int] = ["ZREVRANGE", key, 0, self.n - 1]
            return argv + ["WITHSCORES"] if self.scores else argv
        if self.type == "hash":
            return ["HGETALL", key]
        if self.type == "string":
            return ["GET", key]
        return ["LRANGE", key, self.start, self.stop]

    def encode(self, reply: Any) -> bytes:
        """The view's JSON value from the command's reply (RESP2 or RESP3 shapes).

        A missing key reads as ``null``: Redis deletes empty sorted sets, hashes
        and lists, so an empty reply means the key does not exist.
        """
        if reply is None or (not reply and self.type != "string"):
            return b"null"
        if self.type == "string":
            return orjson.dumps(_text(reply))
        if self.type == "hash":
            items = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2])
            return orjson.dumps({_text(field): _text(value) for field, value in items})
        if self.type == "list" or not self.scores:
            return orjson.dumps([_text(item) for item in reply])
        pairs = reply if isinstance(reply[0], (list, tuple)) else zip(reply[::2], reply[1::2])
        return orjson.dumps([{"member": _text(member), "score": _score(score)} for member, score in pairs])


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _score(value: Any) -> float | int | str:
    score = float(value)
    if not math.isfinite(score):
        return "inf" if score > 0 else "-inf"  # JSON has no infinity
    return int(score) if score.is_integer() and abs(score) < 2 ** 53 else score


def _int(view: dict[str, Any], name: str, default: int, low: int | None = None, high: int | None = None) -> int:
    value = view.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ViewError(f"view '{name}' must be an integer, got {type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ViewError(f"view '{name}' must be between {low} and {high}, got {value}")
    return value


def parse_view(view: Any) -> ViewSpec:
    """Validate the ``view`` object of a watch request.

    Accepted: ``{"type":"zset_top","n":10,"scores":true}``, ``{"type":"hash"}``,
    ``{"type":"string"}``, ``{"type":"list","start":0,"stop":-1}``.

    Raises:
        ViewError: not an object, unknown type, unknown or mistyped option.
    """
    if not isinstance(view, dict):
        raise ViewError("'view' must be an object such as {\"type\":\"zset_top\",\"n\":10}")
    kind = view.get("type")
    if kind not in _TYPES:
        raise ViewError(f"view 'type' must be one of {', '.join(_TYPES)}; got {kind!r}")
    allowed = {"zset_top": {"n", "scores"}, "list": {"start", "stop"}}.get(kind, set())
    unknown = sorted(set(view) - allowed - {"type"})
    if unknown:
        raise ViewError(f"unknown option(s) {', '.join(unknown)} for a {kind} view")
    if kind == "zset_top":
        if "n" not in view:
            raise ViewError("a zset_top view needs 'n' (how many members, highest score first)")
        scores = view.get("scores", True)
        if not isinstance(scores, bool):
            raise ViewError("view 'scores' must be true or false")
        return ViewSpec(kind, n=_int(view, "n", 0, 1, MAX_TOP), scores=scores)
    if kind == "list":
        return ViewSpec(kind, start=_int(view, "start", 0), stop=_int(view, "stop", -1))
    return ViewSpec(kind)


class View:
    """One computed view of one key, shared by all its watchers."""

    __slots__ = ("id", "key", "channel", "spec", "watchers", "pending", "value", "frame", "dirty", "computing",
                 "last_started", "_head")

    def __init__(self, view_id: str, key: bytes, spec: ViewSpec) -> None:
        self.id = view_id
        self.key = key
        self.channel = keyspace_channel(key)
        self.spec = spec
        # Watchers that have their reply (pushes go to these).
        self.watchers: dict[Hashable, None] = {}
        # Watchers whose watch is still being answered: no pushes before the reply.
        self.pending: dict[Hashable, None] = {}
        # Last computed value (JSON), None until the first computation ends.
        self.value: bytes | None = None
        # Last push frame, sent again to watchers that skipped it (over their output budget).
        self.frame: bytes | None = None
        self.dirty = False
        self.computing = False
        self.last_started = -math.inf
        self._head = orjson.dumps({"watch": view_id, "key": key.decode("utf-8", "replace")})[:-1]

    def push_payload(self, value: bytes) -> bytes:
        """``{"watch":id,"key":k,"value":...}`` from the already-encoded value."""
        return self._head + b',"value":' + value + b"}"

    @property
    def size(self) -> int:
        return len(self.watchers) + len(self.pending)


class ViewRegistry:
    """Views by (key, spec), by keyspace channel and by watcher; the coalescing scheduler.

    Args:
        interval: the least time between two computations of one view, in seconds.
    """

    def __init__(self, interval: float = DEFAULT_INTERVAL) -> None:
        self.interval = interval
        self.views: dict[tuple[bytes, ViewSpec], View] = {}
        self.by_id: dict[str, View] = {}
        # keyspace channel -> its views: the upstream subscription lives while this is non-empty
        self.by_channel: dict[bytes, dict[View, None]] = {}
        # watcher -> the views it watches (for unwatch by id, limits and cleanup on close)
        self.by_watcher: dict[Hashable, dict[str, View]] = {}
        self.dirty: dict[View, None] = {}
        self._ids = itertools.count(1)
        self.computations = 0
        self.pushes = 0

    # ------------------------------------------------------------- watchers

    def watch(self, watcher: Hashable, key: bytes, spec: ViewSpec) -> tuple[View, bool]:
        """Add a (pending) watcher; returns the view and whether its key is newly watched.

        The watcher gets no push until ``ready``. Watching a view it already
        watches returns the same view (idempotent).
        """
        view = self.views.get((key, spec))
        new_channel = False
        if view is None:
            view = View(f"v{next(self._ids)}", key, spec)
            self.views[(key, spec)] = view
            self.by_id[view.id] = view
            views = self.by_channel.get(view.channel)
            if views is None:
                views = self.by_channel[view.channel] = {}
                new_channel = True
            views[view] = None
        if watcher not in view.watchers:
            view.pending[watcher] = None
        self.by_watcher.setdefault(watcher, {})[view.id] = view
        return view, new_channel

    def ready(self, view: View, watcher: Hashable) -> bytes | None:
        """The watcher got its reply: it receives pushes from now on. Returns the value
        to reply with (the latest computed), None if the watch went away meanwhile."""
        if watcher in view.pending:
            del view.pending[watcher]
            view.watchers[watcher] = None
        return view.value if watcher in view.watchers else None

    def unwatch(self, watcher: Hashable, view_id: str) -> tuple[bool, bytes | None]:
        """Remove one watch; returns (was watching, keyspace channel no longer needed or None)."""
        views = self.by_watcher.get(watcher)
        view = views.pop(view_id, None) if views else None
        if view is None:
            return False, None
        if not views:
            del self.by_watcher[watcher]
        view.watchers.pop(watcher, None)
        view.pending.pop(watcher, None)
        return True, self._release(view) if not view.size else None

    def drop(self, watcher: Hashable) -> list[bytes]:
        """Remove every watch of a closed connection; returns the channels no longer needed."""
        released = []
        for view_id in list(self.by_watcher.get(watcher, ())):
            channel = self.unwatch(watcher, view_id)[1]
            if channel is not None:
                released.append(channel)
        return released

    def count(self, watcher: Hashable) -> int:
        views = self.by_watcher.get(watcher)
        return len(views) if views else 0

    def _release(self, view: View) -> bytes | None:
        del self.views[(view.key, view.spec)]
        del self.by_id[view.id]
        self.dirty.pop(view, None)
        views = self.by_channel[view.channel]
        del views[view]
        if views:
            return None
        del self.by_channel[view.channel]
        return view.channel

    # ------------------------------------------------------------ scheduler

    def changed(self, channel: bytes) -> bool:
        """A keyspace notification: mark the key's views dirty. True if any view is watched."""
        views = self.by_channel.get(channel)
        if not views:
            return False
        for view in views:
            view.dirty = True
            self.dirty[view] = None
        return True

    def next_due(self) -> float | None:
        """When the earliest dirty view may be computed, None if there is nothing to do."""
        due = [view.last_started + self.interval for view in self.dirty if not view.computing]
        return min(due) if due else None

    def due(self, now: float) -> list[View]:
        """Take the dirty views whose interval has passed: they are being computed now."""
        ready = [view for view in self.dirty if not view.computing and now >= view.last_started + self.interval]
        for view in ready:
            del self.dirty[view]
            self.start(view, now)
        return ready

    def start(self, view: View, now: float) -> None:
        """A computation of ``view`` begins (scheduled, or the first one on watch)."""
        view.dirty = False
        view.computing = True
        view.last_started = now
        self.computations += 1

    def computed(self, view: View, value: bytes | None) -> bytes | None:
        """A computation ended with ``value`` (None: it failed; the view stays dirty).

        Returns the push frame for ``view.watchers``, or None when there is
        nothing to send (unchanged value, nobody ready, or failure).
        """
        view.computing = False
        if self.by_id.get(view.id) is not view:
            return None  # unwatched by everyone meanwhile
        if value is None:
            view.dirty = True
        if view.dirty:  # changed during the computation (or failed): next slot
            self.dirty[view] = None
        if value is None or value == view.value:
            return None
        first = view.value is None
        view.value = value
        if first or not view.watchers:
            return None
        self.pushes += 1
        view.frame = text_frame(view.push_payload(value))
        return view.frame

    @property
    def watch_count(self) -> int:
        return sum(len(views) for views in self.by_watcher.values())
