"""Client-side caching (CLIENT TRACKING ...) compared byte for byte with a real redis-server:
replies, errors, and the invalidations each connection receives, RESP2 and RESP3 (issue #18)."""

from __future__ import annotations

from typing import Any, Sequence

import pytest

from tests.support.differential import assert_same_replies
from tests.support.resp_client import RespClient, client_flags, wait_until
from tests.support.transcript import transcript

Script = Sequence[tuple[str, list[Any]]]


def _assert_same(redis_port: int, fanout_port: int, names: list[str], script: Script) -> None:
    expected = transcript(redis_port, names, script)
    actual = transcript(fanout_port, names, script)
    for (step, want), (_, got) in zip(expected, actual):
        assert got == want, f"after {step!r}:\n  redis-server: {want!r}\n  fanout:       {got!r}"


RESP3_DEFAULT = [
    ("a", ["HELLO", "3"]),
    ("a", ["CLIENT", "TRACKING", "ON"]),
    ("b", ["SET", "k", "v"]),
    ("a", ["GET", "k"]),
    ("b", ["SET", "k", "v2"]),           # -> a: >2 invalidate [k]
    ("b", ["SET", "k", "v3"]),           # forgotten after the first: nothing
    ("a", ["MGET", "k", "k2", "k3"]),
    ("b", ["DEL", "k", "k2"]),           # one push per key
    ("a", ["GET", "k3"]),
    ("a", ["SET", "k3", "mine"]),        # its own write: the push follows the reply
    ("a", ["HSET", "h", "f", "1"]),
    ("a", ["HGET", "h", "f"]),
    ("a", ["HDEL", "h", "f"]),
    ("a", ["MSET", "x", "1", "y", "2"]),
    ("a", ["GET", "x"]),
    ("a", ["GET", "y"]),
    ("a", ["MULTI"]),
    ("a", ["INCR", "x"]),
    ("a", ["GET", "y"]),
    ("a", ["INCR", "y"]),
    ("a", ["EXEC"]),                     # the pushes come after the whole EXEC reply
    ("a", ["GET", "x"]),
    ("b", ["PFADD", "hll", "a", "b"]),
    ("a", ["GET", "hll"]),
    ("b", ["PFCOUNT", "hll"]),           # a read that stores the count in the value
    ("a", ["XLEN", "st"]),
    ("b", ["XGROUP", "CREATE", "st", "g", "$", "MKSTREAM"]),
    ("b", ["FLUSHALL"]),                 # -> a: >2 invalidate _
    ("a", ["GET", "x"]),
    ("a", ["FLUSHDB"]),                  # its own flush: +OK then the null push
    ("a", ["CLIENT", "TRACKINGINFO"]),
    ("a", ["CLIENT", "GETREDIR"]),
    ("a", ["SCARD", "s"]),
    ("b", ["SADD", "s", "m"]),           # reads of a missing key are tracked too
    ("a", ["EXISTS", "e1", "e2"]),
    ("a", ["TYPE", "t"]),
    ("b", ["MSET", "e2", "1", "t", "1", "e1", "1"]),
    ("a", ["CLIENT", "REPLY", "OFF"]),
    ("a", ["GET", "quiet"]),
    ("b", ["SET", "quiet", "1"]),        # pushes are sent whatever CLIENT REPLY says
    ("a", ["CLIENT", "REPLY", "ON"]),
    ("b", ["RPUSH", "dst", "a"]),
    ("a", ["LRANGE", "dst", "0", "-1"]),
    ("a", ["<send>", "BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]),
    ("b", ["RPUSH", "src", "x"]),        # a is served: its reply, then the push for dst
    ("a", ["CLIENT", "TRACKING", "OFF"]),
    ("a", ["CLIENT", "TRACKINGINFO"]),
    ("a", ["CLIENT", "GETREDIR"]),
]


def test_resp3_default_mode_invalidations(redis_server, fanout_broker) -> None:
    _assert_same(redis_server.port, fanout_broker.port, ["a", "b"], RESP3_DEFAULT)


RESP2_REDIRECT = [
    ("r", ["SUBSCRIBE", "__redis__:invalidate"]),
    ("a", ["CLIENT", "TRACKING", "ON", "REDIRECT", "{r}"]),
    ("a", ["CLIENT", "GETREDIR"]),
    ("a", ["CLIENT", "TRACKINGINFO"]),
    ("b", ["SET", "k", "1"]),
    ("a", ["GET", "k"]),
    ("a", ["INCR", "k"]),                # -> r: message __redis__:invalidate [k]
    ("a", ["GET", "k"]),
    ("a", ["GET", "other"]),
    ("b", ["APPEND", "k", "x"]),
    ("b", ["FLUSHALL"]),                 # -> r: message __redis__:invalidate $-1
    ("a", ["HELLO", "3"]),
    ("a", ["GET", "k"]),
    ("b", ["SET", "k", "2"]),            # a in RESP3 now: r still gets it (a message)
    ("a", ["GET", "k"]),
    ("b", ["FLUSHDB"]),                  # the null follows a's protocol: _ in a message
    ("a", ["HELLO", "2"]),
    ("a", ["GET", "k"]),
    ("r", ["UNSUBSCRIBE"]),
    ("b", ["SET", "k", "3"]),            # r is no longer in pub/sub mode: nothing
    ("r", ["HELLO", "3"]),
    ("a", ["GET", "k"]),
    ("b", ["SET", "k", "4"]),            # a RESP3 redirect client gets the push
    ("a", ["CLIENT", "TRACKING", "OFF"]),
]


def test_resp2_redirect_to_subscribed_client(redis_server, fanout_broker) -> None:
    _assert_same(redis_server.port, fanout_broker.port, ["r", "a", "b"], RESP2_REDIRECT)


REDIRECT_BROKEN = [
    ("a", ["HELLO", "3"]),
    ("a", ["CLIENT", "TRACKING", "ON", "REDIRECT", "{r}"]),
    ("a", ["GET", "k"]),
    ("a", ["GET", "k2"]),
    ("r", ["<close>"]),
    ("b", ["SET", "k", "1"]),            # -> a: >2 tracking-redir-broken <r>
    ("a", ["CLIENT", "TRACKINGINFO"]),
    ("a", ["CLIENT", "GETREDIR"]),
    ("b", ["SET", "k2", "1"]),
    ("a", ["HELLO", "2"]),
    ("a", ["GET", "k"]),
    ("b", ["SET", "k", "2"]),            # RESP2: broken, and nothing to say so
    ("a", ["CLIENT", "TRACKINGINFO"]),
    ("a", ["CLIENT", "TRACKING", "ON", "REDIRECT", "{r}"]),  # gone: refused
    ("a", ["CLIENT", "TRACKING", "OFF"]),
]


def test_redirect_client_going_away(redis_server, fanout_broker) -> None:
    _assert_same(redis_server.port, fanout_broker.port, ["r", "a", "b"], REDIRECT_BROKEN)


BCAST = [
    ("a", ["HELLO", "3"]),
    ("a", ["CLIENT", "TRACKING", "ON", "BCAST"]),
    ("b", ["MSET", "c", "1", "a", "2", "b", "3"]),   # one message, keys sorted
    ("a", ["SET", "mine", "1"]),                     # no NOLOOP: a hears its own
    ("a", ["CLIENT", "TRACKINGINFO"]),
    ("a", ["CLIENT", "TRACKING", "OFF"]),
    ("a", ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "feed:", "NOLOOP"]),
    ("a", ["CLIENT", "TRACKINGINFO"]),
    ("a", ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "item:"]),  # adds a prefix, drops NOLOOP
    ("a", ["CLIENT", "TRACKINGINFO"]),
    ("a", ["CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP"]),  # '' joins them: only given ones are checked
    ("a", ["CLIENT", "TRACKINGINFO"]),
    ("b", ["MULTI"]),
    ("b", ["SET", "user:2", "x"]),
    ("b", ["SET", "feed:1", "x"]),
    ("b", ["SET", "user:1", "x"]),
    ("b", ["SET", "other", "x"]),
    ("b", ["SET", "item:9", "x"]),
    ("b", ["EXEC"]),                                 # one message per prefix, in byte order
    ("a", ["SET", "user:3", "x"]),                   # told of its own change
    ("a", ["CLIENT", "TRACKING", "OFF"]),
    ("a", ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "NOLOOP"]),
    ("a", ["SET", "user:3", "y"]),                   # NOLOOP: not told of its own change
    ("a", ["EVAL", "redis.call('set', 'user:6', '1')", "0"]),  # ... but of its script's
    ("a", ["MSET", "user:4", "x", "user:5", "y"]),
    ("b", ["SET", "user:4", "z"]),
    ("b", ["FLUSHALL"]),                             # BCAST clients get the null too
    ("a", ["CLIENT", "TRACKING", "OFF"]),
    ("r", ["SUBSCRIBE", "__redis__:invalidate"]),
    ("a", ["CLIENT", "TRACKING", "ON", "BCAST", "REDIRECT", "{r}", "PREFIX", "p"]),
    ("b", ["SET", "p1", "1"]),
    ("b", ["SET", "q1", "1"]),
    ("b", ["DEL", "p1", "q1"]),
    ("a", ["CLIENT", "TRACKING", "OFF"]),
]


def test_bcast_prefixes_and_noloop(redis_server, fanout_broker) -> None:
    _assert_same(redis_server.port, fanout_broker.port, ["r", "a", "b"], BCAST)


OPTIN_OPTOUT = [
    ("a", ["HELLO", "3"]),
    ("a", ["CLIENT", "TRACKING", "ON", "OPTIN"]),
    ("a", ["GET", "k1"]),                # not cached: no CLIENT CACHING YES
    ("a", ["CLIENT", "CACHING", "YES"]),
    ("a", ["CLIENT", "TRACKINGINFO"]),   # caching-yes
    ("a", ["GET", "k2"]),                # tracked
    ("a", ["GET", "k3"]),                # YES lasted one command
    ("b", ["MSET", "k1", "1", "k2", "2", "k3", "3"]),
    ("a", ["CLIENT", "CACHING", "YES"]),
    ("a", ["MULTI"]),
    ("a", ["GET", "m1"]),
    ("a", ["GET", "m2"]),
    ("a", ["EXEC"]),                     # ... or one transaction
    ("a", ["GET", "m3"]),
    ("b", ["MSET", "m1", "1", "m2", "2", "m3", "3"]),
    ("a", ["CLIENT", "CACHING", "NO"]),
    ("a", ["CLIENT", "TRACKING", "ON", "OPTOUT"]),
    ("a", ["CLIENT", "TRACKING", "OFF"]),
    ("a", ["CLIENT", "CACHING", "YES"]),
    ("a", ["CLIENT", "TRACKING", "ON", "OPTOUT"]),
    ("a", ["GET", "o1"]),                # tracked by default
    ("a", ["CLIENT", "CACHING", "NO"]),
    ("a", ["CLIENT", "TRACKINGINFO"]),   # caching-no
    ("a", ["GET", "o2"]),                # not this one
    ("b", ["MSET", "o1", "1", "o2", "2"]),
    ("a", ["CLIENT", "CACHING", "YES"]),
    ("a", ["CLIENT", "CACHING", "maybe"]),
    ("a", ["CLIENT", "TRACKING", "ON", "OPTIN"]),
    ("a", ["CLIENT", "TRACKING", "OFF"]),
]


def test_optin_optout_and_caching(redis_server, fanout_broker) -> None:
    _assert_same(redis_server.port, fanout_broker.port, ["a", "b"], OPTIN_OPTOUT)


SCRIPTS_AND_EXPIRY = [
    ("a", ["HELLO", "3"]),
    ("a", ["CLIENT", "TRACKING", "ON"]),
    ("a", ["EVAL", "redis.call('set', 'k3', 'bar')", "2", "k1", "k2"]),   # no read: nothing tracked
    ("b", ["MSET", "k1", "2", "k2", "2"]),
    ("a", ["EVAL", "redis.call('get', 'k3')", "2", "k1", "k2"]),          # a read: the declared keys
    ("b", ["MSET", "k2", "3", "k1", "3"]),
    ("a", ["EVAL_RO", "redis.call('ping')", "2", "k1", "k2"]),
    ("b", ["MSET", "k2", "4", "k1", "4"]),
    ("a", ["EVAL_RO", "return redis.call('get', 'k1')", "1", "k1"]),
    ("b", ["SET", "k1", "5"]),
    ("a", ["EVAL", "return redis.call('set', 'k1', '6')", "1", "k1"]),    # a script's write
    ("a", ["GET", "k1"]),
    ("a", ["EVAL", "return redis.call('set', 'k1', '7')", "1", "k1"]),    # ... after its reply
    ("a", ["GET", "blocked"]),
    ("a", ["CLIENT", "TRACKING", "ON", "NOLOOP"]),
    ("a", ["GET", "k1"]),
    ("a", ["SET", "k1", "8"]),           # NOLOOP: its own write is not reported
    ("a", ["GET", "k1"]),
    ("b", ["SET", "k1", "9"]),
    ("a", ["CLIENT", "TRACKING", "OFF"]),
]


def test_scripts_and_noloop(redis_server, fanout_broker) -> None:
    _assert_same(redis_server.port, fanout_broker.port, ["a", "b"], SCRIPTS_AND_EXPIRY)


ERRORS = [
    ["CLIENT", "TRACKING"],
    ["CLIENT", "TRACKING", "maybe"],
    ["CLIENT", "TRACKING", "ON", "REDIRECT"],
    ["CLIENT", "TRACKING", "ON", "REDIRECT", "notanumber"],
    ["CLIENT", "TRACKING", "ON", "REDIRECT", "0"],
    ["CLIENT", "TRACKING", "ON", "REDIRECT", "999999999"],
    ["CLIENT", "TRACKING", "ON", "PREFIX"],
    ["CLIENT", "TRACKING", "ON", "PREFIX", "a"],
    ["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"],
    ["CLIENT", "TRACKING", "ON", "BCAST", "OPTOUT"],
    ["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"],
    ["CLIENT", "TRACKING", "ON", "WHAT"],
    ["CLIENT", "TRACKING", "OFF", "WHAT"],
    ["CLIENT", "TRACKING", "maybe", "BCAST"],
    ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "FOOBAR", "PREFIX", "FOO"],
    ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "FOO", "PREFIX", "FOOBAR"],
    ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "FOO", "PREFIX", "BAR"],
    ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "FO"],
    ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "BARB"],
    ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "BAR"],
    ["CLIENT", "TRACKING", "ON"],
    ["CLIENT", "TRACKINGINFO"],
    ["CLIENT", "TRACKING", "OFF"],
    ["CLIENT", "TRACKING", "OFF"],
    ["CLIENT", "TRACKING", "ON"],
    ["CLIENT", "TRACKING", "ON", "BCAST"],
    ["CLIENT", "CACHING", "YES"],
    ["CLIENT", "CACHING", "NO"],
    ["CLIENT", "TRACKING", "ON", "OPTIN"],
    ["CLIENT", "TRACKING", "ON", "OPTOUT"],
    ["CLIENT", "CACHING", "NO"],
    ["CLIENT", "CACHING"],
    ["CLIENT", "CACHING", "YES", "extra"],
    ["CLIENT", "GETREDIR", "extra"],
    ["CLIENT", "TRACKINGINFO", "extra"],
    ["CLIENT", "TRACKING", "OFF"],
    ["CLIENT", "CACHING", "YES"],
    ["CLIENT", "TRACKING", "ON", "REDIRECT", "1", "REDIRECT", "2"],
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_errors_for_bad_combinations(redis_server, fanout_broker, protocol: int) -> None:
    assert_same_replies(redis_server.port, fanout_broker.port, ERRORS, protocol=protocol)


def test_overlapping_prefixes_past_the_first_answer_twice(redis_server, fanout_broker) -> None:
    """Redis's checkPrefixCollisionsOrReply returns the index of a later prefix that
    overlaps, which reads as success: the error and then +OK, tracking on."""
    script = [
        ("a", ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "A", "PREFIX", "B", "PREFIX", "BC"]),
        ("a", ["CLIENT", "TRACKINGINFO"]),
        ("a", ["CLIENT", "TRACKING", "OFF"]),
    ]
    _assert_same(redis_server.port, fanout_broker.port, ["a"], script)


def _info_field(client: RespClient, name: str) -> int:
    for line in client.call("INFO", "everything").decode().splitlines():
        if line.startswith(name + ":"):
            return int(line.split(":", 1)[1])
    raise AssertionError(f"INFO has no {name}")


@pytest.mark.parametrize("server", ["redis", "fanout"])
def test_info_counts_and_table_limit(redis_server, fanout_broker, server: str) -> None:
    """INFO's tracking_* fields, and tracking-table-max-keys enforced at the next
    command: every key but the limit's worth is invalidated, on both servers."""
    port = redis_server.port if server == "redis" else fanout_broker.port
    with RespClient(port, protocol=3) as a, RespClient(port) as b, RespClient(port) as admin:
        admin.call("FLUSHALL")
        base_clients = _info_field(admin, "tracking_clients")
        assert a.call("CLIENT", "TRACKING", "ON") == b"OK"
        assert b.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "x:", "PREFIX", "y:") == b"OK"
        for i in range(10):
            a.call("GET", f"key{i}")
        assert _info_field(admin, "tracking_clients") == base_clients + 2
        assert _info_field(admin, "tracking_total_keys") == 10
        assert _info_field(admin, "tracking_total_items") == 10
        assert _info_field(admin, "tracking_total_prefixes") == 2
        assert admin.call("CONFIG", "SET", "tracking-table-max-keys", "3") == b"OK"
        try:
            # the next command (or the cron) invalidates keys until 3 are left: a
            # hears of the 7 others before its reply
            a.send("ECHO", "done")
            invalidated: list[bytes] = []
            for _ in range(100):
                frame = a.read()
                if frame == b"done":
                    break
                assert frame[0] == b"invalidate", frame
                invalidated += frame[1]
            assert len(invalidated) == 7 == len(set(invalidated))
            assert _info_field(admin, "tracking_total_keys") == 3
            assert _info_field(admin, "tracking_total_items") == 3
        finally:
            admin.call("CONFIG", "SET", "tracking-table-max-keys", "1000000")
        assert b.call("CLIENT", "TRACKING", "OFF") == b"OK"
        assert a.call("CLIENT", "TRACKING", "OFF") == b"OK"
        assert _info_field(admin, "tracking_clients") == base_clients


def test_client_list_flags(fanout_broker, redis_server) -> None:
    """t (tracking), R (redirect broken), B (BCAST) and redir= as Redis shows them."""
    for port in (redis_server.port, fanout_broker.port):
        with RespClient(port, protocol=3) as a, RespClient(port) as admin:
            r = RespClient(port)
            rid = r.call("CLIENT", "ID")
            aid = a.call("CLIENT", "ID")
            a.call("CLIENT", "TRACKING", "ON", "REDIRECT", rid)
            assert client_flags(admin, aid) == b"t"
            assert b"redir=%d " % rid in admin.call("CLIENT", "LIST", "ID", aid)
            r.close()
            wait_until(lambda: client_flags(admin, rid) == b"", "the redirect client is gone")
            a.call("GET", "k")
            admin.call("SET", "k", "1")
            assert a.read() == [b"tracking-redir-broken", rid]
            assert client_flags(admin, aid) == b"tR"
            a.call("CLIENT", "TRACKING", "OFF")
            a.call("CLIENT", "TRACKING", "ON", "BCAST")
            assert client_flags(admin, aid) == b"tB"
            assert b"redir=0 " in admin.call("CLIENT", "LIST", "ID", aid)
            a.call("CLIENT", "TRACKING", "OFF")
            assert client_flags(admin, aid) == b"N"
            assert b"redir=-1 " in admin.call("CLIENT", "LIST", "ID", aid)
