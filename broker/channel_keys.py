"""Where a channel's history and presence live, and how the gateway's own pub/sub
messages are marked: shared by the broker's FANOUT.* commands, their Lua twins on
Redis (``broker.backends``) and the gateway. Imports nothing of the broker, so a
backend can use it without loading the broker.

``{...}`` is a Redis Cluster hash tag: all keys of one channel live in one slot.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ENVELOPE_MARK", "HISTORY_PREFIX", "JOIN_PREFIX", "LEAVE_PREFIX", "HistoryEnvelope", "PresenceEnvelope",
           "history_envelope", "history_keys", "once_key", "parse_envelope", "presence_envelope", "presence_keys"]

# Envelopes: ``\x1eh<offset>:<epoch>:<data>`` for a message kept in history,
# ``\x1epj<first><meta>`` / ``\x1epl<last><meta>`` for a join / leave (<first> and
# <last>: "1" when it is the user's first / last connection on the channel, else "0").
# The Lua twins in broker/backends/scripts.py write the same bytes.
ENVELOPE_MARK = b"\x1e"  # ASCII record separator: no JSON text starts with it
HISTORY_PREFIX = ENVELOPE_MARK + b"h"
JOIN_PREFIX = ENVELOPE_MARK + b"pj"
LEAVE_PREFIX = ENVELOPE_MARK + b"pl"


class HistoryEnvelope(NamedTuple):
    """A message kept in history: its offset and epoch, and the data as published."""

    offset: int
    epoch: bytes
    data: bytes


class PresenceEnvelope(NamedTuple):
    """A join (``join`` True) or a leave; ``edge``: the user's first connection on the
    channel joined, or its last one left; ``meta``: the connection's JSON meta."""

    join: bool
    edge: bool
    meta: bytes


def history_envelope(offset: int, epoch: bytes, data: bytes) -> bytes:
    """``\x1eh<offset>:<epoch>:<data>`` (read by ``parse_envelope``)."""
    return HISTORY_PREFIX + b"%d:%s:" % (offset, epoch) + data


def presence_envelope(join: bool, edge: bool, meta: bytes) -> bytes:
    """``\x1epj<first><meta>`` or ``\x1epl<last><meta>`` (read by ``parse_envelope``)."""
    return (JOIN_PREFIX if join else LEAVE_PREFIX) + (b"1" if edge else b"0") + meta


def parse_envelope(data: bytes) -> HistoryEnvelope | PresenceEnvelope | None:
    """The envelope a message published on a channel carries; None for a message
    that does not start with ``ENVELOPE_MARK`` or a malformed envelope (not ours
    after all: the gateway drops it rather than deliver it half-parsed).

    An epoch never holds a colon (it is digits), so the data after the second
    colon is the payload whatever it holds.
    """
    if data[:2] == HISTORY_PREFIX:
        try:
            offset_text, epoch, payload = data[2:].split(b":", 2)
            return HistoryEnvelope(int(offset_text), epoch, payload)
        except ValueError:
            return None
    prefix = data[:3]
    if (prefix == JOIN_PREFIX or prefix == LEAVE_PREFIX) and len(data) >= 4:
        return PresenceEnvelope(prefix == JOIN_PREFIX, data[3:4] == b"1", data[4:])
    return None


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
