"""CLIENT PAUSE (sans-I/O): while a pause lasts, commands that would write (or, with
ALL, every command) wait, as Redis 7.0's ``BLOCKED_POSTPONE`` clients do, and run in
the order they came once the pause ends or is lifted.

The broker's own in-process clients (the gateway's, ``pause_exempt``) are not
paused, as Redis never pauses its replicas: pausing the process's own websocket
publishes would stall every browser, not one backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from broker.results import BLOCKED, NO_REPLY, Blocked

if TYPE_CHECKING:
    from broker.client import Client
    from broker.core import Broker
    from broker.table import Command

__all__ = ["ClientPause", "OFF", "WRITE", "ALL"]

OFF, WRITE, ALL = 0, 1, 2
# Commands Redis 7.0 flags MAY_REPLICATE besides the write commands: they feed the
# replication stream, so a WRITE pause holds them too.
_MAY_REPLICATE = frozenset({"eval", "evalsha", "fcall", "pfcount", "publish", "spublish"})


def may_replicate(cmd: "Command", client: "Client", argv: list[bytes]) -> bool:
    """Whether Redis's processCommand sees ``cmd`` as write or may-replicate: a script
    that declares flags (a shebang, a function) writes only without ``no-writes``
    (scriptFlagsToCmdFlags drops may-replicate then); EXEC as its queued commands."""
    if cmd.flags_of is not None:
        flags = cmd.flags_of(client, argv)
        if flags is not cmd.flags:  # declared: they say whether it writes
            return "write" in flags
    if cmd.write or cmd.name in _MAY_REPLICATE:
        return True
    if cmd.name == "exec" and client.multi:
        return any(may_replicate(queued, client, queued_argv) for queued, queued_argv in client.multi)
    return False


class ClientPause:
    """The pause state of one broker and the clients it holds."""

    def __init__(self, broker: "Broker") -> None:
        self.broker = broker
        self.kind = OFF
        # absolute end in ms; a pause lasts while end >= now, as in Redis
        self.end_ms = 0
        self.postponed: list["Client"] = []

    @property
    def active(self) -> bool:
        return self.kind != OFF

    def pause(self, end_ms: int, kind: int) -> None:
        """CLIENT PAUSE: the stricter kind and the later end of this and any pause on."""
        if self.active:
            self.kind, self.end_ms = max(self.kind, kind), max(self.end_ms, end_ms)
        else:
            self.kind, self.end_ms = kind, end_ms
        self.broker.refresh_gate()

    def unpause(self) -> None:
        """CLIENT UNPAUSE."""
        if self.active:
            self.kind, self.end_ms = OFF, 0
            self.broker.refresh_gate()
            self._release()

    def check(self, now_ms: int) -> None:
        """End a pause whose time is up (the cron and the postponed clients' timers)."""
        if self.active and self.end_ms < now_ms:
            self.unpause()

    def holds(self, client: "Client", cmd: "Command", argv: list[bytes]) -> bool:
        """Whether ``cmd`` from ``client`` must wait (checked on the slow path only)."""
        if getattr(client, "pause_exempt", False):
            return False
        self.check(self.broker.now_ms)
        return self.kind == ALL or (self.kind == WRITE and may_replicate(cmd, client, argv))

    def postpone(self, client: "Client", argv: list[bytes]) -> "Blocked":
        self.postponed.append(client)
        # The timer wakes the client when the pause runs out (timeout_blocked checks it).
        wait = max(self.end_ms - self.broker.now_ms + 1, 1)
        return Blocked(keys=[], timeout_ms=wait, retry=_never, timeout_reply=None, postponed=argv)

    def forget(self, client: "Client") -> None:
        if client in self.postponed:
            self.postponed.remove(client)

    def _release(self) -> None:
        """Run the postponed commands in the order they came (each may block again)."""
        waiting, self.postponed = self.postponed, []
        for client in waiting:
            blocked = client.blocked
            if blocked is None or blocked.postponed is None or client.closed:
                continue
            client.blocked = None
            reply = self.broker.execute(client, blocked.postponed)
            if reply is not BLOCKED and reply is not NO_REPLY:
                client.resume(reply)


def _never() -> Any:
    return None
