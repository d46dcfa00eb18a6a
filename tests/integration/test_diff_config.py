"""CONFIG GET/SET of every Redis 7.0 parameter against a real redis-server.

The names CONFIG GET * lists, their defaults, and for each parameter CONFIG SET of
a valid value, of junk and of the values just outside its range must give the same
replies and leave the same value, so tools and test suites that tune encodings,
eviction or replication settings run unchanged.
"""

from __future__ import annotations

from typing import Any

from broker.config_params import PARAMETERS
from tests.support.differential import assert_same_replies
from tests.support.resp_client import RespClient

# Where the two servers are set up differently on purpose (documented in README):
# the embedded broker binds loopback, listens on its own port, and the test
# servers run without snapshots in a private directory.
DIFFERENT_BY_SET_UP = {"bind", "dir", "port", "save", "dbfilename", "appendonly", "appenddirname",
                       "appendfilename", "logfile", "loglevel", "pidfile", "daemonize", "maxclients"}
# CONFIG SET of these would change what the test servers do for every other test.
NOT_TOUCHED = DIFFERENT_BY_SET_UP | {"requirepass", "masterauth", "masteruser", "replicaof", "timeout",
                                     "maxmemory", "client-query-buffer-limit", "proto-max-bulk-len",
                                     "notify-keyspace-events", "client-output-buffer-limit", "oom-score-adj",
                                     "oom-score-adj-values", "shutdown-timeout", "busy-reply-threshold",
                                     "lua-time-limit", "lazyfree-lazy-user-flush",
                                     # a hidden knob that arms redis-server's SIGALRM watchdog
                                     "watchdog-period",
                                     # fanout lets CONFIG SET change it (Redis: at start-up only)
                                     "rdbchecksum"}


def _config(port: int) -> dict[bytes, bytes]:
    with RespClient(port) as client:
        reply = client.call("CONFIG", "GET", "*")
    return dict(zip(reply[::2], reply[1::2])) if isinstance(reply, list) else reply


def test_config_get_lists_every_parameter_with_redis_defaults(redis_server, fanout_broker) -> None:
    ours, theirs = _config(fanout_broker.port), _config(redis_server.port)
    assert set(theirs) <= set(ours)
    assert set(ours) - set(theirs) == {b"lua-max-memory"}  # fanout's own interpreter cap
    differing = {name for name in theirs if ours[name] != theirs[name]}
    assert {name.decode() for name in differing} <= DIFFERENT_BY_SET_UP


def _probes(parameter: tuple[Any, ...]) -> list[str]:
    name, kind, default, low, high, choices = parameter[:6]
    if kind == "bool":
        return ["yes", "no", "YES", "maybe", default]
    if kind == "enum":
        return [*choices, choices[0].upper(), "nonsense", default]
    if kind in ("string", "special"):
        return []
    values = ["junk", "1.5", "-1", str(low), str(high), str(high + 1), str(low - 1), "0x10", "10kb", "1%",
              default]
    return values


def test_config_set_of_every_parameter(redis_server, fanout_broker) -> None:
    script: list[tuple[Any, ...]] = []
    for parameter in PARAMETERS:
        name = parameter[0]
        if name in NOT_TOUCHED:
            continue
        for value in _probes(parameter):
            script += [("CONFIG", "SET", name, value), ("CONFIG", "GET", name)]
        if parameter[6]:
            script += [("CONFIG", "SET", parameter[6], parameter[2]), ("CONFIG", "GET", parameter[6])]
    assert len(script) > 600
    assert_same_replies(redis_server.port, fanout_broker.port, script)


def test_config_set_of_several_parameters_is_all_or_nothing(redis_server, fanout_broker) -> None:
    script = [
        ("CONFIG", "SET", "hash-max-listpack-entries", "64", "set-max-intset-entries", "x"),
        ("CONFIG", "GET", "hash-max-listpack-entries"),
        ("CONFIG", "SET", "hash-max-listpack-entries", "64", "zset-max-listpack-value", "1kb"),
        ("CONFIG", "GET", "hash-max-*"), ("CONFIG", "GET", "zset-max-listpack-value"),
        ("CONFIG", "SET", "hash-max-listpack-entries", "1", "hash-max-ziplist-entries", "2"),
        ("CONFIG", "GET", "hash-max-listpack-entries"),
        ("CONFIG", "SET", "hash-max-listpack-entries", "1", "HASH-MAX-LISTPACK-ENTRIES", "2"),
        ("CONFIG", "SET", "daemonize", "no"), ("CONFIG", "SET", "enable-debug-command", "yes"),
        ("CONFIG", "SET", "no-such-thing", "1"), ("CONFIG", "SET", "hash-max-listpack-entries"),
        ("CONFIG", "SET", "hash-max-listpack-entries", "512", "zset-max-listpack-value", "64"),
        ("CONFIG", "GET", "hash-max-listpack-entries", "zset-max-listpack-value", "*ziplist*"),
    ]
    assert_same_replies(redis_server.port, fanout_broker.port, script, normalize=_as_dict)


def _as_dict(command: Any, reply: Any) -> Any:
    """CONFIG GET lists pairs in Redis's hash-table order: compare them as a mapping."""
    if command[:2] == ("CONFIG", "GET") and isinstance(reply, list):
        return dict(zip(reply[::2], reply[1::2]))
    return reply


def test_encoding_thresholds_change_what_object_encoding_reports(redis_server, fanout_broker) -> None:
    """The encoding parameters the Tcl suite tunes: OBJECT ENCODING follows them."""
    script: list[tuple[Any, ...]] = [
        ("CONFIG", "SET", "hash-max-listpack-entries", "4", "hash-max-listpack-value", "8",
         "set-max-intset-entries", "3", "zset-max-listpack-entries", "5", "zset-max-listpack-value", "6"),
        ("HSET", "h", "a", "1", "b", "2"), ("OBJECT", "ENCODING", "h"), ("HSET", "h", "c", "3", "d", "4", "e", "5"),
        ("OBJECT", "ENCODING", "h"), ("HSET", "h2", "f", "123456789"), ("OBJECT", "ENCODING", "h2"),
        ("SADD", "s", "1", "2", "3"), ("OBJECT", "ENCODING", "s"), ("SADD", "s", "4"), ("OBJECT", "ENCODING", "s"),
        ("ZADD", "z", "1", "a", "2", "b"), ("OBJECT", "ENCODING", "z"), ("ZADD", "z", "3", "c", "4", "d", "5", "e"),
        ("OBJECT", "ENCODING", "z"), ("ZADD", "z", "6", "f"), ("OBJECT", "ENCODING", "z"), ("ZREM", "z", "f", "e"),
        ("OBJECT", "ENCODING", "z"), ("ZADD", "z2", "1", "toolong"), ("OBJECT", "ENCODING", "z2"),
        ("CONFIG", "SET", "hash-max-listpack-entries", "512", "hash-max-listpack-value", "64",
         "set-max-intset-entries", "512", "zset-max-listpack-entries", "128", "zset-max-listpack-value", "64"),
        ("ZADD", "z3", "1", "a"), ("OBJECT", "ENCODING", "z3"),
    ]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


def test_hidden_parameters_answer_only_by_exact_name(redis_server, fanout_broker) -> None:
    """HIDDEN_CONFIG parameters (the Tcl test "CONFIG GET hidden configs"); an exact
    name is answered as spelled."""
    script: list[tuple[Any, ...]] = [
        ("CONFIG", "GET", "key-load-delay"), ("CONFIG", "GET", "KEY-LOAD-Delay"), ("CONFIG", "GET", "key-load-*"),
        ("CONFIG", "SET", "key-load-delay", 5), ("CONFIG", "GET", "key-load-delay"),
        ("CONFIG", "SET", "key-load-delay", 0), ("CONFIG", "GET", "use-exit-on-panic"), ("CONFIG", "GET", "*panic*"),
        ("CONFIG", "GET", "rdb-key-save-delay"), ("CONFIG", "GET", "loading-process-events-interval-bytes"),
        ("CONFIG", "SET", "loading-process-events-interval-bytes", 10), ("CONFIG", "GET", "watchdog-period", "*delay*"),
        ("CONFIG", "GET", "Hash-Max-Ziplist-Entries"), ("CONFIG", "GET", "no-such-parameter"),
    ]
    assert_same_replies(redis_server.port, fanout_broker.port, script, normalize=_as_dict)
    assert b"key-load-delay" not in _config(fanout_broker.port)

