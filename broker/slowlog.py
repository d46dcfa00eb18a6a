"""The slow log (sans-I/O): commands that ran longer than ``slowlog-log-slower-than``.

After Redis's ``slowlog.c``: newest entry first, at most ``slowlog-max-len``
entries, each one (id, unix time, microseconds, argv, client address, client name),
argv cut to 32 arguments and each argument to 128 bytes the way Redis cuts them,
and passwords replaced by ``(redacted)`` (Redis's ``redactClientCommandArgument``
callers: AUTH, HELLO AUTH, ACL SETUSER, CONFIG SET of a sensitive parameter,
MIGRATE AUTH/AUTH2).
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["SlowLog", "MAX_ARGC", "MAX_STRING", "redacted"]

# SLOWLOG_ENTRY_MAX_ARGC, SLOWLOG_ENTRY_MAX_STRING (slowlog.h)
MAX_ARGC = 32
MAX_STRING = 128
_REDACTED = b"(redacted)"
# CONFIG SET parameters flagged SENSITIVE_CONFIG in Redis 7.0's config.c
_SENSITIVE = frozenset({b"masterauth", b"requirepass"})


def redacted(argv: list[bytes]) -> list[bytes]:
    """``argv`` with its secrets replaced, as the commands themselves redact them
    before Redis logs them (the slow log, and the same rule serves anything else
    that shows a command line)."""
    name = argv[0].lower()
    if name == b"auth":
        return argv[:1] + [_REDACTED] * (len(argv) - 1)
    if name == b"hello":
        out = list(argv)
        for index in range(2, len(argv)):
            if argv[index].lower() == b"auth" and index + 2 < len(argv):
                out[index + 1] = out[index + 2] = _REDACTED
                break
        return out
    if name == b"acl" and len(argv) > 2 and argv[1].lower() == b"setuser":
        return argv[:2] + [_REDACTED] * (len(argv) - 2)
    if name == b"config" and len(argv) > 3 and argv[1].lower() == b"set":
        out = list(argv)
        for index in range(2, len(argv) - 1, 2):
            if argv[index].lower() in _SENSITIVE:
                out[index + 1] = _REDACTED
        return out
    if name == b"migrate":
        out = list(argv)
        for index in range(6, len(argv)):
            option = argv[index].lower()
            if option == b"keys":
                break
            if option == b"auth" and index + 1 < len(argv):
                out[index + 1] = _REDACTED
                break
            if option == b"auth2" and index + 2 < len(argv):
                out[index + 1] = out[index + 2] = _REDACTED
                break
        return out
    return argv


def _entry_argv(argv: list[bytes]) -> list[bytes]:
    """slowlogCreateEntry: at most 32 arguments, the last saying how many more there
    were; an argument over 128 bytes cut, saying how many bytes more."""
    argc = len(argv)
    kept = min(argc, MAX_ARGC)
    out = []
    for index in range(kept):
        if kept != argc and index == kept - 1:
            out.append(b"... (%d more arguments)" % (argc - kept + 1))
            break
        arg = argv[index]
        if len(arg) > MAX_STRING:
            arg = arg[:MAX_STRING] + b"... (%d more bytes)" % (len(arg) - MAX_STRING)
        out.append(arg)
    return out


class SlowLog:
    """Newest first; ``push`` trims to ``max_len`` as ``slowlogPushEntryIfNeeded`` does."""

    def __init__(self) -> None:
        self.entries: deque[list[Any]] = deque()
        self.next_id = 0
        # slowlog-log-slower-than in microseconds (negative: off), slowlog-max-len
        self.slower_than = 10_000
        self.max_len = 128

    def push(self, argv: list[bytes], duration_us: int, now_s: int, addr: str, name: bytes) -> None:
        """Log a command that took ``duration_us`` if that is slow enough."""
        if self.slower_than < 0:
            return
        if duration_us >= self.slower_than:
            self.entries.appendleft([self.next_id, now_s, duration_us, _entry_argv(redacted(argv)),
                                     addr.encode(), name])
            self.next_id += 1
        while len(self.entries) > self.max_len:
            self.entries.pop()

    def trim(self) -> None:
        """A lowered slowlog-max-len applies at the next command logged, as in Redis;
        this is for callers that want it at once."""
        while len(self.entries) > self.max_len:
            self.entries.pop()

    def get(self, count: int) -> list[list[Any]]:
        """SLOWLOG GET count (-1: all)."""
        entries = self.entries if count < 0 else list(self.entries)[:count]
        return [list(entry) for entry in entries]

    def reset(self) -> None:
        self.entries.clear()
