"""A stream entry's id, (milliseconds, sequence), as Redis's ``streamID``, and its
text form.

A leaf: ``broker.stream`` (entries) and ``broker.stream_groups`` (consumer groups,
whose pending lists are keyed by id) both name it, and a stream holds its groups.
"""

from __future__ import annotations

__all__ = ["MAX_SEQ", "StreamId", "format_id"]

StreamId = tuple[int, int]
MAX_SEQ = 2**64 - 1


def format_id(stream_id: StreamId) -> bytes:
    return b"%d-%d" % stream_id
