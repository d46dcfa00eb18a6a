"""What a command's handler (and ``Broker.execute``) returns besides a plain reply.

A leaf: the command modules, the scripting engine, CLIENT PAUSE and the core all
name these, and none of them has to import the core for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Blocked", "BLOCKED", "NO_REPLY", "Replies"]

Reply = Any


class Replies(list):  # type: ignore[type-arg]
    """Several top-level replies to one command (SUBSCRIBE a b c answers thrice)."""


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


# execute() result: the client is now blocked; its reply comes later via resume().
BLOCKED: Any = _Sentinel("BLOCKED")
# execute() result: nothing is to be written (CLIENT REPLY OFF/SKIP).
NO_REPLY: Any = _Sentinel("NO_REPLY")


@dataclass(slots=True, eq=False)
class Blocked:
    """Returned by a blocking command's handler when it has to wait.

    Attributes:
        keys: keys whose readiness may unblock the client.
        timeout_ms: relative timeout; 0 waits forever.
        retry: re-run the command; returns the reply, or None to keep waiting.
        timeout_reply: the reply when the timeout elapses.
        scan_all: a waiter that cannot be served does not stop the others behind
            it (XREAD/XREADGROUP: each waits for its own id or group, as Redis's
            serveClientsBlockedOnStreamKey walks every client); lists and sorted
            sets stop at the first, since an empty value serves nobody.
    """

    keys: list[bytes]
    timeout_ms: int
    retry: Callable[[], Reply]
    timeout_reply: Reply
    db: int = 0
    scan_all: bool = False
    # the blocking command as the client sent it (recorded in its non-blocking form)
    argv: list[bytes] = field(default_factory=list)
    # CLIENT PAUSE: the command held until the pause ends (see broker/pause.py)
    postponed: list[bytes] | None = None
