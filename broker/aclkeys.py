"""Which arguments of a command are keys and how each is accessed, as Redis 7.0's
ACL check finds them (``db.c`` getKeysFromCommandWithSpecs): from the command's key
specs (broker/aclspecs.py) when they are reliable, else from the key finders Redis
keeps for the commands whose access depends on their arguments (SET ... GET,
BITFIELD, SORT). Each key comes with its key-spec flags: ACCESS reads the value;
INSERT, DELETE and UPDATE write it (``%R~`` / ``%W~`` patterns are checked against them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from broker.aclspecs import SPECS

if TYPE_CHECKING:
    from broker.table import Command

__all__ = ["ACCESS", "DELETE", "INSERT", "UPDATE", "command_keys", "key_finder"]

# Key-spec flags, as broker/aclspecs.py writes them.
ACCESS, INSERT, DELETE, UPDATE, NOT_KEY, INCOMPLETE, VARIABLE_FLAGS = 1, 2, 4, 8, 16, 32, 64


def command_keys(cmd: "Command", argv: list[bytes]) -> list[tuple[int, int]]:
    """(position, key-spec flags) of each key in ``argv``, as Redis's
    getKeysFromCommandWithSpecs finds them: from the key specs when they are
    reliable, else the command's own key finder (SORT, SET with GET, BITFIELD)."""
    spec = SPECS.get(cmd.fullname)
    if spec is None or not spec[1]:
        return []
    specs = spec[1]
    if not any(flags & VARIABLE_FLAGS for flags, _, _ in specs):
        found = _keys_from_specs(cmd, specs, argv)
        if found is not None:
            return found
    return _keys_by_finder(cmd, argv)


def _keys_from_specs(cmd: "Command", specs: tuple, argv: list[bytes]) -> list[tuple[int, int]] | None:
    """db.c getKeysUsingKeySpecs; None for an invalid or incomplete spec."""
    argc = len(argv)
    found: list[tuple[int, int]] = []
    for flags, search, find in specs:
        if flags & NOT_KEY:
            continue
        if search[0] == "index":
            first = search[1]
        elif search[0] == "keyword":
            keyword, start = search[1].encode().lower(), search[2]
            first = 0
            begin = start if start > 0 else argc + start
            end = argc - 1 if start > 0 else 1
            i = begin
            while i != end and 1 <= i < argc:
                if argv[i].lower() == keyword:
                    first = i + 1
                    break
                i = i + 1 if begin <= end else i - 1
            if not first:
                continue
        else:
            return None
        if find[0] == "range":
            lastkey, step, limit = find[1], find[2], find[3]
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + ((argc - first) // limit + lastkey)
        elif find[0] == "keynum":
            index, firstkey, step = find[1], find[2], find[3]
            if index >= argc or first + index >= argc:
                return None
            try:
                numkeys = int(argv[first + index])
            except ValueError:
                return None
            if numkeys < 0:
                return None
            first += firstkey
            last = first + numkeys - 1
        else:
            return None
        if last >= argc or last < first or first >= argc:
            return None
        found += [(i, flags) for i in range(first, last + 1, step)]
        if flags & INCOMPLETE:
            return None
    return found


def _keys_by_finder(cmd: "Command", argv: list[bytes]) -> list[tuple[int, int]]:
    """The key finders of db.c for the commands whose specs are not enough (SORT's BY
    and GET, SET's GET, BITFIELD's operations decide the access)."""
    name = cmd.name
    if name == "set":  # setGetKeys: SET ... GET reads the old value too
        reads = any(arg.lower() == b"get" for arg in argv[3:])
        return [(1, ACCESS | UPDATE if reads else UPDATE)]
    if name == "bitfield":  # bitfieldGetKeys: GET and OVERFLOW only is a read
        i = 2
        while i < len(argv):
            left, arg = len(argv) - i - 1, argv[i].lower()
            if arg == b"get" and left >= 2:
                i += 3
            elif arg == b"overflow" and left >= 1:
                i += 2
            else:
                return [(1, ACCESS | UPDATE)]  # a write, or a syntax error: not read-only
        return [(1, ACCESS)]
    if name == "sort_ro":
        return [(1, ACCESS)]
    if name == "sort":  # sortGetKeys: the last STORE, skipping LIMIT/GET/BY arguments
        found = [(1, ACCESS)]
        store = None
        i = 2
        while i < len(argv):
            arg = argv[i].lower()
            if arg in _SORT_SKIP:
                i += _SORT_SKIP[arg]
            elif arg == b"store" and i + 1 < len(argv):
                store = i + 1
            i += 1
        return found + ([(store, UPDATE)] if store is not None else [])
    return []


_SORT_SKIP = {b"limit": 2, b"get": 1, b"by": 1}


def key_finder(cmd: "Command") -> Callable[[list[bytes]], list[tuple[int, int]]] | None:
    """None when the command has no keys (doesCommandHaveKeys: no key spec but NOT_KEY
    ones); else a function of argv: for one key spec at fixed positions (GET, SET k v
    without options, HSET ...) the positions themselves, else command_keys."""
    spec = SPECS.get(cmd.fullname)
    if spec is None or all(flags & NOT_KEY for flags, _, _ in spec[1]):
        return None
    specs = spec[1]
    if len(specs) == 1 and cmd.arity > 0:
        flags, search, find = specs[0]
        if search[0] == "index" and find[0] == "range" and find[1] >= 0 and not flags & (INCOMPLETE | VARIABLE_FLAGS):
            first = search[1]
            fixed = [(i, flags) for i in range(first, first + find[1] + 1, find[2])]
            return lambda argv: fixed
    if any(flags & VARIABLE_FLAGS for flags, _, _ in specs):
        return lambda argv: _keys_by_finder(cmd, argv)
    return lambda argv: command_keys(cmd, argv)
