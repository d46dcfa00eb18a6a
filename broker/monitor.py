"""MONITOR: each command the server runs, as one line to every monitoring client (sans-I/O).

After Redis 7.0's ``replicationFeedMonitors`` (``replication.c``) and where
``call()`` feeds it (``server.c``): a command is shown after it ran, so SELECT
shows the db it selected and the queued commands of a MULTI come between
``"multi"`` and ``"exec"``; EVAL/EVALSHA/FCALL (flagged ``skip_monitor``) show
themselves before they run, so their script's commands (``[0 lua]``) follow
them. Commands flagged ``admin`` (CONFIG, CLIENT LIST, DEBUG, MONITOR ...) are
never shown; nor are commands refused before running (unknown, wrong arity,
NOAUTH, queued in MULTI). Passwords are shown as ``"(redacted)"``.

The line, a RESP simple string in both protocols::

    +1700000000.123456 [0 127.0.0.1:50000] "set" "k" "v"

Costs: nothing while no one monitors. While someone does, every command takes
the core's slow path (``Broker.refresh_gate``) and each one shown is formatted
once, O(argument bytes), and queued to each monitor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.pubsub import Message
from broker.resp import CommandError, Simple

if TYPE_CHECKING:
    from broker.client import Client
    from broker.core import Broker
    from broker.table import Command

__all__ = ["Monitors", "arg_repr"]

# sdscatrepr: \\ and " escaped, \n \r \t \a \b by name, other bytes outside
# 0x20-0x7e (C isprint) as \xhh.
_REPR = [b"\\x%02x" % i if not 32 <= i < 127 else bytes([i]) for i in range(256)]
for _byte, _text in ((0x5C, b"\\\\"), (0x22, b'\\"'), (0x0A, b"\\n"), (0x0D, b"\\r"), (0x09, b"\\t"),
                     (0x07, b"\\a"), (0x08, b"\\b")):
    _REPR[_byte] = _text
_PLAIN = frozenset(range(32, 127)) - {0x5C, 0x22}
REDACTED = b"(redacted)"
# What a monitoring client may not run: commands that touch the keyspace (Redis
# refuses them to any replica, and a monitor is one).
_REFUSAL = "ERR Replica can't interact with the keyspace"
# Redis's MAY_REPLICATE commands that the table does not flag so (PUBLISH propagates
# to replicas; EVAL/EVALSHA/FCALL carry the flag in the table)
_MAY_REPLICATE = frozenset({"publish", "spublish", "pfcount"})


def arg_repr(arg: bytes) -> bytes:
    """One argument quoted as ``sdscatrepr`` quotes it."""
    if _PLAIN.issuperset(arg):
        return b'"' + arg + b'"'
    return b'"' + b"".join([_REPR[byte] for byte in arg]) + b'"'


class _Line(Message):
    """A monitor line, delivered like a pub/sub message (the same bytes in RESP2 and 3)."""

    __slots__ = ()

    def __init__(self, wire: bytes) -> None:
        super().__init__(b"monitor", b"", b"")
        self.frame2 = self.frame3 = wire


class Monitors:
    """The clients in MONITOR mode, in the order they started, and their feed."""

    def __init__(self, broker: "Broker") -> None:
        self.broker = broker
        self.clients: dict["Client", None] = {}
        # lines of a monitor's own command, written after its reply (Broker._execute_slow)
        self.own: list[Simple] = []

    def add(self, client: "Client") -> None:
        self.clients[client] = None
        self.broker.refresh_gate()  # every command now takes the slow path, through call()

    def remove(self, client: "Client") -> None:
        if client in self.clients:
            del self.clients[client]
            self.broker.refresh_gate()

    def refuse(self, cmd: "Command") -> None:
        """A monitoring client's command that would touch the keyspace is refused."""
        if cmd.write or "readonly" in cmd.flags or "may_replicate" in cmd.flags or cmd.name in _MAY_REPLICATE:
            raise CommandError(_REFUSAL)

    def shown(self, cmd: "Command") -> bool:
        """Whether ``call`` feeds ``cmd`` after it ran (skip_monitor ones feed first)."""
        return "admin" not in cmd.flags and "skip_monitor" not in cmd.flags

    def feed(self, client: "Client", argv: list[bytes], script: bool = False) -> None:
        """One line for ``argv``, run by ``client`` (a script's command if ``script``)."""
        if self.broker.loading_refusal is not None:
            return  # what loading replays is not shown, as in Redis
        now = self.broker.clock()
        seconds = int(now)
        micros = int(round((now - seconds) * 1_000_000))
        if micros >= 1_000_000:
            seconds, micros = seconds + 1, micros - 1_000_000
        line = b"+%d.%06d [%d %s] %s\r\n" % (
            seconds, micros, client.db.index, self._source(client, script),
            b" ".join([arg_repr(arg) for arg in _redacted(argv)]))
        message = _Line(line)
        for monitor in list(self.clients):
            if monitor is client:
                # its own command: the line follows the command's reply, as in Redis
                self.own.append(Simple(line[1:-2].decode("ascii")))
            else:
                monitor.deliver(message)

    def _source(self, client: "Client", script: bool) -> bytes:
        if script:
            return b"lua"
        if client.unix:
            return b"unix:" + client.laddr[:-2].encode()  # laddr is "<path>:0"
        return client.addr.encode()


def _redacted(argv: list[bytes]) -> list[bytes]:
    """``argv`` with its passwords replaced, where Redis's commands redact them
    (``redactClientCommandArgument``): AUTH's arguments, HELLO's AUTH pair."""
    name = argv[0].lower()
    if name == b"auth" and len(argv) <= 3:
        return [argv[0]] + [REDACTED] * (len(argv) - 1)
    if name == b"hello" and len(argv) > 2 and argv[1] in (b"2", b"3"):
        shown = list(argv)
        i = 2
        while i < len(argv):
            option = argv[i].lower()
            if option == b"auth" and len(argv) - i - 1 >= 2:
                shown[i + 1] = shown[i + 2] = REDACTED
                i += 3
            elif option == b"setname" and len(argv) - i - 1 >= 1:
                i += 2
            else:
                break  # HELLO stops at a syntax error: what follows was never read
        return shown
    return argv
