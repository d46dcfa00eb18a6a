"""Keyspace notification classes and the ``notify-keyspace-events`` string.

Mirrors Redis ``server.h`` (NOTIFY_*) and ``notify.c``
(``keyspaceEventsStringToFlags`` / ``keyspaceEventsFlagsToString``). Each flag
letter sits next to its enum member.
"""

from __future__ import annotations

import enum

__all__ = ["NotifyClass", "flags_from_string", "flags_to_string"]


class NotifyClass(enum.IntFlag):
    KEYSPACE = 1 << 0  # K: __keyspace@<db>__:<key> channel
    KEYEVENT = 1 << 1  # E: __keyevent@<db>__:<event> channel
    GENERIC = 1 << 2  # g: DEL, EXPIRE, RENAME, ...
    STRING = 1 << 3  # $
    LIST = 1 << 4  # l
    SET = 1 << 5  # s
    HASH = 1 << 6  # h
    ZSET = 1 << 7  # z
    EXPIRED = 1 << 8  # x
    EVICTED = 1 << 9  # e
    STREAM = 1 << 10  # t
    KEY_MISS = 1 << 11  # m (not part of A)
    LOADED = 1 << 12  # module only, never emitted here
    MODULE = 1 << 13  # d
    NEW = 1 << 14  # n (not part of A)


_ALL = (NotifyClass.GENERIC | NotifyClass.STRING | NotifyClass.LIST | NotifyClass.SET
        | NotifyClass.HASH | NotifyClass.ZSET | NotifyClass.EXPIRED | NotifyClass.EVICTED
        | NotifyClass.STREAM | NotifyClass.MODULE)

_LETTERS: dict[str, NotifyClass] = {
    "g": NotifyClass.GENERIC,
    "$": NotifyClass.STRING,
    "l": NotifyClass.LIST,
    "s": NotifyClass.SET,
    "h": NotifyClass.HASH,
    "z": NotifyClass.ZSET,
    "x": NotifyClass.EXPIRED,
    "e": NotifyClass.EVICTED,
    "K": NotifyClass.KEYSPACE,
    "E": NotifyClass.KEYEVENT,
    "t": NotifyClass.STREAM,
    "m": NotifyClass.KEY_MISS,
    "d": NotifyClass.MODULE,
    "n": NotifyClass.NEW,
}


def flags_from_string(text: str) -> NotifyClass | None:
    """Parse e.g. ``"KEA"``; None if any letter is unknown (Redis then errors)."""
    flags = NotifyClass(0)
    for letter in text:
        if letter == "A":
            flags |= _ALL
        elif letter in _LETTERS:
            flags |= _LETTERS[letter]
        else:
            return None
    return flags


def flags_to_string(flags: NotifyClass) -> str:
    """Render as CONFIG GET does: ``A`` when all A-classes are set (then ``n`` is
    not printed, a Redis quirk), else ``g$lshzxetdn`` letters; then K, E, m."""
    out = []
    if (flags & _ALL) == _ALL:
        out.append("A")
    else:
        for letter in "g$lshzxetdn":
            if flags & _LETTERS[letter]:
                out.append(letter)
    for letter in "KEm":
        if flags & _LETTERS[letter]:
            out.append(letter)
    return "".join(out)
