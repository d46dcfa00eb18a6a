"""List commands (LPUSH, LRANGE, LMOVE, BLPOP ...), as redis-server 7.

Values are ``collections.deque[bytes]``: O(1) at both ends. Pushes call
``db.signal_ready`` so clients blocked in BLPOP/BLMOVE/BLMPOP are served, oldest
first, right after the pushing command.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any

from broker.commands.args import SYNTAX, parse_int, parse_timeout
from broker.client import Client
from broker.keyspace import Keyspace
from broker.notify import NotifyClass
from broker.resp import NULL_ARRAY, OK, CommandError
from broker.results import Blocked
from broker.table import command

__all__: list[str] = []

_LIST = NotifyClass.LIST


def _list(db: Keyspace, key: bytes) -> deque[bytes] | None:
    return db.get_typed(key, deque)  # type: ignore[no-any-return]


def _read_list(db: Keyspace, key: bytes) -> deque[bytes] | None:
    """The lookup of a read command (``lookupKeyRead``): counts a hit or miss, keymiss on a miss."""
    return db.read_typed(key, deque)  # type: ignore[no-any-return]


def _push(client: Client, argv: list[bytes], left: bool, only_existing: bool) -> int:
    db = client.db
    key = argv[1]
    items = _list(db, key)
    if items is None:
        if only_existing:
            return 0
        items = deque()
        db.add(key, items)
    if left:
        items.extendleft(argv[2:])
    else:
        items.extend(argv[2:])
    db.notify(_LIST, b"lpush" if left else b"rpush", key)
    db.signal_ready(key)
    return len(items)


# LPUSH key element [element ...]
@command("lpush", -3, "write denyoom fast", keys=(1, 1, 1), group="list")
def lpush(client: Client, argv: list[bytes]) -> int:
    return _push(client, argv, left=True, only_existing=False)


# RPUSH key element [element ...]
@command("rpush", -3, "write denyoom fast", keys=(1, 1, 1), group="list")
def rpush(client: Client, argv: list[bytes]) -> int:
    return _push(client, argv, left=False, only_existing=False)


# LPUSHX key element [element ...]
@command("lpushx", -3, "write denyoom fast", keys=(1, 1, 1), group="list", since="2.2.0")
def lpushx(client: Client, argv: list[bytes]) -> int:
    return _push(client, argv, left=True, only_existing=True)


# RPUSHX key element [element ...]
@command("rpushx", -3, "write denyoom fast", keys=(1, 1, 1), group="list", since="2.2.0")
def rpushx(client: Client, argv: list[bytes]) -> int:
    return _push(client, argv, left=False, only_existing=True)


def _pop_count(raw: bytes) -> int:
    count = parse_int(raw, "ERR value is out of range, must be positive")
    if count < 0:
        raise CommandError("ERR value is out of range, must be positive")
    return count


def _pop_n(db: Keyspace, key: bytes, items: deque[bytes], left: bool, count: int) -> list[bytes]:
    """Pop up to ``count`` elements with the pop event and ``del`` when emptied."""
    take = items.popleft if left else items.pop
    popped = [take() for _ in range(min(count, len(items)))]
    db.notify(_LIST, b"lpop" if left else b"rpop", key)
    db.delete_if_empty(key, items)
    return popped


def _pop(client: Client, argv: list[bytes], left: bool) -> Any:
    if len(argv) > 3:
        raise CommandError(f"ERR wrong number of arguments for '{argv[0].decode().lower()}' command")
    count = _pop_count(argv[2]) if len(argv) == 3 else None
    db = client.db
    items = _list(db, argv[1])
    if items is None:
        return None if count is None else NULL_ARRAY
    if count is None:
        return _pop_n(db, argv[1], items, left, 1)[0]
    if count == 0:
        return []
    return _pop_n(db, argv[1], items, left, count)


# LPOP key [count]
@command("lpop", -2, "write fast", keys=(1, 1, 1), group="list")
def lpop(client: Client, argv: list[bytes]) -> Any:
    return _pop(client, argv, left=True)


# RPOP key [count]
@command("rpop", -2, "write fast", keys=(1, 1, 1), group="list")
def rpop(client: Client, argv: list[bytes]) -> Any:
    return _pop(client, argv, left=False)


# LLEN key
@command("llen", 2, "readonly fast", keys=(1, 1, 1), group="list")
def llen(client: Client, argv: list[bytes]) -> int:
    items = _read_list(client.db, argv[1])
    return 0 if items is None else len(items)


def _range(length: int, start: int, stop: int) -> tuple[int, int]:
    """Redis index clamping: negative from the end; returns [start, stop) (maybe empty)."""
    if start < 0:
        start = max(length + start, 0)
    if stop < 0:
        stop = length + stop
    stop = min(stop, length - 1)
    if start > stop or start >= length:
        return 0, 0
    return start, stop + 1


# LRANGE key start stop
@command("lrange", 4, "readonly", keys=(1, 1, 1), group="list")
def lrange(client: Client, argv: list[bytes]) -> list[bytes]:
    start, stop = parse_int(argv[2]), parse_int(argv[3])
    items = _read_list(client.db, argv[1])
    if items is None:
        return []
    begin, end = _range(len(items), start, stop)
    return list(islice(items, begin, end))


# LTRIM key start stop
@command("ltrim", 4, "write", keys=(1, 1, 1), group="list")
def ltrim(client: Client, argv: list[bytes]) -> object:
    start, stop = parse_int(argv[2]), parse_int(argv[3])
    db = client.db
    items = _list(db, argv[1])
    if items is None:
        return OK
    begin, end = _range(len(items), start, stop)
    for _ in range(len(items) - end):
        items.pop()
    for _ in range(begin):
        items.popleft()
    db.notify(_LIST, b"ltrim", argv[1])
    db.delete_if_empty(argv[1], items)
    return OK


# LINDEX key index
@command("lindex", 3, "readonly", keys=(1, 1, 1), group="list")
def lindex(client: Client, argv: list[bytes]) -> bytes | None:
    items = _read_list(client.db, argv[1])
    if items is None:  # Redis looks the key up (and checks its type) before the index
        return None
    index = parse_int(argv[2])
    if index < 0:
        index += len(items)
    return items[index] if 0 <= index < len(items) else None


# LSET key index element
@command("lset", 4, "write denyoom", keys=(1, 1, 1), group="list")
def lset(client: Client, argv: list[bytes]) -> object:
    db = client.db
    items = _list(db, argv[1])
    if items is None:  # the key (and its type) before the index, as Redis
        raise CommandError("ERR no such key")
    index = parse_int(argv[2])
    if index < 0:
        index += len(items)
    if not 0 <= index < len(items):
        raise CommandError("ERR index out of range")
    items[index] = argv[3]
    db.notify(_LIST, b"lset", argv[1])
    return OK


# LREM key count element
@command("lrem", 4, "write", keys=(1, 1, 1), group="list")
def lrem(client: Client, argv: list[bytes]) -> int:
    count = parse_int(argv[2])
    db = client.db
    items = _list(db, argv[1])
    if items is None:
        return 0
    element = argv[3]
    limit = abs(count) or len(items)
    kept: list[bytes] = []
    removed = 0
    sequence = list(items) if count >= 0 else list(reversed(items))
    for item in sequence:
        if item == element and removed < limit:
            removed += 1
        else:
            kept.append(item)
    if removed:
        if count < 0:
            kept.reverse()
        items.clear()
        items.extend(kept)
        db.notify(_LIST, b"lrem", argv[1])
        db.delete_if_empty(argv[1], items)
    return removed


# LINSERT key BEFORE|AFTER pivot element
@command("linsert", 5, "write denyoom", keys=(1, 1, 1), group="list", since="2.2.0")
def linsert(client: Client, argv: list[bytes]) -> int:
    where = argv[2].upper()
    if where not in (b"BEFORE", b"AFTER"):
        raise CommandError(SYNTAX)
    db = client.db
    items = _list(db, argv[1])
    if items is None:
        return 0
    try:
        index = items.index(argv[3])
    except ValueError:
        return -1
    items.insert(index + (1 if where == b"AFTER" else 0), argv[4])
    db.notify(_LIST, b"linsert", argv[1])
    return len(items)


# LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
@command("lpos", -3, "readonly", keys=(1, 1, 1), group="list", since="6.0.6")
def lpos(client: Client, argv: list[bytes]) -> Any:
    rank, count, maxlen = 1, None, 0
    i = 3
    while i < len(argv):
        option = argv[i].upper()
        if i + 1 >= len(argv):
            raise CommandError(SYNTAX)
        if option == b"RANK":
            rank = parse_int(argv[i + 1])
            if rank == 0:
                raise CommandError("ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
                                   "second ... or use negative to start from the end of the list")
            if rank == -(2**63):
                raise CommandError("ERR value is out of range, value must between -9223372036854775807 and "
                                   "9223372036854775807")
        elif option == b"COUNT":
            # Redis's getPositiveLongFromObjectOrReply: one message for "not a number" too.
            count = parse_int(argv[i + 1], "ERR COUNT can't be negative")
            if count < 0:
                raise CommandError("ERR COUNT can't be negative")
        elif option == b"MAXLEN":
            maxlen = parse_int(argv[i + 1], "ERR MAXLEN can't be negative")
            if maxlen < 0:
                raise CommandError("ERR MAXLEN can't be negative")
        else:
            raise CommandError(SYNTAX)
        i += 2
    items = _read_list(client.db, argv[1])
    if items is None:
        return None if count is None else []
    length = len(items)
    positions = range(length) if rank > 0 else range(length - 1, -1, -1)
    skip = abs(rank) - 1
    matches: list[int] = []
    for scanned, index in enumerate(positions):
        if maxlen and scanned >= maxlen:
            break
        if items[index] == argv[2]:
            if skip:
                skip -= 1
                continue
            matches.append(index)
            if count is None or (count and len(matches) >= count):
                break
    if count is None:
        return matches[0] if matches else None
    return matches


# ------------------------------------------------------------------- moves

def _where(raw: bytes) -> bool:
    """LEFT -> True, RIGHT -> False."""
    where = raw.upper()
    if where == b"LEFT":
        return True
    if where == b"RIGHT":
        return False
    raise CommandError(SYNTAX)


def _move(db: Keyspace, source: bytes, destination: bytes, from_left: bool, to_left: bool) -> bytes | None:
    """``lmoveGenericCommand``: None if the source is missing; events push-then-pop."""
    items = _list(db, source)
    if items is None:
        return None
    target = _list(db, destination)  # WRONGTYPE before anything moves
    value = items.popleft() if from_left else items.pop()
    if target is None:
        if source == destination:
            target = items
        else:
            target = deque()
            db.add(destination, target)
    if to_left:
        target.appendleft(value)
    else:
        target.append(value)
    db.notify(_LIST, b"lpush" if to_left else b"rpush", destination)
    db.signal_ready(destination)
    db.notify(_LIST, b"lpop" if from_left else b"rpop", source)
    db.delete_if_empty(source, items)
    return value


# LMOVE source destination LEFT|RIGHT LEFT|RIGHT
@command("lmove", 5, "write denyoom", keys=(1, 2, 1), group="list", since="6.2.0")
def lmove(client: Client, argv: list[bytes]) -> bytes | None:
    from_left, to_left = _where(argv[3]), _where(argv[4])
    return _move(client.db, argv[1], argv[2], from_left, to_left)


# RPOPLPUSH source destination
@command("rpoplpush", 3, "write denyoom", keys=(1, 2, 1), group="list", since="1.2.0")
def rpoplpush(client: Client, argv: list[bytes]) -> bytes | None:
    return _move(client.db, argv[1], argv[2], False, True)


def _blocking_move(client: Client, source: bytes, destination: bytes, from_left: bool, to_left: bool,
                   timeout_raw: bytes) -> Any:
    timeout_ms = parse_timeout(timeout_raw)
    db = client.db
    value = _move(db, source, destination, from_left, to_left)
    if value is not None:
        return value

    def retry() -> Any:
        return _move(client.db, source, destination, from_left, to_left)

    return Blocked([source], timeout_ms, retry, None)


# BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
@command("blmove", 6, "write denyoom noscript blocking", keys=(1, 2, 1), group="list", since="6.2.0")
def blmove(client: Client, argv: list[bytes]) -> Any:
    from_left, to_left = _where(argv[3]), _where(argv[4])
    return _blocking_move(client, argv[1], argv[2], from_left, to_left, argv[5])


# BRPOPLPUSH source destination timeout
@command("brpoplpush", 4, "write denyoom noscript blocking", keys=(1, 2, 1), group="list", since="2.2.0")
def brpoplpush(client: Client, argv: list[bytes]) -> Any:
    return _blocking_move(client, argv[1], argv[2], False, True, argv[3])


# ------------------------------------------------------------ blocking pops

def _first_pop(db: Keyspace, keys: list[bytes], left: bool, count: int | None) -> Any:
    """Pop from the first non-empty list among ``keys`` (type-checked in order)."""
    for key in keys:
        items = _list(db, key)
        if items:
            popped = _pop_n(db, key, items, left, count or 1)
            return [key, popped[0]] if count is None else [key, popped]
    return None


def _bpop(client: Client, argv: list[bytes], left: bool) -> Any:
    timeout_ms = parse_timeout(argv[-1])
    keys = argv[1:-1]
    reply = _first_pop(client.db, keys, left, None)
    if reply is not None:
        return reply
    return Blocked(keys, timeout_ms, lambda: _first_pop(client.db, keys, left, None), NULL_ARRAY)


# BLPOP key [key ...] timeout
@command("blpop", -3, "write noscript blocking", keys=(1, -2, 1), group="list")
def blpop(client: Client, argv: list[bytes]) -> Any:
    return _bpop(client, argv, left=True)


# BRPOP key [key ...] timeout
@command("brpop", -3, "write noscript blocking", keys=(1, -2, 1), group="list")
def brpop(client: Client, argv: list[bytes]) -> Any:
    return _bpop(client, argv, left=False)


def _mpop_args(argv: list[bytes], numkeys_index: int) -> tuple[list[bytes], bool, int]:
    """numkeys key [key ...] LEFT|RIGHT [COUNT count], checked like ``lmpopGenericCommand``."""
    try:
        numkeys = parse_int(argv[numkeys_index])
    except CommandError:
        raise CommandError("ERR numkeys should be greater than 0") from None
    if numkeys < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    where_index = numkeys_index + numkeys + 1
    if where_index >= len(argv):
        raise CommandError(SYNTAX)
    left = _where(argv[where_index])
    count = -1
    j = where_index + 1
    while j < len(argv):
        if count == -1 and argv[j].upper() == b"COUNT" and j + 1 < len(argv):
            try:
                count = parse_int(argv[j + 1])
            except CommandError:
                raise CommandError("ERR count should be greater than 0") from None
            if count < 1:
                raise CommandError("ERR count should be greater than 0")
            j += 2
        else:
            raise CommandError(SYNTAX)
    return argv[numkeys_index + 1:where_index], left, max(count, 1)


# LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
@command("lmpop", -4, "write", group="list", since="7.0.0")
def lmpop(client: Client, argv: list[bytes]) -> Any:
    keys, left, count = _mpop_args(argv, 1)
    reply = _first_pop(client.db, keys, left, count)
    return NULL_ARRAY if reply is None else reply


# BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
@command("blmpop", -5, "write blocking", group="list", since="7.0.0")
def blmpop(client: Client, argv: list[bytes]) -> Any:
    timeout_ms = parse_timeout(argv[1])
    keys, left, count = _mpop_args(argv, 2)
    reply = _first_pop(client.db, keys, left, count)
    if reply is not None:
        return reply
    return Blocked(keys, timeout_ms, lambda: _first_pop(client.db, keys, left, count), NULL_ARRAY)

