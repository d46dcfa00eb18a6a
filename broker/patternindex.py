"""Which subscribed glob patterns match a channel, without one glob call per pattern (sans-I/O).

A pattern is filed under its *shape* and its literal ends: the literal bytes before
its first wildcard (``prefix``) and after its last one (``suffix``), see
``broker.glob.literal_parts``. ``user:*:inbox`` is filed under
``(b"user:", b":inbox")`` in the shape ``(5, 6)``. To find the patterns of a
channel, each shape present is tried once: one dict lookup of
``(channel[:5], channel[-6:])`` yields the only candidates that can match, and
only those run the (compiled, C-speed) glob. Patterns of literals only are one
more dict lookup. A pattern with no literal end but a literal run inside
(``*room7*``, ``?x:y*``) is filed under its longest run, a substring every channel
it matches contains: the channel's substrings of the lengths filed are intersected
with those runs (in C) to find the candidates, or, when the channel is long and
such patterns are few, the patterns are simply tried. Patterns with no literal at
all (``*``, ``?*``, ``*[ab]*``) sit in one bucket that every channel tries.

Cost per lookup: O(shapes + candidates), where applications have a handful of
shapes (one per pattern template) and candidates are the patterns that share both
literal ends with the channel; the worst case (every pattern a distinct shape, or
all in the no-literal bucket) is one compiled glob call per pattern, as before.
Results are cached per channel (LRU, ``CACHE_SIZE`` channels of at most
``CACHE_NAME_MAX`` bytes), and the cache is dropped whenever a pattern is added
or removed.

Order: the patterns of a channel come back in the order they were added (the
order the registry's dict had when it was scanned in full), so delivery order does
not change with the index.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from broker.glob import GlobToken, compile_glob, literal_parts, parse_glob, single_byte

__all__ = ["PatternIndex", "CACHE_SIZE", "CACHE_NAME_MAX"]

# Channels whose matching patterns are remembered; longer names are not cached,
# so the cache is bounded in bytes too (~1,024 x 256 B of keys).
CACHE_SIZE = 1024
CACHE_NAME_MAX = 256

Matcher = Callable[[bytes], bool]


class PatternIndex:
    """A set of glob patterns, each with an insertion number, indexed by literal ends."""

    def __init__(self) -> None:
        # pattern -> (insertion number, its (prefix, suffix) key or None for a
        # literal-only pattern, and its literal or inner run: what remove() needs)
        self._entries: dict[bytes, tuple[int, tuple[bytes, bytes] | None, bytes]] = {}
        self._next = 0
        # Literal-only patterns: the one channel each matches -> patterns.
        self._literal: dict[bytes, dict[bytes, None]] = {}
        # (prefix, suffix) -> {pattern: matcher}; and how many keys of each shape.
        self._buckets: dict[tuple[bytes, bytes], dict[bytes, Matcher]] = {}
        self._shapes: dict[tuple[int, int], int] = {}
        # No literal end: longest inner literal run -> {pattern: matcher}; how many
        # runs of each length; how many patterns in all.
        self._runs: dict[bytes, dict[bytes, Matcher]] = {}
        self._run_lengths: dict[int, int] = {}
        self._run_patterns = 0
        self._cache: OrderedDict[bytes, tuple[bytes, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, pattern: bytes) -> bool:
        return pattern in self._entries

    def add(self, pattern: bytes) -> None:
        """File ``pattern`` (no-op if present). Cost: O(len(pattern)) once."""
        if pattern in self._entries:
            return
        tokens = parse_glob(pattern)
        prefix, suffix, wildcard = literal_parts(tokens)
        if not wildcard:
            self._literal.setdefault(prefix, {})[pattern] = None
            self._entries[pattern] = (self._next, None, prefix)
        elif not prefix and not suffix and (run := _longest_run(tokens)):
            bucket = self._runs.get(run)
            if bucket is None:
                bucket = self._runs[run] = {}
                self._run_lengths[len(run)] = self._run_lengths.get(len(run), 0) + 1
            bucket[pattern] = compile_glob(pattern)
            self._run_patterns += 1
            self._entries[pattern] = (self._next, (b"", b""), run)
        else:
            key = (prefix, suffix)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = {}
                shape = (len(prefix), len(suffix))
                self._shapes[shape] = self._shapes.get(shape, 0) + 1
            bucket[pattern] = compile_glob(pattern)
            self._entries[pattern] = (self._next, key, prefix)
        self._next += 1
        self._cache.clear()

    def remove(self, pattern: bytes) -> None:
        """Forget ``pattern`` (no-op if absent)."""
        entry = self._entries.pop(pattern, None)
        if entry is None:
            return
        _, key, literal = entry
        if key == (b"", b"") and literal:  # filed under an inner literal run
            bucket = self._runs[literal]
            del bucket[pattern]
            self._run_patterns -= 1
            if not bucket:
                del self._runs[literal]
                left = self._run_lengths[len(literal)] - 1
                if left:
                    self._run_lengths[len(literal)] = left
                else:
                    del self._run_lengths[len(literal)]
        elif key is None:
            patterns = self._literal[literal]
            del patterns[pattern]
            if not patterns:
                del self._literal[literal]
        else:
            bucket = self._buckets[key]
            del bucket[pattern]
            if not bucket:
                del self._buckets[key]
                shape = (len(key[0]), len(key[1]))
                left = self._shapes[shape] - 1
                if left:
                    self._shapes[shape] = left
                else:
                    del self._shapes[shape]
        self._cache.clear()

    def match(self, channel: bytes) -> tuple[bytes, ...]:
        """The patterns matching ``channel``, in insertion order (cached)."""
        cache = self._cache
        found = cache.get(channel)
        if found is not None:
            cache.move_to_end(channel)
            return found
        found = self._lookup(channel)
        if len(channel) <= CACHE_NAME_MAX:
            cache[channel] = found
            if len(cache) > CACHE_SIZE:
                cache.popitem(last=False)
        return found

    def _lookup(self, channel: bytes) -> tuple[bytes, ...]:
        hits: list[bytes] = []
        literal = self._literal.get(channel)
        if literal:
            hits.extend(literal)
        size = len(channel)
        buckets = self._buckets
        for plen, slen in self._shapes:
            if plen + slen > size:
                continue
            bucket = buckets.get((channel[:plen], channel[size - slen:] if slen else b""))
            if bucket:
                for pattern, matcher in bucket.items():
                    if matcher(channel):
                        hits.append(pattern)
        if self._runs:
            self._lookup_runs(channel, hits)
        if len(hits) > 1:
            entries = self._entries
            hits.sort(key=lambda pattern: entries[pattern][0])
        return tuple(hits)

    def _lookup_runs(self, channel: bytes, hits: list[bytes]) -> None:
        runs = self._runs
        size = len(channel)
        lengths = self._run_lengths
        if size * len(lengths) <= 4 * self._run_patterns:
            # The channel's substrings of each filed length, met with the runs (set
            # operations in C): only patterns whose run occurs in it are tried.
            present: set[bytes] = set()
            for length in lengths:
                if length <= size:
                    present |= {channel[i:i + length] for i in range(size - length + 1)}
            candidates = [runs[run] for run in present & runs.keys()]
        else:  # a long channel and few such patterns: trying them is cheaper
            candidates = list(runs.values())
        for bucket in candidates:
            for pattern, matcher in bucket.items():
                if matcher(channel):
                    hits.append(pattern)


def _longest_run(tokens: list[GlobToken]) -> bytes:
    """The longest run of one-byte literals in ``tokens`` (b"" if none)."""
    best = b""
    run = bytearray()
    for token in tokens:
        single = single_byte(token)
        if single is None:
            if len(run) > len(best):
                best = bytes(run)
            run.clear()
        else:
            run.append(single)
    return bytes(run) if len(run) > len(best) else best
