"""What a standalone master answers about replication and databases: WAIT, ROLE,
REPLICAOF and SWAPDB, as redis-server 7.0 with no replicas (``replication.c``, ``db.c``)."""

from __future__ import annotations

from typing import Any

from broker.commands.args import NOT_INTEGER, parse_int
from broker.client import Client
from broker.resp import OK, CommandError
from broker.results import Blocked
from broker.stream import Stream
from broker.table import command

__all__: list[str] = []

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


# WAIT numreplicas timeout
@command("wait", 3, "noscript", group="generic", since="3.0.0")
def wait(client: Client, argv: list[bytes]) -> Any:
    """No replica ever acknowledges: 0 at once when none is asked for, else after the
    timeout (0 waits for ever, as Redis does with no replicas)."""
    wanted = parse_int(argv[1], NOT_INTEGER)
    timeout = parse_int(argv[2], "ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    if wanted <= 0 or client.multi is not None:
        return 0
    return Blocked(keys=[], timeout_ms=timeout, retry=lambda: None, timeout_reply=0)


# ROLE
@command("role", 1, "noscript loading stale fast", group="server", since="2.8.12")
def role(client: Client, argv: list[bytes]) -> Any:
    return [b"master", 0, []]


def _replicaof(client: Client, argv: list[bytes]) -> Any:
    """``replicaofCommand``: NO ONE keeps (or makes) this node a master, which it
    always is: OK. Following another server is not something this broker does:
    its port is checked as Redis checks it, then the request is refused."""
    if argv[1].lower() == b"no" and argv[2].lower() == b"one":
        return OK
    port = parse_int(argv[2], "ERR Invalid master port")
    if not 0 <= port <= 65535:
        raise CommandError("ERR Invalid master port")
    raise CommandError("ERR this broker is a standalone master: it cannot replicate another server "
                       "(REPLICAOF NO ONE is accepted)")


# REPLICAOF host port | NO ONE
@command("replicaof", 3, "admin noscript stale no_async_loading", group="server", since="5.0.0")
def replicaof(client: Client, argv: list[bytes]) -> Any:
    return _replicaof(client, argv)


# SLAVEOF host port | NO ONE
@command("slaveof", 3, "admin noscript stale no_async_loading", group="server", since="1.0.0")
def slaveof(client: Client, argv: list[bytes]) -> Any:
    return _replicaof(client, argv)


def _db_index(raw: bytes, error: str) -> int:
    """``getIntFromObjectOrReply``: a C int."""
    value = parse_int(raw, f"ERR {error}")
    if not _INT_MIN <= value <= _INT_MAX:
        raise CommandError(f"ERR {error}")
    return value


# SWAPDB index1 index2
@command("swapdb", 3, "write fast", group="server", since="4.0.0")
def swapdb(client: Client, argv: list[bytes]) -> Any:
    first = _db_index(argv[1], "invalid first DB index")
    second = _db_index(argv[2], "invalid second DB index")
    broker = client.broker
    dbs = broker.dbs
    if not (0 <= first < len(dbs) and 0 <= second < len(dbs)):
        raise CommandError("ERR DB index is out of range")
    if first == second:
        return OK
    one, two = dbs[first], dbs[second]
    # touchAllWatchedKeysInDb both ways: a watched key present on either side changes
    for (index, key), watchers in broker.watchers.items():
        if index in (first, second) and (key in one.data or key in two.data):
            for watcher in watchers:
                watcher.watch_dirty = True
    # scanDatabaseForDeletedStreams: a stream someone waits on that the swap takes
    # away releases its XREADGROUP waiters ("-UNBLOCKED"), so note them before
    streams_before = {(index, key) for index, key in broker.blocked
                      if index in (first, second) and type(dbs[index].data.get(key)) is Stream}
    # the contents move, the clients stay in their db (and so do WATCH and blocked keys)
    one.swap_contents(two)
    broker.changes += 1  # recorded (AOF) though no key was modified in place
    # scanDatabaseForReadyKeys: a client waiting on a key its db now holds may go on
    for index, key in list(broker.blocked):
        if index in (first, second) and (key in dbs[index].data or (index, key) in streams_before):
            broker.signal_ready(index, key)
    return OK
