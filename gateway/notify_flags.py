"""Turn on the keyspace notification classes the gateway needs, never removing any.

Presence (expired node heartbeats: ``Ex``) and live views (``Kg$lhzxe``) both
read ``notify-keyspace-events`` and write it back with letters added; one lock per
backend keeps the two read-modify-writes from undoing each other over RESP.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from broker.backend import Backend, InProcess
from broker.resp import CommandError

__all__ = ["ensure_notify_flags", "merged_notify_flags"]

log = logging.getLogger("fanout.gateway")

# What "A" stands for in notify-keyspace-events (redis notify.c).
_ALL_CLASSES = "g$lshzxetd"
_locks: weakref.WeakKeyDictionary[Backend, asyncio.Lock] = weakref.WeakKeyDictionary()


def merged_notify_flags(current: str, needed: str) -> str | None:
    """``current`` plus the missing letters of ``needed``; None if nothing is missing."""
    have = set(current.replace("A", _ALL_CLASSES))
    missing = "".join(letter for letter in needed if letter not in have)
    return current + missing if missing else None


async def ensure_notify_flags(backend: Backend, needed: str, why: str, restore: bool = False) -> bool:
    """Add the letters of ``needed`` to the backend's notify-keyspace-events.

    Returns whether letters were missing (and added). ``restore``: they had been
    added before and someone removed them (``CONFIG SET notify-keyspace-events ""``),
    which is logged as a warning.
    """
    lock = _locks.get(backend)
    if lock is None:
        lock = _locks[backend] = asyncio.Lock()
    async with lock:
        try:
            reply = await backend.execute("CONFIG", "GET", "notify-keyspace-events")
            values = list(reply.values()) if isinstance(reply, dict) else reply[1::2]
            current = values[0].decode() if values else ""
            merged = merged_notify_flags(current, needed)
            if merged is not None:
                await backend.execute("CONFIG", "SET", "notify-keyspace-events", merged)
                if restore:
                    log.warning("notify-keyspace-events lost flags the gateway needs: restored %r -> %r "
                                "(for %s)", current, merged, why)
                else:
                    # A shared Redis's configuration changed: worth saying; the embedded broker's is ours.
                    level = logging.DEBUG if isinstance(backend, InProcess) else logging.INFO
                    log.log(level, "set the broker's notify-keyspace-events from %r to %r (for %s)", current,
                            merged, why)
                return True
        except CommandError as exc:  # e.g. CONFIG renamed away on a managed Redis
            log.warning("cannot check notify-keyspace-events (%s): %s needs %r", exc, why, needed)
        return False
