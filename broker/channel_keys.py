"""Where a channel's history and presence live, and how the gateway's own pub/sub
messages are marked: shared by the broker's FANOUT.* commands, their Lua twins on
Redis (``broker.backends``) and the gateway. Imports nothing, so a backend can use
it without loading the broker.

``{...}`` is a Redis Cluster hash tag: all keys of one channel live in one slot.
"""

from __future__ import annotations

__all__ = ["HISTORY_PREFIX", "JOIN_PREFIX", "LEAVE_PREFIX", "history_keys", "once_key", "presence_keys"]

# Envelopes: ``\x1eh<offset>:<epoch>:<data>`` for a message kept in history,
# ``\x1epj<first><meta>`` / ``\x1epl<last><meta>`` for a join / leave.
HISTORY_PREFIX = b"\x1eh"
JOIN_PREFIX = b"\x1epj"
LEAVE_PREFIX = b"\x1epl"


def history_keys(channel: bytes) -> tuple[bytes, bytes]:
    """``history:{<ch>}`` (the stream) and ``history:{<ch>}:meta`` (offset, epoch)."""
    stream = b"history:{" + channel + b"}"
    return stream, stream + b":meta"


def presence_keys(channel: bytes) -> tuple[bytes, bytes]:
    """``presence:{<ch>}`` (conn -> meta) and ``presence:{<ch>}:users`` (user -> count)."""
    members = b"presence:{" + channel + b"}"
    return members, members + b":users"


def once_key(channel: bytes, key: bytes) -> bytes:
    """``once:{<ch>}:<key>``: a publish with idempotency key ``key`` happened (FANOUT.ONCE)."""
    return b"once:{" + channel + b"}:" + key
