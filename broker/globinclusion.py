"""Glob inclusion: does every channel one pattern matches match one of some others? (sans-I/O)

Used by the gateway's permissions: a pattern subscription is allowed only when each
channel it can ever deliver is a channel the token may subscribe to.

A Redis glob (``broker.glob``) is a regular language: its tokens are stars and
one-byte classes, so it is a small NFA whose states are positions in the token
list. ``L(P) ⊆ L(A1) ∪ ... ∪ L(An)`` is decided exactly by walking the product of
P's and the union's subset automata breadth-first, over the bytes grouped into
classes no token tells apart (at most 256, usually a handful), looking for a
reachable pair where P accepts and no Ai does: a channel P matches and no allowed
pattern does. The empty channel is Redis's special case (only the empty pattern
matches it) and is checked on its own.

Cost: the union's subset automaton can be exponential in the number of stars of
the allowed patterns in theory; the walk stops after ``MAX_STEPS`` units of work and then
answers False (refuse), so it is exact whenever it answers True, and exact within
that bound otherwise. Answers are cached (LRU).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from functools import lru_cache

from broker.glob import STAR, GlobToken, parse_glob

__all__ = ["includes", "counterexample", "MAX_STEPS"]

# Work (NFA positions stepped, over all product states and byte classes) before
# giving up and refusing: well under 0.1 s. Real permission sets (a few patterns of
# a few stars) need tens to hundreds.
MAX_STEPS = 50_000


def includes(allowed: Sequence[bytes], pattern: bytes, max_steps: int = MAX_STEPS) -> bool:
    """True if every subject ``pattern`` matches is matched by some pattern in ``allowed``.

    Args:
        allowed: glob patterns (Redis syntax, case-sensitive).
        pattern: the glob to test.
        max_steps: bound on the work (about positions stepped); past it the answer is False.

    Returns:
        True only if inclusion holds (over all byte strings, a superset of the UTF-8
        channel names the gateway takes, so True is safe).
    """
    return _search(tuple(allowed), pattern, max_steps) is None


def counterexample(allowed: Sequence[bytes], pattern: bytes, max_steps: int = MAX_STEPS) -> bytes | None:
    """A shortest subject ``pattern`` matches and no allowed pattern does, or None.

    Raises:
        LookupError: the search gave up after ``max_steps`` (no witness known).
    """
    found = _search(tuple(allowed), pattern, max_steps)
    if found is _GAVE_UP:
        raise LookupError(f"inclusion undecided after {max_steps} steps")
    return found


class _GaveUp(bytes):
    """The type of ``_GAVE_UP``: refused at the bound, with no witness."""


_GAVE_UP = _GaveUp(b"")


@lru_cache(maxsize=4096)
def _search(allowed: tuple[bytes, ...], pattern: bytes, max_steps: int) -> bytes | None:
    """None if included, else a witness subject (or ``_GAVE_UP``)."""
    if pattern in allowed:
        return None
    if pattern == b"":
        return b""  # only the empty pattern matches the empty channel
    p_tokens = parse_glob(pattern)
    a_tokens = [parse_glob(a) for a in allowed if a]
    atoms = _atoms([p_tokens, *a_tokens])
    p_auto = _Automaton(p_tokens, atoms)
    a_autos = [_Automaton(tokens, atoms) for tokens in a_tokens]
    start = (p_auto.start, tuple(auto.start for auto in a_autos))
    # Each pair reached, with the shortest subject that reaches it.
    seen: dict[tuple[frozenset[int], tuple[frozenset[int], ...]], bytes] = {start: b""}
    queue = deque([start])
    budget = max_steps
    while queue:
        pair = queue.popleft()
        p_state, a_state = pair
        path = seen[pair]
        # Work is about the positions stepped: bound that, not just the pairs.
        cost = 1 + len(p_state) + sum(len(state) for state in a_state)
        for index, byte in enumerate(atoms):
            budget -= cost
            if budget < 0:
                return _GAVE_UP
            p_next = p_auto.step(p_state, index)
            if not p_next:
                continue  # P matches nothing that starts this way
            a_next = tuple(auto.step(state, index) for auto, state in zip(a_autos, a_state))
            # A non-empty subject ends here: P accepts it, so some Ai must.
            if p_auto.end in p_next and not any(auto.end in state for auto, state in zip(a_autos, a_next)):
                return path + bytes((byte,))
            following = (p_next, a_next)
            if following not in seen:
                seen[following] = path + bytes((byte,))
                queue.append(following)
    return None


class _Automaton:
    """A glob's NFA (states: token positions), stepped a subset at a time, memoised."""

    def __init__(self, tokens: list[GlobToken], atoms: list[int]) -> None:
        self.tokens = tokens
        self.atoms = atoms
        self.end = len(tokens)
        self.start = _closure(tokens, {0})
        self._memo: dict[tuple[frozenset[int], int], frozenset[int]] = {}

    def step(self, state: frozenset[int], atom: int) -> frozenset[int]:
        key = (state, atom)
        found = self._memo.get(key)
        if found is None:
            byte, tokens = self.atoms[atom], self.tokens
            moved: set[int] = set()
            for pos in state:
                moved |= _move(tokens, pos, byte)
            found = self._memo[key] = _closure(tokens, moved)
        return found


def _move(tokens: list[GlobToken], pos: int, byte: int) -> set[int]:
    if pos >= len(tokens):
        return set()
    token = tokens[pos]
    if token == STAR:
        return {pos}
    return {pos + 1} if token[byte] else set()


def _closure(tokens: list[GlobToken], positions: set[int]) -> frozenset[int]:
    # A star matches the empty run, so "before a star" is also "after it" (stars
    # are merged by parse_glob: one step is enough).
    out = set(positions)
    for pos in positions:
        if pos < len(tokens) and tokens[pos] == STAR:
            out.add(pos + 1)
    return frozenset(out)


def _atoms(token_lists: list[list[GlobToken]]) -> list[int]:
    """One representative byte per class of bytes that every token treats alike."""
    tables = {token for tokens in token_lists for token in tokens if token != STAR}
    by_signature: dict[tuple[int, ...], int] = {}
    ordered = list(tables)
    for byte in range(256):
        signature = tuple(table[byte] for table in ordered)
        by_signature.setdefault(signature, byte)
    return list(by_signature.values())
