"""MIGRATE: move keys to another Redis-compatible server (``migrateCommand``, cluster.c).

As in Redis the command is synchronous: the keys are serialised in the DUMP format,
sent as RESTORE commands over a blocking connection with the command's timeout, and
each key the target acknowledged is deleted here (unless COPY) and propagated as a
DEL. Nothing else runs meanwhile, which is why MIGRATE has a timeout; Redis blocks
its event loop the same way. The connection is opened for the command and closed
after it (Redis keeps it for 10 s: ``INFO migrate_cached_sockets`` stays 0 here).
"""

from __future__ import annotations

import socket
from typing import Any

from broker.commands.args import SYNTAX, parse_int
from broker.client import Client
from broker.notify import NotifyClass
from broker.persistence.rdb import dump_value
from broker.propagate import encode_command
from broker.resp import OK, CommandError, Simple
from broker.table import command

__all__: list[str] = []

_NOKEY = Simple("NOKEY")
_CHUNK = 64 * 1024  # connSyncWrite's chunks
_LINE_MAX = 1024  # connSyncReadLine's buffer (longer replies are cut there)


class _Failed(Exception):
    """The connection failed: ``writing`` says whether while writing."""

    def __init__(self, writing: bool) -> None:
        super().__init__("writing" if writing else "reading")
        self.writing = writing


def _parse(argv: list[bytes]) -> tuple[bool, bool, bytes | None, bytes | None, list[bytes]]:
    """(copy, replace, username, password, keys), or CommandError as Redis words it."""
    copy = replace = False
    username = password = None
    keys = [argv[3]]
    j = 6
    while j < len(argv):
        word, more = argv[j].lower(), len(argv) - 1 - j
        if word == b"copy":
            copy = True
        elif word == b"replace":
            replace = True
        elif word == b"auth":
            if not more:
                raise CommandError(SYNTAX)
            j += 1
            password = argv[j]
        elif word == b"auth2":
            if more < 2:
                raise CommandError(SYNTAX)
            username, password = argv[j + 1], argv[j + 2]
            j += 2
        elif word == b"keys":
            if argv[3]:
                raise CommandError("ERR When using MIGRATE KEYS option, the key argument must be set to "
                                   "the empty string")
            keys = argv[j + 1:]
            break
        else:
            raise CommandError(SYNTAX)
        j += 1
    return copy, replace, username, password, keys


def _read_line(reader: Any) -> bytes:
    line = reader.readline(_LINE_MAX)
    if not line:
        raise _Failed(False)
    return line.rstrip(b"\r\n")


# MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
#   [AUTH2 username password] [KEYS key [key ...]]
@command("migrate", -6, "write", keys=(3, 3, 1), group="generic", since="2.6.0")
def migrate(client: Client, argv: list[bytes]) -> Any:
    copy, replace, username, password, keys = _parse(argv)
    timeout = parse_int(argv[5])
    dbid = parse_int(argv[4])
    if timeout <= 0:
        timeout = 1000
    db = client.db
    broker = client.broker
    present = [(key, value) for key in keys if (value := db.read(key)) is not None]
    if not present:
        return _NOKEY
    requests: list[list[bytes]] = []
    if password is not None:
        requests.append([b"AUTH", password] if username is None else [b"AUTH", username, password])
    requests.append([b"SELECT", b"%d" % dbid])  # a new connection: no db selected yet
    compress = broker.config.get("rdbcompression") == "yes"
    sent: list[bytes] = []
    for key, value in present:
        deadline = db.deadline(key)
        ttl = 0
        if deadline is not None:
            ttl = deadline - broker.now_ms
            if ttl < 0:
                continue
            ttl = max(ttl, 1)
        restore = [b"RESTORE", key, b"%d" % ttl, dump_value(value, compress)]
        if replace:
            restore.append(b"REPLACE")
        requests.append(restore)
        sent.append(key)
    payload = b"".join(encode_command(request) for request in requests)
    try:
        port = int(argv[2])  # (atoi: what is not a number connects nowhere)
    except ValueError:
        port = 0
    try:
        connection = socket.create_connection((argv[1].decode("utf-8", "replace"), port), timeout / 1000)
    except (socket.gaierror, TimeoutError, ValueError, OverflowError):
        raise CommandError("IOERR error or timeout connecting to the client") from None
    except OSError:
        # Redis's blocking connect only waits for the socket to be writable: a refused
        # connection shows when the RESTOREs are written
        raise CommandError("IOERR error or timeout writing to target instance") from None
    # the target's first error (AUTH's or SELECT's fails every key)
    error: bytes | None = None
    setup_failed = False
    try:
        with connection, connection.makefile("rb") as reader:
            try:
                for start in range(0, len(payload), _CHUNK):
                    connection.sendall(payload[start:start + _CHUNK])
            except OSError:
                raise _Failed(True) from None
            try:
                # AUTH's and SELECT's replies, then one per RESTORE
                for _ in range(len(requests) - len(sent)):
                    line = _read_line(reader)
                    if line[:1] == b"-" and error is None:
                        error, setup_failed = line[1:], True
                for key in sent:
                    line = _read_line(reader)
                    if line[:1] == b"-" or setup_failed:
                        if error is None:
                            error = line[1:]
                    elif not copy:
                        db.delete(key)
                        db.notify(NotifyClass.GENERIC, b"del", key)
                        broker.dirty += 1
            except OSError:
                raise _Failed(False) from None
    except _Failed as failed:
        if error is None:
            raise CommandError(f"IOERR error or timeout {'writing' if failed.writing else 'reading'} "
                               "to target instance") from None
    if error is not None:
        raise CommandError("ERR Target instance replied with error: " + error.decode("utf-8", "replace"))
    return OK
