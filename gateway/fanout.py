"""Channel -> connections bookkeeping and delivery: encode once, write to many.

The hub holds ONE upstream (backend) subscription per channel and per pattern,
reference-counted by the local connections subscribed to it. A message from the
backend is turned into one JSON event and one websocket frame, and the same
bytes are queued to every subscribed connection: O(subscribers) appends, no
per-connection encoding. Consecutive messages of one channel within a loop
iteration (many publishes to one busy channel) are joined and queued together:
one append per subscriber for the run (``gateway.connection._Flusher.batch``).

Messages the gateway itself wrote through FANOUT.PUBLISH / FANOUT.JOIN / FANOUT.LEAVE
arrive in an envelope (``broker.commands.fanout``): history messages carry their
offset and epoch into the event; join/leave go only to connections that asked for
presence events on that channel. Internal listeners (``listen``) get messages of
channels the gateway follows for itself (e.g. expired node heartbeats).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

from broker.backend import Backend
from broker.channel_keys import ENVELOPE_MARK, HistoryEnvelope, PresenceEnvelope, parse_envelope
from gateway import history
from gateway.connection import SHORT_HEADS, Connection, Counters, batcher, send_to_all, text_frame
from gateway.protocol import encode_event, payload_json

__all__ = ["Hub", "PresenceMode", "history_event"]

log = logging.getLogger("fanout.gateway")

# Channels whose event start (Hub._heads) is kept; past it the cache starts over.
HEADS_LIMIT = 4096

# Presence event subscriptions: per-user join/leave, or one per connection.
PresenceMode = str
USERS, CONNECTIONS = "users", "connections"


def history_event(channel: bytes, offset: int, epoch: bytes, data_json: bytes, pattern: bytes | None = None) -> bytes:
    """``{"channel":...,"offset":N,"epoch":"E","data":...}`` (+ pattern)."""
    head = b'{"channel":' + orjson.dumps(channel.decode("utf-8", "replace"))
    if pattern is not None:
        head += b',"pattern":' + orjson.dumps(pattern.decode("utf-8", "replace"))
    return head + b',"offset":%d,"epoch":"%s","data":' % (offset, epoch) + data_json + b"}"


# How the hub reads what it missed of a history channel: (channel, offset, epoch)
# -> the page after that position, None for a channel without history.
MissedReader = Callable[[bytes, int, bytes], Awaitable[Any]]


def _note_single(connection: Connection) -> None:
    """``Connection.single_channel``, after the connection's subscriptions changed."""
    connection.single_channel = len(connection.channels) == 1 and not connection.patterns


class Hub:
    def __init__(self, backend: Backend, counters: Counters, fetch_missed: MissedReader | None = None) -> None:
        self.backend = backend
        self.counters = counters
        self.channels: dict[bytes, dict[Connection, None]] = {}
        self.patterns: dict[bytes, dict[Connection, None]] = {}
        # channel -> connections that asked for its join/leave events, and how
        self.presence_watchers: dict[bytes, dict[Connection, PresenceMode]] = {}
        self.listeners: dict[bytes, Callable[[bytes, bytes], None]] = {}
        # History channels: (epoch, offset) of the last message delivered, messages
        # held while a gap is filled, and how to read the gap.
        self.positions: dict[bytes, tuple[bytes, int]] = {}
        # Before a channel's first message here: its (epoch, offset) when it was
        # subscribed, so messages missed before that first one are noticed too.
        self.floors: dict[bytes, tuple[bytes, int]] = {}
        self.catching_up: dict[bytes, list[tuple[int, bytes, bytes]]] = {}
        self.fetch_missed = fetch_missed
        # Messages from the broker that reached local subscribers, whoever published
        # them (websocket, HTTP, RESP, scripts, other nodes): one per matching
        # channel or pattern subscription. Presence events are not counted.
        self.received = 0
        # The loop's flusher (gateway.connection.batcher), once known: asking the
        # loop for it costs a microsecond, once per message.
        self._batcher: Any = None
        # The data of the publish in progress when its publisher made it with
        # orjson here (gateway.fast_http, gateway.operations.publish): the broker hands the same object to
        # on_message, which then skips payload_json's re-parse (``is``, not ``==``:
        # only that very object is known to be JSON).
        self.json_data: bytes | None = None
        # channel -> b'{"channel":"<name>","data":' (the event's start, made once per
        # channel rather than once per message; cleared when it grows past
        # HEADS_LIMIT, as gateway.channels caches options).
        self._heads: dict[bytes, bytes] = {}
        backend.set_handler(self.on_message)

    # ------------------------------------------------------------ delivery

    def on_message(self, channel: bytes, data: bytes, pattern: bytes | None) -> None:
        """Backend handler: one message for the local subscribers of a channel or pattern."""
        if data[:1] == ENVELOPE_MARK:
            self._on_envelope(channel, data, pattern)
            return
        subscribers = self.channels.get(channel) if pattern is None else self.patterns.get(pattern)
        if pattern is None and channel in self.listeners:  # even when browsers follow the channel too
            self.listeners[channel](channel, data)
        if not subscribers:
            return
        self.received += 1
        data_json = data if data is self.json_data else payload_json(data)
        flusher = self._batcher or self._flusher()
        if pattern is None:
            head = self._heads.get(channel) or self._head(channel)
            # (text_frame's common case inline: one join, no call)
            length = len(head) + len(data_json) + 1
            frame = b"".join((SHORT_HEADS[length], head, data_json, b"}")) if length < 126 \
                else text_frame(head + data_json + b"}")
            # Queued with the channel's next messages of this loop iteration, if it
            # has more (one channel, many publishes: one append per subscriber).
            flusher.batch(channel, subscribers, frame)
        else:
            flusher.settle()
            send_to_all(list(subscribers), text_frame(encode_event(channel, data_json, pattern)), channel)
        self.counters.deliveries += len(subscribers)

    def _head(self, channel: bytes) -> bytes:
        """``encode_event``'s start for a channel's messages, up to the data, cached."""
        heads = self._heads
        if len(heads) >= HEADS_LIMIT:
            heads.clear()
        head = heads[channel] = encode_event(channel, b"")[:-len(b"}")]
        return head

    def _flusher(self) -> Any:
        if self._batcher is None:
            self._batcher = batcher()
        return self._batcher

    def _on_envelope(self, channel: bytes, data: bytes, pattern: bytes | None) -> None:
        envelope = parse_envelope(data)  # None: malformed, dropped rather than delivered half-parsed
        if isinstance(envelope, HistoryEnvelope):
            offset, epoch, payload = envelope
            if pattern is None and not self._in_sequence(channel, offset, epoch, payload):
                return
            self._deliver_history(channel, offset, epoch, payload, pattern)
        elif isinstance(envelope, PresenceEnvelope) and pattern is None:
            self._deliver_presence(channel, envelope)

    def _deliver_history(self, channel: bytes, offset: int, epoch: bytes, payload: bytes,
                         pattern: bytes | None) -> None:
        subscribers = self.channels.get(channel) if pattern is None else self.patterns.get(pattern)
        if not subscribers:
            return
        self.received += 1
        frame = text_frame(history_event(channel, offset, epoch, payload_json(payload), pattern))
        delivered = 0
        for connection in list(subscribers):
            recovering = connection.recovering
            if recovering is not None and pattern is None and channel in recovering:
                if not connection.hold_or_pass(channel, offset, epoch, frame):
                    continue
            connection.send_event(frame, channel, offset)
            delivered += 1
        self.counters.deliveries += delivered

    # ------------------------------------------------- history sequencing

    def _in_sequence(self, channel: bytes, offset: int, epoch: bytes, payload: bytes) -> bool:
        """Deliver history messages of a channel once each and in offset order.

        Offsets have no holes, so a jump means this node missed messages (its
        backplane link dropped, say): hold what comes next, fetch the missing ones
        from history, deliver them, then the held ones. A repeat is dropped.
        """
        held = self.catching_up.get(channel)
        if held is not None:
            held.append((offset, epoch, payload))
            return False
        last = self.positions.get(channel)
        if last is not None and last[0] == epoch:
            if offset <= last[1]:
                return False
            if offset > last[1] + 1 and self.fetch_missed is not None:
                self.catching_up[channel] = [(offset, epoch, payload)]
                asyncio.ensure_future(self._catch_up(channel, last[1], epoch))
                return False
        elif last is not None:
            # A new epoch (the history was lost: the backplane restarted or was
            # flushed): its offsets start again at 1, and the first one seen here is
            # not a baseline: the ones before it are read from history first.
            if offset > 1 and self.fetch_missed is not None:
                self.catching_up[channel] = [(offset, epoch, payload)]
                asyncio.ensure_future(self._catch_up(channel, 0, epoch))
                return False
        elif channel in self.floors:
            # A floor is only a lower bound (a message racing the subscribe may come
            # at or below it), so nothing is dropped, but a jump past it is a gap.
            floor_epoch, floor = self.floors[channel]
            if floor_epoch not in (epoch, b""):
                floor = 0  # a new epoch since the subscribe: from its first offset
            if offset > floor + 1 and self.fetch_missed is not None:
                self.catching_up[channel] = [(offset, epoch, payload)]
                asyncio.ensure_future(self._catch_up(channel, floor, epoch if floor == 0 else floor_epoch))
                return False
            del self.floors[channel]
        self.positions[channel] = (epoch, offset)
        return True

    def note_floor(self, channel: bytes, epoch: bytes, offset: int) -> None:
        """The channel's history position read when a connection subscribed
        (epoch b"" while it has no history yet)."""
        if channel in self.channels and channel not in self.positions:
            self.floors.setdefault(channel, (epoch, offset))

    async def check_positions(self) -> None:
        """After a backplane reconnect: catch up channels that moved on meanwhile."""
        followed = {**self.floors, **self.positions}
        for channel, (epoch, offset) in followed.items():
            if channel not in self.catching_up and self.fetch_missed is not None:
                self.catching_up[channel] = []
                await self._catch_up(channel, offset, epoch)

    async def _catch_up(self, channel: bytes, offset: int, epoch: bytes) -> None:
        """Deliver what this node missed after (epoch, offset), then what was held
        meanwhile. If the epoch changed (the history was lost), the rest of the old
        one is reported as a gap and the new one is read from its first offset;
        what cannot be read is reported as a gap naming its epoch."""
        assert self.fetch_missed is not None
        page = await self._missed(channel, offset, epoch)
        last = offset
        if page is not None and not page.complete and page.epoch and page.epoch.encode() != epoch \
                and epoch != b"":
            self._announce_gap(channel, offset + 1, epoch)  # the old epoch's tail is gone with it
            offset = last = 0
            epoch = page.epoch.encode()
            page = await self._missed(channel, 0, epoch)
        if page is not None and page.complete:
            current = page.epoch.encode()
            batch = page.entries
            while True:
                for entry in batch:
                    self._deliver_history(channel, entry.offset, current, entry.data, None)
                    last = entry.offset
                if batch:
                    epoch = current  # a floor read before the first message has epoch b""
                if not page.next_offset:
                    break
                # Over RESP the page comes a batch at a time (gateway.history.more):
                # the node holds one batch, not the whole missed page.
                batch = await self._more(channel, page)
            if page.lost_from:  # gone while the batches were read: held ones may still follow it
                self._announce_gap(channel, page.lost_from, current)
                epoch, last = current, page.lost_from - 1
        else:  # lost for good (trimmed, or the history itself was lost): say so
            self._announce_gap(channel, offset + 1, epoch)
        held = self.catching_up.pop(channel, [])
        for held_offset, held_epoch, payload in held:
            if held_epoch != epoch or held_offset > last:
                self._deliver_history(channel, held_offset, held_epoch, payload, None)
                epoch, last = held_epoch, held_offset
        if page is not None and page.lost_from and epoch == page.epoch.encode():
            last = max(last, page.offset)  # the ones announced lost are not fetched again
        if channel in self.channels and last != offset:
            self.positions[channel] = (epoch, last)
            self.floors.pop(channel, None)

    async def _missed(self, channel: bytes, offset: int, epoch: bytes) -> Any:
        assert self.fetch_missed is not None
        try:
            return await self.fetch_missed(channel, offset, epoch)
        except Exception as exc:  # the gap is announced instead
            log.warning("could not read the history of %r to fill a gap: %s", channel, exc)
            return None

    async def _more(self, channel: bytes, page: Any) -> list[Any]:
        try:
            return await history.more(self.backend, channel.decode("utf-8", "replace"), page)
        except Exception as exc:  # the gap is announced instead
            log.warning("could not read the history of %r to fill a gap: %s", channel, exc)
            page.lost_from, page.next_offset = page.next_offset, 0
            return []

    def _announce_gap(self, channel: bytes, from_offset: int, epoch: bytes) -> None:
        if channel not in self.channels:
            return
        gap: dict[str, Any] = {"from_offset": from_offset}
        if epoch:
            gap["epoch"] = epoch.decode("utf-8", "replace")
        frame = text_frame(orjson.dumps({"channel": channel.decode("utf-8", "replace"), "gap": gap}))
        for connection in list(self.channels[channel]):
            connection.send_frame(frame)

    def _deliver_presence(self, channel: bytes, envelope: PresenceEnvelope) -> None:
        watchers = self.presence_watchers.get(channel)
        if not watchers:
            return
        kind = "join" if envelope.join else "leave"
        user_level = envelope.edge  # per-user watchers hear of a user's first join and last leave only
        try:
            meta = orjson.loads(envelope.meta)
            who = {"user": meta["user"], "info": meta.get("info")}
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        name = channel.decode("utf-8", "replace")
        user_frame = text_frame(orjson.dumps({"channel": name, kind: who})) if user_level else None
        conn_frame = text_frame(orjson.dumps({"channel": name, kind: {**who, "conn": meta.get("conn")}}))
        for connection, mode in list(watchers.items()):
            frame = conn_frame if mode == CONNECTIONS else user_frame
            if frame is not None:
                connection.send_event(frame, channel)

    # ------------------------------------------------------------ presence

    def watch_presence(self, connection: Connection, channel: bytes, mode: PresenceMode) -> None:
        self.presence_watchers.setdefault(channel, {})[connection] = mode

    def unwatch_presence(self, connection: Connection, channel: bytes) -> None:
        watchers = self.presence_watchers.get(channel)
        if watchers is not None:
            watchers.pop(connection, None)
            if not watchers:
                del self.presence_watchers[channel]

    async def listen(self, channel: bytes, callback: Callable[[bytes, bytes], None]) -> None:
        """Follow a channel for the gateway itself (not delivered to connections)."""
        self.listeners[channel] = callback
        await self.backend.subscribe(channel)

    async def unlisten(self, channel: bytes) -> None:
        """Stop following a channel for the gateway; upstream stays while browsers follow it."""
        if self.listeners.pop(channel, None) is not None and channel not in self.channels:
            await self.backend.unsubscribe(channel)

    # ------------------------------------------------------- subscriptions

    async def subscribe(self, connection: Connection, channel: bytes) -> bool:
        """Add a subscription; False if it already existed."""
        if channel in connection.channels:
            return False
        self._flusher().settle()  # what was published before the subscribe is not its
        subscribers = self.channels.get(channel)
        connection.channels.add(channel)
        _note_single(connection)
        if subscribers is None:
            self.channels[channel] = {connection: None}
            try:
                await self.backend.subscribe(channel)
            except Exception:
                self._remove(self.channels, channel, connection)
                connection.channels.discard(channel)
                _note_single(connection)
                raise
        else:
            subscribers[connection] = None
        return True

    async def psubscribe(self, connection: Connection, pattern: bytes) -> bool:
        if pattern in connection.patterns:
            return False
        self._flusher().settle()
        subscribers = self.patterns.get(pattern)
        if not connection.patterns:
            connection.patterns = set()  # connections start with a shared empty frozenset
        connection.patterns.add(pattern)
        _note_single(connection)
        if subscribers is None:
            self.patterns[pattern] = {connection: None}
            try:
                await self.backend.psubscribe(pattern)
            except Exception:
                self._remove(self.patterns, pattern, connection)
                connection.patterns.discard(pattern)
                _note_single(connection)
                raise
        else:
            subscribers[connection] = None
        return True

    async def unsubscribe(self, connection: Connection, channel: bytes) -> bool:
        if channel not in connection.channels:
            return False
        self._flusher().settle()  # what was published before the unsubscribe is still its
        connection.channels.discard(channel)
        _note_single(connection)
        self.unwatch_presence(connection, channel)
        if connection.recovering is not None:
            connection.release_held(channel)
            connection.recovering.pop(channel, None)
        if self._remove(self.channels, channel, connection):
            self.positions.pop(channel, None)
            self.floors.pop(channel, None)
            if channel not in self.listeners:
                await self.backend.unsubscribe(channel)
        return True

    async def punsubscribe(self, connection: Connection, pattern: bytes) -> bool:
        if pattern not in connection.patterns:
            return False
        self._flusher().settle()
        connection.patterns.discard(pattern)
        _note_single(connection)
        if self._remove(self.patterns, pattern, connection):
            await self.backend.punsubscribe(pattern)
        return True

    async def drop(self, connection: Connection) -> None:
        """Forget a closed connection and release upstream subscriptions it held last."""
        for channel in list(connection.channels):
            await self.unsubscribe(connection, channel)
        for pattern in list(connection.patterns):
            await self.punsubscribe(connection, pattern)

    @staticmethod
    def _remove(registry: dict[bytes, dict[Connection, None]], name: bytes, connection: Connection) -> bool:
        """Remove; True if that was the last local subscriber."""
        subscribers = registry.get(name)
        if subscribers is None:
            return False
        subscribers.pop(connection, None)
        if not subscribers:
            del registry[name]
            return True
        return False

    def channel_counts(self, names: Iterable[bytes] | None = None) -> dict[str, int]:
        registry = self.channels
        keys = registry if names is None else [name for name in names if name in registry]
        return {name.decode("utf-8", "replace"): len(registry[name]) for name in keys}

    @property
    def subscription_count(self) -> int:
        return sum(len(s) for s in self.channels.values()) + sum(len(s) for s in self.patterns.values())
