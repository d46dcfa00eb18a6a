"""Which arguments of a command are keys (sans-I/O): COMMAND GETKEYS, and anything
else that must know a command's keys before running it (cluster clients ask).

Most commands keep their keys at fixed positions (``Command.keys``: first, last,
step); the rest have Redis's "movable keys" and are read here the way Redis's
``getkeys_proc`` functions read them (``db.c``): a key count before the keys
(EVAL, FCALL, ZUNIONSTORE, LMPOP, ...), the keys after ``STREAMS`` (XREAD), or a
``STORE`` target among the options (SORT, GEORADIUS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from broker.table import Command

__all__ = ["keys_of", "MOVABLE"]


def _numkeys_at(count_index: int, first_index: int, before: int = 0):  # type: ignore[no-untyped-def]
    """Keys after a key count at ``count_index`` (and ``before`` fixed keys first)."""
    def keys(argv: list[bytes]) -> list[int] | None:
        try:
            count = int(argv[count_index])
        except (IndexError, ValueError):
            return None
        if count < 0 or first_index + count > len(argv):
            return None
        return list(range(1, 1 + before)) + list(range(first_index, first_index + count))
    return keys


def _streams(argv: list[bytes]) -> list[int] | None:
    """XREAD/XREADGROUP: the first half of what follows STREAMS."""
    for index, arg in enumerate(argv):
        if arg.lower() == b"streams":
            rest = len(argv) - index - 1
            if rest == 0 or rest % 2:
                return None
            return list(range(index + 1, index + 1 + rest // 2))
    return None


def _store_option(*names: bytes, skip_first: int = 2):  # type: ignore[no-untyped-def]
    """The key at 1 and the argument after a STORE-like option."""
    def keys(argv: list[bytes]) -> list[int] | None:
        found = [1]
        index = skip_first
        while index < len(argv):
            if argv[index].lower() in names and index + 1 < len(argv):
                found.append(index + 1)
                index += 1
            index += 1
        # the last STORE wins, as the commands themselves read it
        return found[:1] + found[-1:] if len(found) > 1 else found
    return keys


def _migrate_keys(argv: list[bytes]) -> list[int] | None:
    """migrateGetKeys: the keys after KEYS (among the options), else the key argument."""
    for index in range(6, len(argv)):
        if argv[index].lower() == b"keys" and not argv[3]:
            return list(range(index + 1, len(argv)))
    return [3]


MOVABLE = {
    "eval": _numkeys_at(2, 3), "evalsha": _numkeys_at(2, 3), "eval_ro": _numkeys_at(2, 3),
    "evalsha_ro": _numkeys_at(2, 3), "fcall": _numkeys_at(2, 3), "fcall_ro": _numkeys_at(2, 3),
    "zunionstore": _numkeys_at(2, 3, before=1), "zinterstore": _numkeys_at(2, 3, before=1),
    "zdiffstore": _numkeys_at(2, 3, before=1),
    "zunion": _numkeys_at(1, 2), "zinter": _numkeys_at(1, 2), "zdiff": _numkeys_at(1, 2),
    "zintercard": _numkeys_at(1, 2), "sintercard": _numkeys_at(1, 2), "lmpop": _numkeys_at(1, 2),
    "zmpop": _numkeys_at(1, 2), "blmpop": _numkeys_at(2, 3), "bzmpop": _numkeys_at(2, 3),
    "xread": _streams, "xreadgroup": _streams,
    "sort": _store_option(b"store"), "georadius": _store_option(b"store", b"storedist", skip_first=6),
    "georadiusbymember": _store_option(b"store", b"storedist", skip_first=5),
    "migrate": _migrate_keys,
}


def keys_of(cmd: "Command", argv: list[bytes]) -> list[bytes] | None:
    """The key arguments of ``argv`` (a full command line) for ``cmd``; None when the
    arguments do not say (a bad key count, no STREAMS)."""
    movable = MOVABLE.get(cmd.name) if not cmd.container else None
    if movable is not None:
        positions = movable(argv)
        return None if positions is None else [argv[i] for i in positions]
    first, last, step = cmd.keys
    if first == 0:
        return []
    end = len(argv) + last if last < 0 else last
    return argv[first:end + 1:step or 1]
