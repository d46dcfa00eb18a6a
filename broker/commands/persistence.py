"""Persistence commands: SAVE BGSAVE LASTSAVE SHUTDOWN DUMP RESTORE.

SAVE, BGSAVE and SHUTDOWN drive ``broker.persistence`` (``Snapshots``); DUMP and
RESTORE use the RDB value encoding (``broker.persistence.rdb``), so payloads move
between fanout and redis-server 7.0 both ways.
"""

from __future__ import annotations

from typing import Any

from broker.commands.args import SYNTAX, parse_int
from broker.commands.keys import _add_with_ttl
from broker.client import Client
from broker.notify import NotifyClass
from broker.persistence.rdb import DumpError, RdbError, dump_value, load_value
from broker.resp import OK, CommandError, Simple
from broker.results import NO_REPLY
from broker.table import command

__all__: list[str] = []

_ERR = "ERR"  # Redis's shared.err: a bare "-ERR" (the log says why)


# SAVE
@command("save", 1, "admin noscript no_async_loading no_multi", group="server")
def save(client: Client, argv: list[bytes]) -> object:
    snapshots = client.broker.persistence
    if snapshots.has_child():
        raise CommandError("ERR Background save already in progress")
    if not snapshots.save():
        raise CommandError(_ERR)
    return OK


# BGSAVE [SCHEDULE]
@command("bgsave", -1, "admin noscript no_async_loading", group="server")
def bgsave(client: Client, argv: list[bytes]) -> object:
    if len(argv) > 1 and (len(argv) > 2 or argv[1].lower() != b"schedule"):
        raise CommandError(SYNTAX)
    snapshots = client.broker.persistence
    if snapshots.has_child():
        raise CommandError("ERR Background save already in progress")
    if client.multi is not None:
        snapshots.scheduled = True
        return Simple("Background saving scheduled")
    if not snapshots.bgsave():
        raise CommandError(_ERR)
    return Simple("Background saving started")


# LASTSAVE
@command("lastsave", 1, "loading stale fast", group="server")
def lastsave(client: Client, argv: list[bytes]) -> int:
    return client.broker.persistence.lastsave  # type: ignore[no-any-return]


# SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]
@command("shutdown", -1, "admin noscript loading stale no_multi allow_busy", group="server")
def shutdown(client: Client, argv: list[bytes]) -> object:
    nosave = save_flag = now = force = abort = False
    for arg in argv[1:]:
        word = arg.lower()
        if word == b"nosave":
            nosave = True
        elif word == b"save":
            save_flag = True
        elif word == b"now":
            now = True
        elif word == b"force":
            force = True
        elif word == b"abort":
            abort = True
        else:
            raise CommandError(SYNTAX)
    if (abort and len(argv) > 2) or (nosave and save_flag):
        raise CommandError(SYNTAX)
    if abort:
        # One node without replicas never waits for them, so nothing is ever in progress.
        raise CommandError("ERR No shutdown in progress.")
    _ = now  # no replicas to wait for: every shutdown is immediate
    broker = client.broker
    if not broker.persistence.save_on_shutdown(force_save=save_flag, nosave=nosave) and not force:
        raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
    stop = getattr(broker, "on_shutdown", None)
    if stop is None:
        raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
    stop()
    client.close_after_reply = True
    return NO_REPLY  # the connection just closes, as Redis's does


# DUMP key
@command("dump", 2, "readonly", keys=(1, 1, 1), group="generic", since="2.6.0")
def dump(client: Client, argv: list[bytes]) -> bytes | None:
    value = client.db.read(argv[1])
    if value is None:
        return None
    compress = client.broker.config.get("rdbcompression") == "yes"
    return dump_value(value, compress)


# RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
@command("restore", -4, "write denyoom", keys=(1, 1, 1), group="generic", since="2.6.0")
def restore(client: Client, argv: list[bytes]) -> Any:
    replace = absttl = False
    idle = freq = -1
    i = 4
    while i < len(argv):
        word = argv[i].lower()
        more = len(argv) - i - 1
        if word == b"replace":
            replace = True
        elif word == b"absttl":
            absttl = True
        elif word == b"idletime" and more >= 1 and freq == -1:
            idle = parse_int(argv[i + 1])
            if idle < 0:
                raise CommandError("ERR Invalid IDLETIME value, must be >= 0")
            i += 1
        elif word == b"freq" and more >= 1 and idle == -1:
            freq = parse_int(argv[i + 1])
            if not 0 <= freq <= 255:
                raise CommandError("ERR Invalid FREQ value, must be >= 0 and <= 255")
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    db = client.db
    key = argv[1]
    if not replace and db.lookup(key) is not None:
        raise CommandError("BUSYKEY Target key name already exists.")
    ttl = parse_int(argv[2])
    if ttl < 0:
        raise CommandError("ERR Invalid TTL value, must be >= 0")
    try:
        value = load_value(argv[3], key)
    except DumpError:
        raise CommandError("ERR DUMP payload version or checksum are wrong") from None
    except RdbError:
        raise CommandError("ERR Bad data format") from None
    deleted = replace and db.delete(key)
    if ttl and not absttl:
        ttl += client.broker.now_ms
    if ttl and ttl <= client.broker.now_ms:
        if deleted:
            db.notify(NotifyClass.GENERIC, b"del", key)
        return OK
    _add_with_ttl(db, key, value, ttl or None)
    db.set_access_field(key, idle, freq)
    db.notify(NotifyClass.GENERIC, b"restore", key)
    return OK
