"""String commands. Values are ``bytes``; counters are parsed on use, as Redis does."""

from __future__ import annotations

from broker.commands.args import SYNTAX, parse_int
from broker.core import Client
from broker.keyspace import WRONGTYPE
from broker.notify import NotifyClass
from broker.resp import OK, CommandError
from broker.table import command

__all__: list[str] = []

_STRING = NotifyClass.STRING
_GENERIC = NotifyClass.GENERIC


# GET key
@command("get", 2, "readonly fast", keys=(1, 1, 1), group="string")
def get(client: Client, argv: list[bytes]) -> object:
    value = client.db.lookup(argv[1])
    if value is None:
        return None
    if type(value) is not bytes:
        raise CommandError(WRONGTYPE)
    return value


def expire_deadline(client: Client, unit: bytes, raw: bytes, command_name: str) -> int:
    """Absolute deadline in ms for EX/PX/EXAT/PXAT ``raw``, checked like Redis."""
    amount = parse_int(raw)
    if amount <= 0:
        raise CommandError(f"ERR invalid expire time in '{command_name}' command")
    if unit == b"EX":
        amount *= 1000
        deadline = client.broker.now_ms + amount
    elif unit == b"PX":
        deadline = client.broker.now_ms + amount
    elif unit == b"EXAT":
        amount *= 1000
        deadline = amount
    else:
        deadline = amount
    if amount > 2**63 - 1 or deadline > 2**63 - 1:
        raise CommandError(f"ERR invalid expire time in '{command_name}' command")
    return deadline


# SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds
#   | PXAT unix-time-milliseconds | KEEPTTL]
@command("set", -3, "write denyoom", keys=(1, 1, 1), group="string")
def set_(client: Client, argv: list[bytes]) -> object:
    key, value = argv[1], argv[2]
    db = client.db
    if len(argv) == 3:
        db.set(key, value)
        db.notify(_STRING, b"set", key)
        return OK
    nx = xx = get_old = keep_ttl = False
    unit: bytes | None = None
    raw_ttl = b""
    i = 3
    while i < len(argv):
        option = argv[i].upper()
        if option == b"NX" and not xx:
            nx = True
        elif option == b"XX" and not nx:
            xx = True
        elif option == b"GET":
            get_old = True
        elif option == b"KEEPTTL" and unit is None:
            keep_ttl = True
        elif option in (b"EX", b"PX", b"EXAT", b"PXAT") and unit is None and not keep_ttl \
                and i + 1 < len(argv):
            unit = option
            raw_ttl = argv[i + 1]
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    deadline = expire_deadline(client, unit, raw_ttl, "set") if unit is not None else None
    old = db.lookup(key)
    if get_old and old is not None and type(old) is not bytes:
        raise CommandError(WRONGTYPE)
    if (nx and old is not None) or (xx and old is None):
        return old if get_old else None
    db.set(key, value, keep_ttl=keep_ttl)
    db.notify(_STRING, b"set", key)
    if deadline is not None:
        db.set_expire(key, deadline)
        db.notify(_GENERIC, b"expire", key)
    return old if get_old else OK
