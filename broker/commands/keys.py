"""Generic key commands (``db.c``, ``expire.c``, ``object.c``), as redis-server 7.

DEL UNLINK EXISTS TOUCH TYPE, the TTL family (EXPIRE ... PEXPIRETIME, PERSIST),
KEYS SCAN RANDOMKEY, RENAME RENAMENX MOVE COPY and OBJECT. Events follow Redis:
a key created at a destination emits ``new`` (in ``db.add``) before the command's
own ``rename_to``/``move_to``/``copy_to``; an EXPIRE to a time already past
deletes the key with a ``del`` event only.
"""

from __future__ import annotations

import copy
from collections import deque
from itertools import islice
from typing import Any

from broker.commands.args import SYNTAX, parse_expire_option, parse_int
from broker.commands.scan import parse_scan_args
from broker.config import Config
from broker.client import Client
from broker.encoding import as_long as _as_long
from broker.encoding import encoding_of
from broker.evict import lfu_decr, lru_idle_seconds
from broker.glob import compile_glob, glob_match
from broker.keyspace import Keyspace, type_name
from broker.notify import NotifyClass
from broker.resp import OK, CommandError, Simple
from broker.table import command, container, subcommand

__all__: list[str] = []

_GENERIC = NotifyClass.GENERIC
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
SAME_OBJECT = "ERR source and destination objects are the same"
DB_RANGE = "ERR DB index is out of range"
# Types whose arrival at a key may serve a client blocked on it (BLPOP, BZPOPMIN, XREAD).
_BLOCKING_TYPES = (b"list", b"zset", b"stream")


# ------------------------------------------------------------ existence

def _delete(client: Client, argv: list[bytes]) -> int:
    """``delGenericCommand``: an already-expired key goes with ``expired``, not ``del``."""
    db = client.db
    deleted = 0
    for key in argv[1:]:
        if db.lookup(key) is not None:
            db.delete(key)
            db.notify(_GENERIC, b"del", key)
            deleted += 1
    return deleted


# DEL key [key ...]
@command("del", -2, "write", keys=(1, -1, 1), group="generic")
def del_(client: Client, argv: list[bytes]) -> int:
    return _delete(client, argv)


# UNLINK key [key ...]
@command("unlink", -2, "write fast", keys=(1, -1, 1), group="generic", since="4.0.0")
def unlink(client: Client, argv: list[bytes]) -> int:
    # Redis frees big values in a background thread; here freeing is the GC's job.
    return _delete(client, argv)


# EXISTS key [key ...]
@command("exists", -2, "readonly fast", keys=(1, -1, 1), group="generic")
def exists(client: Client, argv: list[bytes]) -> int:
    return sum(1 for key in argv[1:] if client.db.read_notouch(key) is not None)


# TOUCH key [key ...]
@command("touch", -2, "readonly fast", keys=(1, -1, 1), group="generic", since="3.2.1")
def touch(client: Client, argv: list[bytes]) -> int:
    # a read lookup: it counts and updates the access time (LRU/LFU)
    return sum(1 for key in argv[1:] if client.db.read(key) is not None)


# TYPE key
@command("type", 2, "readonly fast", keys=(1, 1, 1), group="generic")
def type_(client: Client, argv: list[bytes]) -> Simple:
    value = client.db.read_notouch(argv[1])
    return Simple("none" if value is None else type_name(value).decode())


# ------------------------------------------------------------------ TTL

_NO_OPTIONS = (False, False, False, False)


def _expire_generic(client: Client, argv: list[bytes], base_ms: int, seconds: bool) -> int:
    """``expireGenericCommand``: options, then the time, then the key and NX/XX/GT/LT."""
    nx, xx, gt, lt = parse_expire_option(argv, 3) if len(argv) > 3 else _NO_OPTIONS
    when = parse_int(argv[2])
    if seconds:
        # C division truncates toward zero: LLONG_MIN / 1000 is -9223372036854775.
        if when > _INT64_MAX // 1000 or when < -(-_INT64_MIN // 1000):
            raise CommandError(_invalid_expire(argv))
        when *= 1000
    if when > _INT64_MAX - base_ms:
        raise CommandError(_invalid_expire(argv))
    when += base_ms
    db = client.db
    key = argv[1]
    if db.lookup(key) is None:
        return 0
    current = db.deadline(key)
    if nx and current is not None:
        return 0
    if xx and current is None:
        return 0
    # No TTL counts as infinite: never less than a new time, never greater.
    if gt and (current is None or when <= current):
        return 0
    if lt and current is not None and when >= current:
        return 0
    if when <= client.broker.now_ms:
        db.delete(key)
        db.notify(_GENERIC, b"del", key)
    else:
        db.set_expire(key, when)
        db.notify(_GENERIC, b"expire", key)
    return 1


def _invalid_expire(argv: list[bytes]) -> str:
    # built only on the error path: EXPIRE is hot (rate-limit scripts run it per request)
    return f"ERR invalid expire time in '{argv[0].decode('utf-8', 'replace').lower()}' command"


# EXPIRE key seconds [NX | XX | GT | LT]
@command("expire", -3, "write fast", keys=(1, 1, 1), group="generic")
def expire(client: Client, argv: list[bytes]) -> int:
    return _expire_generic(client, argv, client.broker.now_ms, seconds=True)


# PEXPIRE key milliseconds [NX | XX | GT | LT]
@command("pexpire", -3, "write fast", keys=(1, 1, 1), group="generic", since="2.6.0")
def pexpire(client: Client, argv: list[bytes]) -> int:
    return _expire_generic(client, argv, client.broker.now_ms, seconds=False)


# EXPIREAT key unix-time-seconds [NX | XX | GT | LT]
@command("expireat", -3, "write fast", keys=(1, 1, 1), group="generic", since="1.2.0")
def expireat(client: Client, argv: list[bytes]) -> int:
    return _expire_generic(client, argv, 0, seconds=True)


# PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]
@command("pexpireat", -3, "write fast", keys=(1, 1, 1), group="generic", since="2.6.0")
def pexpireat(client: Client, argv: list[bytes]) -> int:
    return _expire_generic(client, argv, 0, seconds=False)


def _ttl_generic(client: Client, key: bytes, in_ms: bool, absolute: bool) -> int:
    """``ttlGenericCommand``: -2 missing, -1 no TTL; seconds are rounded to nearest."""
    if client.db.read_notouch(key) is None:
        return -2
    deadline = client.db.deadline(key)
    if deadline is None:
        return -1
    ttl = max(deadline if absolute else deadline - client.broker.now_ms, 0)
    return ttl if in_ms else (ttl + 500) // 1000


# TTL key
@command("ttl", 2, "readonly fast", keys=(1, 1, 1), group="generic")
def ttl(client: Client, argv: list[bytes]) -> int:
    return _ttl_generic(client, argv[1], in_ms=False, absolute=False)


# PTTL key
@command("pttl", 2, "readonly fast", keys=(1, 1, 1), group="generic", since="2.6.0")
def pttl(client: Client, argv: list[bytes]) -> int:
    return _ttl_generic(client, argv[1], in_ms=True, absolute=False)


# EXPIRETIME key
@command("expiretime", 2, "readonly fast", keys=(1, 1, 1), group="generic", since="7.0.0")
def expiretime(client: Client, argv: list[bytes]) -> int:
    return _ttl_generic(client, argv[1], in_ms=False, absolute=True)


# PEXPIRETIME key
@command("pexpiretime", 2, "readonly fast", keys=(1, 1, 1), group="generic", since="7.0.0")
def pexpiretime(client: Client, argv: list[bytes]) -> int:
    return _ttl_generic(client, argv[1], in_ms=True, absolute=True)


# PERSIST key
@command("persist", 2, "write fast", keys=(1, 1, 1), group="generic", since="2.2.0")
def persist(client: Client, argv: list[bytes]) -> int:
    db = client.db
    if db.lookup(argv[1]) is None or not db.persist(argv[1]):
        return 0
    db.notify(_GENERIC, b"persist", argv[1])
    return 1


# ------------------------------------------------------------ iteration

# KEYS pattern
@command("keys", 2, "readonly", keys=(0, 0, 0), group="generic")
def keys(client: Client, argv: list[bytes]) -> list[bytes]:
    pattern = argv[1]
    if pattern == b"*":
        return list(client.db.keys())
    match = compile_glob(pattern)  # once, not a cache lookup per key
    return [key for key in client.db.keys() if match(key)]


# SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
@command("scan", -2, "readonly", keys=(0, 0, 0), group="generic", since="2.8.0")
def scan(client: Client, argv: list[bytes]) -> list[Any]:
    """Cursors are positions in the db's insertion order.

    Each call skips ``cursor`` keys (O(cursor), in C: about 2 ms per million keys)
    and looks at the next ``count``. Keys present for the whole iteration are
    returned unless keys before the cursor are deleted meanwhile; Redis gives the
    same promise only while its table does not shrink.
    """
    args = parse_scan_args(argv, 1, allow_type=True)
    db = client.db
    size = len(db.data)
    page = list(islice(db.data, args.cursor, args.cursor + args.count)) if args.cursor < size else []
    following = args.cursor + args.count
    found = []
    for key in page:
        if args.match is not None and not glob_match(args.match, key):
            continue
        value = db.lookup(key)  # expires the key if its time is up, as Redis's scan does
        if value is None:
            # The key left the dict: every later key moved one position down.
            following -= 1
            continue
        if args.type is not None and type_name(value) != args.type:
            continue
        found.append(key)
    return [b"%d" % (following if following < len(db.data) else 0), found]


# RANDOMKEY
@command("randomkey", 1, "readonly", keys=(0, 0, 0), group="generic")
def randomkey(client: Client, argv: list[bytes]) -> bytes | None:
    return client.db.random_key()


# ------------------------------------------------------- rename, move, copy

def _add_with_ttl(db: Keyspace, key: bytes, value: Any, deadline: int | None) -> None:
    """``dbAdd`` + ``setExpire`` at a destination; may wake clients blocked on ``key``."""
    db.add(key, value)
    if deadline is not None:
        db.set_expire(key, deadline)
    if type_name(value) in _BLOCKING_TYPES:
        db.signal_ready(key)


def _rename(client: Client, argv: list[bytes], nx: bool) -> Any:
    """``renameGenericCommand``: the destination is replaced silently (no ``del``)."""
    db = client.db
    src, dst = argv[1], argv[2]
    value = db.lookup(src)
    if value is None:
        raise CommandError("ERR no such key")
    if src == dst:
        return 0 if nx else OK
    deadline = db.deadline(src)
    if db.lookup(dst) is not None:
        if nx:
            return 0
        db.delete(dst)
    field = db.lru.get(src)  # the object keeps its LRU/LFU field (Redis moves the robj)
    kept = db.encodings.get(src)  # and its encoding
    _add_with_ttl(db, dst, value, deadline)
    if field is not None:
        db.lru[dst] = field
    db.delete(src)
    if kept is not None:
        db.encodings[dst] = kept
    db.notify(_GENERIC, b"rename_from", src)
    db.notify(_GENERIC, b"rename_to", dst)
    return 1 if nx else OK


# RENAME key newkey
@command("rename", 3, "write", keys=(1, 2, 1), group="generic")
def rename(client: Client, argv: list[bytes]) -> Any:
    return _rename(client, argv, nx=False)


# RENAMENX key newkey
@command("renamenx", 3, "write fast", keys=(1, 2, 1), group="generic")
def renamenx(client: Client, argv: list[bytes]) -> Any:
    return _rename(client, argv, nx=True)


def _db_index(client: Client, raw: bytes) -> Keyspace:
    """``getIntFromObjectOrReply`` + ``selectDb``: the db numbered ``raw``."""
    index = parse_int(raw)
    if not _INT32_MIN <= index <= _INT32_MAX:
        raise CommandError(f"ERR value is out of range, value must between {_INT32_MIN} and {_INT32_MAX}")
    if not 0 <= index < len(client.broker.dbs):
        raise CommandError(DB_RANGE)
    return client.broker.dbs[index]


# MOVE key db
@command("move", 3, "write fast", keys=(1, 1, 1), group="generic")
def move(client: Client, argv: list[bytes]) -> int:
    src = client.db
    dst = _db_index(client, argv[2])
    if src is dst:
        raise CommandError(SAME_OBJECT)
    key = argv[1]
    value = src.lookup(key)
    if value is None:
        return 0
    deadline = src.deadline(key)
    if dst.lookup(key) is not None:
        return 0
    field = src.lru.get(key)  # the object keeps its LRU/LFU field (Redis moves the robj)
    kept = src.encodings.get(key)  # and its encoding
    _add_with_ttl(dst, key, value, deadline)
    if field is not None:
        dst.lru[key] = field
    src.delete(key)
    if kept is not None:
        dst.encodings[key] = kept
    src.notify(_GENERIC, b"move_from", key)
    dst.notify(_GENERIC, b"move_to", key)
    return 1


def _duplicate(value: Any) -> Any:
    """An independent copy of a value (bytes are immutable and shared)."""
    if type(value) is bytes:
        return value
    if type(value) in (dict, set, deque) or hasattr(value, "copy"):
        return value.copy()
    return copy.deepcopy(value)


# COPY source destination [DB destination-db] [REPLACE]
@command("copy", -3, "write denyoom", keys=(1, 2, 1), group="generic", since="6.2.0")
def copy_(client: Client, argv: list[bytes]) -> int:
    src = dst = client.db
    replace = False
    i = 3
    while i < len(argv):
        option = argv[i].upper()
        if option == b"REPLACE":
            replace = True
        elif option == b"DB" and i + 1 < len(argv):
            dst = _db_index(client, argv[i + 1])
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    key, new_key = argv[1], argv[2]
    if src is dst and key == new_key:
        raise CommandError(SAME_OBJECT)
    value = client.db.read(key)
    if value is None:
        return 0
    deadline = src.deadline(key)
    if dst.lookup(new_key) is not None:
        if not replace:
            return 0
        dst.delete(new_key)
    duplicate = _duplicate(value)
    _add_with_ttl(dst, new_key, duplicate, deadline)
    kept = src.encodings.get(key)
    if kept is not None and kept[0] is value:  # dupXXXObject keeps the encoding
        dst.encodings[new_key] = (duplicate, kept[1])
    dst.notify(_GENERIC, b"copy_to", new_key)
    return 1


# ---------------------------------------------------------------- OBJECT

_object = container("object", "", group="generic", since="2.2.3")

_OBJECT_HELP = [
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
]
# Redis shares the objects of small integers; their refcount reads as INT_MAX.
_SHARED_INTEGERS = 10000
_SHARED_REFCOUNT = 2**31 - 1


def _object_lookup(client: Client, key: bytes) -> Any:
    # OBJECT looks up without a keymiss event nor touching the key
    # (LOOKUP_NOTOUCH|LOOKUP_NONOTIFY) but counts stats.
    value = client.db.peek(key)
    stats = client.broker.stats
    if value is None:
        stats.keyspace_misses += 1
    else:
        stats.keyspace_hits += 1
    return value


# OBJECT ENCODING key
@subcommand(_object, "encoding", 3, "readonly", keys=(2, 2, 1))
def object_encoding(client: Client, argv: list[bytes]) -> bytes | None:
    value = _object_lookup(client, argv[2])
    return None if value is None else encoding_of(value, client.broker.config, client.db, argv[2])


# OBJECT REFCOUNT key
@subcommand(_object, "refcount", 3, "readonly", keys=(2, 2, 1))
def object_refcount(client: Client, argv: list[bytes]) -> int | None:
    value = _object_lookup(client, argv[2])
    if value is None:
        return None
    if type(value) is bytes:
        number = _as_long(value)
        if number is not None and 0 <= number < _SHARED_INTEGERS:
            return _SHARED_REFCOUNT
    return 1


# OBJECT IDLETIME key
@subcommand(_object, "idletime", 3, "readonly", keys=(2, 2, 1))
def object_idletime(client: Client, argv: list[bytes]) -> int | None:
    value = _object_lookup(client, argv[2])
    if value is None:
        return None
    if "lfu" in client.broker.config.get("maxmemory-policy"):
        raise CommandError("ERR An LFU maxmemory policy is selected, idle time not tracked. Please "
                           "note that when switching between policies at runtime LRU and LFU data "
                           "will take some time to adjust.")
    return lru_idle_seconds(client.db.access_field(argv[2]), client.broker.now_ms)


# OBJECT FREQ key
@subcommand(_object, "freq", 3, "readonly", keys=(2, 2, 1))
def object_freq(client: Client, argv: list[bytes]) -> int | None:
    value = _object_lookup(client, argv[2])
    if value is None:
        return None
    if "lfu" not in client.broker.config.get("maxmemory-policy"):
        raise CommandError("ERR An LFU maxmemory policy is not selected, access frequency not "
                           "tracked. Please note that when switching between policies at runtime "
                           "LRU and LFU data will take some time to adjust.")
    db = client.db
    return lfu_decr(db.access_field(argv[2]), client.broker.now_ms, db.lfu_decay_time)


# OBJECT HELP
@subcommand(_object, "help", 2, "loading stale")
def object_help(client: Client, argv: list[bytes]) -> list[Simple]:
    return [Simple(line) for line in _OBJECT_HELP]
