"""Consumer-group commands (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM,
XINFO GROUPS/CONSUMERS), as redis-server 7.0 (``t_stream.c``).

The model is ``broker.stream_groups``. Replies, errors, their order and the
keyspace events follow 7.0.15's code path by path; the comments name the Redis
function a branch mirrors. Idle times are measured against the command's time
(``broker.now_ms``), so a fake clock drives them in unit tests.

Group commands touch no WATCHed key (Redis calls signalModifiedKey only for
XGROUP CREATE MKSTREAM), so their events go through ``_event``, not
``Keyspace.notify``.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from broker.commands.args import SYNTAX, parse_int
from broker.commands.streams import (
    BLOCKED_DEFAULT_COUNT, XINFO, decrement_id, increment_id, parse_id, parse_read_args, parse_strict_id, range_bound,
    read_stream, subcommand_syntax)
from broker.client import Client
from broker.keyspace import WRONGTYPE, Keyspace
from broker.notify import NotifyClass
from broker.resp import NULL_ARRAY, OK, CommandError
from broker.results import Blocked
from broker.stream import MAX_SEQ, Stream, StreamId, estimate_distance, format_id, lag
from broker.stream_groups import INVALID_ENTRIES_READ, Consumer, ConsumerGroup, Nack
from broker.table import command, container, subcommand

__all__: list[str] = []

_STREAM = NotifyClass.STREAM
_MAX_ID: StreamId = (2**64 - 1, MAX_SEQ)
# XREADGROUP's ">" is the largest id, as Redis encodes it
_NEW = _MAX_ID
# x86-64 user address space (128 TiB): a larger allocation always fails; smaller
# ones depend on the machine's overcommit, and are allowed here
_ADDRESS_SPACE = 2**47


def _event(db: Keyspace, event: bytes, key: bytes) -> None:
    """A stream keyspace event with no WATCH invalidation (``notifyKeyspaceEvent`` alone);
    counts as a change, so the command is propagated (AOF)."""
    host = db.host
    host.changes += 1
    if host.notify_flags:
        host.notify(_STREAM, event, key, db.index)


def _dirty(client: Client) -> None:
    """A change with no keyspace event (Redis's ``server.dirty++`` in XACK, XREADGROUP,
    XCLAIM, XAUTOCLAIM): the command is propagated (AOF) as it was sent."""
    client.broker.changes += 1


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _lookup_or_create_consumer(db: Keyspace, key: bytes, group: ConsumerGroup, name: bytes,
                               now: int) -> Consumer:
    consumer = group.lookup_consumer(name, now)
    if consumer is None:
        consumer = group.create_consumer(name, now)
        assert consumer is not None
        _event(db, b"xgroup-createconsumer", key)
    return consumer


# ------------------------------------------------------------------ XGROUP

_xgroup = container("xgroup", "", group="stream", since="5.0.0")


def _xgroup_run(client: Client, argv: list[bytes]) -> Any:
    """``xgroupCommand``: option parsing, key and group checks, then the subcommand."""
    opt = argv[1].lower()
    argc = len(argv)
    mkstream = False
    entries_read = INVALID_ENTRIES_READ
    db = client.db
    key = argv[2]
    i = 5
    create, setid = opt == b"create", opt == b"setid"
    while i < argc:
        option = argv[i].upper()
        if create and option == b"MKSTREAM":
            mkstream = True
            i += 1
        elif (create or setid) and option == b"ENTRIESREAD" and i + 1 < argc:
            entries_read = parse_int(argv[i + 1])
            if entries_read < 0 and entries_read != INVALID_ENTRIES_READ:
                raise CommandError("ERR value for ENTRIESREAD must be positive or -1")
            i += 2
        else:
            raise subcommand_syntax(argv)
    value = db.lookup(key)
    if value is not None and type(value) is not Stream:
        raise CommandError(WRONGTYPE)
    stream: Stream | None = value
    name = argv[3]
    group: ConsumerGroup | None = None
    if not mkstream:
        if stream is None:
            raise CommandError("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE "
                               "you may want to use the MKSTREAM option to create an empty stream "
                               "automatically.")
        group = stream.groups.get(name) if stream.groups else None
        if group is None and opt in (b"setid", b"createconsumer", b"delconsumer"):
            raise CommandError(f"NOGROUP No such consumer group '{_text(name)}' for key name '{_text(key)}'")
    now = client.broker.now_ms
    if create and 5 <= argc <= 8:
        if argv[4] == b"$":
            last_id = stream.last_id if stream is not None else (0, 0)
        else:
            last_id = parse_strict_id(argv[4])
        if stream is None:
            stream = Stream()
            db.add(key, stream)
            if db.watched:
                db.host.touch_watched(db.index, key)
        if stream.groups is None:
            stream.groups = {}
        if name in stream.groups:
            raise CommandError("BUSYGROUP Consumer Group name already exists")
        stream.groups[name] = ConsumerGroup(last_id, entries_read)
        _event(db, b"xgroup-create", key)
        return OK
    assert stream is not None
    if setid and argc in (5, 7):
        assert group is not None
        group.last_id = stream.last_id if argv[4] == b"$" else parse_id(argv[4])
        group.entries_read = entries_read
        _event(db, b"xgroup-setid", key)
        return OK
    if opt == b"destroy" and argc == 4:
        if group is None:
            return 0
        assert stream.groups is not None
        del stream.groups[name]
        _event(db, b"xgroup-destroy", key)
        # blocked XREADGROUP clients of this group get -NOGROUP
        db.signal_ready(key)
        return 1
    if opt == b"createconsumer" and argc == 5:
        assert group is not None
        if group.create_consumer(argv[4], now) is None:
            return 0
        _event(db, b"xgroup-createconsumer", key)
        return 1
    if opt == b"delconsumer" and argc == 5:
        assert group is not None
        consumer = group.lookup_consumer(argv[4], now, refresh=False)
        if consumer is None:
            return 0
        pending = group.delete_consumer(consumer)
        _event(db, b"xgroup-delconsumer", key)
        return pending
    raise subcommand_syntax(argv)


# XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]
@subcommand(_xgroup, "create", -5, "write denyoom", keys=(2, 2, 1))
def xgroup_create(client: Client, argv: list[bytes]) -> Any:
    return _xgroup_run(client, argv)


# XGROUP SETID key group id|$ [ENTRIESREAD entries-read]
@subcommand(_xgroup, "setid", -5, "write", keys=(2, 2, 1))
def xgroup_setid(client: Client, argv: list[bytes]) -> Any:
    return _xgroup_run(client, argv)


# XGROUP DESTROY key group
@subcommand(_xgroup, "destroy", 4, "write", keys=(2, 2, 1))
def xgroup_destroy(client: Client, argv: list[bytes]) -> Any:
    return _xgroup_run(client, argv)


# XGROUP CREATECONSUMER key group consumer
@subcommand(_xgroup, "createconsumer", 5, "write denyoom", keys=(2, 2, 1), since="6.2.0")
def xgroup_createconsumer(client: Client, argv: list[bytes]) -> Any:
    return _xgroup_run(client, argv)


# XGROUP DELCONSUMER key group consumer
@subcommand(_xgroup, "delconsumer", 5, "write", keys=(2, 2, 1))
def xgroup_delconsumer(client: Client, argv: list[bytes]) -> Any:
    return _xgroup_run(client, argv)


# XGROUP HELP
@subcommand(_xgroup, "help", 2, "loading stale")
def xgroup_help(client: Client, argv: list[bytes]) -> list[str]:
    return ["XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
            "HELP",
            "    Prints this help."]


# -------------------------------------------------------------- XREADGROUP


def deliver_new(stream: Stream, group: ConsumerGroup, consumer: Consumer, after: StreamId,
                count: int, noack: bool, now: int) -> list[list[object]]:
    """``streamReplyWithRange`` with a group: entries > ``after``, first deliveries.

    Args:
        count: at most this many entries (0: all).
        noack: deliver without creating pending entries (XREADGROUP NOACK).

    Returns:
        The entries as [id, [field, value, ...]] replies.
    """
    low, stop = stream.span_after(after, count)
    ids, values = stream.ids, stream.values
    # streamReplyWithRange's read-counter step, inlined (this runs for every entry a group reads):
    # no tombstone lies at or after an id above max_deleted_id, or when the last
    # XDEL'd id is older than the first entry.
    deleted = stream.max_deleted_id
    clean = deleted == (0, 0) or deleted < stream.first_id()
    group_pel, own_pel = group.pel, consumer.pel
    entries: list[list[object]] = []
    for index in range(low, stop):
        stream_id = ids[index]
        if stream_id > group.last_id:
            if group.entries_read != INVALID_ENTRIES_READ and (clean or stream_id > deleted):
                group.entries_read += 1
            elif stream.entries_added:
                group.entries_read = estimate_distance(stream, stream_id)
            group.last_id = stream_id
        if not noack:
            if stream_id in group_pel.entries:  # pending already (SETID moved the group back)
                group.add_pending(stream_id, consumer, now)
            else:
                nack = Nack(consumer, now)
                group_pel.add_new(stream_id, nack)
                own_pel.add_new(stream_id, nack)
        entries.append([format_id(stream_id), list(values[index])])
    return entries


def deliver_history(stream: Stream, consumer: Consumer, start: StreamId, count: int,
                    now: int) -> list[list[object]]:
    """``streamReplyWithRangeFromConsumerPEL``: the consumer's own pending ids >= ``start``.

    An id whose entry was deleted (XDEL, trimming) is answered as [id, nil].
    Each delivered entry's idle time resets and its delivery count grows.
    """
    out: list[list[object]] = []
    for stream_id in consumer.pel.irange(minimum=start):
        if count and len(out) >= count:
            break
        entry = stream.entry(stream_id)
        if entry is None:
            out.append([format_id(stream_id), NULL_ARRAY])
        else:
            nack: Nack = consumer.pel[stream_id]
            nack.delivery_time = now
            nack.delivery_count += 1
            out.append(entry)
    return out


# XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]
@command("xreadgroup", -7, "write blocking", group="stream", since="5.0.0")
def xreadgroup(client: Client, argv: list[bytes]) -> Any:
    args = parse_read_args(argv, group=True)
    keys, raw_ids = args.keys, args.ids
    group_name, consumer_name = args.group, args.consumer
    assert group_name is not None and consumer_name is not None
    db = client.db
    groups: list[ConsumerGroup] = []
    ids: list[StreamId] = []
    for key, raw in zip(keys, raw_ids):
        stream = read_stream(db, key)
        group = stream.groups.get(group_name) if stream is not None and stream.groups else None
        if group is None:
            raise CommandError(f"NOGROUP No such key '{_text(key)}' or consumer group '{_text(group_name)}' "
                               "in XREADGROUP with GROUP option")
        groups.append(group)
        if raw == b"$":
            raise CommandError("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the "
                               "history of this consumer by specifying a proper ID, or use the > ID to get new "
                               "messages. The $ ID would just return an empty result set.")
        ids.append(_NEW if raw == b">" else parse_strict_id(raw))
    now = client.broker.now_ms
    found: list[tuple[bytes, list[list[object]]]] = []
    for index, key in enumerate(keys):
        stream = read_stream(db, key)  # looked up again to serve, as Redis does
        if stream is None:
            continue
        group = groups[index]
        wanted = ids[index]
        if wanted != _NEW:
            consumer = _lookup_or_create_consumer(db, key, group, consumer_name, now)
            start = increment_id(wanted) or (0, 0)
            found.append((key, deliver_history(stream, consumer, start, args.count, now)))
            _dirty(client)
        elif len(stream) and stream.last_valid_id() > group.last_id:
            consumer = _lookup_or_create_consumer(db, key, group, consumer_name, now)
            found.append((key, deliver_new(stream, group, consumer, group.last_id, args.count, args.noack, now)))
            _dirty(client)
    if found:
        if client.proto == 3:
            return {key: entries for key, entries in found}
        return [[key, entries] for key, entries in found]
    if args.block_ms is None:
        return NULL_ARRAY
    count = args.count or BLOCKED_DEFAULT_COUNT
    noack = args.noack

    def retry() -> Any:
        # serveClientsBlockedOnStreamKey: only the key that got data (or went) answers
        key = client.broker.serving_key
        if key not in keys:
            return None
        value = client.db.lookup(key)
        if type(value) is not Stream:
            raise CommandError("UNBLOCKED the stream key no longer exists")
        stream: Stream = value
        group = stream.groups.get(group_name) if stream.groups else None
        if group is None:
            raise CommandError("NOGROUP the consumer group this client was blocked on no longer exists")
        if not stream.last_id > group.last_id:
            return None
        now = client.broker.now_ms
        consumer = _lookup_or_create_consumer(client.db, key, group, consumer_name, now)
        entries = deliver_new(stream, group, consumer, group.last_id, count, noack, now)
        _dirty(client)
        if client.proto == 3:
            return {key: entries}
        return [[key, entries]]

    return Blocked(list(keys), args.block_ms, retry, NULL_ARRAY, scan_all=True)


# -------------------------------------------------------------------- XACK


# XACK key group id [id ...]
@command("xack", -4, "write fast", keys=(1, 1, 1), group="stream", since="5.0.0")
def xack(client: Client, argv: list[bytes]) -> int:
    stream = read_stream(client.db, argv[1])
    group = stream.groups.get(argv[2]) if stream is not None and stream.groups else None
    if group is None:  # before the ids are parsed, as Redis
        return 0
    ids = [parse_strict_id(raw) for raw in argv[3:]]  # all or nothing
    acknowledged = sum(1 for stream_id in ids if group.ack(stream_id))
    if acknowledged:
        _dirty(client)
    return acknowledged


# ---------------------------------------------------------------- XPENDING


def _group_or_nogroup(client: Client, key: bytes, name: bytes) -> tuple[Stream, ConsumerGroup]:
    stream = read_stream(client.db, key)
    group = stream.groups.get(name) if stream is not None and stream.groups else None
    if stream is None or group is None:
        raise CommandError(f"NOGROUP No such key '{_text(key)}' or consumer group '{_text(name)}'")
    return stream, group


# XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
@command("xpending", -3, "readonly", keys=(1, 1, 1), group="stream", since="5.0.0")
def xpending(client: Client, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argc != 3 and (argc < 6 or argc > 9):
        raise CommandError(SYNTAX)
    min_idle = 0
    count = 0
    start: StreamId = (0, 0)
    end: StreamId = _MAX_ID
    consumer_name: bytes | None = None
    if argc >= 6:
        first = 3
        if argv[3].upper() == b"IDLE":
            min_idle = parse_int(argv[4])
            if argc < 8:
                raise CommandError(SYNTAX)
            first = 5
        count = max(parse_int(argv[first + 2]), 0)
        start, exclusive = range_bound(argv[first], True)
        if exclusive:
            bumped = increment_id(start)
            if bumped is None:
                raise CommandError("ERR invalid start ID for the interval")
            start = bumped
        end, exclusive = range_bound(argv[first + 1], False)
        if exclusive:
            lowered = decrement_id(end)
            if lowered is None:
                raise CommandError("ERR invalid end ID for the interval")
            end = lowered
        if first + 3 < argc:
            consumer_name = argv[first + 3]
    stream, group = _group_or_nogroup(client, argv[1], argv[2])
    if argc == 3:
        if not group.pel:
            return [0, None, None, NULL_ARRAY]
        owners = [[consumer.name, b"%d" % len(consumer.pel)]
                  for consumer in group.sorted_consumers() if consumer.pel]
        return [len(group.pel), format_id(group.pel.first()), format_id(group.pel.last()),
                owners]
    pel = group.pel
    if consumer_name is not None:
        consumer = group.lookup_consumer(consumer_name, 0, refresh=False)
        if consumer is None:
            return []
        pel = consumer.pel
    now = client.broker.now_ms
    out: list[list[object]] = []
    if count:
        for stream_id in pel.irange(minimum=start, maximum=end):
            nack: Nack = pel[stream_id]
            if min_idle and now - nack.delivery_time < min_idle:
                continue
            assert nack.consumer is not None
            out.append([format_id(stream_id), nack.consumer.name, max(now - nack.delivery_time, 0),
                        nack.delivery_count])
            if len(out) >= count:
                break
    return out


# ------------------------------------------------------------------ XCLAIM


def _claim_int(raw: bytes, error: str) -> int:
    return parse_int(raw, error)


# XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
@command("xclaim", -6, "write fast", keys=(1, 1, 1), group="stream", since="5.0.0")
def xclaim(client: Client, argv: list[bytes]) -> Any:
    stream, group = _group_or_nogroup(client, argv[1], argv[2])
    min_idle = max(_claim_int(argv[4], "ERR Invalid min-idle-time argument for XCLAIM"), 0)
    ids: list[StreamId] = []
    j = 5
    while j < len(argv):
        try:
            ids.append(parse_strict_id(argv[j]))
        except CommandError:
            break  # the rest are options
        j += 1
    now = client.broker.now_ms
    delivery_time = -1
    retry_count = -1
    force = justid = False
    last_id: StreamId = (0, 0)
    while j < len(argv):
        more = len(argv) - 1 - j
        option = argv[j].upper()
        if option == b"FORCE":
            force = True
        elif option == b"JUSTID":
            justid = True
        elif option == b"IDLE" and more:
            j += 1
            delivery_time = now - _claim_int(argv[j], "ERR Invalid IDLE option argument for XCLAIM")
        elif option == b"TIME" and more:
            j += 1
            delivery_time = _claim_int(argv[j], "ERR Invalid TIME option argument for XCLAIM")
        elif option == b"RETRYCOUNT" and more:
            j += 1
            retry_count = _claim_int(argv[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")
        elif option == b"LASTID" and more:
            j += 1
            last_id = parse_strict_id(argv[j])
        else:
            raise CommandError(f"ERR Unrecognized XCLAIM option '{_text(argv[j])}'")
        j += 1
    if last_id > group.last_id:
        group.last_id = last_id
        _dirty(client)
    if delivery_time == -1 or delivery_time < 0 or delivery_time > now:
        # a bogus time (a client's clock ahead of ours) means "now", not an error
        delivery_time = now
    db = client.db
    key = argv[1]
    consumer: Consumer | None = None
    out: list[object] = []
    for stream_id in ids:
        nack = group.pel.get(stream_id)
        entry = stream.entry(stream_id)
        if entry is None:
            if nack is not None:  # the entry is gone: so goes its pending entry
                group.ack(stream_id)
                _dirty(client)
            continue
        if force and nack is None:
            nack = Nack(None, now)
            group.pel[stream_id] = nack
        if nack is None:
            continue
        if nack.consumer is not None and min_idle and now - nack.delivery_time < min_idle:
            continue
        if consumer is None:
            consumer = _lookup_or_create_consumer(db, key, group, argv[3], now)
        group.transfer(stream_id, nack, consumer)
        nack.delivery_time = delivery_time
        if retry_count >= 0:
            nack.delivery_count = retry_count
        elif not justid:
            nack.delivery_count += 1
        out.append(format_id(stream_id) if justid else entry)
        _dirty(client)
    return out


# XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
@command("xautoclaim", -6, "write fast", keys=(1, 1, 1), group="stream", since="6.2.0")
def xautoclaim(client: Client, argv: list[bytes]) -> Any:
    min_idle = max(_claim_int(argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM"), 0)
    start, exclusive = range_bound(argv[5], True)
    if exclusive:
        bumped = increment_id(start)
        if bumped is None:
            raise CommandError("ERR invalid start ID for the interval")
        start = bumped
    count = 100
    justid = False
    j = 6
    # LONG_MAX / max(sizeof(streamID), attempts factor 10)
    max_count = (2**63 - 1) // 16
    while j < len(argv):
        option = argv[j].upper()
        if option == b"COUNT" and j + 1 < len(argv):
            count = parse_int(argv[j + 1], "ERR COUNT must be > 0")
            if not 1 <= count <= max_count:
                raise CommandError("ERR COUNT must be > 0")
            j += 1
        elif option == b"JUSTID":
            justid = True
        else:
            raise CommandError(SYNTAX)
        j += 1
    stream, group = _group_or_nogroup(client, argv[1], argv[2])
    if count * 16 > _ADDRESS_SPACE:
        # Redis allocates COUNT stream ids up front; past the address space that fails
        raise CommandError("ERR Insufficient memory, failed allocating transient memory, COUNT too high.")
    db = client.db
    key = argv[1]
    now = client.broker.now_ms
    attempts = count * 10
    pel = group.pel
    # a walk over the id list as it is now: deletions below leave it valid (see Pel)
    keys, live = pel.keys, pel.entries
    position = bisect_left(keys, start)
    consumer: Consumer | None = None
    claimed: list[object] = []
    deleted: list[bytes] = []
    while attempts and count:
        while position < len(keys) and keys[position] not in live:
            position += 1
        if position == len(keys):
            break
        attempts -= 1
        stream_id = keys[position]
        position += 1
        nack = live[stream_id]
        entry = stream.entry(stream_id)
        if entry is None:
            group.ack(stream_id)
            deleted.append(format_id(stream_id))
            count -= 1
            continue
        if min_idle and now - nack.delivery_time < min_idle:
            continue
        if consumer is None:
            consumer = _lookup_or_create_consumer(db, key, group, argv[3], now)
        group.transfer(stream_id, nack, consumer)
        nack.delivery_time = now
        if not justid:
            nack.delivery_count += 1
        claimed.append(format_id(stream_id) if justid else entry)
        count -= 1
    # the cursor: the next pending id after the last one looked at (raxNext), or 0-0
    while position < len(keys) and keys[position] not in live:
        position += 1
    if claimed or deleted:
        _dirty(client)
    cursor = format_id(keys[position]) if position < len(keys) else b"0-0"
    return [cursor, claimed, deleted]


# ------------------------------------------------------------------- XINFO


def _group_info(stream: Stream, name: bytes, group: ConsumerGroup) -> dict[bytes, Any]:
    return {
        b"name": name,
        b"consumers": len(group.consumers),
        b"pending": len(group.pel),
        b"last-delivered-id": format_id(group.last_id),
        b"entries-read": None if group.entries_read == INVALID_ENTRIES_READ else group.entries_read,
        b"lag": lag(stream, group),
    }


def xinfo_stream_lookup(client: Client, key: bytes) -> Stream:
    """``lookupKeyReadOrReply(..., nokeyerr)`` + type check, shared by the XINFO subcommands."""
    stream = read_stream(client.db, key)
    if stream is None:
        raise CommandError("ERR no such key")
    return stream


# XINFO GROUPS key
@subcommand(XINFO, "groups", 3, "readonly", keys=(2, 2, 1))
def xinfo_groups(client: Client, argv: list[bytes]) -> Any:
    stream = xinfo_stream_lookup(client, argv[2])
    if not stream.groups:
        return []
    return [_group_info(stream, name, stream.groups[name]) for name in sorted(stream.groups)]


# XINFO CONSUMERS key group
@subcommand(XINFO, "consumers", 4, "readonly", keys=(2, 2, 1))
def xinfo_consumers(client: Client, argv: list[bytes]) -> Any:
    stream = xinfo_stream_lookup(client, argv[2])
    group = stream.groups.get(argv[3]) if stream.groups else None
    if group is None:
        raise CommandError(f"NOGROUP No such consumer group '{_text(argv[3])}' for key name '{_text(argv[2])}'")
    now = client.broker.now_ms
    return [{b"name": consumer.name, b"pending": len(consumer.pel), b"idle": max(now - consumer.seen_time, 0)}
            for consumer in group.sorted_consumers()]
