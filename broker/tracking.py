"""Client-side caching: who may hold which keys, and their invalidation (sans-I/O).

After Redis 7.0's ``tracking.c``. A client that turns ``CLIENT TRACKING ON`` has
the keys its read commands touch remembered in one table, key -> client ids (one
table for all dbs: a key name is invalidated whatever db it changes in, as in
Redis). The first change to a key (a write, an expiry, an eviction) sends every
client remembered for it an invalidation and forgets the key: a client hears
about a key once per read, not once per write.

BCAST clients are remembered per prefix instead: keys changed under a prefix
are collected and sent at the end of the event-loop iteration, one message per
prefix (``broadcast``, Redis's ``beforeSleep`` step), built once for all.

Where an invalidation goes (``sendTrackingMessage``): a RESP3 client gets a push
``>2 invalidate [key]``; with ``REDIRECT id`` it goes to that client instead,
and a RESP2 redirect client in pub/sub mode gets it as a message on
``__redis__:invalidate``. A client whose redirect client went away is flagged
and, in RESP3, told so with a ``tracking-redir-broken`` push.

An invalidation for the client whose command is running waits until that
command (or its whole MULTI/EXEC, or script) has replied (``pending``): Redis
never interleaves a push with a reply. The table is bounded by
``tracking-table-max-keys``: past it, random keys are invalidated as if changed
(``limit``).

Costs: remembering is O(keys of the command); invalidating a key is O(clients
that read it) plus O(BCAST prefixes) when there are any; a write to a key no one
tracks is one dict lookup, and nothing at all while no one tracks (writes reach
``invalidate_key`` through WATCH's check: see ``keyspace.TRACKED``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from broker.keyspace import TRACKED
from broker.keyspecs import keys_of
from broker.pubsub import Message
from broker.resp import Push

if TYPE_CHECKING:
    from broker.client import Client
    from broker.core import Broker
    from broker.table import Command

__all__ = ["ClientTracking", "INVALIDATE_CHANNEL", "Invalidation", "Tracking"]

INVALIDATE_CHANNEL = b"__redis__:invalidate"
# Commands flagged readonly whose own keys are not remembered: the keys of a script
# are remembered when it runs a read command (Redis's call(): evalRo/fcallro excluded).
_SCRIPT_READS = frozenset({"eval_ro", "evalsha_ro", "fcall_ro"})
# The head of an invalidation as a RESP3 push, and as a RESP2 pub/sub message.
_PUSH_HEAD = b">2\r\n$10\r\ninvalidate\r\n"
_MESSAGE_HEAD = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
# A flush invalidates everything: the key array is a null, in the protocol of the
# tracking client (Redis sends shared.null[c->resp] even to a redirect client).
_NULLS = {2: b"$-1\r\n", 3: b"_\r\n"}


class Invalidation(Message):
    """An invalidation, delivered like a pub/sub message: its RESP2 form is the
    ``__redis__:invalidate`` message, its RESP3 form the ``invalidate`` push. Built
    once and shared by every receiver (a BCAST message goes to all the prefix's)."""

    __slots__ = ()

    def __init__(self, keys_wire: bytes) -> None:
        super().__init__(b"message", INVALIDATE_CHANNEL, b"")
        self.frame2 = _MESSAGE_HEAD + keys_wire
        self.frame3 = _PUSH_HEAD + keys_wire


class _BrokenRedirect(Message):
    """``>2 tracking-redir-broken <id>``: RESP3 only (never sent to a RESP2 client)."""

    __slots__ = ()

    def __init__(self, redirect: int) -> None:
        super().__init__(b"message", INVALIDATE_CHANNEL, b"")
        self.frame2 = self.frame3 = b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n" % redirect


@dataclass(slots=True, eq=False)
class ClientTracking:
    """One client's tracking mode (its ``CLIENT_TRACKING_*`` flags)."""

    # the client id invalidations go to; 0: this client itself
    redirect: int = 0
    bcast: bool = False
    optin: bool = False
    optout: bool = False
    noloop: bool = False
    # CLIENT CACHING YES (optin) / NO (optout) given for the next command or MULTI
    caching: bool = False
    # the redirect client is gone (shown as flag R and "broken_redirect")
    broken_redirect: bool = False
    # BCAST prefixes, in the order given (replies sort them as Redis's rax does)
    prefixes: dict[bytes, None] = field(default_factory=dict)


class _Prefix:
    """A BCAST prefix (Redis's ``bcastState``)."""

    __slots__ = ("keys", "clients")

    def __init__(self) -> None:
        # keys changed under the prefix since the last broadcast -> the client that
        # changed it last (None outside a client's command), for NOLOOP
        self.keys: dict[bytes, Client | None] = {}
        self.clients: dict[Client, None] = {}


class Tracking:
    """The tracking table of one broker, its BCAST prefixes and pending messages."""

    def __init__(self, broker: "Broker") -> None:
        self.broker = broker
        # key -> ids of the clients that may cache it
        self.table: dict[bytes, dict[int, None]] = {}
        # sum of the id sets' sizes (INFO tracking_total_items)
        self.total_items = 0
        self.prefixes: dict[bytes, _Prefix] = {}
        # clients with tracking on (INFO tracking_clients)
        self.clients = 0
        # 0: unbounded (tracking-table-max-keys)
        self.max_keys = 1_000_000
        # The client whose command is being processed (Redis's current_client): NOLOOP
        # skips it, and an invalidation for it inside its command waits in pending.
        self.current: Client | None = None
        # True while a blocked client's command is retried (it is inside its command)
        self.serving = False
        # True while a script runs (with BCAST clients): its writes are the Lua
        # client's, which no BCAST NOLOOP client is
        self.scripting = False
        # keys (None: a flush) to invalidate for ``current`` once its command replied
        self.pending: list[bytes | None] = []
        # set by a shell: called once when BCAST keys wait, to run ``broadcast`` at the
        # end of the event-loop iteration; None: the owner calls broadcast itself
        self.wake: Callable[[], None] | None = None
        self._woken = False
        # Grows each time limit() could not get under the limit (Redis's
        # timeout_counter): the next try works harder.
        self._effort = 0
        # Whether writes must reach invalidate_key: someone tracks, or keys remain.
        self.on = False

    # --------------------------------------------------------- turning on/off

    def enable(self, client: "Client", redirect: int, bcast: bool, optin: bool, optout: bool,
               noloop: bool, prefixes: list[bytes]) -> None:
        """``enableTracking``: (re)configure ``client``; its old prefixes stay."""
        state = client.tracking
        if state is None:
            state = client.tracking = ClientTracking()
            self.clients += 1
            self._refresh()
        state.redirect = redirect
        state.broken_redirect = False
        state.bcast, state.optin, state.optout, state.noloop = bcast, optin, optout, noloop
        if bcast:
            for prefix in prefixes or [b""]:
                entry = self.prefixes.get(prefix)
                if entry is None:
                    entry = self.prefixes[prefix] = _Prefix()
                entry.clients[client] = None
                state.prefixes[prefix] = None
        client.refresh_special()

    def disable(self, client: "Client") -> None:
        """``disableTracking``: the keys it read stay in the table until changed."""
        state = client.tracking
        if state is None:
            return
        for prefix in state.prefixes:
            entry = self.prefixes.get(prefix)
            if entry is not None:
                entry.clients.pop(client, None)
                if not entry.clients:
                    del self.prefixes[prefix]
        client.tracking = None
        self.clients -= 1
        self._refresh()
        client.refresh_special()

    def _refresh(self) -> None:
        """Tell the keyspaces whether their writes must reach ``invalidate_key``: while
        on, each holds ``TRACKED`` among its WATCHed keys, so its writes call
        ``Broker.touch_watched`` (see keyspace.TRACKED)."""
        on = bool(self.clients or self.table)
        if on == self.on:
            return
        self.on = on
        for db in self.broker.dbs:
            if on:
                db.watched[TRACKED] = 1
            else:
                db.watched.pop(TRACKED, None)

    # ------------------------------------------------------------ remembering

    def remember(self, client: "Client", cmd: "Command", argv: list[bytes]) -> None:
        """After ``client``'s read command: remember its keys (``trackingRememberKeys``).

        Called for readonly commands of a tracking client."""
        if cmd.keys == (1, 1, 1) and not cmd.container:
            keys = argv[1:2]  # GET, HGET, SMEMBERS ...: most reads, without keys_of's frame
        elif cmd.name in _SCRIPT_READS or "pubsub" in cmd.flags:
            return
        else:
            keys = keys_of(cmd, argv)  # type: ignore[assignment]
        if keys:
            self.remember_keys(client, keys)

    def remember_keys(self, client: "Client", keys: list[bytes]) -> None:
        state = client.tracking
        if state is None or state.bcast or (state.optin and not state.caching) or (state.optout and state.caching):
            return
        table = self.table
        cid = client.id
        for key in keys:
            ids = table.get(key)
            if ids is None:
                ids = table[key] = {}
            if cid not in ids:
                ids[cid] = None
                self.total_items += 1

    # ---------------------------------------------------------- invalidating

    def invalidate_key(self, key: bytes, bcast: bool = True, by_command: bool = True) -> None:
        """``trackingInvalidateKey``: ``key`` changed (or went): tell who may cache it.

        Args:
            bcast: file it for BCAST clients too (the table's own limit does not).
            by_command: the running command changed it (its client is the one a BCAST
                NOLOOP client is spared); False for an expiry or an eviction.
        """
        if bcast and self.prefixes:
            self._remember_to_broadcast(key, self.current if by_command and not self.scripting else None)
        ids = self.table.pop(key, None)
        if ids is None:
            return
        self.total_items -= len(ids)
        clients = self.broker.clients
        current = self.current
        for cid in ids:
            target = clients.get(cid)
            if target is None:
                continue
            state = target.tracking
            if state is None or state.bcast or (state.noloop and target is current):
                continue
            if target is current and (self.broker.call_depth or self.serving):
                self.pending.append(key)
            else:
                self.send(target, _one_key(key))
        if not self.table and not self.clients:
            self._refresh()

    def invalidate_removed(self, key: bytes) -> None:
        """A key went by itself, outside any command's doing (expired, evicted): what
        the eviction code calls for each key it evicts (Redis's signalModifiedKey with
        no client; ``Broker.touch_watched(db, key, False)`` does WATCH and this)."""
        if self.on:
            self.invalidate_key(key, True, False)

    def invalidate_all(self) -> None:
        """FLUSHDB/FLUSHALL (``trackingInvalidateKeysOnFlush``): every tracking client,
        BCAST ones too, gets a null invalidation; the table is emptied (all of it,
        even for FLUSHDB, as in Redis)."""
        if self.clients:
            current = self.current
            for client in list(self.broker.clients.values()):
                if client.tracking is None:
                    continue
                if client is current:
                    self.pending.append(None)
                else:
                    self.send(client, _null(client))
        self.table = {}
        self.total_items = 0
        self._refresh()

    def send(self, client: "Client", keys_wire: bytes) -> None:
        """``sendTrackingMessage``: an invalidation of ``keys_wire`` (an encoded array
        of keys, or a null) for tracking ``client``, where it must go."""
        self._deliver(client, Invalidation(keys_wire))

    def _deliver(self, client: "Client", message: Invalidation) -> None:
        state = client.tracking
        target = client
        if state is not None and state.redirect:
            target = self.broker.clients.get(state.redirect)  # type: ignore[assignment]
            if target is None or target.closed:
                state.broken_redirect = True
                if client.proto == 3:
                    client.deliver(_BrokenRedirect(state.redirect))
                return
            # RESP2: only a redirect client in pub/sub mode can be sent a message
            if target.proto != 3 and not (target.channels or target.patterns or target.shard_channels):
                return
        elif client.proto != 3:
            return  # RESP2 cannot push on the connection that reads
        target.deliver(message)

    def take_pending(self, client: "Client") -> list[Any]:
        """The invalidations that waited for ``client``'s command to reply, as replies
        to write after it (pushes); those for a redirect client are sent now."""
        pending, self.pending = self.pending, []
        if client.tracking is None or client.closed:
            return []
        replies: list[Any] = []
        for key in pending:
            if client.tracking.redirect:
                self.send(client, _null(client) if key is None else _one_key(key))
            elif client.proto == 3:
                replies.append(Push([b"invalidate", None if key is None else [key]]))
        return replies

    def flush_pending(self, client: "Client") -> None:
        """The invalidations that waited for ``client``'s command, sent now that its
        reply went out (a blocked command served late)."""
        pending, self.pending = self.pending, []
        if client.tracking is None or client.closed:
            return
        for key in pending:
            self.send(client, _null(client) if key is None else _one_key(key))

    # ------------------------------------------------------------------ BCAST

    def _remember_to_broadcast(self, key: bytes, modifier: "Client | None") -> None:
        """``trackingRememberKeyToBroadcast``: file ``key`` under each prefix of it."""
        found = False
        for prefix, entry in self.prefixes.items():
            if key.startswith(prefix):
                entry.keys[key] = modifier
                found = True
        if found and not self._woken and self.wake is not None:
            self._woken = True
            self.wake()

    def broadcast(self) -> None:
        """``trackingBroadcastInvalidationMessages``: for each prefix (in byte order,
        as Redis walks its rax) the keys changed under it since the last call, sorted,
        to each of its clients; a NOLOOP client without the keys it changed itself."""
        self._woken = False
        if not self.clients:
            return
        for prefix in sorted(self.prefixes):
            entry = self.prefixes[prefix]
            if not entry.keys:
                continue
            keys = sorted(entry.keys)
            shared = Invalidation(_key_array(keys))
            changed = entry.keys
            entry.keys = {}
            for client in list(entry.clients):
                state = client.tracking
                if state is not None and state.noloop:
                    own = [key for key in keys if changed[key] is not client]
                    if own:
                        self._deliver(client, Invalidation(_key_array(own)))
                else:
                    self._deliver(client, shared)

    # ------------------------------------------------------------------ limit

    def limit(self) -> None:
        """``trackingLimitUsedSlots``: past ``tracking-table-max-keys``, invalidate
        random keys as if changed, with an effort (100 keys, then 200 ...) that grows
        each time one call could not get under the limit."""
        max_keys = self.max_keys
        if not max_keys or len(self.table) <= max_keys:
            self._effort = 0
            return
        effort = 100 * (self._effort + 1)
        while effort > 0 and self.table:
            effort -= 1
            self.invalidate_key(_random_key(self.table), bcast=False)
            if len(self.table) <= max_keys:
                self._effort = 0
                return
        self._effort += 1

    # ------------------------------------------------------------------- INFO

    def info(self) -> list[tuple[str, object]]:
        """INFO stats' tracking fields."""
        return [("tracking_total_keys", len(self.table)), ("tracking_total_items", self.total_items),
                ("tracking_total_prefixes", len(self.prefixes))]


def _one_key(key: bytes) -> bytes:
    return b"*1\r\n$%d\r\n%s\r\n" % (len(key), key)


def _null(client: "Client") -> bytes:
    return _NULLS[3 if client.proto == 3 else 2]


def _key_array(keys: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(keys) + b"".join(b"$%d\r\n%s\r\n" % (len(key), key) for key in keys)


def _random_key(table: dict[bytes, Any]) -> bytes:
    # Redis walks its rax at random; a dict has no random access, so one of the 64
    # oldest keys is taken (O(1); the oldest are the likeliest stale in a cache).
    index = random.randrange(min(len(table), 64))
    for i, key in enumerate(table):
        if i == index:
            return key
    raise KeyError("empty table")
