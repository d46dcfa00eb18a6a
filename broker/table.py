"""The command table: the one place a command is registered.

Handlers live in ``broker/commands/<group>.py`` and register themselves with the
``command`` decorator; ``broker.commands.load()`` imports every group once (this
module imports none of them: they import it). Arity follows Redis:
a positive arity is the exact argc, a negative one the minimum (``-3``: 3 or more,
the command name included). Container commands (CLIENT, CONFIG, PUBSUB, ...)
register their subcommands with ``subcommand``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from broker.client import Client

__all__ = ["Command", "COMMANDS", "STATE_COMMANDS", "command", "subcommand"]

Handler = Callable[["Client", list[bytes]], Any]

# Commands that change what the core's fast path checks (``Client.special``:
# MULTI, authentication, protocol, subscriptions, CLIENT REPLY) or that close the
# connection (QUIT). They never take the fast path; the slow path refreshes
# ``special`` and looks at ``close_after_reply`` after every command it runs.
STATE_COMMANDS = frozenset({
    "multi", "exec", "discard", "reset", "auth", "hello", "subscribe", "psubscribe", "ssubscribe",
    "unsubscribe", "punsubscribe", "sunsubscribe", "quit",
})


# Commands that run other commands (scripts). Not recorded themselves: the commands
# they run are, as one unit (MULTI/EXEC), which the core hands on when the outer
# command ends (its depth back at 0), on the fast path as on the slow one.
NESTING_COMMANDS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})


@dataclass(slots=True, eq=False)
class Command:
    name: str
    handler: Handler | None
    arity: int
    flags: frozenset[str]
    # first key index, last key index (-1: the last argument), step; (0, 0, 0): no keys
    keys: tuple[int, int, int] = (0, 0, 0)
    group: str = "generic"
    summary: str = ""
    complexity: str = ""
    since: str = "1.0.0"
    container: str | None = None
    subcommands: dict[bytes, "Command"] = field(default_factory=dict)
    # argc bounds for the core's fast path (a container or a STATE_COMMANDS
    # command never takes it: max -1)
    min_argc: int = 0
    max_argc: int = -1
    # the "write" flag, read on every call: a success adds to the dirty counter
    write: bool = False
    # recorded for the AOF exactly as sent when it has at most this many arguments
    # (set by broker.propagate.mark_recorded_as_sent; 0: always through the propagator)
    sent_argc: int = 0
    # flags that depend on the arguments (Redis's getCommandFlags: a script's declared
    # flags for EVAL/FCALL, set by broker.commands.scripting); None: ``flags``
    flags_of: Callable[["Client", list[bytes]], frozenset[str]] | None = None
    # what a successful change adds to the dirty counter, when not 1 (HSET's pairs,
    # DEL's keys: set by broker.dirty); None: 1
    dirty_of: Callable[[list[bytes], Any], int] | None = None
    # INFO commandstats, LATENCY HISTOGRAM (Redis keeps them on its command structs too):
    # counting is one attribute increment on the command the core already holds. The
    # table is the process's, so these are the process's broker's (Broker() resets them).
    calls: int = 0
    # time spent in the command, in nanoseconds (see broker/cmdstats.py for how it is
    # measured: one clock reading per batch of pipelined requests)
    ns: int = 0
    rejected_calls: int = 0
    failed_calls: int = 0
    # latency-tracking: samples by power of two of nanoseconds (bucket b holds
    # durations below 2**b), None until the first sample
    histogram: list[int] | None = None
    # Redis's "fast" flag, read when a batch's time is shared out (broker/cmdstats.py)
    fast: bool = False

    def __post_init__(self) -> None:
        self.write = "write" in self.flags
        self.fast = "fast" in self.flags
        if self.handler is not None and (self.container or self.name not in STATE_COMMANDS):
            self.min_argc = self.arity if self.arity > 0 else -self.arity
            self.max_argc = self.arity if self.arity > 0 else 1 << 62

    @property
    def fullname(self) -> str:
        return f"{self.container}|{self.name}" if self.container else self.name


COMMANDS: dict[bytes, Command] = {}


def command(name: str, arity: int, flags: str = "", keys: tuple[int, int, int] = (0, 0, 0),
            group: str = "generic", summary: str = "", complexity: str = "",
            since: str = "1.0.0") -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of command ``name``.

    ``flags`` is a space-separated list of Redis command flags (``write readonly
    denyoom fast pubsub noauth noscript loading stale blocking``) plus ``subscribed``
    for commands allowed in RESP2 subscribed mode.
    """
    def register(handler: Handler) -> Handler:
        COMMANDS[name.lower().encode()] = Command(
            name.lower(), handler, arity, frozenset(flags.split()), keys, group, summary,
            complexity, since)
        return handler
    return register


def container(name: str, flags: str = "", group: str = "server", summary: str = "",
              since: str = "1.0.0") -> Command:
    """Register a container command whose subcommands are added with ``subcommand``."""
    cmd = Command(name.lower(), None, -2, frozenset(flags.split()), (0, 0, 0), group, summary,
                  "", since)
    COMMANDS[name.lower().encode()] = cmd
    return cmd


def subcommand(parent: Command, name: str, arity: int, flags: str = "",
               keys: tuple[int, int, int] = (0, 0, 0), summary: str = "",
               complexity: str = "", since: str = "1.0.0") -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        parent.subcommands[name.lower().encode()] = Command(
            name.lower(), handler, arity, frozenset(flags.split()) | parent.flags, keys,
            parent.group, summary, complexity, since, container=parent.name)
        return handler
    return register
