"""Stream commands (XADD, XRANGE, XREAD ...), as redis-server 7.

Values are ``broker.stream.Stream``; the consumer-group commands are in
``broker.commands.stream_groups``. The gateway's channel history is built on
XADD ... MAXLEN ~ / XRANGE / XREVRANGE, so services can read it with plain Redis
commands too.
"""

from __future__ import annotations

from typing import Any

from broker.commands.args import SYNTAX, parse_int
from broker.client import Client
from broker.config import parse_memory
from broker.keyspace import Keyspace
from broker.notify import NotifyClass
from broker.resp import NULL_ARRAY, OK, CommandError
from broker.results import Blocked
from broker.stream import MAX_SEQ, Stream, StreamId, format_id, lag, sorted_groups
from broker.stream_groups import INVALID_ENTRIES_READ
from broker.table import command, container, subcommand

__all__: list[str] = []

_STREAM = NotifyClass.STREAM
INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
_MAX_MS = 2**64 - 1


def _stream(db: Keyspace, key: bytes) -> Stream | None:
    return db.get_typed(key, Stream)  # type: ignore[no-any-return]


def read_stream(db: Keyspace, key: bytes) -> Stream | None:
    """The lookup of a read command (``lookupKeyRead``): counts a hit or miss, keymiss on a miss."""
    return db.read_typed(key, Stream)  # type: ignore[no-any-return]


def parse_id(raw: bytes, missing_seq: int = 0, error: str = INVALID_ID) -> StreamId:
    """``ms-seq`` or ``ms`` (then seq = ``missing_seq``); ``-`` and ``+`` are the extremes."""
    if raw == b"-":
        return (0, 0)
    if raw == b"+":
        return (_MAX_MS, MAX_SEQ)
    ms_text, dash, seq_text = raw.partition(b"-")
    try:
        ms = _u64(ms_text)
        seq = _u64(seq_text) if dash else missing_seq
    except ValueError:
        raise CommandError(error) from None
    return (ms, seq)


def parse_strict_id(raw: bytes) -> StreamId:
    """``streamParseStrictIDOrReply``: as ``parse_id`` but ``-`` and ``+`` are invalid."""
    if raw == b"-" or raw == b"+":
        raise CommandError(INVALID_ID)
    return parse_id(raw)


def _u64(text: bytes) -> int:
    if not text or not text.isdigit():
        raise ValueError(text)
    value = int(text)
    if value > _MAX_MS:
        raise ValueError(text)
    return value


def range_bound(raw: bytes, is_start: bool) -> tuple[StreamId, bool]:
    """A range bound; returns (id, exclusive)."""
    exclusive = raw.startswith(b"(")
    if exclusive:
        raw = raw[1:]
        if raw in (b"-", b"+"):
            raise CommandError(INVALID_ID)
    return parse_id(raw, 0 if is_start else MAX_SEQ), exclusive


def increment_id(stream_id: StreamId) -> StreamId | None:
    ms, seq = stream_id
    if seq < MAX_SEQ:
        return (ms, seq + 1)
    if ms < _MAX_MS:
        return (ms + 1, 0)
    return None


def decrement_id(stream_id: StreamId) -> StreamId | None:
    ms, seq = stream_id
    if seq > 0:
        return (ms, seq - 1)
    if ms > 0:
        return (ms - 1, MAX_SEQ)
    return None


class _Trim:
    __slots__ = ("maxlen", "minid", "approximate", "limit")

    def __init__(self) -> None:
        self.maxlen: int | None = None
        self.minid: StreamId | None = None
        self.approximate = False
        self.limit: int | None = None


def _parse_add_or_trim(client: Client, argv: list[bytes], xadd: bool, trim: _Trim) -> tuple[int, bool]:
    """``streamParseAddOrTrimArgsOrReply``: the options of XADD / XTRIM, in Redis's
    order of checks and wordings.

    Returns:
        The index of XADD's id (``len(argv)`` if none came) and NOMKSTREAM.
    """
    nomkstream = False
    limit_given = False
    strategy = False
    i = 2
    while i < len(argv):
        more = len(argv) - 1 - i
        raw = argv[i]
        option = raw.lower()
        if xadd and raw == b"*":
            break
        if option in (b"maxlen", b"minid") and more:
            if strategy:
                raise CommandError("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
            trim.approximate = False
            following = argv[i + 1]
            if more >= 2 and following in (b"~", b"="):
                trim.approximate = following == b"~"
                i += 1
            if option == b"maxlen":
                maxlen = parse_int(argv[i + 1])
                if maxlen < 0:
                    raise CommandError("ERR The MAXLEN argument must be >= 0.")
                trim.maxlen = maxlen
            else:
                trim.minid = parse_strict_id(argv[i + 1])
            strategy = True
            i += 2
        elif option == b"limit" and more:
            limit = parse_int(argv[i + 1])
            if limit < 0:
                raise CommandError("ERR The LIMIT argument must be >= 0.")
            trim.limit = limit
            limit_given = True
            i += 2
        elif xadd and option == b"nomkstream":
            nomkstream = True
            i += 1
        elif xadd:
            break  # the id (parsed by the caller)
        else:
            raise CommandError(SYNTAX)
    if trim.limit and not strategy:
        raise CommandError("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
    if not xadd and not strategy:
        raise CommandError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if limit_given:
        if not trim.approximate:
            raise CommandError("ERR syntax error, LIMIT cannot be used without the special ~ option")
    elif trim.approximate:
        # at most 100 nodes' worth of work, as Redis caps "~" without LIMIT
        trim.limit = min(max(100 * _node_limits(client)[1], 0) or 10000, 1000000)
    else:
        trim.limit = 0  # exact trimming is never limited
    return i, nomkstream


def _node_limits(client: Client) -> tuple[int, int]:
    """stream-node-max-bytes and stream-node-max-entries (0: no limit)."""
    config = client.broker.config
    return parse_memory(config.get("stream-node-max-bytes")), int(config.get("stream-node-max-entries"))


# XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]
@command("xadd", -5, "write denyoom fast", keys=(1, 1, 1), group="stream", since="5.0.0")
def xadd(client: Client, argv: list[bytes]) -> Any:
    trim = _Trim()
    i, nomkstream = _parse_add_or_trim(client, argv, True, trim)
    raw_id = argv[i] if i < len(argv) else b"*"
    explicit: StreamId | None = None
    auto_seq_ms: int | None = None
    if raw_id != b"*":
        # streamParseStrictIDOrReply, during the options' loop: before the arity check
        if raw_id.endswith(b"-*"):
            try:
                auto_seq_ms = _u64(raw_id[:-2])
            except ValueError:
                raise CommandError(INVALID_ID) from None
        else:
            explicit = parse_strict_id(raw_id)
    fields = argv[i + 1:]
    if len(fields) < 2 or len(fields) % 2:
        raise CommandError("ERR wrong number of arguments for 'xadd' command")
    if explicit == (0, 0):
        raise CommandError("ERR The ID specified in XADD must be greater than 0-0")
    db = client.db
    key = argv[1]
    stream = _stream(db, key)
    if stream is None and nomkstream:
        return None
    current = stream if stream is not None else Stream()
    if current.last_id == (_MAX_MS, MAX_SEQ):
        # checked before the id, as xaddCommand does
        raise CommandError("ERR The stream has exhausted the last possible ID, unable to add more items")
    if explicit is not None:
        if explicit <= current.last_id:
            raise CommandError("ERR The ID specified in XADD is equal or smaller than the target stream top item")
        new_id = explicit
    else:
        candidate = current.next_id(client.broker.now_ms, auto_seq_ms)
        if candidate is None:
            if auto_seq_ms is not None and auto_seq_ms < current.last_id[0] or explicit is not None:
                raise CommandError(
                    "ERR The ID specified in XADD is equal or smaller than the target stream top item")
            raise CommandError("ERR The stream has exhausted the last possible ID, unable to add more items")
        new_id = candidate
    if stream is None:
        stream = current
        db.add(key, stream)
    stream.append(new_id, list(fields), *_node_limits(client))
    db.notify(_STREAM, b"xadd", key)
    if trim.maxlen is not None or trim.minid is not None:
        if stream.trim(trim.maxlen, trim.minid, trim.approximate, trim.limit):
            db.notify(_STREAM, b"xtrim", key)
    db.signal_ready(key)
    return format_id(new_id)


def _count_option(argv: list[bytes], index: int) -> int | None:
    if len(argv) == index:
        return None
    if len(argv) != index + 2 or argv[index].upper() != b"COUNT":
        raise CommandError(SYNTAX)
    count = parse_int(argv[index + 1])
    return max(count, 0)


def _xrange(client: Client, argv: list[bytes], reverse: bool) -> Any:
    first, second = (argv[3], argv[2]) if reverse else (argv[2], argv[3])
    start, start_exclusive = range_bound(first, True)
    end, end_exclusive = range_bound(second, False)
    if start_exclusive:
        bumped = increment_id(start)
        if bumped is None:
            raise CommandError("ERR invalid start ID for the interval")
        start = bumped
    if end_exclusive:
        lowered = decrement_id(end)
        if lowered is None:
            raise CommandError("ERR invalid end ID for the interval")
        end = lowered
    count = _count_option(argv, 4)
    stream = read_stream(client.db, argv[1])
    if stream is None:
        return []
    if count == 0:  # only once the key is there: a missing one is an empty array
        return NULL_ARRAY
    if start > end:
        return []
    return stream.range(start, end, count, reverse)


# XRANGE key start end [COUNT count]
@command("xrange", -4, "readonly", keys=(1, 1, 1), group="stream", since="5.0.0")
def xrange(client: Client, argv: list[bytes]) -> Any:
    return _xrange(client, argv, reverse=False)


# XREVRANGE key end start [COUNT count]
@command("xrevrange", -4, "readonly", keys=(1, 1, 1), group="stream", since="5.0.0")
def xrevrange(client: Client, argv: list[bytes]) -> Any:
    return _xrange(client, argv, reverse=True)


# XLEN key
@command("xlen", 2, "readonly fast", keys=(1, 1, 1), group="stream", since="5.0.0")
def xlen(client: Client, argv: list[bytes]) -> int:
    stream = read_stream(client.db, argv[1])
    return 0 if stream is None else len(stream)


# XDEL key id [id ...]
@command("xdel", -3, "write fast", keys=(1, 1, 1), group="stream", since="5.0.0")
def xdel(client: Client, argv: list[bytes]) -> int:
    db = client.db
    stream = _stream(db, argv[1])
    if stream is None:  # the key (and its type) before the ids, as Redis
        return 0
    ids = [parse_id(raw) for raw in argv[2:]]  # all of them before deleting any
    deleted = sum(1 for stream_id in ids if stream.delete(stream_id))
    if deleted:
        db.notify(_STREAM, b"xdel", argv[1])
    return deleted


# XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
@command("xtrim", -4, "write", keys=(1, 1, 1), group="stream", since="5.0.0")
def xtrim(client: Client, argv: list[bytes]) -> int:
    trim = _Trim()
    _parse_add_or_trim(client, argv, False, trim)
    db = client.db
    stream = _stream(db, argv[1])
    if stream is None:
        return 0
    removed = stream.trim(trim.maxlen, trim.minid, trim.approximate, trim.limit)
    if removed:
        db.notify(_STREAM, b"xtrim", argv[1])
    return removed


class ReadArgs:
    """The parsed options of XREAD / XREADGROUP (``xreadCommand``'s loop)."""

    __slots__ = ("count", "block_ms", "noack", "group", "consumer", "keys", "ids")

    def __init__(self) -> None:
        self.count = 0  # 0: no COUNT (or COUNT <= 0)
        self.block_ms: int | None = None
        self.noack = False
        self.group: bytes | None = None
        self.consumer: bytes | None = None
        self.keys: list[bytes] = []
        self.ids: list[bytes] = []


def parse_read_args(argv: list[bytes], group: bool) -> ReadArgs:
    """Options of XREAD (``group`` False) or XREADGROUP, with Redis's errors in its order."""
    args = ReadArgs()
    streams_at = 0
    i = 1
    while i < len(argv):
        more = len(argv) - i - 1
        option = argv[i].upper()
        if option == b"BLOCK" and more:
            i += 1
            block_ms = parse_int(argv[i], "ERR timeout is not an integer or out of range")
            if block_ms < 0:
                raise CommandError("ERR timeout is negative")
            args.block_ms = block_ms
        elif option == b"COUNT" and more:
            i += 1
            args.count = max(parse_int(argv[i]), 0)
        elif option == b"STREAMS" and more:
            streams_at = i + 1
            if (len(argv) - streams_at) % 2:
                raise CommandError("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' "
                                   "must be specified.")
            break
        elif option == b"GROUP" and more >= 2:
            if not group:
                raise CommandError("ERR The GROUP option is only supported by XREADGROUP. You called XREAD "
                                   "instead.")
            args.group, args.consumer = argv[i + 1], argv[i + 2]
            i += 2
        elif option == b"NOACK":
            if not group:
                raise CommandError("ERR The NOACK option is only supported by XREADGROUP. You called XREAD "
                                   "instead.")
            args.noack = True
        else:
            raise CommandError(SYNTAX)
        i += 1
    if not streams_at:
        raise CommandError(SYNTAX)
    if group and args.group is None:
        raise CommandError("ERR Missing GROUP option for XREADGROUP")
    half = (len(argv) - streams_at) // 2
    args.keys = argv[streams_at:streams_at + half]
    args.ids = argv[streams_at + half:]
    return args


# A client blocked without COUNT is served at most this many entries at once
# (XREAD_BLOCKED_DEFAULT_COUNT), so a low id does not stall the server.
BLOCKED_DEFAULT_COUNT = 1000


# XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
@command("xread", -4, "readonly blocking", group="stream", since="5.0.0")
def xread(client: Client, argv: list[bytes]) -> Any:
    args = parse_read_args(argv, group=False)
    keys = args.keys
    count = args.count
    db = client.db
    after: list[StreamId] = []
    for key, raw in zip(keys, args.ids):
        # Every key is looked up (and type-checked) here, then again to serve, as Redis does.
        stream = read_stream(db, key)
        if raw == b"$":
            after.append(stream.last_id if stream is not None else (0, 0))
        elif raw == b">":
            raise CommandError("ERR The > ID can be specified only when calling XREADGROUP using the GROUP "
                               "<group> <consumer> option.")
        else:
            after.append(parse_strict_id(raw))
    found: list[tuple[bytes, list[list[object]]]] = []
    for key, last in zip(keys, after):
        stream = read_stream(db, key)
        if stream is not None and len(stream) and stream.last_valid_id() > last:
            found.append((key, stream.after(last, count)))
    if found:
        if client.proto == 3:
            return {key: entries for key, entries in found}
        return [[key, entries] for key, entries in found]
    if args.block_ms is None:
        return NULL_ARRAY
    blocked_count = count or BLOCKED_DEFAULT_COUNT
    wanted = dict(zip(keys, after))

    def retry() -> Any:
        # serveClientsBlockedOnStreamKey: the key that got data answers alone; a key
        # that is gone or now of another type keeps an XREAD client waiting.
        key = client.broker.serving_key
        last = wanted.get(key)
        stream = client.db.lookup(key)
        if last is None or type(stream) is not Stream or not stream.last_id > last:
            return None
        entries = stream.after(last, blocked_count)
        return {key: entries} if client.proto == 3 else [[key, entries]]

    return Blocked(list(keys), args.block_ms, retry, NULL_ARRAY, scan_all=True)


# XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
@command("xsetid", -3, "write denyoom fast", keys=(1, 1, 1), group="stream", since="5.0.0")
def xsetid(client: Client, argv: list[bytes]) -> object:
    new_last = parse_strict_id(argv[2])
    entries_added = -1
    max_deleted: StreamId = (0, 0)
    i = 3
    while i < len(argv):
        option = argv[i].upper()
        if option == b"ENTRIESADDED" and i + 1 < len(argv):
            entries_added = parse_int(argv[i + 1])
            if entries_added < 0:
                raise CommandError("ERR entries_added must be positive")
            i += 2
        elif option == b"MAXDELETEDID" and i + 1 < len(argv):
            max_deleted = parse_strict_id(argv[i + 1])
            if new_last < max_deleted:
                raise CommandError("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
            i += 2
        else:
            raise CommandError(SYNTAX)
    db = client.db
    stream = _stream(db, argv[1])
    if stream is None:
        raise CommandError("ERR no such key")
    if len(stream):
        # against the last entry still there (streamLastValidID), not last_id
        if new_last < stream.last_valid_id():
            raise CommandError("ERR The ID specified in XSETID is smaller than the target stream top item")
        if entries_added != -1 and len(stream) > entries_added:
            raise CommandError("ERR The entries_added specified in XSETID is smaller than the target stream length")
    stream.last_id = new_last
    if entries_added != -1:
        stream.entries_added = entries_added
    if max_deleted != (0, 0):
        stream.max_deleted_id = max_deleted
    db.notify(_STREAM, b"xsetid", argv[1])
    return OK


XINFO = container("xinfo", "", group="stream", since="5.0.0")


def subcommand_syntax(argv: list[bytes]) -> CommandError:
    """``addReplySubcommandSyntaxError``."""
    return CommandError("ERR unknown subcommand or wrong number of arguments for '%s'. Try %s HELP."
                        % (argv[1][:128].decode("utf-8", "replace"), argv[0].decode("utf-8", "replace").upper()))


# XINFO STREAM key [FULL [COUNT count]]
@subcommand(XINFO, "stream", -3, "readonly", keys=(2, 2, 1))
def xinfo_stream(client: Client, argv: list[bytes]) -> Any:
    options = argv[3:]
    full = bool(options)
    count = 10  # FULL's default, so a huge stream does not stall the server
    if options:
        if len(options) not in (1, 3) or options[0].lower() != b"full":
            raise subcommand_syntax(argv)
        if len(options) == 3:
            if options[1].lower() != b"count":
                raise subcommand_syntax(argv)
            count = parse_int(options[2])
            if count < 0:
                count = 10
    stream = read_stream(client.db, argv[2])
    if stream is None:
        raise CommandError("ERR no such key")
    info: dict[bytes, Any] = {
        b"length": len(stream),
        b"radix-tree-keys": len(stream.node_list()),
        # (the rax's inner nodes are not modelled: an estimate)
        b"radix-tree-nodes": len(stream.node_list()) + 1,
        b"last-generated-id": format_id(stream.last_id),
        b"max-deleted-entry-id": format_id(stream.max_deleted_id),
        b"entries-added": stream.entries_added,
        b"recorded-first-entry-id": format_id(stream.first_id()),
    }
    if not full:
        first = stream.range((0, 0), (_MAX_MS, MAX_SEQ), 1)
        last = stream.range((0, 0), (_MAX_MS, MAX_SEQ), 1, reverse=True)
        info[b"groups"] = len(stream.groups) if stream.groups else 0
        info[b"first-entry"] = first[0] if first else None
        info[b"last-entry"] = last[0] if last else None
        return info
    info[b"entries"] = stream.range((0, 0), (_MAX_MS, MAX_SEQ), count or None)
    info[b"groups"] = _full_groups(stream, count)
    return info


def _full_groups(stream: Stream, count: int) -> list[dict[bytes, Any]]:
    """The ``groups`` of XINFO STREAM FULL; ``count`` caps each PEL listing (0: all)."""
    out: list[dict[bytes, Any]] = []
    for name, group in sorted_groups(stream):
        pending = []
        for stream_id, nack in group.pel.items():
            if count and len(pending) >= count:
                break
            pending.append([format_id(stream_id), nack.consumer.name, nack.delivery_time, nack.delivery_count])
        consumers = []
        for consumer in group.sorted_consumers():
            own = []
            for stream_id, nack in consumer.pel.items():
                if count and len(own) >= count:
                    break
                own.append([format_id(stream_id), nack.delivery_time, nack.delivery_count])
            consumers.append({b"name": consumer.name, b"seen-time": consumer.seen_time,
                              b"pel-count": len(consumer.pel), b"pending": own})
        out.append({
            b"name": name,
            b"last-delivered-id": format_id(group.last_id),
            b"entries-read": None if group.entries_read == INVALID_ENTRIES_READ else group.entries_read,
            b"lag": lag(stream, group),
            b"pel-count": len(group.pel),
            b"pending": pending,
            b"consumers": consumers,
        })
    return out


# XINFO HELP
@subcommand(XINFO, "help", 2, "loading stale")
def xinfo_help(client: Client, argv: list[bytes]) -> list[str]:
    return ["XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>", "    Show consumers of <groupname>.",
            "GROUPS <key>", "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]", "    Show information about the stream.",
            "HELP", "    Prints this help."]
