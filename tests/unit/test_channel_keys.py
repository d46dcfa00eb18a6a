"""broker/channel_keys.py: the envelope's writer and its reader, round trip (issue #16)."""

from __future__ import annotations

import pytest

from broker.channel_keys import (
    HistoryEnvelope,
    PresenceEnvelope,
    history_envelope,
    parse_envelope,
    presence_envelope,
)


@pytest.mark.parametrize("offset, epoch, data", [
    (1, b"1700000000000000", b'"hi"'),
    (2**63 - 2, b"1764598123456789", b'{"a":"b:c:d"}'),  # colons in the data stay in the data
    (7, b"1", b""),
])
def test_history_round_trip(offset, epoch, data):
    written = history_envelope(offset, epoch, data)
    assert written == b"\x1eh%d:%s:" % (offset, epoch) + data  # the bytes RESP subscribers see (README)
    assert parse_envelope(written) == HistoryEnvelope(offset, epoch, data)


@pytest.mark.parametrize("join, edge", [(True, True), (True, False), (False, True), (False, False)])
def test_presence_round_trip(join, edge):
    meta = b'{"user":"alice","conn":"n1-3"}'
    written = presence_envelope(join, edge, meta)
    assert written[:4] == (b"\x1epj" if join else b"\x1epl") + (b"1" if edge else b"0")
    assert parse_envelope(written) == PresenceEnvelope(join, edge, meta)


@pytest.mark.parametrize("data", [
    b'{"plain":"json"}', b"", b"\x1e", b"\x1eh", b"\x1ehx:1:data", b"\x1eh12:only-one-colon",
    b"\x1ep", b"\x1epj", b"\x1epx1{}", b"\x1ez",
])
def test_not_an_envelope_or_malformed(data):
    assert parse_envelope(data) is None
