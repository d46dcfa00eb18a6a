"""One websocket connection: its subscriptions and a bounded, coalescing writer.

Frames (already encoded by the hub, shared by every receiver) are appended to a
per-connection list and written with one ``transport.write`` per event-loop
iteration. The output budget (``max_buffer`` bytes: queued here + held by the
transport) bounds memory per connection:

- over budget, messages for this connection are skipped and counted per channel;
  when it catches up it first gets ``{"channel":...,"gap":{"dropped":N}}`` for
  each channel that lost messages;
- over budget for longer than ``slow_close_after`` seconds, it is closed with
  code 1013 and reason "slow consumer", and its buffered output is discarded.

Replies to the client's own requests are never skipped (they are small and the
client is waiting for them). Fanout never awaits a client.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import os
import time
import weakref
from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol

import orjson

from gateway.auth import Identity

__all__ = ["Connection", "ConnectionState", "Counters", "Socket", "batcher", "send_to_all", "text_frame"]

log = logging.getLogger("fanout.gateway")
_ids = itertools.count(1)
# How often a connection that is skipping messages checks whether it caught up.
DRAIN_CHECK_INTERVAL = 0.1
_NO_PATTERNS: frozenset[bytes] = frozenset()


class _Flusher:
    """Flushes every connection that has queued output with one callback per
    event-loop iteration, not one each (a publish to 10,000 subscribers made
    10,000 callbacks).

    It also holds the channel batch: consecutive messages of one plain channel
    (``batch``) are queued to its subscribers together, one append per
    subscriber for the run instead of one per message, when the run ends:
    at this iteration's flush, or before anything else is queued to any
    connection or a subscription changes (``settle``), so every connection
    still gets everything in the order it happened. A frame for one connection
    (a reply, say) ends the run for that connection alone (``settle_for``): a
    publisher subscribed to the channel it publishes on would otherwise end the
    run at each publish's reply, and its subscribers would get one append per
    message again.

    A run ended by the next channel's message (``batch``) is written at once to
    each subscriber that has nothing queued and follows that channel only, as the
    iteration's flush would write it (one write each; queueing and flushing it
    was a fifth of an HTTP publish to a room of 10), unless the channel had an
    earlier run in this iteration or more than one in the previous one: then
    its subscribers are likely to get more of it before the flush, and they get
    it queued, one write for all of it, as before.
    """

    __slots__ = ("busy", "busy_next", "channel", "frames", "given", "loop", "pending", "runs", "scheduled",
                 "subscribers")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weakly: the loop is the key of the flusher's entry in _flushers. Known
        # here, not asked for: get_running_loop() makes a getpid() system call.
        self.loop = weakref.ref(loop)
        self.pending: list[Connection] = []
        self.scheduled = False
        self.channel = b""
        self.subscribers: Collection[Connection] = ()
        self.frames: list[bytes] = []
        # Subscribers that got the run's first N frames already (settle_for): N each.
        self.given: dict[Connection, int] | None = None
        # Channels whose runs were settled in this iteration; those with more than
        # one in it (busy_next) and in the previous one (busy).
        self.runs: set[bytes] = set()
        self.busy: set[bytes] = set()
        self.busy_next: set[bytes] = set()

    def add(self, connection: Connection) -> None:
        self.pending.append(connection)
        if not self.scheduled:
            self.scheduled = True
            self._call_soon()

    def run(self) -> None:
        if self.frames:
            try:
                self.settle(write=True)
            except Exception:  # (a bug) the connections with queued output are still flushed
                log.exception("error while queueing a channel's messages")
        if self.runs:
            self.runs.clear()
        if self.busy or self.busy_next:
            self.busy, self.busy_next = self.busy_next, self.busy
            self.busy_next.clear()
        self.scheduled = False
        pending, self.pending = self.pending, []
        for connection in pending:
            try:
                # Connection.flush inline (a call per connection was a tenth of a
                # delivery); the channel batch was settled above, and nothing
                # here queues another.
                connection.flush_scheduled = False
                queue = connection.queue
                if not queue:
                    continue
                transport = connection.transport
                if connection.state is not _OPEN or transport.is_closing():
                    queue.clear()
                    connection.queued_bytes = 0
                    continue
                data = queue[0] if len(queue) == 1 else b"".join(queue)
                queue.clear()
                connection.queued_bytes = 0
                _write_out(connection, transport, data)
            except Exception:  # one broken transport must not keep the others' output queued
                log.exception("error while flushing connection %d", connection.id)

    def schedule(self) -> None:
        """After ``pending`` was appended to directly (see send_to_all)."""
        if self.pending and not self.scheduled:
            self.scheduled = True
            self._call_soon()

    def _call_soon(self) -> None:
        loop = self.loop()
        assert loop is not None  # (a flusher is used on its loop only)
        loop.call_soon(self.run)

    def batch(self, channel: bytes, subscribers: Collection[Connection], frame: bytes) -> None:
        """A message for every one of ``subscribers`` (a channel's, the hub's own
        collection), queued when the run of messages of that channel ends."""
        if self.frames:
            if subscribers is self.subscribers:
                self.frames.append(frame)
                return
            self.settle(early=True)
        self.channel, self.subscribers, self.frames = channel, subscribers, [frame]
        if not self.scheduled:
            self.scheduled = True
            self._call_soon()

    def settle(self, write: bool = False, early: bool = False) -> None:
        """Queue the channel batch now (a no-op without one); ``write``: at the
        iteration's flush, where a subscriber with nothing queued is written to
        at once (see send_to_all); ``early``: the run was ended by another
        channel's message (see the class)."""
        frames = self.frames
        if not frames:
            return
        channel = self.channel
        runs = self.runs
        if channel in runs:
            self.busy_next.add(channel)
            early = False
        else:
            runs.add(channel)
            if early and channel in self.busy:
                early = False
        subscribers, self.frames, self.subscribers = self.subscribers, [], ()
        given, self.given = self.given, None
        joined = frames[0] if len(frames) == 1 else b"".join(frames)
        if given is None:
            send_to_all(list(subscribers), joined, channel, frames, write or early, early)
            return
        send_to_all([connection for connection in subscribers if connection not in given], joined, channel,
                    frames, write or early, early)
        for connection, start in given.items():
            if start < len(frames):
                rest = frames[start:]
                send_to_all((connection,), rest[0] if len(rest) == 1 else b"".join(rest), channel, rest, write)

    def settle_for(self, connection: Connection) -> None:
        """Before something else is queued to ``connection``: its share of the
        channel batch goes first. The run goes on for the other subscribers, and a
        connection that does not follow the channel needs nothing of it (the
        collection is the hub's own, so a subscription change settles it first)."""
        if connection not in self.subscribers:
            return
        frames = self.frames
        given = self.given
        if given is None:
            given = self.given = {}
        start = given.get(connection, 0)
        if start < len(frames):
            given[connection] = len(frames)  # first: send_event below comes back here
            rest = frames[start:]
            send_to_all((connection,), rest[0] if len(rest) == 1 else b"".join(rest), self.channel, rest)


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = weakref.WeakKeyDictionary()


def batcher() -> _Flusher:
    """The running loop's flusher, whose ``batch`` / ``settle`` the hub uses."""
    return _flusher(asyncio.get_running_loop())


# The flusher asked for last: a process runs one loop at a time, so each connect
# finds it here, not through WeakKeyDictionary.get (a Python call and a weakref made
# per lookup). It refers to its loop weakly, as _flushers does.
_last: _Flusher | None = None


def _flusher(loop: asyncio.AbstractEventLoop) -> _Flusher:
    global _last
    last = _last
    if last is not None and last.loop() is loop:
        return last
    flusher = _flushers.get(loop)
    if flusher is None:
        flusher = _flushers[loop] = _Flusher(loop)
    _last = flusher
    return flusher


# The two bytes that start a text frame of fewer than 126 bytes, by length (made
# once: ``bytes((length,))`` per frame was a tuple and a call each).
SHORT_HEADS = [b"\x81" + bytes((length,)) for length in range(126)]


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented text frame (RFC 6455 section 5.2: server frames
    are not masked)."""
    length = len(payload)
    if length < 126:
        return SHORT_HEADS[length] + payload
    if length < 65536:
        return b"\x81\x7e" + length.to_bytes(2, "big") + payload
    return b"\x81\x7f" + length.to_bytes(8, "big") + payload


class ConnectionState(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


# As a global: ``ConnectionState.OPEN`` goes through the enum metaclass's
# __getattr__ hook (~850 instructions on Python 3.11), once per delivery.
_OPEN = ConnectionState.OPEN


class Counters:
    """Plain counters read by /metrics at scrape time (cheaper than a metric call per message)."""

    def __init__(self) -> None:
        self.connections_total = 0
        self.messages_in = 0
        self.deliveries = 0
        self.dropped = 0
        self.disconnects: dict[str, int] = {}
        self.rejected: dict[str, int] = {}

    def disconnect(self, reason: str) -> None:
        self.disconnects[reason] = self.disconnects.get(reason, 0) + 1

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


class Socket(Protocol):
    """The websocket end of a connection (``gateway.wsserver.WebsocketProtocol``)."""

    # Why it closed, when the connection did not say (close_reason): "client_closed" ...
    reason: str

    async def close(self, code: int, message: bytes) -> None:
        """The closing handshake, bounded in time."""
        ...

    async def output_room(self, connection: Connection) -> bool:
        """Wait until the output is within its budget; False if the connection closed meanwhile."""
        ...


class Connection:
    """A subscribed browser (or any websocket client)."""

    # Slots: thousands of these live at once; a __dict__ each would cost ~1 KiB.
    __slots__ = (
        "__weakref__",
        "channels",
        "clock",
        "close_reason",
        "counters",
        "drain_check",
        "dropped",
        "dropped_from",
        "fd",
        "flush_scheduled",
        "flusher",
        "id",
        "identity",
        "loop",
        "max_buffer",
        "op_bucket",
        "over_budget_since",
        "patterns",
        "presence",
        "publish_bucket",
        "queue",
        "queued_bytes",
        "recovering",
        "single_channel",
        "held_bytes",
        "refused",
        "slow_close_after",
        "state",
        "transport",
        "transport_bytes",
        "ws",
    )

    def __init__(self, ws: Socket, transport: asyncio.Transport, identity: Identity,
                 counters: Counters, max_buffer: int = 1 << 20, slow_close_after: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.id = next(_ids)
        self.ws = ws
        self.transport = transport
        # The socket's descriptor where bytes may go to it directly (-1: not so)
        self.fd = _plain_fd(transport)
        self.identity = identity
        self.counters = counters
        self.max_buffer = max_buffer
        self.slow_close_after = slow_close_after
        self.clock = clock
        self.state = ConnectionState.OPEN
        self.channels: set[bytes] = set()
        # Most connections never psubscribe: share one empty frozenset until they do.
        # (fanout.Hub replaces it with a set before the first add)
        self.patterns: set[bytes] = _NO_PATTERNS  # type: ignore[assignment]
        # Subscribed to exactly one channel and no pattern (kept by fanout.Hub): a
        # run of that channel may be written to it before the iteration ends.
        self.single_channel = False
        self.queue: list[bytes] = []
        self.queued_bytes = 0
        # Transport buffer size at the last flush: an upper bound until the next one
        # (a channel run written at the flush adds its size: see send_to_all).
        self.transport_bytes = 0
        self.flush_scheduled = False
        # channel -> messages skipped since the client fell behind
        self.dropped: dict[bytes, int] = {}
        self.over_budget_since: float | None = None
        self.loop = asyncio.get_running_loop()
        self.flusher = _flusher(self.loop)
        self.close_reason = ""
        self.publish_bucket: Any = None
        # Every request takes a token (gateway.session.handle_message), every refusal one
        # of ``refused``: made on the second request (until then the first one's time:
        # see session._refusal) and the first refusal.
        self.op_bucket: Any = None
        self.refused: Any = None
        # History channels being recovered: channel -> held live events (list) while
        # the missed ones are read, then (epoch, offset) of the last one sent, so
        # live events already replayed are not sent twice. None: none (the usual case).
        self.recovering: dict[bytes, Any] | None = None
        # bytes of the live events held in ``recovering``: bounded by the output budget
        self.held_bytes = 0
        # channel -> first offset skipped while over budget (history channels only)
        self.dropped_from: dict[bytes, int] | None = None
        # Presence channels this connection is in (its global id is "<node>-<id>").
        self.presence: set[str] | None = None
        # While skipping: a timer that notices the client caught up (or stayed behind).
        self.drain_check: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------- output

    def send_event(self, frame: bytes, channel: bytes, offset: int = 0) -> None:
        """Queue a channel event, or skip it while the client is over budget.

        ``offset``: the event's position in the channel's history (0: none), so a
        client that lost events learns where to recover from.
        """
        if self.flusher.frames:
            self.flusher.settle_for(self)  # messages published before this one go first
        if self.state is not _OPEN:
            return
        size = len(frame)
        if self.queued_bytes + self.transport_bytes + size > self.max_buffer:
            # Our estimate may be stale (the socket drained since the last flush).
            self.transport_bytes = self.transport.get_write_buffer_size()
            pending = self.queued_bytes + self.transport_bytes
            # With nothing pending, even a message larger than the budget goes out.
            if pending and pending + size > self.max_buffer:
                self._skip(channel, offset)
                return
        if self.dropped:
            self._announce_gaps()
        self.over_budget_since = None
        self.queue.append(frame)
        self.queued_bytes += size
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.flusher.add(self)

    def send_reply(self, payload: bytes) -> None:
        """Queue a reply to the client's own request (never skipped)."""
        self.send_frame(text_frame(payload))

    def send_frame(self, frame: bytes) -> None:
        """Queue a frame the client asked for (a reply, a replay of missed messages):
        never skipped; bounded by what the request may ask for."""
        if self.flusher.frames:
            self.flusher.settle_for(self)
        if self.state is not _OPEN:
            return
        self.queue.append(frame)
        self.queued_bytes += len(frame)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.flusher.add(self)

    def flush(self) -> None:
        if self.flusher.frames:
            self.flusher.settle_for(self)
        self.flush_scheduled = False
        queue = self.queue
        if not queue:
            return
        transport = self.transport
        if self.state is not _OPEN or transport.is_closing():
            queue.clear()
            self.queued_bytes = 0
            return
        data = queue[0] if len(queue) == 1 else b"".join(queue)
        queue.clear()
        self.queued_bytes = 0
        _write_out(self, transport, data)

    def hold_or_pass(self, channel: bytes, offset: int, epoch: bytes, frame: bytes) -> bool:
        """For a channel in ``recovering``: hold the live event while missed ones are
        read (False), drop it if recovery already sent it (False), else pass (True)."""
        assert self.recovering is not None
        state = self.recovering[channel]
        if type(state) is list:
            if self.held_bytes + len(frame) > self.max_buffer:
                # The channel moves on faster than the client takes its missed messages:
                # past the output budget only the offsets are kept (a run of skipped
                # ones as one entry), and they are skipped, in order, on release, as
                # send_event skips for a client over its budget.
                last = state[-1] if state else None
                if last is not None and last[2] is None and last[1] == epoch and last[0] + last[3] == offset:
                    state[-1] = (last[0], epoch, None, last[3] + 1)
                else:
                    state.append((offset, epoch, None, 1))
                return False
            state.append((offset, epoch, frame))
            self.held_bytes += len(frame)
            return False
        if epoch == state[0] and offset <= state[1]:
            return False
        del self.recovering[channel]  # live events are past the replay from here on
        if not self.recovering:
            self.recovering = None
        return True

    def release_held(self, channel: bytes) -> list[tuple[Any, ...]] | None:
        """The live events held for ``channel`` (its recovery ended), no longer counted:
        ``(offset, epoch, frame)``, or ``(first offset, epoch, None, count)`` for a run
        skipped over the budget."""
        held = self.recovering.get(channel) if self.recovering is not None else None
        if type(held) is not list:
            return None
        self.held_bytes = max(0, self.held_bytes - sum(len(entry[2]) for entry in held if entry[2] is not None))
        return held

    def skip_event(self, channel: bytes, offset: int) -> None:
        """Skip a channel event as if the client were over budget (a gap it is told of)."""
        if self.state is _OPEN:
            self._skip(channel, offset)

    def _skip(self, channel: bytes, offset: int = 0) -> None:
        if offset:
            if self.dropped_from is None:
                self.dropped_from = {}
            self.dropped_from.setdefault(channel, offset)
        self.dropped[channel] = self.dropped.get(channel, 0) + 1
        if self.drain_check is None:
            self.drain_check = self.loop.call_later(DRAIN_CHECK_INTERVAL, self._check_drain)
        self.counters.dropped += 1
        now = self.clock()
        if self.over_budget_since is None:
            self.over_budget_since = now
        elif now - self.over_budget_since >= self.slow_close_after:
            self.close_soon(1013, "slow consumer: output buffer full for "
                            f"{self.slow_close_after:g}s", reason="slow_consumer")

    def _check_drain(self) -> None:
        """While messages are being skipped: once the client has read its backlog,
        tell it what it missed at once (not only with the channel's next message);
        if it stays behind past ``slow_close_after``, close it even if the channel
        has gone quiet."""
        self.drain_check = None
        if self.flusher.frames:
            self.flusher.settle_for(self)
        if self.state is not _OPEN or not self.dropped:
            return
        self.transport_bytes = self.transport.get_write_buffer_size()
        if self.queued_bytes + self.transport_bytes <= self.max_buffer // 2:
            self.over_budget_since = None
            self._announce_gaps()
            if not self.flush_scheduled:
                self.flush_scheduled = True
                self.flusher.add(self)
            return
        if self.over_budget_since is not None and self.clock() - self.over_budget_since >= self.slow_close_after:
            self.close_soon(1013, "slow consumer: output buffer full for "
                            f"{self.slow_close_after:g}s", reason="slow_consumer")
            return
        self.drain_check = self.loop.call_later(DRAIN_CHECK_INTERVAL, self._check_drain)

    def _announce_gaps(self) -> None:
        dropped, self.dropped = self.dropped, {}
        dropped_from, self.dropped_from = self.dropped_from or {}, None
        for channel, count in dropped.items():
            gap: dict[str, int] = {"dropped": count}
            if channel in dropped_from:
                gap["from_offset"] = dropped_from[channel]
            payload = orjson.dumps({"channel": channel.decode("utf-8", "replace"), "gap": gap})
            frame = text_frame(payload)
            self.queue.append(frame)
            self.queued_bytes += len(frame)

    # -------------------------------------------------------------- close

    def close_soon(self, code: int, message: str, reason: str) -> None:
        """Close from sync code (fanout path): never awaits here."""
        if self.state is not _OPEN:
            return
        self.state = ConnectionState.CLOSING
        self.close_reason = reason
        self.queue.clear()
        self.queued_bytes = 0
        asyncio.ensure_future(self._close(code, message))

    async def _close(self, code: int, message: str) -> None:
        # The close frame (with its code and reason) goes out behind what the socket
        # already holds, at most the output budget; a peer that does not read it
        # within 2 s is dropped, which frees that buffer too.
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=message.encode()), timeout=2.0)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        if not self.transport.is_closing():
            self.transport.abort()

    async def close(self, code: int, message: str, reason: str) -> None:
        if self.state is not _OPEN:
            return
        self.flush()
        self.state = ConnectionState.CLOSING
        self.close_reason = reason
        await self._close(code, message)


def send_to_all(connections: Iterable[Connection], frame: bytes, channel: bytes,
                parts: list[bytes] | None = None, write: bool = False, only_single: bool = False) -> None:
    """``send_event(frame, channel)`` to each of ``connections`` (a channel's
    subscribers), with its common case (open, within budget, nothing skipped
    before) done here rather than by a call per connection: at 10,000
    subscribers the calls were most of the per-delivery work.

    ``parts``: the events ``frame`` joins (a channel batch); a connection that
    cannot take them all at once gets them one ``send_event`` each, so the budget
    skips and counts them one by one, as if they had come one at a time.

    ``write``: called by the flusher at the end of the loop iteration (nothing
    else can be queued to these connections before their flush), so a connection
    with nothing queued gets ``frame`` written now, as its flush would write it,
    without being queued, listed as pending and flushed in a second loop.
    ``only_single``: before the end of the iteration (_Flusher.settle's
    ``early``), written at once only to a connection that follows ``channel``
    alone (no other channel, no pattern); the others' is queued.
    """
    size = len(frame)
    if write:
        # The common case first, in a loop of its own with one test: a plain open
        # connection with nothing queued or skipped, within budget, written at once.
        # Any other goes to the loop below, which decides for it exactly as before
        # (its checks are these plus the slower cases).
        others: list[Connection] = []
        for connection in connections:
            if type(connection) is Connection and connection.state is _OPEN and not connection.queued_bytes \
                    and (connection.single_channel or not only_single) and not connection.dropped \
                    and not (transport := connection.transport).is_closing():
                # Straight to the socket when the transport holds nothing (so nothing
                # can be written out of order): the transport's write costs a few
                # times the system call itself.
                if connection.fd >= 0 and not transport.get_write_buffer_size():
                    try:
                        sent = os_write(connection.fd, frame)
                    except OSError:  # full, or broken: the transport below meets it as it would
                        sent = 0
                    if sent == size:
                        connection.transport_bytes = 0
                        continue
                    try:
                        transport.write(frame[sent:] if sent else frame)
                    except Exception:  # one broken transport must not keep the others from theirs
                        log.exception("error while writing to connection %d", connection.id)
                        continue
                    connection.transport_bytes = size - sent
                    continue
                if (held := connection.transport_bytes + size) > connection.max_buffer:
                    others.append(connection)
                    continue
                try:
                    transport.write(frame)
                except Exception:  # one broken transport must not keep the others from theirs
                    log.exception("error while writing to connection %d", connection.id)
                    continue
                connection.transport_bytes = held
            else:
                others.append(connection)
        if not others:
            return
        connections = others
    flusher: _Flusher | None = None
    pending: list[Connection] = []
    for connection in connections:
        # (not dropped: then over_budget_since is None too; _skip sets both and
        # whatever clears ``dropped`` clears it)
        if type(connection) is Connection and connection.state is _OPEN and not connection.dropped:
            queued = connection.queued_bytes
            if write and not queued and (not only_single or connection.single_channel):
                transport = connection.transport
                held = connection.transport_bytes + size
                if held <= connection.max_buffer or (held := _refresh(connection) + size) <= connection.max_buffer:
                    if transport.is_closing():
                        continue  # as flush(): nothing is written to a closing transport
                    try:
                        transport.write(frame)
                    except Exception:  # one broken transport must not keep the others from theirs
                        log.exception("error while writing to connection %d", connection.id)
                        continue
                    # An upper bound (what the transport held, plus this), not asked of
                    # the transport per write: every check against the budget asks it
                    # again before it refuses anything (send_event, _check_drain, flush).
                    connection.transport_bytes = held
                    continue
            elif queued + connection.transport_bytes + size <= connection.max_buffer:
                connection.queue.append(frame)
                connection.queued_bytes = queued + size
                if not connection.flush_scheduled:
                    connection.flush_scheduled = True
                    if flusher is None:
                        flusher = connection.flusher
                        pending = flusher.pending
                    pending.append(connection)
                continue
        if parts is None:
            connection.send_event(frame, channel)
        else:
            for part in parts:
                connection.send_event(part, channel)
    if flusher is not None:
        flusher.schedule()



os_write = os.write


def _write_out(connection: Connection, transport: asyncio.WriteTransport, data: bytes) -> None:
    """``transport.write(data)``, straight to the socket when the transport holds
    nothing (send_to_all does the same inline), and the transport's size noted."""
    fd = connection.fd
    if fd >= 0 and not transport.get_write_buffer_size():
        try:
            sent = os_write(fd, data)
        except OSError:  # full, or broken: the transport meets it as it would
            sent = 0
        if sent == len(data):
            connection.transport_bytes = 0
            return
        if sent:
            data = data[sent:]
    transport.write(data)
    connection.transport_bytes = transport.get_write_buffer_size()


def _plain_fd(transport: asyncio.BaseTransport) -> int:
    """The file descriptor of the socket under ``transport`` when what is written
    to the transport goes to that socket as it is (plain TCP or a Unix socket),
    else -1 (TLS, whose transport encrypts; anything that is not a socket's)."""
    get = getattr(transport, "get_extra_info", None)
    if get is None or get("sslcontext") is not None or get("ssl_object") is not None:
        return -1
    sock = get("socket")
    try:
        return sock.fileno() if sock is not None else -1
    except (AttributeError, OSError, ValueError):
        return -1


def _refresh(connection: Connection) -> int:
    """The transport's size asked again (the connection's figure may be stale, as
    in send_event)."""
    connection.transport_bytes = connection.transport.get_write_buffer_size()
    return connection.transport_bytes
