"""fanout's own commands: the gateway's atomic history and presence writes.

Each one is a short sequence of ordinary commands run back to back (the core is
single-threaded, so nothing interleaves), with the same keyspace notifications
as the commands it is made of. On a real Redis the RESP backend runs Lua scripts
with exactly these effects (``broker.backends.scripts``); a differential test
compares the two. Key names (``{...}`` is a cluster hash tag: one slot per channel):

- ``history:{<ch>}``        stream; entry id ``<offset>-0``, fields ``d`` (data), ``t`` (ms)
- ``history:{<ch>}:meta``   hash: ``offset`` (last offset), ``epoch``
- ``presence:{<ch>}``       hash: connection id -> meta JSON
- ``presence:{<ch>}:users`` hash: user -> number of the user's connections in the channel
- ``once:{<ch>}:<key>``     string ``<offset>:<epoch>``: a publish with this idempotency key
  happened (FANOUT.ONCE), kept for the idempotency window

Pub/sub envelopes (so gateway nodes learn offsets and presence changes in order
with the channel's messages): ``\\x1eh<offset>:<epoch>:<data>`` for a message kept
in history, ``\\x1epj<first><meta>`` / ``\\x1epl<last><meta>`` for a join / leave.
"""

from __future__ import annotations

from typing import Any

from broker.channel_keys import (
    history_envelope,
    history_keys,
    presence_envelope,
    presence_keys,
)
from broker.commands.args import parse_int
from broker.client import Client
from broker.notify import NotifyClass
from broker.resp import CommandError
from broker.stream import Stream
from broker.table import COMMANDS, command

__all__ = ["new_epoch"]

_HASH, _STREAM, _GENERIC = NotifyClass.HASH, NotifyClass.STREAM, NotifyClass.GENERIC
def new_epoch(now: float) -> bytes:
    """``<seconds><microseconds, 6 digits>`` like the Lua script builds from TIME."""
    seconds = int(now)
    return b"%d%06d" % (seconds, int((now - seconds) * 1_000_000))


def _run(client: Client, *argv: bytes) -> Any:
    reply = COMMANDS[argv[0]].handler(client, list(argv))  # type: ignore[misc]
    if isinstance(reply, CommandError):
        raise reply
    return reply


@command("fanout.publish", 5, "write denyoom", keys=(1, 1, 1), group="fanout",
         summary="Append a message to a channel's history stream and publish it with its offset")
def fanout_publish(client: Client, argv: list[bytes]) -> list[Any]:
    """FANOUT.PUBLISH <channel> <maxlen> <ttl-ms> <data> -> [offset, epoch]

    The effects (and keyspace events) of HINCRBY meta offset 1; [DEL stream;
    HSET meta epoch E]; XADD stream MAXLEN ~ maxlen <offset>-0 d data t now;
    PEXPIRE stream ttl; PEXPIRE meta ttl; PUBLISH — done on the data structures
    directly, since this runs for every message of a history channel.
    """
    channel, data = argv[1], argv[4]
    maxlen = parse_int(argv[2])
    ttl_ms = parse_int(argv[3])
    if maxlen < 1 or ttl_ms < 1:
        raise CommandError("ERR maxlen and ttl must be positive")
    db = client.db
    broker = client.broker
    stream_key, meta_key = history_keys(channel)
    meta = db.get_typed(meta_key, dict)
    if meta is None:
        meta = {}
        db.add(meta_key, meta)
    old = meta.get(b"offset")
    offset = (0 if old is None else parse_int(old, "ERR hash value is not an integer")) + 1
    meta[b"offset"] = b"%d" % offset
    db.notify(_HASH, b"hincrby", meta_key)
    epoch = None if offset == 1 else meta.get(b"epoch")
    if epoch is None:
        old = db.lookup(stream_key) if offset == 1 else None
        # A new epoch starts a new stream; a stream that never had an entry (consumer
        # groups made with MKSTREAM before the first message) is kept, with its groups.
        if old is not None and (type(old) is not Stream or len(old) or old.last_id != (0, 0)):
            db.delete(stream_key)
            db.notify(_GENERIC, b"del", stream_key)
        epoch = new_epoch(broker.clock())
        meta[b"epoch"] = epoch
        db.notify(_HASH, b"hset", meta_key)
    now_ms = broker.now_ms
    stream = db.get_typed(stream_key, Stream)
    entry_id = (offset, 0)
    if stream is None:
        stream = Stream()
        db.add(stream_key, stream)
    elif entry_id <= stream.last_id:
        raise CommandError("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    stream.append(entry_id, [b"d", data, b"t", b"%d" % now_ms])
    db.notify(_STREAM, b"xadd", stream_key)
    if stream.trim(maxlen, None, True, None):
        db.notify(_STREAM, b"xtrim", stream_key)
    db.signal_ready(stream_key)
    deadline = now_ms + ttl_ms
    for key in (stream_key, meta_key):
        db.set_expire(key, deadline)
        db.notify(_GENERIC, b"expire", key)
    broker.stats.client_publishes += 1
    broker.publish(channel, history_envelope(offset, epoch, data))
    return [offset, epoch]


@command("fanout.join", 5, "write denyoom", keys=(1, 1, 1), group="fanout",
         summary="Add a connection to a channel's presence; publish the join")
def fanout_join(client: Client, argv: list[bytes]) -> list[int]:
    """FANOUT.JOIN <channel> <conn> <user> <meta> -> [added, first]"""
    channel, conn, user, meta = argv[1], argv[2], argv[3], argv[4]
    members, users = presence_keys(channel)
    if _run(client, b"hset", members, conn, meta) == 0:
        return [0, 0]
    first = 1 if _run(client, b"hincrby", users, user, b"1") == 1 else 0
    client.broker.publish(channel, presence_envelope(True, bool(first), meta))
    return [1, first]


@command("fanout.leave", 4, "write", keys=(1, 1, 1), group="fanout",
         summary="Remove a connection from a channel's presence; publish the leave")
def fanout_leave(client: Client, argv: list[bytes]) -> list[int]:
    """FANOUT.LEAVE <channel> <conn> <user> -> [removed, last]"""
    channel, conn, user = argv[1], argv[2], argv[3]
    members, users = presence_keys(channel)
    meta = _run(client, b"hget", members, conn)
    if meta is None:
        return [0, 0]
    _run(client, b"hdel", members, conn)
    last = 0
    if _run(client, b"hincrby", users, user, b"-1") <= 0:
        _run(client, b"hdel", users, user)
        last = 1
    client.broker.publish(channel, presence_envelope(False, bool(last), meta))
    return [1, last]


_ONCE_COMMANDS = (b"fanout.publish", b"publish", b"spublish")


@command("fanout.once", -6, "write denyoom", keys=(1, 1, 1), group="fanout",
         summary="Run a publish unless one with the same idempotency key ran within the window")
def fanout_once(client: Client, argv: list[bytes]) -> list[Any]:
    """FANOUT.ONCE <key> <window-ms> FANOUT.PUBLISH|PUBLISH|SPUBLISH <arg ...> -> [duplicate, offset, epoch]

    If ``key`` exists, nothing is published: [1, offset, epoch] of the publish that
    set it. Else the publish runs and ``key`` is set to ``<offset>:<epoch>`` with
    PX window (offset 0 and epoch "" for PUBLISH), in the same atomic step: a retry
    of a publish whose reply was lost can never publish it twice.
    """
    key = argv[1]
    window = parse_int(argv[2])
    if window < 1:
        raise CommandError("ERR the window must be positive")
    inner = argv[3].lower()
    if inner not in _ONCE_COMMANDS:
        raise CommandError("ERR FANOUT.ONCE runs FANOUT.PUBLISH, PUBLISH or SPUBLISH")
    expected = 5 if inner == b"fanout.publish" else 3
    if len(argv) - 3 != expected:
        raise CommandError(f"ERR wrong number of arguments for '{inner.decode()}' command")
    seen = _run(client, b"get", key)
    if seen is not None:
        offset, _, epoch = seen.partition(b":")
        return [1, parse_int(offset), epoch]
    if inner == b"fanout.publish":
        offset, epoch = fanout_publish(client, [inner, *argv[4:]])
    else:
        _run(client, inner, *argv[4:])
        offset, epoch = 0, b""
    _run(client, b"set", key, b"%d:%s" % (offset, epoch), b"PX", argv[2])
    return [0, offset, epoch]
