"""File descriptors shared fairly between a process's listening ports.

At the process's descriptor limit ``accept()`` fails for every port at once, so a
flood of connections on one port (2,000 half-sent HTTP requests, thousands of idle
RESP clients) would lock the others out. Each port asks ``FdBudget.admit`` before it
keeps a new connection: near the limit, a port holding more than its fair share is
refused (it answers and closes, which needs the descriptor only for a moment),
while a port under its share still gets in.
"""

from __future__ import annotations

import resource
from collections.abc import Callable

__all__ = ["FdBudget"]

# Descriptors the process holds besides client sockets (listeners, the event loop's
# epoll, log files, backplane links, sockets being accepted and refused).
BASE = 64
# Admits between two checks at most (a getrlimit system call and the ports' counts):
# a limit lowered at run time counts within this many connections.
REFRESH = 64


def _soft_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


class FdBudget:
    """Register each port's count of open connections; ``admit(port)`` decides."""

    def __init__(self, limit: Callable[[], int] = _soft_limit) -> None:
        self.limit = limit
        self.counts: dict[str, Callable[[], int]] = {}
        # Admits left that need no check: each admit adds at most one connection, so
        # after a check finds ``spare`` descriptors below the usable ones, that many
        # admits (up to REFRESH) are certain to be admitted.
        self.unchecked = 0

    def register(self, port: str, count: Callable[[], int]) -> None:
        self.counts[port] = count

    def admit(self, port: str) -> bool:
        """Whether ``port`` may keep one more connection.

        Returns True while the process is more than a reserve (1/32 of the limit,
        at least 16) below its limit, or while the port holds less than an equal
        share of the usable descriptors. The limit and the counts are read when
        the process may be near the limit, and every ``REFRESH`` admits besides,
        so a limit changed at run time counts soon.
        """
        self.unchecked -= 1
        if self.unchecked >= 0:
            return True
        limit = self.limit()
        usable = limit - max(16, limit // 32) - BASE
        used = 0
        for count in self.counts.values():
            used += count()
        if used < usable:
            self.unchecked = min(REFRESH, usable - used) - 1  # this admit is one of them
            return True
        return self.counts[port]() < usable // max(1, len(self.counts))
