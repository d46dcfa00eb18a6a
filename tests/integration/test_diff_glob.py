"""Generated glob patterns on redis-server and on our broker: KEYS, SCAN MATCH,
PUBSUB CHANNELS and PSUBSCRIBE/PUBLISH must select the same names (issue 13, item 7).

Names and patterns come from a small alphabet with every special byte (``* ? [ ] ^
- \\``), an upper-case letter and bytes >= 0x80 (Redis compares range bounds as
signed chars), so sets, ranges, escapes and unterminated sets meet names they
match. Order is not compared where Redis's is its hash table's.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.resp_client import RespClient

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NAMES = st.lists(st.binary(max_size=5).map(lambda raw: bytes(b"ab[]-\\A\x80\xff*"[b % 10] for b in raw)),
                 min_size=1, max_size=12, unique=True)
_BYTES = b"ab*?[]^-\\!A\x80\xff"
# Whole tokens (sets, ranges in both orders and across 0x80, escapes) as well as
# single bytes, so well-formed and broken syntax both come up often.
_PIECES = st.one_of(
    st.sampled_from([bytes((b,)) for b in _BYTES]),
    st.tuples(st.sampled_from([b"", b"^"]), st.lists(st.sampled_from(list(_BYTES)), max_size=3),
              st.sampled_from([b"]", b""])).map(lambda t: b"[" + t[0] + bytes(t[1]) + t[2]),
    st.tuples(st.sampled_from(list(_BYTES)), st.sampled_from(list(_BYTES))).map(lambda t: b"[%c-%c]" % t),
    st.sampled_from(list(_BYTES)).map(lambda b: b"\\%c" % b),
)
PATTERNS = st.lists(st.lists(_PIECES, max_size=4).map(b"".join), min_size=1, max_size=6, unique=True)


def _keys_session(port: int, names: list[bytes], patterns: list[bytes]) -> list:
    with RespClient(port) as client:
        client.call("FLUSHALL")
        for name in names:
            client.call("SET", name, "v")
        seen = []
        for pattern in patterns:
            seen.append(sorted(client.call("KEYS", pattern)))
            found, cursor = [], b"0"
            while True:
                cursor, page = client.call("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
                found += page
                if cursor == b"0":
                    break
            seen.append(sorted(found))
        return seen


@SETTINGS
@given(NAMES, PATTERNS)
def test_keys_and_scan_select_like_redis(redis_server, fanout_broker, names, patterns):
    assert _keys_session(fanout_broker.port, names, patterns) == _keys_session(redis_server.port, names, patterns)


def _pubsub_session(port: int, names: list[bytes], patterns: list[bytes]) -> list:
    with RespClient(port) as sub, RespClient(port) as pub:
        sub.send("SUBSCRIBE", *names, b"\x00end")
        for _ in range(len(names) + 1):
            sub.read()
        sub.send("PSUBSCRIBE", *patterns)
        for _ in patterns:
            sub.read()
        seen = [[sorted(pub.call("PUBSUB", "CHANNELS", pattern)) for pattern in patterns]]
        for name in names:
            seen.append(pub.call("PUBLISH", name, "m"))
        pub.call("PUBLISH", b"\x00end", "done")
        got: dict[bytes, list[bytes]] = {}
        while True:  # read to the marker: nothing is waited for by time
            message = sub.read()
            if message[0] == b"message" and message[1] == b"\x00end":
                break
            if message[0] == b"pmessage":
                got.setdefault(message[2], []).append(message[1])
        seen.append(sorted((channel, sorted(matched)) for channel, matched in got.items()))
        return seen


@SETTINGS
@given(NAMES, PATTERNS)
def test_psubscribe_and_pubsub_channels_select_like_redis(redis_server, fanout_broker, names, patterns):
    assert _pubsub_session(fanout_broker.port, names, patterns) == _pubsub_session(redis_server.port, names, patterns)
