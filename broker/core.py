"""The broker core: ``Broker.execute(client, argv) -> reply`` (sans-I/O).

Owns the 16 keyspaces, the pub/sub registry, keyspace notifications, the config,
WATCH bookkeeping and blocked clients. It never touches a socket or the event
loop: time comes from an injected clock, pub/sub messages and late replies go to
the ``Client`` (``deliver``, ``resume``), and the shell (``broker/server.py``, or
the gateway's in-process backend) decides how to write them.
"""

from __future__ import annotations

import os
import time
from collections import deque
from time import perf_counter_ns, time_ns
from dataclasses import dataclass
from typing import Any, Callable

from broker.acl import DENIED_CHANNEL, DENIED_CMD, DENIED_KEY, Acl, CommandIndex
from broker.client import Client, client_info_line
from broker.cmdstats import CommandStats
from broker.commands import load
from broker.config import Config, parse_memory
from broker.dirty import set_dirty_counts
from broker.evict import ACCESS_CLOCK, ACCESS_LFU, ACCESS_LRU, EVICT_FAIL, OOM, Evictor
from broker.keyspace import Keyspace
from broker.lazyfree import LazyFree
from broker.memcost import MemoryAccount
from broker.monitor import Monitors
from broker.notify import NotifyClass, flags_from_string
from broker.pause import ClientPause
from broker.propagate import FORCE_PROPAGATE, Propagator, mark_recorded_as_sent
from broker.persistence.snapshot import Snapshots
from broker.pubsub import PubSub
from broker.resp import QUEUED, CommandError, Simple, encode
from broker.results import BLOCKED, NO_REPLY, Blocked, Replies, _Sentinel
from broker.table import COMMANDS, Command
from broker.tracking import Tracking
from broker.zset import set_listpack_limits

__all__ = ["Blocked", "BLOCKED", "Broker", "Client", "NO_REPLY", "Replies", "Stats"]

Reply = Any
NUM_DBS = 16
# Wire form of the small integer replies (counts, 0/1 flags, counters), made once:
# formatting one costs more than the rest of a short command's reply path.
# 4096: counts and flags are nearly always small; larger ones are formatted as needed.
_INT_WIRE = [b":%d\r\n" % i for i in range(4096)]


@dataclass(slots=True)
class Stats:
    # (commands processed: the sum of the command table's counts, see broker/cmdstats.py)
    connections: int = 0
    rejected_connections: int = 0
    expired_keys: int = 0
    evicted_keys: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0
    pubsub_messages: int = 0
    pubsub_deliveries: int = 0
    # Messages published by clients (PUBLISH, SPUBLISH, the gateway's history and
    # plain publishes, scripts' PUBLISH), not keyspace notifications or presence
    # events: the gateway's "messages in" with the embedded broker. In INFO stats as
    # fanout_client_publishes; CONFIG RESETSTAT leaves it (a Prometheus counter).
    client_publishes: int = 0
    net_input_bytes: int = 0
    net_output_bytes: int = 0
    client_output_limit_disconnections: int = 0
    # AUTH / HELLO AUTH with a wrong password, and commands ACLs refused (Redis 7.2's INFO names)
    acl_access_denied_auth: int = 0
    acl_access_denied_cmd: int = 0
    acl_access_denied_key: int = 0
    acl_access_denied_channel: int = 0


# execute's slow path answered already (queued in MULTI, or refused): see pending_reply.
_QUEUED_OR_REFUSED: Any = _Sentinel("QUEUED_OR_REFUSED")
# The type of the keys a blocking command waits on (its source), by class name.
_SOURCE_TYPES = {name: "deque" for name in (b"blpop", b"brpop", b"blmove", b"brpoplpush", b"blmpop")}
_SOURCE_TYPES.update({name: "ZSet" for name in (b"bzpopmin", b"bzpopmax", b"bzmpop")})
_SOURCE_TYPES.update({name: "Stream" for name in (b"xread", b"xreadgroup")})
# Commands whose confirmations CLIENT REPLY OFF|SKIP does not silence.
_SUBSCRIPTION_COMMANDS = frozenset({"subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe",
                                    "sunsubscribe"})
# Commands run at once even inside MULTI (the rest is queued).
_NOT_QUEUED = {b"exec", b"discard", b"multi", b"watch", b"quit", b"reset"}
# Commands a client in MULTI may still send when out of memory (processCommand).
_OOM_IN_MULTI = frozenset({"exec", "discard", "quit", "reset"})
# The configuration read by the memory limit (see _config_changed).
_MEMORY_PARAMS = ("maxmemory", "maxmemory-policy", "maxmemory-samples", "maxmemory-eviction-tenacity",
                  "lfu-log-factor", "lfu-decay-time", "lazyfree-lazy-eviction")


class Broker:
    """An in-memory Redis: 16 dbs, pub/sub, notifications, transactions."""

    def __init__(self, clock: Callable[[], float] = time.time, config: dict[str, str] | None = None,
                 version: str = "7.0.15") -> None:
        mark_recorded_as_sent(load().values())
        set_dirty_counts(load().values())
        self.clock = clock
        # the system's clock: run_pipeline reads it once per batch for both the batch's
        # time (now_ms) and its duration (see there)
        self._system_clock = clock is time.time
        self.version = version
        self.now_ms = self.clock_ms()
        self.started_ms = self.now_ms
        # Redis's LRU clock (LRU_CLOCK, 1 s resolution) as ms rounded down to the
        # second, the one int object that every key touched in that second is stamped
        # with (Keyspace.touch, ACCESS_CLOCK); replaced only when the second changes,
        # tested by one comparison per command (per batch when pipelined)
        self.lru_clock = self.now_ms - self.now_ms % 1000
        self.lru_clock_next = self.lru_clock + 1000
        # used_memory and its parts; the keyspaces add their keys' costs to it
        self.memory = MemoryAccount()
        self.dbs = [Keyspace(self, i) for i in range(NUM_DBS)]
        self.pubsub = PubSub()
        self.stats = Stats()
        # INFO commandstats/errorstats/latencystats, SLOWLOG, LATENCY (broker/cmdstats.py);
        # the counters are on the command table, which this broker starts afresh
        self.cmdstats = CommandStats(COMMANDS)
        self.cmdstats.reset()
        # (command, argv) that ``call`` ran during a batch of run_pipeline: they share
        # the batch's time with the fast path's commands
        self.batch_ran: list[tuple[Command, list[bytes]]] = []
        # blocked clients served during a batch: (client, command, argv, ns), accounted
        # after the batch's own commands (Redis logs them once unblocked: after the writer)
        self.batch_unblocked: list[tuple[Client, Command, list[bytes], int]] = []
        # the error ``call`` caught last (told apart from one a handler returned)
        self._last_error: CommandError | None = None
        # What FLUSHALL/FLUSHDB dropped, freed by the server a slice per loop iteration.
        self.lazyfree = LazyFree()
        self.clients: dict[int, Client] = {}
        self.config = Config(config)
        self.notify_flags = 0
        # ACL users (broker/acl.py); the default one follows requirepass
        self.acl = Acl(CommandIndex(load().values()))
        # maxmemory in bytes (0: no limit; the fast path reads it on every command),
        # the evictor, and whether the last command started out of memory (scripts
        # refuse their first deny-oom command then: server.pre_command_oom_state)
        self.maxmemory = 0
        # the dataset size up to which a command needs no check_memory call: the
        # limit less start-up and clients, or -1 while eviction runs on or the last
        # command was out of memory (so the next one calls it); kept by
        # update_memory_budget. Most writes at the limit are under it (a round frees
        # ahead: broker.evict), and a call per write was a tenth of a SET's cost.
        self.memory_budget = -1
        self.evictor = Evictor(self)
        self.lazy_eviction = False
        self.pre_command_oom = False
        self.config.listeners.append(self._config_changed)
        self.config.listeners.append(self.cmdstats.configure)
        for name in ("slowlog-log-slower-than", "slowlog-max-len", "latency-monitor-threshold", "latency-tracking",
                     "latency-tracking-info-percentiles"):
            self.cmdstats.configure(name, self.config.get(name))
        for name in ("notify-keyspace-events", "requirepass", "zset-max-listpack-entries", "acl-pubsub-default",
                     "acllog-max-len", *_MEMORY_PARAMS):
            self._config_changed(name, self.config.get(name))
        aclfile = self.config.get("aclfile")
        if aclfile:
            # ACLLoadUsersAtStartup: a broken or missing file stops the start, as in Redis
            try:
                with open(os.path.join(self.config.get("dir"), aclfile), "rb") as source:
                    text = source.read()
            except OSError as exc:
                raise ValueError(f"Aborting startup because of ACL errors: Error loading ACLs, opening file "
                                 f"'{aclfile}': {exc.strerror}") from None
            errors, _ = self.acl.load(text, aclfile)
            if errors:
                raise ValueError(f"Aborting startup because of ACL errors: {errors}")
        # (db, key) -> clients watching it
        self.watchers: dict[tuple[int, bytes], set[Client]] = {}
        # (db, key) -> clients blocked on it, oldest first
        self.blocked: dict[tuple[int, bytes], deque[Client]] = {}
        self.ready_keys: list[tuple[int, bytes]] = []
        self.serving_key = b""
        self.commands = COMMANDS
        # True while a shell runs a batch of pipelined requests read together: they
        # share one reading of the clock (set by the shell in now_ms), as Redis
        # commands of one event-loop iteration share its cached time.
        self.batch_time = False
        # command name as clients spell it (b"SET", b"set") -> command, to skip lower()
        self._by_spelling: dict[bytes, Command] = {}
        # Changes since the last successful save (Redis's server.dirty): one per
        # successful call of a command flagged "write" that changed data (``changes``
        # moved), plus what handlers add where Redis counts elements (HSET's fields ...).
        self.dirty = 0
        # Modifications of the data (bumped by Keyspace.notify, FLUSHALL ...): a command
        # that moved it is recorded by the propagator (AOF, later replication) when
        # ``propagating``; a no-op write (DEL of a missing key) is not.
        self.changes = 0
        self.propagator = Propagator()
        self.propagating = False
        # nesting of ``call`` (EXEC, scripts): units are handed on at depth 0
        self.call_depth = 0
        # Refusals while loading or after a failed save (see set_gate), and the AOF's
        # write error (set_aof_error).
        self.gated = False
        self.pause = ClientPause(self)
        # client-side caching (CLIENT TRACKING) and MONITOR
        self.tracking = Tracking(self)
        self.monitors = Monitors(self)
        self.config.listeners.append(self._tracking_config_changed)
        self._tracking_config_changed("tracking-table-max-keys", self.config.get("tracking-table-max-keys"))
        self.loading_refusal: str | None = None
        self.write_refusal: str | None = None
        self.aof_refusal: str | None = None
        # -NOREPLICAS while min-replicas-to-write asks for replicas (this node has none)
        self.replicas_refusal: str | None = None
        self._replicas_config_changed()
        self.persistence = Snapshots(self, clock)
        # the append-only file (broker.persistence.aof.AppendOnlyFile) once a shell attaches one
        self.aof: Any = None

    def clock_ms(self) -> int:
        return int(self.clock() * 1000)

    def tick_lru_clock(self, now: int) -> None:
        """A new second of the LRU clock (also after the clock went back)."""
        clock = now - now % 1000
        if clock != self.lru_clock:
            self.lru_clock = clock
            self.lru_clock_next = clock + 1000

    # ------------------------------------------------------------- clients

    def connect(self, client: Client) -> None:
        self.clients[client.id] = client
        self.stats.connections += 1

    def disconnect(self, client: Client) -> None:
        """Forget a client: its subscriptions, watches and blocked state."""
        if self.clients.pop(client.id, None) is None:
            return
        self.unsubscribe_all(client)
        self.unwatch(client)
        if client.tracking is not None:
            self.tracking.disable(client)
        self.monitors.remove(client)
        self.pause.forget(client)
        self.unblock(client, None, resume=False)

    def unsubscribe_all(self, client: Client) -> None:
        for channel in client.channels:
            self.pubsub.unsubscribe(client, channel)
        for pattern in client.patterns:
            self.pubsub.punsubscribe(client, pattern)
        for channel in client.shard_channels:
            self.pubsub.sunsubscribe(client, channel)
        client.channels.clear()
        client.patterns.clear()
        client.shard_channels.clear()
        client.refresh_special()

    # ------------------------------------------------------------- execute

    def execute(self, client: Client, argv: list[bytes]) -> Reply:
        """Run one command for ``client``; return its reply (a Python value).

        Returns BLOCKED when the client must wait (the reply comes through
        ``client.resume``), NO_REPLY when CLIENT REPLY suppresses it, and a
        ``Replies`` list when the command answers more than once.

        The common case (a known command, right arity, an authenticated client
        outside MULTI and RESP2 subscribed mode) takes one short path: this runs
        for every request, so each check here costs throughput.
        """
        if self.batch_time:
            now = self.now_ms
        else:
            self.now_ms = now = int(self.clock() * 1000)
            if now >= self.lru_clock_next:
                self.tick_lru_clock(now)
        head = argv[0]
        cmd = self._by_spelling.get(head)
        if cmd is not None and cmd.min_argc <= len(argv) <= cmd.max_argc and not client.special:
            client.last_command = head
            client.last_command_ms = now
            changes = self.changes
            if self.maxmemory and self.memory.dataset > self.memory_budget \
                    and (refusal := self.check_memory(client, cmd, argv)) is not None:
                reply = refusal
                self.cmdstats.error(cmd, refusal.message, True)
            else:
                try:
                    reply = cmd.handler(client, argv)
                except CommandError as exc:
                    reply = exc
                    self.cmdstats.error(cmd, exc.message, False)
                else:
                    # Redis's server.dirty moves only when a write changed data (a DEL
                    # of a missing key, a SETBIT to the same bit: no change)
                    if cmd.write and self.changes != changes:
                        self.dirty += 1 if cmd.dirty_of is None else cmd.dirty_of(argv, reply)
                    elif type(reply) is CommandError:
                        cmd.failed_calls += 1  # a script's returned error (see call)
                # counted once run, as Redis's call() counts (INFO does not see itself);
                # not timed: the in-process callers (the embedded gateway) run one command
                # per call, and a clock reading costs what a short command does
                cmd.calls += 1
            if self.propagating and (self.changes != changes or self.propagator.pending):
                self._propagate(client, cmd, argv, reply, changes)
            if type(reply) is Blocked:
                reply = self._block(client, reply, argv)
                if reply is BLOCKED:
                    return BLOCKED
            if self.ready_keys:
                self.serve_blocked()
            return reply
        return self._execute_slow(client, argv, cmd)

    def run_pipeline(self, client: Client, requests: list[list[bytes]], out: list[bytes],
                     raw: bytes | None = None) -> int:
        """Run requests a RESP client sent together; append each reply, encoded, to ``out``.

        What ``execute`` does for each request, with its fast path inlined (this loop
        is the server's hot path), one clock reading for the whole batch (as Redis
        commands of one event-loop iteration share its cached time), and the three
        commonest replies encoded in place. Pub/sub messages a command delivers to
        this client itself land in ``out`` through ``deliver`` in between, in order.

        Writes recorded as sent (``Command.sent_argc``) are kept in the propagator's
        ``sent`` list and handed on once at the end of the batch; when every request
        was one of them, as the bytes the client sent (``raw``).

        Args:
            raw: ``requests`` as read, when the parser saw they are canonical RESP
                (``RequestParser.raw``), else None.

        Returns:
            How many requests ran: fewer than all when one blocked the client (its
            reply comes later through ``resume``) or asked for the connection to
            close (QUIT, CLIENT KILL of itself).
        """
        # The batch is timed as a whole (see broker/cmdstats.py), with the wall clock as
        # Redis times commands where it has no cheap monotonic clock (call(): ustime()),
        # so the reading that gives the batch its time starts its timing too: one clock
        # reading more per batch, at its end (a reading costs about what a GET does).
        start = time_ns()
        self.now_ms = now = start // 1_000_000 if self._system_clock else int(self.clock() * 1000)
        self.batch_time = True
        append = out.append
        by_spelling = self._by_spelling
        if now >= self.lru_clock_next:
            self.tick_lru_clock(now)
        memory = self.memory
        propagator = self.propagator
        sent = propagator.sent
        done = 0
        recorded = 0  # requests recorded as sent, in ``sent``
        # the batch's first fast-path command, and the fast-path ones that were another
        # (None until there is one: a batch is nearly always one command repeated)
        first: Command | None = None
        others: list[tuple[Command, list[bytes]]] | None = None
        slow = 0  # requests that took the slow path (their commands are in batch_ran)
        try:
            for argv in requests:
                done += 1
                head = argv[0]
                cmd = by_spelling.get(head)
                if cmd is not None and cmd.min_argc <= len(argv) <= cmd.max_argc and not client.special:
                    client.last_command = head
                    client.last_command_ms = now
                    if cmd is not first:
                        if first is None:
                            first = cmd
                        elif others is None:
                            others = [(cmd, argv)]
                        else:
                            others.append((cmd, argv))
                    changes = self.changes
                    if self.maxmemory and memory.dataset > self.memory_budget \
                            and (refusal := self.check_memory(client, cmd, argv)) is not None:
                        reply = refusal  # -OOM (returned, not raised: see check_memory)
                        self.cmdstats.error(cmd, refusal.message, True)
                    else:
                        try:
                            reply = cmd.handler(client, argv)  # type: ignore[misc]
                        except CommandError as exc:
                            reply = exc
                            changes = self.changes  # a refused command is not recorded
                            self.cmdstats.error(cmd, exc.message, False)
                        else:
                            if cmd.write and self.changes != changes:  # (see execute)
                                self.dirty += 1 if cmd.dirty_of is None else cmd.dirty_of(argv, reply)
                            elif type(reply) is CommandError:
                                cmd.failed_calls += 1  # a script's returned error (see call)
                        cmd.calls += 1  # once run, as Redis's call() counts
                    if self.propagating and (self.changes != changes or propagator.pending):
                        if len(argv) <= cmd.sent_argc and not propagator.pending and not self.call_depth:
                            # recorded as sent (SET k v, HSET, LPUSH ...): kept for the
                            # end of the batch, without a unit per command
                            sent.append((client.db.index, argv))
                            recorded += 1
                        else:
                            self._propagate(client, cmd, argv, reply, changes)
                    if type(reply) is Blocked:
                        reply = self._block(client, reply, argv)
                        if reply is BLOCKED:
                            return done
                    if self.ready_keys:
                        self.serve_blocked()
                else:
                    slow += 1
                    reply = self._execute_slow(client, argv, cmd)
                    if reply is BLOCKED or client.close_after_reply:
                        if reply is not BLOCKED and reply is not NO_REPLY:
                            append(encode(reply, client.proto))
                        return done
                kind = type(reply)
                if kind is Simple:
                    append(reply.wire)
                elif kind is bytes:
                    append(b"$%d\r\n%s\r\n" % (len(reply), reply))
                elif kind is int:
                    append(_INT_WIRE[reply] if 0 <= reply < 4096 else b":%d\r\n" % reply)
                elif reply is None:
                    append(b"$-1\r\n" if client.proto == 2 else b"_\r\n")
                elif kind is Replies:
                    proto = client.proto
                    for item in reply:
                        append(encode(item, proto))
                elif reply is not NO_REPLY:
                    append(encode(reply, client.proto))
        finally:
            self.batch_time = False
            elapsed = time_ns() - start
            if elapsed < 0:
                elapsed = 0  # the wall clock was set back during the batch
            ran = self.batch_ran
            cmdstats = self.cmdstats
            if others is None and not ran:
                if first is not None:
                    # one command, maybe repeated (nearly every batch): CommandStats.batch's
                    # common case inlined, since it runs for every read
                    count = done - slow
                    first.ns += elapsed
                    if cmdstats.tracking:
                        histogram = first.histogram
                        if histogram is None:
                            histogram = first.histogram = [0] * 31
                        bucket = (elapsed // count if count > 1 else elapsed).bit_length()
                        histogram[bucket if bucket < 30 else 30] += count
                    if elapsed >= cmdstats.slow_ns:
                        cmdstats.slow_batch(client, first, count, requests[:done], elapsed, now // 1000)
            else:
                if ran:
                    self.batch_ran = []
                    others = ran if others is None else others + ran
                cmdstats.batch(client, first if first is not None else others[0][0],  # type: ignore[index]
                               0 if first is None else done - slow - (len(others) - len(ran) if others else 0),
                               requests[:done], others, elapsed, now // 1000)
            if self.batch_unblocked:
                for served in self.batch_unblocked:
                    cmdstats.unblocked(*served, now // 1000)
                self.batch_unblocked = []
            if sent:
                # every request of the read recorded as sent, in order, nothing else
                # in between: the sinks can take the bytes as the client sent them
                propagator.drain(raw if recorded == len(requests) == len(sent) else None)
        return done

    def _execute_slow(self, client: Client, argv: list[bytes], cmd: Command | None) -> Reply:
        """Everything but the fast path: unknown spellings, arity errors, containers,
        state-changing commands, and clients in MULTI, unauthenticated, in RESP2
        subscribed mode or with CLIENT REPLY OFF/SKIP."""
        if cmd is None:
            cmd = self._lookup(argv[0])
        tracking = self.tracking
        # the client whose command runs, for tracking's NOLOOP and pending invalidations
        previous, tracking.current = tracking.current, client
        try:
            if tracking.max_keys and len(tracking.table) > tracking.max_keys:
                tracking.limit()  # before each command, as Redis's processCommand
            if client.plain and cmd is not None and cmd.min_argc <= len(argv) <= cmd.max_argc and not self.gated:
                reply = self._run_tracked(client, argv, cmd)
            else:
                reply = self._dispatch_slow(client, argv, cmd)
        finally:
            tracking.current = previous
        state = client.tracking
        if tracking.pending or self.monitors.own or (state is not None and state.caching):
            reply = self._after_command(client, cmd, reply)
        return reply

    def _run_tracked(self, client: Client, argv: list[bytes], cmd: Command) -> Reply:
        """A tracking client's command that would take the fast path (nothing to check
        first): through ``call``, which remembers the keys a read touched."""
        if self.maxmemory and (refusal := self.check_memory(client, cmd, argv)) is not None:
            return refusal  # as on the fast path
        reply = self.call(client, cmd, argv)
        if type(reply) is Blocked:
            reply = self._block(client, reply, argv)
            if reply is BLOCKED:
                return BLOCKED
        if self.ready_keys:
            self.serve_blocked()
        return reply

    def _dispatch_slow(self, client: Client, argv: list[bytes], cmd: Command | None) -> Reply:
        try:
            reply = self._execute_checked(client, argv, cmd)
            if reply is _QUEUED_OR_REFUSED:
                return client.pending_reply
            if type(reply) is Blocked:
                reply = self._block(client, reply, argv)
                if reply is BLOCKED:
                    return BLOCKED
            if self.ready_keys:
                self.serve_blocked()
            if client.reply_mode:
                muted = self._reply_mode(client, reply)
                # (P|S)SUBSCRIBE confirmations are pushed whatever CLIENT REPLY says, as in
                # Redis (they are how a subscriber learns it is subscribed)
                if cmd is not None and cmd.name in _SUBSCRIPTION_COMMANDS and type(reply) is Replies:
                    return reply
                return muted
            return reply
        finally:
            client.refresh_special()

    def _after_command(self, client: Client, cmd: Command | None, reply: Reply) -> Reply:
        """After a tracking or monitoring client's command: CLIENT CACHING lasts for one
        command (or one MULTI); what its command caused for itself follows its reply:
        the MONITOR line of it, then its invalidations."""
        if client.tracking is not None and client.multi is None and (cmd is None or cmd.name != "client"):
            client.tracking.caching = False
        pushes: list[Any] = []
        if self.monitors.own:
            pushes, self.monitors.own = self.monitors.own, []
        if self.tracking.pending:
            pushes += self.tracking.take_pending(client)
        if not pushes or reply is BLOCKED:
            return reply
        if reply is NO_REPLY:  # CLIENT REPLY OFF silences replies, not pushes
            replies = Replies(pushes)
        else:
            replies = Replies(reply if type(reply) is Replies else [reply])
            replies.extend(pushes)
        return replies

    def _lookup(self, head: bytes) -> Command | None:
        """Find a command by name in any letter case; remember the spelling."""
        name = head.lower() if type(head) is bytes else str(head).lower().encode()
        cmd = COMMANDS.get(name)
        # While gated, every command takes the slow path, where the gate is checked.
        # Capped: a client sending names in ever new letter cases (hSeT, HsEt ...) must
        # not grow the cache without bound; 4096 spellings hold every command as real
        # clients write them.
        if cmd is not None and len(self._by_spelling) < 4096 and not self.gated:
            self._by_spelling[head] = cmd
        return cmd

    def _execute_checked(self, client: Client, argv: list[bytes], cmd: Command | None) -> Reply:
        """The slow path of execute: errors, subcommands, AUTH, subscribed mode, MULTI."""
        resolved: Command | None = None  # the command a refusal counts against (rejected_calls)
        try:
            if cmd is None:
                raise CommandError(_unknown_command(argv))
            if cmd.subcommands and (cmd.handler is None or len(argv) > 1):
                cmd = self._subcommand(cmd, argv)  # (COMMAND runs alone too: it has a handler)
            resolved = cmd
            arity = cmd.arity
            if (arity > 0 and len(argv) != arity) or len(argv) < -arity:
                raise CommandError(f"ERR wrong number of arguments for '{cmd.fullname}' command")
            if not client.authenticated and "noauth" not in cmd.flags and not self.acl.default_open():
                raise CommandError("NOAUTH Authentication required.")
            if client.multi is not None and "no_multi" in cmd.flags:
                # SAVE, SHUTDOWN: refused, and the transaction is flagged (EXECABORT)
                raise CommandError("ERR Command not allowed inside a transaction")
            user = client.user
            if user is not None and not user.unrestricted:
                result, position = user.check(cmd, argv)
                if result:
                    # the log's client line names the refused command, as Redis's lastcmd
                    client.last_command = cmd.fullname.encode() if cmd.container else argv[0]
                    self.acl_denied(client, cmd, argv, result, position,
                                    "multi" if client.multi is not None else "toplevel")
                    raise CommandError(_NOPERM[result].format(cmd.fullname))
            if self.maxmemory and (refusal := self.check_memory(client, cmd, argv)) is not None:
                raise refusal
            if client.proto == 2 and client.in_subscribed_mode and "subscribed" not in cmd.flags:
                raise CommandError(
                    f"ERR Can't execute '{cmd.fullname}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / "
                    "PING / QUIT / RESET are allowed in this context")
            if self.gated:
                self._check_gate(client, cmd, argv)
                if client in self.monitors.clients:
                    self.monitors.refuse(cmd)  # a monitor is a replica: never paused either
                elif self.pause.active and self.pause.holds(client, cmd, argv):
                    return self.pause.postpone(client, argv)
            # (by full name: SLOWLOG RESET or CLIENT ... subcommands are queued as any other)
            if client.multi is not None and (cmd.container is not None or cmd.name.encode() not in _NOT_QUEUED):
                # CLIENT LIST's cmd= names the command queued last (processCommand sets lastcmd)
                client.last_command = cmd.fullname.encode() if cmd.container else argv[0]
                client.last_command_ms = self.now_ms
                client.multi.append((cmd, argv))
                client.pending_reply = self._reply_mode(client, QUEUED)
                return _QUEUED_OR_REFUSED
        except CommandError as exc:
            if client.multi is not None:
                client.multi_error = True
            self.cmdstats.error(resolved, exc.message, True)
            client.pending_reply = self._reply_mode(client, exc)
            return _QUEUED_OR_REFUSED
        return self.call(client, cmd, argv)

    def call(self, client: Client, cmd: Command, argv: list[bytes]) -> Reply:
        """Run a resolved command (used by execute and EXEC)."""
        # CLIENT LIST shows "cmd=client|list" for subcommands, like Redis 7
        client.last_command = cmd.fullname.encode() if cmd.container else argv[0]
        client.last_command_ms = self.now_ms
        changes = self.changes
        monitors = self.monitors
        if monitors.clients and "skip_monitor" in cmd.flags:
            monitors.feed(client, argv)  # EVAL, FCALL: shown before their script's commands
        batch = self.batch_time
        if batch:
            self.batch_ran.append((cmd, argv))  # timed with its batch (run_pipeline)
        else:
            start = perf_counter_ns()
        self.call_depth += 1
        try:
            reply = cmd.handler(client, argv)  # type: ignore[misc]
        except CommandError as exc:
            reply = self._last_error = exc
            self.cmdstats.error(cmd, exc.message, False)
        else:
            if cmd.write:
                if cmd.container is not None and cmd.fullname in FORCE_PROPAGATE:
                    self.changes += 1
                if self.changes != changes:  # (see execute)
                    self.dirty += 1 if cmd.dirty_of is None else cmd.dirty_of(argv, reply)
        finally:
            self.call_depth -= 1
        if type(reply) is CommandError and reply is not self._last_error:
            # an error answered, not raised: a script's returned error (redis.pcall's),
            # counted already where it happened; the script's call failed all the same
            cmd.failed_calls += 1
        cmd.calls += 1  # once run (INFO does not count itself, as in Redis)
        if not batch:
            self.cmdstats.one(client, cmd, argv, perf_counter_ns() - start, self.now_ms // 1000)
        if monitors.clients and monitors.shown(cmd):
            monitors.feed(client, argv)
        if client.tracking is not None and "readonly" in cmd.flags:
            self.tracking.remember(client, cmd, argv)
        if self.propagating and (self.changes != changes or self.propagator.pending):
            self._propagate(client, cmd, argv, reply, changes)
        return reply

    # ----------------------------------------------------------- propagation

    def _propagate(self, client: Client, cmd: Command, argv: list[bytes], reply: Reply, changes: int) -> None:
        """After a command: record it if it changed data; at depth 0 hand the unit on."""
        propagator = self.propagator
        if self.changes != changes and type(reply) is not Blocked:
            if self.call_depth == 0 and not propagator.pending:
                propagator.record_alone(client, cmd, argv, reply)
                return
            propagator.record(client, cmd, argv, reply)
        if self.call_depth == 0:
            propagator.flush()

    def key_expired(self, db: int, key: bytes) -> None:
        """A key expired (lazily or in the active cycle): counted (INFO expired_keys),
        recorded as its deletion."""
        self.stats.expired_keys += 1
        if self.propagating:
            self.propagator.deletion(db, key)

    def expiry_held(self) -> bool:
        """While clients are paused (CLIENT PAUSE, WRITE or ALL), keys past their TTL
        read as gone but are not deleted, actively or lazily, as Redis's
        ``checkClientPauseTimeoutAndReturnIfPaused``: a deletion is a write."""
        pause = self.pause
        if not pause.active:
            return False
        pause.check(self.now_ms)
        return pause.active

    def _subcommand(self, cmd: Command, argv: list[bytes]) -> Command:
        if len(argv) < 2:
            raise CommandError(f"ERR wrong number of arguments for '{cmd.name}' command")
        sub = cmd.subcommands.get(argv[1].lower())
        if sub is None:
            raise CommandError(
                f"ERR unknown subcommand '{_printable(argv[1], 128)}'. Try {cmd.name.upper()} HELP.")
        return sub

    @staticmethod
    def _reply_mode(client: Client, reply: Reply) -> Reply:
        mode = client.reply_mode
        if mode:
            # 1: OFF; 3: this is CLIENT REPLY SKIP itself; 2: the command it skips
            if mode == 3:
                client.reply_mode = 2
            elif mode == 2:
                client.reply_mode = 0
            return NO_REPLY
        return reply

    # ---------------------------------------------------------------- memory

    def check_memory(self, client: Client, cmd: Command, argv: list[bytes]) -> CommandError | None:
        """``processCommand``'s maxmemory part, before every command while maxmemory
        is set: evict (``broker.evict``) if over the limit; if still over with
        nothing to evict, refuse deny-oom commands, anything queued in MULTI, EXEC of
        a transaction holding a deny-oom command, and scripts declaring writes.

        Returns:
            The refusal (-OOM, or -EXECABORT ... OOM for EXEC), or None. Returned,
            not raised, on the fast paths: a raised error's traceback holds the
            frame that holds the reply, a cycle that kept every refused request's
            arguments alive until the cyclic GC ran (60 MB over 27k refused 1 kB SETs).
        """
        memory = self.memory
        if memory.startup + memory.dataset + memory.clients <= self.maxmemory and not self.evictor.running:
            self.pre_command_oom = False
            self.update_memory_budget()
            return None
        if self.loading_refusal is not None:
            return None  # isSafeToPerformEvictions: not while loading
        out = self.evictor.perform() == EVICT_FAIL
        self.pre_command_oom = out
        self.update_memory_budget()
        if not out or client.oom_exempt:
            return None
        # getCommandFlags: a script's declared flags make EVAL/FCALL deny-oom or not
        if "denyoom" in (cmd.flags if cmd.flags_of is None else cmd.flags_of(client, argv)):
            return CommandError(OOM)
        if client.multi is not None:
            if cmd.container is not None or cmd.name not in _OOM_IN_MULTI:
                return CommandError(OOM)
            if cmd.name == "exec" and any("denyoom" in queued.flags for queued, _ in client.multi):
                # rejectCommand on EXEC: execCommandAbort discards the transaction
                client.multi = None
                client.multi_error = False
                self.unwatch(client)
                return CommandError("EXECABORT Transaction discarded because of: " + OOM)
        return None

    def refresh_memory(self) -> None:
        """Re-measure what connections hold (their output buffers), for used_memory:
        the cron calls it; INFO too."""
        clients = self.clients
        self.memory.clients = (len(clients) * MemoryAccount.CLIENT_OVERHEAD
                               + sum(client.output_buffer_size() for client in clients.values()))
        self.update_memory_budget()

    def update_memory_budget(self) -> None:
        """``memory_budget`` after a change of the limit, the clients' share, the
        eviction state or the out-of-memory state."""
        memory = self.memory
        if self.evictor.running or self.pre_command_oom or not self.maxmemory:
            self.memory_budget = -1
        else:
            self.memory_budget = self.maxmemory - memory.startup - memory.clients

    # ------------------------------------------------------------------ gate

    def set_gate(self, loading: str | None, write_error: str | None) -> None:
        """Refuse commands while loading (all but those flagged ``loading``) or
        while the disk fails (writes and PING get ``write_error``, MISCONF).

        The fast path never looks at the gate: closing it empties the spelling
        cache, so every command goes through ``_execute_checked`` until it opens.
        """
        self.loading_refusal = loading
        self.write_refusal = write_error
        self.refresh_gate()

    def refresh_gate(self) -> None:
        """Send every command to the slow path while loading, refusing writes, paused or
        monitored (MONITOR shows commands from ``call``)."""
        self.gated = (self.loading_refusal is not None or self.write_refusal is not None
                      or self.aof_refusal is not None or self.replicas_refusal is not None
                      or self.pause.active or bool(self.monitors.clients))
        if self.gated:
            self._by_spelling.clear()

    def set_aof_error(self, message: str | None) -> None:
        """The AOF cannot write (``-MISCONF Errors writing to the AOF file: ...``), or
        can again (None); kept apart from the snapshots' error, which Redis checks first."""
        self.aof_refusal = message
        self.set_gate(self.loading_refusal, self.write_refusal)

    def _check_gate(self, client: Client, cmd: Command, argv: list[bytes]) -> None:
        if self.loading_refusal is not None and "loading" not in cmd.flags:
            raise CommandError(self.loading_refusal)
        refusal = self.write_refusal or self.aof_refusal
        if refusal is not None and (cmd.write or cmd.name == "ping"):
            raise CommandError(refusal)
        if self.replicas_refusal is not None and (
                "write" in (cmd.flags if cmd.flags_of is None else cmd.flags_of(client, argv))
                or (cmd.name == "exec" and client.multi is not None and any(queued.write for queued, _ in client.multi))):
            # processCommand's is_write_command: a script declaring no no-writes, an
            # EXEC of queued writes
            raise CommandError(self.replicas_refusal)

    # ------------------------------------------------------- notifications

    def count_read(self, db: int, key: bytes, hit: bool) -> None:
        """A read command looked ``key`` up: INFO's keyspace hits/misses, and a miss
        is a ``keymiss`` event (class m)."""
        if hit:
            self.stats.keyspace_hits += 1
            return
        self.stats.keyspace_misses += 1
        if self.notify_flags:
            self.notify(NotifyClass.KEY_MISS, b"keymiss", key, db)

    def notify(self, cls: NotifyClass, event: bytes, key: bytes, db: int) -> None:
        """Emit a keyspace notification (``notify.c`` ``notifyKeyspaceEvent``).

        Returns at once unless class ``cls`` is enabled; then publishes
        ``__keyspace@<db>__:<key> <event>`` (K) and ``__keyevent@<db>__:<event> <key>`` (E).
        """
        flags = self.notify_flags
        if not flags & cls._value_:
            return
        if flags & NotifyClass.KEYSPACE:
            self.publish(b"__keyspace@%d__:%s" % (db, key), event)
        if flags & NotifyClass.KEYEVENT:
            self.publish(b"__keyevent@%d__:%s" % (db, event), key)

    def publish(self, channel: bytes, data: bytes) -> int:
        stats = self.stats
        stats.pubsub_messages += 1
        pubsub = self.pubsub
        if channel not in pubsub.channels and not pubsub.patterns:
            return 0
        receivers = pubsub.publish(channel, data)
        stats.pubsub_deliveries += receivers
        return receivers

    # ------------------------------------------------------------------ ACL

    def acl_denied(self, client: Client, cmd: Command | None, argv: list[bytes], reason: int, position: int,
                   context: str, username: bytes | None = None) -> None:
        """Count a refusal in INFO stats and the ACL LOG (addACLLogEntry): the object is
        the command, the refused key or channel, or for AUTH the command as sent."""
        stats = self.stats
        if reason == DENIED_CMD:
            stats.acl_access_denied_cmd += 1
            obj = cmd.fullname.encode() if cmd is not None else argv[0]
        elif reason == DENIED_KEY:
            stats.acl_access_denied_key += 1
            obj = argv[position]
        elif reason == DENIED_CHANNEL:
            stats.acl_access_denied_channel += 1
            obj = argv[position]
        else:
            stats.acl_access_denied_auth += 1
            obj = argv[0]
        if username is None:
            username = client.user.name if client.user is not None else b""
        # a script's command is logged with its caller's connection (CLIENT_SCRIPT)
        caller = getattr(client, "caller", None) or client
        self.acl.log_denied(reason, context, obj, username, self.clock_ms(), client_info_line(caller))

    def acl_changed(self) -> None:
        """After ACL SETUSER/DELUSER/LOAD: clients of a user that is no longer
        all-permissive take the checked path, and back (see refresh_special)."""
        for client in self.clients.values():
            client.refresh_special()

    # ---------------------------------------------------------------- WATCH

    def watch(self, client: Client, key: bytes) -> None:
        entry = (client.db.index, key)
        if entry in client.watched:
            return
        client.watched.add(entry)
        self.watchers.setdefault(entry, set()).add(client)
        client.db.watched[key] = client.db.watched.get(key, 0) + 1

    def unwatch(self, client: Client) -> None:
        for entry in client.watched:
            watchers = self.watchers.get(entry)
            if watchers is not None:
                watchers.discard(client)
                if not watchers:
                    del self.watchers[entry]
            db = self.dbs[entry[0]]
            count = db.watched.get(entry[1], 0) - 1
            if count > 0:
                db.watched[entry[1]] = count
            else:
                db.watched.pop(entry[1], None)
        client.watched.clear()
        client.watch_dirty = False

    def touch_watched(self, db: int, key: bytes, by_command: bool = True) -> None:
        """``signalModifiedKey``: WATCHers of ``key`` fail their EXEC, client-side
        caches of it are invalidated (``by_command`` False: it expired or was evicted)."""
        for client in self.watchers.get((db, key), ()):
            client.watch_dirty = True
        if self.tracking.on:
            self.tracking.invalidate_key(key, True, by_command)

    def touch_all_watched(self, db: int | None) -> None:
        """FLUSHDB/FLUSHALL: every watched key that existed is modified."""
        for (index, key), clients in self.watchers.items():
            if (db is None or index == db) and key in self.dbs[index].data:
                for client in clients:
                    client.watch_dirty = True

    # -------------------------------------------------------------- blocking

    def signal_ready(self, db: int, key: bytes) -> None:
        if (db, key) in self.blocked:
            self.ready_keys.append((db, key))

    def _block(self, client: Client, blocked: Blocked, argv: list[bytes]) -> Reply:
        if blocked.postponed is None and client.multi is not None:
            return blocked.timeout_reply
        blocked.db = client.db.index
        blocked.argv = argv
        client.blocked = blocked
        for key in blocked.keys:
            self.blocked.setdefault((blocked.db, key), deque()).append(client)
        return BLOCKED

    def serve_blocked(self) -> None:
        """Retry clients blocked on keys that got data, oldest first."""
        while self.ready_keys:
            ready, self.ready_keys = self.ready_keys, []
            for entry in dict.fromkeys(ready):
                waiting = self.blocked.get(entry)
                # the key a retry is serving (XREADGROUP answers for that key only)
                self.serving_key = entry[1]
                skipped: list[Client] = []
                while waiting:
                    client = waiting[0]
                    blocked = client.blocked
                    if blocked is None:
                        waiting.popleft()
                        continue
                    previous_db = client.db
                    client.db = self.dbs[blocked.db]
                    changes = self.changes
                    tracking = self.tracking
                    # the waiter's command runs again: invalidations for it follow its reply
                    previous_current, tracking.current, tracking.serving = tracking.current, client, True
                    started = perf_counter_ns()
                    try:
                        reply = blocked.retry()
                    except CommandError as exc:
                        # A key that got data but now holds another type (a MULTI pushed,
                        # deleted and set it) serves nobody: Redis checks the source's type
                        # before serving, so its waiters stay blocked. A wrong destination
                        # (BLMOVE's) is the waiter's error, as in Redis.
                        reply = None if self._source_mistyped(exc, blocked, entry) else exc
                    finally:
                        tracking.current, tracking.serving = previous_current, False
                    if self.propagating and reply is not None and (self.changes != changes or self.propagator.pending):
                        cmd = self._lookup(blocked.argv[0])
                        if cmd is not None:
                            self._propagate(client, cmd, blocked.argv, reply, changes)
                    client.db = previous_db
                    if reply is None:
                        if not blocked.scan_all:
                            break
                        # set aside, still waiting, so the ones behind it get their turn
                        skipped.append(waiting.popleft())
                        continue
                    waiter = self._lookup(blocked.argv[0]) if blocked.argv else None
                    if type(reply) is CommandError:
                        # the waiter's error reply (-NOGROUP, -UNBLOCKED): errorstats and its
                        # command's failed_calls, as updateStatsOnUnblock counts it
                        self.cmdstats.error(waiter, reply.message, False)
                    if waiter is not None:
                        # updateStatsOnUnblock: its time, its slow log entry, once served
                        served = (client, waiter, blocked.argv, perf_counter_ns() - started)
                        if self.batch_time:
                            self.batch_unblocked.append(served)
                        else:
                            self.cmdstats.unblocked(*served, self.now_ms // 1000)
                    self.unblock(client, reply)
                    if tracking.pending:
                        tracking.flush_pending(client)
                if skipped:
                    waiting = self.blocked.setdefault(entry, deque())
                    waiting.extendleft(reversed(skipped))
                if entry in self.blocked and not self.blocked[entry]:
                    del self.blocked[entry]

    def _source_mistyped(self, exc: CommandError, blocked: Blocked, entry: tuple[int, bytes]) -> bool:
        """A WRONGTYPE from retrying a waiter because the ready key itself (its source)
        now holds a type that waiter does not read."""
        if not exc.message.startswith("WRONGTYPE") or not blocked.argv:
            return False
        wanted = _SOURCE_TYPES.get(blocked.argv[0].lower())
        value = self.dbs[entry[0]].data.get(entry[1])
        return wanted is not None and value is not None and type(value).__name__ != wanted

    def unblock(self, client: Client, reply: Reply, resume: bool = True) -> None:
        """Take ``client`` out of every wait list; hand it ``reply`` if resuming."""
        blocked = client.blocked
        if blocked is None:
            return
        client.blocked = None
        for key in blocked.keys:
            waiting = self.blocked.get((blocked.db, key))
            if waiting is not None:
                try:
                    waiting.remove(client)
                except ValueError:
                    pass
                if not waiting:
                    del self.blocked[(blocked.db, key)]
        if resume:
            client.resume(reply)

    def timeout_blocked(self, client: Client) -> None:
        """The shell's timer for a blocked client fired."""
        if client.blocked is not None and client.blocked.postponed is not None:
            self.now_ms = self.clock_ms()
            self.pause.check(self.now_ms)  # a paused client waits for the pause, not a timeout
            return
        if client.blocked is not None:
            self.unblock(client, client.blocked.timeout_reply)

    # ---------------------------------------------------------------- expiry

    def active_expire(self, limit: int = 2000) -> int:
        """One active expiry cycle over all dbs; returns how many keys expired."""
        self.now_ms = self.clock_ms()
        self.tick_lru_clock(self.now_ms)  # (the cron's updateCachedTime: a clock that went back too)
        expired = 0
        # the latency monitor's "expire-cycle" event (only timed while it is on)
        started = perf_counter_ns() if self.cmdstats.latency.threshold else 0
        if not self.expiry_held():
            for db in self.dbs:
                if db.expires:
                    expired += db.expire_due(self.now_ms, limit)  # (counted by key_expired)
        if started:
            self.cmdstats.latency.add_if_needed("expire-cycle", (perf_counter_ns() - started) // 1_000_000,
                                                self.now_ms // 1000)
        if self.tracking.clients:
            self.tracking.limit()  # serverCron's part: a lowered limit applies without commands
        self.memory.used  # noqa: B018 (reading it keeps used_memory_peak, as serverCron does)
        if self.maxmemory:
            self.refresh_memory()
            if self.evictor.running:  # evictionTimeProc: the last round ran out of time
                self.evictor.perform()
                self.update_memory_budget()
        if self.propagator.pending:
            self.propagator.flush(wrap=False)  # each deletion alone, as Redis's active expiry
        if self.ready_keys:
            self.serve_blocked()
        return expired

    # ---------------------------------------------------------------- config

    def _tracking_config_changed(self, name: str, value: str) -> None:
        if name == "tracking-table-max-keys":
            self.tracking.max_keys = int(value)

    def _config_changed(self, name: str, value: str) -> None:
        if name == "notify-keyspace-events":
            flags = flags_from_string(value)
            assert flags is not None
            # a plain int: IntFlag's own & is a slow Python-level call
            self.notify_flags = int(flags)
        elif name == "requirepass":
            # ACLUpdateDefaultUserPassword: the default user's only password, or nopass
            default = self.acl.default
            default.apply(b"resetpass", self.acl.pubsub_all)
            default.apply(b">" + value.encode() if value else b"nopass", self.acl.pubsub_all)
        elif name == "acl-pubsub-default":
            self.acl.pubsub_all = value == "allchannels"
        elif name == "acllog-max-len":
            # as Redis, a shorter limit trims the log at its next entry, not now
            self.acl.log_max = int(value)
        elif name in _MEMORY_PARAMS:
            self._memory_config_changed(name, value)
        elif name in ("zset-max-listpack-entries", "zset-max-listpack-value"):
            set_listpack_limits(int(self.config.get("zset-max-listpack-entries")),
                                int(self.config.get("zset-max-listpack-value")))
        elif name in ("min-replicas-to-write", "min-replicas-max-lag"):
            self._replicas_config_changed()

    def _replicas_config_changed(self) -> None:
        """checkGoodReplicasStatus: with min-replicas-to-write and -max-lag both set, a
        master needs that many good replicas to take writes; this node never has one."""
        wanted = int(self.config.get("min-replicas-to-write")) and int(self.config.get("min-replicas-max-lag"))
        self.replicas_refusal = "NOREPLICAS Not enough good replicas to write." if wanted else None
        if hasattr(self, "pause"):  # (not during __init__: refresh_gate reads the pause)
            self.refresh_gate()


    def _memory_config_changed(self, name: str, value: str) -> None:
        config = self.config
        if name == "maxmemory":
            self.maxmemory = parse_memory(value)  # start-up overrides are as written ("100mb")
            self.evictor.refresh_sampling()
            self.pre_command_oom = False  # (what it was at the last command: not now)
            if self.maxmemory:
                self.refresh_memory()
                # updateMaxmemory: over the new limit, eviction starts in the background
                self.evictor.running = self.memory.used > self.maxmemory
            self.update_memory_budget()
        elif name == "lazyfree-lazy-eviction":
            self.lazy_eviction = value == "yes"
        if name in ("lfu-log-factor", "lfu-decay-time", "maxmemory-policy", "maxmemory"):
            policy = config.get("maxmemory-policy")
            # ms access times only where the pool ranks by them (finer than Redis's seconds)
            access = ACCESS_LFU if "lfu" in policy else (
                ACCESS_LRU if self.maxmemory and policy in ("allkeys-lru", "volatile-lru") else ACCESS_CLOCK)
            factor, decay = int(config.get("lfu-log-factor")), int(config.get("lfu-decay-time"))
            for db in self.dbs:
                if db.access != access:
                    db.set_access(access)
                db.lfu_log_factor, db.lfu_decay_time = factor, decay
        if name in ("maxmemory-policy", "maxmemory-samples", "maxmemory-eviction-tenacity"):
            self.evictor.configure(config.get("maxmemory-policy"), int(config.get("maxmemory-samples")),
                                   int(config.get("maxmemory-eviction-tenacity")))


def _printable(value: bytes, limit: int) -> str:
    return value[:limit].decode("utf-8", "replace")


def _unknown_command(argv: list[bytes]) -> str:
    args = ""
    for arg in argv[1:]:
        if len(args) >= 128:
            break
        args += "'%s' " % _printable(arg, 128 - len(args))
    return f"ERR unknown command '{_printable(argv[0], 128)}', with args beginning with: {args}"


# processCommand's refusals by ACL result (the command's full name goes in {}).
_NOPERM = {
    DENIED_CMD: "NOPERM this user has no permissions to run the '{}' command",
    DENIED_KEY: "NOPERM this user has no permissions to access one of the keys used as arguments",
    DENIED_CHANNEL: "NOPERM this user has no permissions to access one of the channels used as arguments",
}
