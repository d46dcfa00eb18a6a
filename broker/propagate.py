"""Command propagation: what every data change is recorded as (sans-I/O).

Redis's ``propagate``/``alsoPropagate`` (``server.c``): after a command that changed
data (the core's ``dirty`` counter moved), the command is recorded in the form a
replay must see, so that replaying the record rebuilds the same dataset whatever
the time of the replay:

- relative times become absolute (EXPIRE, SETEX, SET EX, GETEX EX ... as PEXPIREAT
  or SET ... PXAT), and a deadline already past as DEL;
- results that depend on chance or the clock become the values chosen (INCRBYFLOAT
  as SET ... KEEPTTL, HINCRBYFLOAT as HSET, SPOP as SREM, XADD ``*`` as the id it
  got, approximate stream trimming as the exact length left);
- blocking commands as their non-blocking form (BLPOP as LPOP, BLMOVE as LMOVE ...);
- EXEC, scripts and the gateway's FANOUT.* commands as their effects: the commands
  they ran (``Broker.call`` at depth > 0 records each) or the ordinary commands that
  rebuild what they did, so that a stock redis-server replays them;
- keys that expire (lazily on access or by the active cycle) as DEL (or UNLINK with
  ``lazyfree-lazy-expire yes``).

The records of one top-level command form a unit; a unit of more than one record is
wrapped in MULTI/EXEC (Redis 7's ``propagatePendingCommands``), so a replica or a
truncated AOF sees all of it or nothing. Each record carries its db; sinks (the AOF,
later replication) add SELECT where the db changes. A sink gets every unit as a list
of ``(db, argv)`` and decides when to write it (the AOF once per event-loop
iteration).

Contract for commands that run other commands (scripts): record each command they
run (``Propagator.record``, as ``broker.scripting.engine``'s redis.call does) and
list the outer command in ``broker.table.NESTING_COMMANDS`` (it is not recorded
itself; its records are handed on as one unit once it returns at depth 0). A write that changes no key but must be replayed
(FUNCTION LOAD/DELETE/FLUSH) bumps ``broker.changes`` (Redis's
``forceCommandPropagation``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from broker.resp import CommandError
from broker.table import NESTING_COMMANDS

if TYPE_CHECKING:
    from broker.client import Client
    from broker.table import Command

__all__ = ["EFFECTS_ONLY", "FORCE_PROPAGATE", "Op", "Propagator", "Sink", "encode_command",
           "mark_recorded_as_sent"]

# (db index, argv), or (db index, bytes): requests already encoded as RESP, as a
# client sent them (see Propagator.drain), all in that db
Op = tuple[int, "list[bytes] | bytes"]
Sink = Callable[[list[Op]], None]

# Commands recorded only through the commands they run (Redis: the script caller
# and EXEC are not propagated themselves since 7.0's effects replication).
EFFECTS_ONLY = NESTING_COMMANDS | {"exec", "script"}
# Writes that change no key but must be replayed (Redis's forceCommandPropagation):
# Broker.call counts them as a change.
FORCE_PROPAGATE = frozenset({"function|load", "function|delete", "function|flush", "function|restore"})

_MULTI: Op = (-1, [b"MULTI"])
_EXEC: Op = (-1, [b"EXEC"])


def encode_command(argv: list[bytes]) -> bytes:
    """One command as a RESP array of bulk strings (the AOF and replication format)."""
    if len(argv) == 3:  # SET, HDEL, SADD ... : one format instead of a join (the AOF's hot path)
        a, b, c = argv
        return _THREE % (len(a), a, len(b), b, len(c), c)
    return b"*%d\r\n" % len(argv) + b"".join([b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in argv])


_THREE = b"*3\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"


def mark_recorded_as_sent(commands: Iterable["Command"]) -> None:
    """Set each command's ``sent_argc``: up to how many arguments it is recorded as sent.

    A top-level command with no rewrite (or, for SET, without options) is recorded
    as its argv alone; the core's pipeline loop appends such records to
    ``Propagator.sent`` itself, without a call into the propagator per command.
    Containers, commands recorded through their effects and blocking commands
    (their reply may be Blocked) always take ``Propagator.record``.
    """
    for cmd in commands:
        if cmd.container is not None or cmd.handler is None or cmd.name in EFFECTS_ONLY or "blocking" in cmd.flags:
            cmd.sent_argc = 0
        elif cmd.name in _REWRITES:
            cmd.sent_argc = _REWRITE_FROM_ARGC.get(cmd.name, 1) - 1  # SET k v: 3
        else:
            cmd.sent_argc = 1 << 62


class Propagator:
    """Collects the records of the running command and hands whole units to sinks."""

    def __init__(self) -> None:
        # records of the current top-level command, in order
        self.pending: list[Op] = []
        # single-record units of the running pipeline taken on the core's fast path
        # (commands recorded as sent), handed on together by ``drain``: before any
        # other unit, so the sinks see every record in order, and at the batch's end
        self.sent: list[Op] = []
        self.sinks: list[Sink] = []
        # UNLINK instead of DEL for expired keys (lazyfree-lazy-expire)
        self.lazy_expire = False

    # ------------------------------------------------------------ recording

    def record(self, client: "Client", cmd: "Command", argv: list[bytes], reply: Any) -> None:
        """``cmd`` changed data: record it in its replayable form (after it ran)."""
        if cmd.name in EFFECTS_ONLY or isinstance(reply, CommandError):
            return
        rewrite = _REWRITES.get(cmd.fullname)
        db = client.db.index
        if rewrite is None:
            self.pending.append((db, argv))
            return
        for op in rewrite(client, argv, reply):
            self.pending.append((db, op))

    def record_alone(self, client: "Client", cmd: "Command", argv: list[bytes], reply: Any) -> None:
        """``record`` then ``flush`` for a top-level command with nothing pending (the
        common case, without the pending list)."""
        name = cmd.name
        if name in EFFECTS_ONLY or isinstance(reply, CommandError):
            return
        rewrite = _REWRITES.get(name if cmd.container is None else cmd.fullname)
        db = client.db.index
        if self.sent:
            self.drain()
        if rewrite is None or len(argv) < _REWRITE_FROM_ARGC.get(name, 0):
            unit = [(db, argv)]
            for sink in self.sinks:
                sink(unit)
            return
        ops = rewrite(client, argv, reply)
        if len(ops) == 1:
            unit = [(db, ops[0])]
            for sink in self.sinks:
                sink(unit)
        elif ops:
            self.pending.extend([(db, op) for op in ops])
            self.flush()

    def also(self, db: int, argv: list[bytes]) -> None:
        """Record ``argv`` as if a command ran it (``alsoPropagate``)."""
        self.pending.append((db, argv))

    def deletion(self, db: int, key: bytes, lazy: bool | None = None) -> None:
        """A key expired or was evicted (``propagateDeletion``): UNLINK when freed
        lazily (``lazy``: lazyfree-lazy-eviction; lazyfree-lazy-expire by default)."""
        self.pending.append((db, [b"UNLINK" if (self.lazy_expire if lazy is None else lazy) else b"DEL", key]))

    def flush(self, wrap: bool = True) -> None:
        """End of a top-level command: hand its records to the sinks as one unit."""
        if self.sent:
            self.drain()
        ops = self.pending
        if not ops:
            return
        self.pending = []
        if len(ops) > 1 and wrap:
            ops = [(ops[0][0], _MULTI[1])] + ops + [(ops[-1][0], _EXEC[1])]
        for sink in self.sinks:
            sink(ops)


    def drain(self, raw: bytes | None = None) -> None:
        """Hand the fast path's records (``sent``) on, as one list of single-record units.

        Args:
            raw: the requests those records are, exactly as the client sent them, when
                that is canonical RESP (``*<n>`` arrays of ``$<len>`` bulks, lengths
                without leading zeros: what ``encode_command`` writes) and every request
                of the read is in ``sent``: the sinks get those bytes instead of the
                argvs to encode again.
        """
        sent = self.sent
        if not sent:
            return
        ops = [(sent[0][0], raw)] if raw is not None else sent.copy()
        sent.clear()
        for sink in self.sinks:
            sink(ops)


# ---------------------------------------------------------------- rewrites
#
# Each function sees the command after it ran (the keyspace as it left it, and its
# reply) and returns the records that replay it.

Rewrite = Callable[["Client", list[bytes], Any], list[list[bytes]]]
_REWRITES: dict[str, Rewrite] = {}
# commands whose rewrite only matters from this many arguments (SET k v is recorded as is)
_REWRITE_FROM_ARGC: dict[str, int] = {"set": 4}


def _rewrites(*names: str) -> Callable[[Rewrite], Rewrite]:
    def register(function: Rewrite) -> Rewrite:
        for name in names:
            _REWRITES[name] = function
        return function
    return register


def _ms(value: int) -> bytes:
    return b"%d" % value


def _deadline_or_del(client: "Client", key: bytes, alive: list[bytes]) -> list[list[bytes]]:
    """``alive`` with the key's deadline appended, or DEL when the key is gone."""
    db = client.db
    if key not in db.data:
        return [[b"DEL", key]]
    deadline = db.expires.get(key)
    if deadline is None:
        return [[b"PERSIST", key]] if alive[0] == b"PEXPIREAT" else [alive[:-1]]
    return [alive[:-1] + [_ms(deadline)]]


@_rewrites("migrate")
def _migrate(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    """MIGRATE as DEL of the keys it moved (those gone now; COPY changes nothing)."""
    keys = [argv[3]]
    for index in range(6, len(argv)):
        if argv[index].lower() == b"keys" and not argv[3]:
            keys = argv[index + 1:]
            break
    return [[b"DEL", *[key for key in keys if key not in client.db.data]]]


@_rewrites("expire", "pexpire", "expireat", "pexpireat")
def _expire(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    return _deadline_or_del(client, argv[1], [b"PEXPIREAT", argv[1], b""])


_EXPIRE_OPTIONS = {b"ex", b"px", b"exat", b"pxat"}


@_rewrites("set")
def _set(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    if len(argv) == 3:
        return [argv]
    options = [arg.lower() for arg in argv[3:]]
    if _EXPIRE_OPTIONS.intersection(options):
        return _deadline_or_del(client, argv[1], [b"SET", argv[1], argv[2], b"PXAT", b""])
    if b"get" in options:
        return [[arg for arg in argv if arg.lower() != b"get"]]
    return [argv]


@_rewrites("setex", "psetex")
def _setex(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    return _deadline_or_del(client, argv[1], [b"SET", argv[1], argv[3], b"PXAT", b""])


@_rewrites("getex")
def _getex(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    options = [arg.lower() for arg in argv[2:]]
    if b"persist" in options:
        return [[b"PERSIST", argv[1]]]
    return _deadline_or_del(client, argv[1], [b"PEXPIREAT", argv[1], b""])


@_rewrites("getdel")
def _getdel(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    return [[b"DEL", argv[1]]]


@_rewrites("incrbyfloat")
def _incrbyfloat(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    return [[b"SET", argv[1], reply, b"KEEPTTL"]]


@_rewrites("hincrbyfloat")
def _hincrbyfloat(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    return [[b"HSET", argv[1], argv[2], reply]]


@_rewrites("spop")
def _spop(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    members = reply if isinstance(reply, (list, set)) else [reply]
    return [[b"SREM", argv[1], *members]] if members else []


@_rewrites("blpop", "brpop")
def _blpop(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    return [[b"LPOP" if argv[0].lower() == b"blpop" else b"RPOP", reply[0]]]


@_rewrites("bzpopmin", "bzpopmax")
def _bzpop(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    return [[b"ZPOPMIN" if argv[0].lower() == b"bzpopmin" else b"ZPOPMAX", reply[0]]]


@_rewrites("blmove")
def _blmove(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    return [[b"LMOVE", *argv[1:5]]]


@_rewrites("brpoplpush")
def _brpoplpush(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    return [[b"RPOPLPUSH", argv[1], argv[2]]]


@_rewrites("lmpop", "blmpop", "zmpop", "bzmpop")
def _mpop(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    name = argv[0].lower()
    words = [arg.lower() for arg in argv]
    if name.startswith(b"z"):
        pop = b"ZPOPMIN" if b"min" in words else b"ZPOPMAX"
    else:
        pop = b"LPOP" if b"left" in words else b"RPOP"
    key, popped = reply[0], reply[1]
    return [[pop, key, b"%d" % len(popped)]]


@_rewrites("xadd")
def _xadd(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    # XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] id field value ...
    key = argv[1]
    i = 2
    trimmed = False
    nomkstream = False
    while True:
        word = argv[i].lower()
        if word == b"nomkstream":
            nomkstream = True
            i += 1
        elif word in (b"maxlen", b"minid"):
            trimmed = True
            i += 3 if argv[i + 1] in (b"=", b"~") else 2
        elif word == b"limit":
            i += 2
        else:
            break
    op = [b"XADD", key] + ([b"NOMKSTREAM"] if nomkstream else []) + [reply] + argv[i + 1:]
    ops = [op]
    if trimmed:
        ops.append(_exact_trim(client, key))
    return ops


@_rewrites("xtrim")
def _xtrim(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    return [_exact_trim(client, argv[1])]


def _exact_trim(client: "Client", key: bytes) -> list[bytes]:
    stream = client.db.data.get(key)
    return [b"XTRIM", key, b"MAXLEN", b"=", b"%d" % (len(stream) if stream is not None else 0)]


@_rewrites("fanout.publish")
def _fanout_publish(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    # The effects of FANOUT.PUBLISH (see broker/commands/fanout.py) as plain commands,
    # with the epoch, time stamp and deadline it chose, so that any Redis replays them.
    from broker.channel_keys import history_keys
    from broker.stream import format_id

    stream_key, meta_key = history_keys(argv[1])
    db = client.db
    offset, epoch = reply
    stream = db.data.get(stream_key)
    ops: list[list[bytes]] = []
    if offset == 1:  # a new epoch starts a new stream
        ops.append([b"DEL", stream_key])
    # the epoch too: unchanged unless this call chose it
    ops.append([b"HSET", meta_key, b"offset", b"%d" % offset, b"epoch", epoch])
    entry_id, fields = stream.ids[-1], stream.values[-1]
    ops.append([b"XADD", stream_key, format_id(entry_id), *fields])
    ops.append([b"XTRIM", stream_key, b"MAXLEN", b"=", b"%d" % len(stream)])
    for key in (stream_key, meta_key):
        ops.append([b"PEXPIREAT", key, _ms(db.expires[key])])
    return ops


@_rewrites("fanout.join")
def _fanout_join(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    from broker.channel_keys import presence_keys

    members, users = presence_keys(argv[1])
    if not reply[0]:
        return []
    return [[b"HSET", members, argv[2], argv[4]], [b"HINCRBY", users, argv[3], b"1"]]


@_rewrites("fanout.leave")
def _fanout_leave(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    from broker.channel_keys import presence_keys

    members, users = presence_keys(argv[1])
    if not reply[0]:
        return []
    ops = [[b"HDEL", members, argv[2]], [b"HINCRBY", users, argv[3], b"-1"]]
    if reply[1]:
        ops.append([b"HDEL", users, argv[3]])
    return ops


@_rewrites("restore")
def _restore(client: "Client", argv: list[bytes], reply: Any) -> list[list[bytes]]:
    # RESTORE key ttl payload [REPLACE] [ABSTTL] ...: the TTL as a deadline, as Redis 7 does
    key = argv[1]
    db = client.db
    if key not in db.data:
        return [[b"DEL", key]]
    deadline = db.expires.get(key)
    options = [arg for arg in argv[4:] if arg.lower() != b"absttl"]
    if deadline is None:
        return [[b"RESTORE", key, b"0", argv[3], *options]]
    return [[b"RESTORE", key, _ms(deadline), argv[3], *options, b"ABSTTL"]]
