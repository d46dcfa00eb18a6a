"""The connection as the core sees it: ``Client`` (sans-I/O; shells subclass it),
and ``client_info_line``, its CLIENT LIST line (which the ACL LOG also writes).

A runtime leaf, below the core and the command modules: every handler takes a
``Client``, and the scripting engine subclasses it (``ScriptClient``), so none of
them has to import ``broker.core`` for it. A client reaches the core through
``client.broker``, never by import (``Broker`` is named for types only).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from broker.results import Blocked, Reply

if TYPE_CHECKING:
    from broker.acl import User
    from broker.core import Broker
    from broker.keyspace import Keyspace
    from broker.pubsub import Message
    from broker.table import Command
    from broker.tracking import ClientTracking

__all__ = ["BIG_READ", "Client", "client_info_line", "note_big_read"]


class Client:
    """Per-connection state the core needs; shells subclass it for I/O.

    Subclasses implement ``deliver`` (pub/sub message), ``resume`` (late reply of
    a blocked command) and ``kill`` (CLIENT KILL, output limits).
    """

    _ids = itertools.count(1)
    # connected through the unix socket (MONITOR shows it as unix:<path>)
    unix = False
    # A read past PROTO_RESIZE_THRESHOLD: the query buffer it grew (bytes) and when
    # (see note_big_read); class attributes until a client has one
    big_query_buffer = 0
    big_query_buffer_ms = 0
    # Never refused with -OOM (the embedded gateway's own client: its heartbeats and
    # presence must go on, as Redis obeys its master whatever its memory)
    oom_exempt = False

    def __init__(self, broker: "Broker", addr: str = "", laddr: str = "") -> None:
        self.broker = broker
        self.id = next(Client._ids)
        self.addr = addr
        self.laddr = laddr
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.proto = 2
        self.db: Keyspace = broker.dbs[0]
        # the ACL user (None: an internal client that may run anything, as Redis's
        # clients without a user); authenticated at once when it needs no password
        self.user: User | None = broker.acl.default
        self.authenticated = broker.acl.default_open()
        # Wrong passwords given on this connection: the shell slows the next try.
        self.auth_failures = 0
        self.created_ms = broker.clock_ms()
        self.last_command_ms = self.created_ms
        self.last_command = b"NULL"
        # pub/sub subscriptions of this client, in subscription order
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.shard_channels: dict[bytes, None] = {}
        # MULTI queue (None outside a transaction) and whether it must abort
        self.multi: list[tuple[Command, list[bytes]]] | None = None
        self.multi_error = False
        self.watched: set[tuple[int, bytes]] = set()
        self.watch_dirty = False
        # CLIENT REPLY: 0 on, 1 off, 2 skip this reply, 3 skip this and the next
        self.reply_mode = 0
        self.blocked: Blocked | None = None
        # CLIENT TRACKING's mode while on (broker.tracking), else None
        self.tracking: ClientTracking | None = None
        # the answer of execute's slow path (QUEUED or an error)
        self.pending_reply: Any = None
        self.close_after_reply = False
        self.closed = False
        # True when execute must take its slow path for this client: see refresh_special.
        self.special = False
        self.refresh_special()

    def refresh_special(self) -> None:
        """Recompute ``special`` after a change of MULTI, auth, protocol, subscriptions
        or CLIENT REPLY state (the slow path of execute calls it after each command)."""
        user = self.user
        # nothing to check before running a command (then only tracking makes it special)
        self.plain = not (self.multi is not None or not self.authenticated or self.reply_mode != 0
                          or (self.proto == 2 and bool(self.channels or self.patterns or self.shard_channels))
                          or (user is not None and not user.unrestricted))
        # (a tracking client's reads must be remembered, and the invalidations its own
        # writes cause written after its replies: both happen off the fast path)
        self.special = not self.plain or self.tracking is not None

    @property
    def subscriptions(self) -> int:
        return len(self.channels) + len(self.patterns) + len(self.shard_channels)

    @property
    def in_subscribed_mode(self) -> bool:
        return self.proto == 2 and bool(self.channels or self.patterns or self.shard_channels)

    # ------------------------------------------------------- shell callbacks

    def deliver(self, message: Message) -> None:
        """A pub/sub message for this client."""
        raise NotImplementedError

    def resume(self, reply: Reply) -> None:
        """The late reply of the command this client was blocked on."""
        raise NotImplementedError

    def kill(self, reason: str) -> None:
        """Close this client's connection (CLIENT KILL, output buffer limit)."""
        self.closed = True

    def output_buffer_size(self) -> int:
        """Bytes waiting to be written to this client (for CLIENT LIST, limits)."""
        return 0

    def flags(self) -> str:
        flags = "O" if self in self.broker.monitors.clients else ""
        if self.channels or self.patterns or self.shard_channels:
            flags += "P"
        if self.multi is not None:
            flags += "x"
        if self.blocked is not None:
            flags += "b"
        tracking = self.tracking
        if tracking is not None:
            flags += "t" + ("R" if tracking.broken_redirect else "") + ("B" if tracking.bcast else "")
        if self.watch_dirty:
            flags += "d"
        return flags or "N"


def _username(client: Client) -> str:
    # Redis shows "(superuser)" for a client without a user; ours are the gateway's own
    return client.user.name.decode("utf-8", "replace") if client.user is not None else "default"


# What Redis's query buffer of a client holds once it has read a request: one
# PROTO_IOBUF_LEN (16 kB) read, in jemalloc's 20 kB size class (qbuf + qbuf-free);
# the cron gives it back after 2 s idle (clientsCronResizeQueryBuffer).
_QUERY_BUFFER = 20474
_QUERY_BUFFER_IDLE_MS = 2000
# PROTO_RESIZE_THRESHOLD: a query buffer larger than this is trimmed by the cron
BIG_READ = 32 * 1024
# clientsCron visits each client every 100 ms (hz 10, few clients): the visit after
# the big read sees it as the peak and keeps the buffer, the next one (peak reset,
# only smaller reads since) trims it back to what the next read refills
_QUERY_BUFFER_TRIM_MS = 200


def note_big_read(client: Client, size: int, now_ms: int) -> None:
    """The shell read ``size`` > BIG_READ bytes at once: Redis's query buffer grew to
    hold them (a big bulk is read into a buffer of its own length), and stays that
    large until clientsCronResizeQueryBuffer trims it."""
    if now_ms - client.big_query_buffer_ms >= _QUERY_BUFFER_TRIM_MS:
        client.big_query_buffer = 0
    client.big_query_buffer = max(client.big_query_buffer, size)
    client.big_query_buffer_ms = now_ms


def _request_size(argv: list[bytes]) -> int:
    """The request as RESP: ``*<argc>\r\n`` and ``$<len>\r\n<arg>\r\n`` per argument."""
    return len(b"%d" % len(argv)) + 3 + sum(len(arg) + len(b"%d" % len(arg)) + 5 for arg in argv)


def client_info_line(client: Client, argv: list[bytes] | None = None) -> str:
    """One CLIENT LIST line (without the newline), Redis 7.2 field order.

    Args:
        argv: the command being run, when ``client`` is the one running it: its
            query buffer and argv hold that request (``qbuf``, ``argv-mem``), as
            Redis's do while the command executes; other clients' are empty.
    """
    broker = client.broker
    now = broker.now_ms
    cmd = client.last_command.lower().decode("utf-8", "replace")
    omem = client.output_buffer_size()
    idle_ms = now - client.last_command_ms
    if argv is not None:
        qbuf, argv_mem = _request_size(argv), sum(map(len, argv))
        qbuf_free = max(_QUERY_BUFFER - qbuf, 0)
    else:
        # read from before (not a client that never sent anything), not yet idle long
        qbuf = argv_mem = 0
        sent = client.last_command != b"NULL"
        qbuf_free = _QUERY_BUFFER if sent and idle_ms <= _QUERY_BUFFER_IDLE_MS else 0
        if qbuf_free and now - client.big_query_buffer_ms < _QUERY_BUFFER_TRIM_MS:
            qbuf_free = max(qbuf_free, client.big_query_buffer)
    # mstate.argv_len_sums: each queued command's arguments and argv pointers
    multi_mem = 0 if client.multi is None else sum(
        sum(map(len, queued)) + 8 * len(queued) for _, queued in client.multi)
    tot_mem = omem + qbuf + qbuf_free + argv_mem + multi_mem + 16384
    return (
        f"id={client.id} addr={client.addr} laddr={client.laddr} fd={getattr(client, 'fd', -1)} "
        f"name={client.name.decode('utf-8', 'replace')} age={(now - client.created_ms) // 1000} "
        f"idle={idle_ms // 1000} flags={client.flags()} db={client.db.index} "
        f"sub={len(client.channels)} psub={len(client.patterns)} ssub={len(client.shard_channels)} "
        f"multi={-1 if client.multi is None else len(client.multi)} qbuf={qbuf} qbuf-free={qbuf_free} "
        f"argv-mem={argv_mem} multi-mem={multi_mem} rbs=16384 rbp=0 obl=0 oll=0 omem={omem} tot-mem={tot_mem} "
        f"events=r "
        f"cmd={cmd} user={_username(client)} redir={-1 if client.tracking is None else client.tracking.redirect} "
        f"resp={client.proto} "
        f"lib-name={client.lib_name.decode('utf-8', 'replace')} lib-ver={client.lib_ver.decode('utf-8', 'replace')}"
    )
