"""Channel history: reads and the missed-messages lookup of a recovery (over the Backend).

History lives in the broker (``broker.commands.fanout``): a capped stream
``history:{<ch>}`` whose entry ids are the messages' offsets (``<offset>-0``, no
holes), and ``history:{<ch>}:meta`` with the last offset and the epoch. A client
that knows (offset, epoch) can get exactly what came after, or learn that it
cannot: the epoch changed (history lost), or the next message was trimmed away
(by count, or older than the channel's history TTL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from broker.backend import Backend, InProcess
from broker.channel_keys import history_keys
from broker.resp import CommandError
from gateway.channels import ChannelOptions
from gateway.protocol import payload_json

__all__ = ["MAX_LIMIT", "Entry", "HistoryPage", "batch_bytes", "encode_messages", "encode_page", "missed", "more",
           "read"]

MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Entry:
    offset: int
    data: bytes
    time_ms: int


@dataclass(slots=True)
class HistoryPage:
    offset: int  # the channel's current (last) offset
    epoch: str
    entries: list[Entry] = field(default_factory=list)
    # for a recovery: whether ``entries`` is everything after the client's offset
    complete: bool = True
    # for a read: cut short at the reply budget (the client asks again with since)
    truncated: bool = False
    # for a recovery read in batches (``missed`` with ``batch_bytes``): the offset
    # the next batch starts at (0: ``entries`` is all), the batch size in bytes,
    # and, if a later batch found messages gone (trimmed meanwhile, or a new
    # epoch), the first offset that could not be read
    next_offset: int = 0
    batch_bytes: int = 0
    lost_from: int = 0


async def _transaction(backend: Backend, commands: list[list[Any]]) -> list[Any]:
    """The replies of ``commands`` run as one transaction.

    Raises:
        CommandError: the first error reply among them (WRONGTYPE when something
            overwrote the channel's stream or meta hash with another type): a broker
            error for the client, not a crash of the gateway reading a reply.
    """
    replies = await backend.transaction(commands)
    for reply in replies:
        if isinstance(reply, CommandError):
            raise reply
    return replies


def _entries(raw: list[Any] | None, oldest_ms: int) -> list[Entry]:
    entries = []
    for entry_id, fields in raw or ():
        values = dict(zip(fields[::2], fields[1::2]))
        time_ms = int(values.get(b"t", 0))
        if time_ms >= oldest_ms:
            entries.append(Entry(int(entry_id.split(b"-", 1)[0]), values.get(b"d", b"null"), time_ms))
    return entries


def _position(reply: list[Any]) -> tuple[int, str]:
    """(offset, epoch) from the meta hash.

    Raises:
        CommandError: the meta hash was overwritten with something that is not
            an offset (``HSET history:{ch}:meta offset banana``): a broker error
            for the client, not a crash of the gateway.
    """
    offset, epoch = reply
    try:
        value = int(offset or 0)
    except ValueError:
        value = -1
    if not 0 <= value <= 2**63 - 1:
        raise CommandError(f"ERR the history meta of this channel holds a corrupt offset: {offset!r}")
    return value, (epoch or b"").decode("utf-8", "replace")


# Entries read at once for a page with a byte budget; later reads are sized by the
# average entry seen, so small messages still take one read and big ones are not
# all held (60 MB for 1,000 x 60 KB) to be cut down to the budget.
FIRST_BATCH = 100
# The same over RESP, where each entry read is a copy (in-process entries are the
# broker's own bytes): 16 x 64 KiB is about one default output budget.
FIRST_REMOTE_BATCH = 16


def batch_bytes(backend: Backend, budget: int) -> int | None:
    """How many bytes of missed messages a recovery reads at a time from ``backend``.

    None (all at once) in process: the entries are the broker's own bytes, so
    reading them costs no memory, and the page cannot be trimmed away while a
    slow client takes it. Over RESP every read is a copy: about one output
    ``budget`` per batch, so a client that does not read holds one batch.
    """
    return None if isinstance(backend, InProcess) else max(1, budget)


def _first_batch(backend: Backend) -> int:
    return FIRST_BATCH if isinstance(backend, InProcess) else FIRST_REMOTE_BATCH


async def read(backend: Backend, channel: str, options: ChannelOptions, now_ms: int, since: int | None = None,
               limit: int = 100, reverse: bool = False, max_bytes: int | None = None) -> HistoryPage:
    """Up to ``limit`` messages after offset ``since`` (all kept ones if None),
    oldest first, or newest first with ``reverse``.

    ``max_bytes``: the page holds messages of at most this many bytes of data in
    all (at least one message), so one reply fits a connection's output budget;
    ``truncated`` says it was cut (the next page starts after its last offset).
    """
    stream, meta = history_keys(channel.encode())
    newest = since is None and not reverse  # the newest ones kept, oldest first
    if newest:
        limit = min(limit, options.history_size)
    if max_bytes is None:
        start = b"-" if since is None else b"%d-0" % (since + 1)
        read_cmd = ["XREVRANGE", stream, "+", start] if reverse or newest else ["XRANGE", stream, start, "+"]
        position, raw = await _transaction(backend, [["HMGET", meta, "offset", "epoch"], [*read_cmd, "COUNT", limit]])
        offset, epoch = _position(position)
        entries = _kept(_entries(raw, now_ms - options.history_ttl_ms), offset, options)
        if newest:
            entries.reverse()
        return HistoryPage(offset, epoch, entries)
    if newest:  # the same messages, read forward from the oldest of them
        offset, _ = _position((await _transaction(backend, [["HMGET", meta, "offset", "epoch"]]))[0])
        since = max(0, offset - limit)
    return await _read_budgeted(backend, stream, meta, options, now_ms, since, limit, reverse, max_bytes)


async def _read_budgeted(backend: Backend, stream: bytes, meta: bytes, options: ChannelOptions, now_ms: int,
                         since: int | None, limit: int, reverse: bool, max_bytes: int) -> HistoryPage:
    low = b"-" if since is None else b"%d-0" % (since + 1)
    high = b"+"
    page: HistoryPage | None = None
    total = 0
    batch = min(limit, _first_batch(backend))
    while True:
        read_cmd = ["XREVRANGE", stream, high, low] if reverse else ["XRANGE", stream, low, high]
        if page is None:
            position, raw = await _transaction(backend, [["HMGET", meta, "offset", "epoch"],
                                                       [*read_cmd, "COUNT", batch]])
            page = HistoryPage(*_position(position))
        else:
            (raw,) = await _transaction(backend, [[*read_cmd, "COUNT", batch]])
        entries = _entries(raw, now_ms - options.history_ttl_ms)
        for entry in _kept(entries, page.offset, options):
            if entry.offset > page.offset:  # published after the page's position was read
                continue
            total += len(entry.data)
            if total > max_bytes and page.entries:
                page.truncated = True
                return page
            page.entries.append(entry)
            if len(page.entries) >= limit:
                return page
        if not raw or len(raw) < batch:
            return page
        last = int(raw[-1][0].split(b"-", 1)[0])
        if reverse:
            if last <= 1:
                return page
            high = b"%d-0" % (last - 1)
        else:
            low = b"%d-0" % (last + 1)
        average = max(1, total // max(1, len(page.entries)))
        batch = max(1, min(limit - len(page.entries), (max_bytes - total) // average + 1))


def _kept(entries: list[Entry], current: int, options: ChannelOptions) -> list[Entry]:
    """Only the channel's last ``history_size`` messages count as kept (``MAXLEN ~``
    may leave a few more in the stream)."""
    oldest = current - options.history_size
    return [entry for entry in entries if entry.offset > oldest]


async def missed(backend: Backend, channel: str, options: ChannelOptions, now_ms: int, offset: int,
                 epoch: str, batch_bytes: int | None = None) -> HistoryPage:
    """The messages after (offset, epoch); ``complete`` False if some are gone.

    With ``batch_bytes``: only a first batch is read; ``next_offset`` says where
    the rest starts (read it with ``more``, a batch of about ``batch_bytes`` at a
    time, as the client takes them). ``complete`` then says the messages were
    all there when the first batch was read.
    """
    stream, meta = history_keys(channel.encode())
    # ``~`` trimming keeps up to a node (100 entries) more than the size asked for.
    cap = options.history_size + 200
    count = cap if batch_bytes is None else min(cap, FIRST_REMOTE_BATCH)
    position, raw = await _transaction(backend, [["HMGET", meta, "offset", "epoch"],
                                               ["XRANGE", stream, b"%d-0" % (offset + 1), "+", "COUNT", count]])
    current, current_epoch = _position(position)
    page = HistoryPage(current, current_epoch)
    if offset == 0 and epoch == "":
        epoch = current_epoch  # subscribed before the channel's first message: from the start
    if current_epoch != epoch or offset > current:
        page.complete = False
        return page
    if offset == current:
        return page
    page.entries = [entry for entry in _kept(_entries(raw, now_ms - options.history_ttl_ms), current, options)
                    if entry.offset <= current]
    # Offsets have no holes, so complete means: starts right after the client's
    # offset and runs to the current one (or, for a first batch, runs on without
    # a hole: the stream is only ever trimmed from its head).
    entries = page.entries
    page.complete = bool(entries) and entries[0].offset == offset + 1 and entries[-1].offset == offset + len(entries)
    if page.complete and entries[-1].offset < current:
        if batch_bytes is None or len(raw) < count:
            page.complete = False  # read whole, yet short of the current offset
        else:
            page.next_offset, page.batch_bytes = entries[-1].offset + 1, batch_bytes
    if not page.complete:
        page.entries = []
    return page


async def more(backend: Backend, channel: str, page: HistoryPage) -> list[Entry]:
    """The next batch of a recovery page read in batches (see ``missed``).

    Returns the entries (oldest first, up to the page's offset) and advances
    ``page.next_offset`` (0 once the page is all read). If the messages are no
    longer there (trimmed while the client read slowly, or the history was lost:
    a new epoch), returns [] with ``page.lost_from`` set to the first one missing.

    Raises:
        BackendUnavailable, CommandError: as the backend's calls.
    """
    start = page.next_offset
    if not start:
        return []
    stream, meta = history_keys(channel.encode())
    sizes = [len(entry.data) for entry in page.entries] or [1]
    average = max(1, sum(sizes) // len(sizes))
    count = max(1, min(page.offset - start + 1, page.batch_bytes // average + 1))
    epoch, raw = await _transaction(backend, [["HGET", meta, "epoch"],
                                            ["XRANGE", stream, b"%d-0" % start, b"%d-0" % page.offset, "COUNT", count]])
    entries = _entries(raw, 0)
    if (epoch or b"").decode("utf-8", "replace") != page.epoch or not entries or entries[0].offset != start \
            or entries[-1].offset != start + len(entries) - 1:
        page.next_offset, page.lost_from = 0, start
        return []
    page.next_offset = 0 if entries[-1].offset >= page.offset else entries[-1].offset + 1
    page.entries = entries  # the batch in hand (also what the next one is sized by)
    return entries


def encode_messages(entries: list[Entry]) -> bytes:
    """A JSON array ``[{"offset":..,"time":..,"data":<JSON>}, ...]`` with data as stored."""
    return b"[" + b",".join(b'{"offset":%d,"time":%d,"data":%s}' % (entry.offset, entry.time_ms,
                                                                      payload_json(entry.data))
                            for entry in entries) + b"]"


def encode_page(head: dict[str, Any], page: HistoryPage) -> bytes:
    """``head`` + offset, epoch and messages, as one JSON object."""
    extra = {"truncated": True} if page.truncated else {}
    body = orjson.dumps({**head, "offset": page.offset, "epoch": page.epoch, **extra})
    return body[:-1] + b',"messages":' + encode_messages(page.entries) + b"}"
