"""What a standalone master answers about replication and databases: WAIT, ROLE
and SWAPDB, as redis-server 7.0 with no replicas (``replication.c``, ``db.c``)."""

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
