"""Introspection against a real redis-server: COMMAND INFO/DOCS/GETKEYSANDFLAGS,
SLOWLOG, LATENCY, INFO commandstats/errorstats/latencystats, MODULE, LOLWUT.

Tools (redis-py's cluster client, redis-cli's hints, RedisInsight) read COMMAND
INFO and COMMAND DOCS; they must be Redis's, for every command both servers have.
Timing-dependent values (durations, timestamps, percentiles) are compared by shape.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.differential import assert_same_replies
from tests.support.resp_client import RespClient, RespError

# 7.2 additions fanout has (README): Redis 7.0.15 has no entry for them
LATER = {b"client|no-touch", b"client|setinfo"}


def _sorted_subcommands(entry: Any) -> Any:
    """COMMAND INFO entry with its subcommands in name order (Redis writes them in
    its dict's hash order, which changes from run to run), fanout's later ones out."""
    if not isinstance(entry, list):
        return entry
    subs = [sub for sub in entry[9] if sub[0] not in LATER]
    return entry[:9] + [sorted(subs, key=lambda sub: sub[0])]


def _pairs(reply: Any) -> dict[Any, Any]:
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2]))


def _docs(reply: Any) -> Any:
    """COMMAND DOCS reply as nested dicts (RESP2 maps are flat arrays), subcommands
    keyed by name (so their order does not matter), fanout's later ones out."""
    out = {}
    for name, doc in _pairs(reply).items():
        doc = dict(_pairs(doc))
        if b"subcommands" in doc:
            doc[b"subcommands"] = {key: value for key, value in _docs(doc[b"subcommands"]).items()
                                   if key not in LATER}
        out[name] = doc
    return out


def _names(client: RespClient) -> list[bytes]:
    return sorted(client.call("COMMAND", "LIST"))


@pytest.mark.parametrize("protocol", [2, 3])
def test_command_info_and_docs_are_redis_s_for_every_command(redis_server, fanout_broker, protocol) -> None:
    with RespClient(redis_server.port, protocol=protocol) as redis, \
            RespClient(fanout_broker.port, protocol=protocol) as ours:
        theirs = set(_names(redis))
        names = [name for name in _names(ours) if name in theirs and b"|" not in name]
        assert len(names) > 200
        for name in names:
            want, got = redis.call("COMMAND", "INFO", name), ours.call("COMMAND", "INFO", name)
            assert _sorted_subcommands(got[0]) == _sorted_subcommands(want[0]), name
            want, got = redis.call("COMMAND", "DOCS", name), ours.call("COMMAND", "DOCS", name)
            assert _docs(got) == _docs(want), name
        # subcommands asked for by full name, and names neither server has
        script = [("COMMAND", "INFO", "config|get", "get", "nosuch", "client|list"),
                  ("COMMAND", "DOCS", "config|set", "nosuch"), ("COMMAND", "INFO", "nosuch|x"),
                  ("COMMAND", "DOCS", "slowlog|get", "latency|latest", "lolwut", "module|list")]
        for command in script:
            assert ours.call(*command) == redis.call(*command), command


def test_command_fanout_commands_are_described(fanout_broker) -> None:
    with RespClient(fanout_broker.port) as ours:
        (entry,) = ours.call("COMMAND", "INFO", "fanout.publish")
        assert entry[:6] == [b"fanout.publish", 5, [b"write", b"denyoom"], 1, 1, 1]
        docs = _docs(ours.call("COMMAND", "DOCS", "fanout.once"))[b"fanout.once"]
        assert docs[b"group"] == b"pubsub" and b"idempotency" in docs[b"summary"]
        assert ours.call("COMMAND", "GETKEYS", "FANOUT.PUBLISH", "ch", "10", "1000", "x") == [b"ch"]


GETKEYSANDFLAGS = [
    ("SET", "k", "v"), ("SET", "k", "v", "GET"), ("GET", "k"), ("MSET", "a", "1", "b", "2"),
    ("SMOVE", "a", "b", "m"), ("LMOVE", "a", "b", "LEFT", "RIGHT"), ("BITFIELD", "k", "GET", "u8", "0"),
    ("BITFIELD", "k", "SET", "u8", "0", "1"), ("BITFIELD", "k", "GET", "u8"), ("SORT", "k", "STORE", "d"),
    ("SORT", "k"), ("SORT_RO", "k"), ("ZUNIONSTORE", "d", "2", "a", "b"), ("EVAL", "return 1", "2", "a", "b"),
    ("XREAD", "STREAMS", "a", "b", "0", "0"), ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
    ("GEORADIUS", "k", "1", "1", "1", "m", "STORE", "d"), ("DEL", "a", "b"), ("RENAME", "a", "b"),
    ("COPY", "a", "b"), ("BLMPOP", "0", "2", "a", "b", "LEFT"), ("PFMERGE", "d", "a", "b"),
    ("OBJECT", "ENCODING", "k"), ("GETEX", "k", "PERSIST"), ("PING",), ("LCS", "a", "b"),
]


def test_command_getkeysandflags(redis_server, fanout_broker) -> None:
    script = [("COMMAND", "GETKEYSANDFLAGS", *command) for command in GETKEYSANDFLAGS]
    script += [("COMMAND", "GETKEYSANDFLAGS", "GET"), ("COMMAND", "GETKEYSANDFLAGS", "NOSUCH", "a"),
               ("COMMAND", "GETKEYSANDFLAGS", "GET", "a", "b")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)
    assert_same_replies(redis_server.port, fanout_broker.port, script, protocol=3)


def test_command_list_filterby_aclcat_is_redis_s(redis_server, fanout_broker) -> None:
    """Every category, for the commands both servers have (Redis's categories, from its JSON)."""
    with RespClient(redis_server.port) as redis, RespClient(fanout_broker.port) as ours:
        have = set(ours.call("COMMAND", "LIST")) & set(redis.call("COMMAND", "LIST"))
        for category in redis.call("ACL", "CAT"):
            want = set(redis.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", category)) & have
            got = set(ours.call("COMMAND", "LIST", "FILTERBY", "ACLCAT", category)) & have
            assert got == want, (category, got ^ want)


def test_command_help_and_arity(redis_server, fanout_broker) -> None:
    script = [("COMMAND", "HELP"), ("COMMAND", "COUNT", "x"), ("COMMAND", "NOSUCH"), ("COMMAND", "GETKEYS"),
              ("COMMAND", "GETKEYS", "GET"), ("COMMAND", "INFO"), ("COMMAND", "LIST", "FILTERBY", "MODULE", "m")]

    def normalize(command: Any, reply: Any) -> Any:
        # bare COMMAND INFO lists every command: only its shape can be compared
        return len(reply) > 200 if command == ("COMMAND", "INFO") else reply

    assert_same_replies(redis_server.port, fanout_broker.port, script, normalize=normalize)


# ------------------------------------------------------------------ SLOWLOG

def _slowlog_shape(reply: Any) -> Any:
    """SLOWLOG GET without what differs by nature: ids, times, durations, ports."""
    if not isinstance(reply, list):
        return reply
    return [[entry[3], entry[5]] if isinstance(entry, list) and len(entry) == 6 else entry for entry in reply]


@pytest.fixture
def slowlog_everything(redis_server, fanout_broker):
    """Both servers log every command, for the test's length; then back to defaults."""
    script = [("CONFIG", "SET", "slowlog-log-slower-than", "0"), ("CONFIG", "SET", "slowlog-max-len", "128"),
              ("SLOWLOG", "RESET")]
    for port in (redis_server.port, fanout_broker.port):
        with RespClient(port) as client:
            for command in script:
                client.call(*command)
    yield
    for port in (redis_server.port, fanout_broker.port):
        with RespClient(port) as client:
            client.call("CONFIG", "SET", "slowlog-log-slower-than", "10000", "slowlog-max-len", "128")
            client.call("SLOWLOG", "RESET")


def test_slowlog_entries_trimmed_and_redacted(redis_server, fanout_broker, slowlog_everything) -> None:
    many = [str(i) for i in range(3, 34)]
    script = [
        ("CLIENT", "SETNAME", "logged"), ("SLOWLOG", "RESET"), ("SET", "k", "v"), ("SLOWLOG", "LEN"),
        ("SLOWLOG", "GET"), ("SLOWLOG", "RESET"), ("SADD", "set", *many), ("SADD", "s2", "foo", "A" * 129),
        ("SLOWLOG", "GET", "2"), ("SLOWLOG", "RESET"), ("AUTH", "wrong"), ("AUTH", "user", "pass"),
        ("HELLO", "2", "AUTH", "user", "pass"), ("ACL", "SETUSER", "slowlog-user", "on", ">pw", "+get"),
        ("ACL", "DELUSER", "slowlog-user"),
        ("CONFIG", "SET", "masterauth", "secret"), ("CONFIG", "SET", "masterauth", ""), ("SLOWLOG", "GET", "-1"),
        ("SLOWLOG", "GET", "0"), ("SLOWLOG", "GET", "-2"), ("SLOWLOG", "GET", "x"), ("SLOWLOG", "GET", "1", "2"),
        ("SLOWLOG", "LEN", "x"), ("SLOWLOG", "HELP"), ("SLOWLOG", "NOSUCH"), ("SLOWLOG",),
        ("CONFIG", "SET", "slowlog-max-len", "2"), ("PING",), ("PING",), ("PING",), ("SLOWLOG", "LEN"),
        ("CONFIG", "GET", "slowlog-log-slower-than"), ("CONFIG", "GET", "slowlog-max-len"),
    ]

    def normalize(command: Any, reply: Any) -> Any:
        if command[0] == "HELLO" and isinstance(reply, list):
            return "hello"
        return _slowlog_shape(reply) if command[:2] == ("SLOWLOG", "GET") else reply

    assert_same_replies(redis_server.port, fanout_broker.port, script, normalize=normalize)


def test_slowlog_entry_fields(fanout_broker, slowlog_everything) -> None:
    with RespClient(fanout_broker.port) as ours:
        ours.call("CLIENT", "SETNAME", "me")
        ours.call("SLOWLOG", "RESET")
        ours.call("GET", "k")
        (reset, get), now = ours.call("SLOWLOG", "GET", "2")[::-1], int(ours.call("TIME")[0])
        assert get[0] == reset[0] + 1  # ids grow
        assert abs(get[1] - now) <= 5 and get[2] >= 0
        assert get[3] == [b"GET", b"k"] and get[5] == b"me"
        assert re.fullmatch(rb"127\.0\.0\.1:\d+", get[4])


def test_slowlog_off_and_threshold(redis_server, fanout_broker) -> None:
    script = [("CONFIG", "SET", "slowlog-log-slower-than", "-1"), ("SLOWLOG", "RESET"), ("PING",),
              ("SLOWLOG", "LEN"), ("CONFIG", "SET", "slowlog-log-slower-than", "10000000"), ("PING",),
              ("SLOWLOG", "LEN"), ("CONFIG", "SET", "slowlog-log-slower-than", "10000")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


def test_slowlog_names_the_slow_command_of_a_pipeline(fanout_broker) -> None:
    """A batch whose time reached the threshold gives it to the commands not flagged
    fast: the slow one pipelined among GETs is the one logged (broker/cmdstats.py)."""
    with RespClient(fanout_broker.port) as ours:
        ours.call("FLUSHALL")
        for start in range(0, 30_000, 1000):
            ours.call("MSET", *[item for i in range(start, start + 1000) for item in (f"key:{i}", "v")])
        ours.call("SLOWLOG", "RESET")
        ours.call("CONFIG", "SET", "slowlog-log-slower-than", "1000")  # 1 ms: KEYS * of 30,000 takes more
        try:
            commands = [("GET", "key:1")] * 5 + [("KEYS", "*")] + [("GET", "key:2")] * 5
            for command in commands:
                ours.send(*command)
            replies = [ours.read() for _ in commands]
            assert len(replies[5]) == 30_000
            logged = [entry[3] for entry in ours.call("SLOWLOG", "GET", "-1")]
        finally:
            ours.call("CONFIG", "SET", "slowlog-log-slower-than", "10000")
            ours.call("FLUSHALL")
        assert [b"KEYS", b"*"] in logged
        assert [b"GET", b"key:1"] not in logged


# ------------------------------------------------------------------ LATENCY

def test_latency_subcommands(redis_server, fanout_broker) -> None:
    script = [("LATENCY", "RESET"), ("LATENCY", "LATEST"), ("LATENCY", "HISTORY", "command"),
              ("LATENCY", "RESET", "nosuch"), ("LATENCY", "GRAPH", "command"), ("LATENCY", "HELP"),
              ("LATENCY", "HELP", "x"), ("LATENCY", "NOSUCH"), ("LATENCY", "DOCTOR"), ("LATENCY", "HISTORY"),
              ("LATENCY",), ("CONFIG", "GET", "latency-monitor-threshold"), ("CONFIG", "GET", "latency-tracking"),
              ("CONFIG", "GET", "latency-tracking-info-percentiles")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


def test_latency_histogram(redis_server, fanout_broker) -> None:
    script = [("CONFIG", "RESETSTAT"), ("SET", "a", "b"), ("SET", "c", "d"), ("GET", "a"), ("CLIENT", "GETNAME"),
              ("LATENCY", "HISTOGRAM", "set", "client", "nosuch"), ("LATENCY", "HISTOGRAM", "client|getname", "get"),
              ("LATENCY", "HISTOGRAM")]

    def normalize(command: Any, reply: Any) -> Any:
        if command[:2] != ("LATENCY", "HISTOGRAM"):
            return reply
        # the buckets hold times: only the calls per command can be compared
        return {name: _pairs(value)[b"calls"] for name, value in _pairs(reply).items()}

    assert_same_replies(redis_server.port, fanout_broker.port, script, normalize=normalize)
    assert_same_replies(redis_server.port, fanout_broker.port, script, protocol=3, normalize=normalize)


def test_latency_monitor_records_a_slow_command(fanout_broker) -> None:
    """A command over latency-monitor-threshold is a "command" event (LATEST, HISTORY,
    GRAPH, DOCTOR read it); a script that loops for a while is the slow command."""
    with RespClient(fanout_broker.port) as ours:
        ours.call("LATENCY", "RESET")
        ours.call("CONFIG", "SET", "latency-monitor-threshold", "1")
        try:
            ours.call("EVAL", "local i = 0 while i < 2000000 do i = i + 1 end return i", "0")
            latest = ours.call("LATENCY", "LATEST")
            history = ours.call("LATENCY", "HISTORY", "command")
            graph = ours.call("LATENCY", "GRAPH", "command")
            doctor = ours.call("LATENCY", "DOCTOR")
        finally:
            ours.call("CONFIG", "SET", "latency-monitor-threshold", "0")
            ours.call("LATENCY", "RESET")
    (event,) = latest
    assert event[0] == b"command" and event[2] >= 1 and event[3] == event[2]
    assert history == [[event[1], event[2]]]
    assert graph.startswith(b"command - high %d ms" % event[2]) and b"-" * 80 in graph
    assert b"1. command: 1 latency spikes" in doctor and b"Slow Log" in doctor


# ------------------------------------------------------------- INFO stats

def _info_fields(text: bytes) -> dict[str, str]:
    fields = {}
    for line in text.decode().splitlines():
        if ":" in line and not line.startswith("#"):
            name, _, value = line.partition(":")
            fields[name] = value
    return fields


def _counts(value: str) -> dict[str, str]:
    parts = dict(part.split("=") for part in value.split(","))
    return {name: parts[name] for name in ("calls", "rejected_calls", "failed_calls")}


def test_info_commandstats_and_errorstats(redis_server, fanout_broker) -> None:
    script = [("SET", "s", "v"), ("INCR", "s"), ("GET",), ("NOSUCH",), ("LPUSH", "s", "x"), ("CONFIG", "GET", "hz"),
              ("CLIENT", "NOSUCH"), ("MULTI",), ("SET", "a", "b"), ("INCR", "s"), ("EXEC",), ("EXEC",),
              ("EVAL", "return redis.pcall('INCR', KEYS[1])", "1", "s"), ("OBJECT", "ENCODING", "nosuch"),
              ("HSET", "h", "f"), ("PING",)]
    seen = {}
    for name, port in (("redis", redis_server.port), ("fanout", fanout_broker.port)):
        with RespClient(port) as client:
            client.call("FLUSHALL")
            client.call("EVAL", "return 1", "0")  # EVAL used before: ours takes its fast path
            client.call("CONFIG", "RESETSTAT")
            for command in script:
                client.call(*command)
            info = _info_fields(client.call("INFO", "commandstats"))
            errors = _info_fields(client.call("INFO", "errorstats"))
            total = _info_fields(client.call("INFO", "stats"))["total_error_replies"]
            client.call("CONFIG", "RESETSTAT")
            after = (_info_fields(client.call("INFO", "errorstats")),
                     _info_fields(client.call("INFO", "stats"))["total_error_replies"])
        seen[name] = ({field: _counts(value) for field, value in info.items()}, errors, total, after)
    assert seen["fanout"] == seen["redis"]
    assert seen["redis"][2] != "0" and seen["redis"][3] == ({}, "0")


def test_info_latencystats(redis_server, fanout_broker) -> None:
    for port in (redis_server.port, fanout_broker.port):
        with RespClient(port) as client:
            client.call("CONFIG", "RESETSTAT")
            client.call("CONFIG", "SET", "latency-tracking-info-percentiles", "0 50.0 99.99 100")
            try:
                client.call("SET", "a", "b")
                client.call("CLIENT", "ID")
                fields = _info_fields(client.call("INFO", "latencystats"))
                client.call("CONFIG", "SET", "latency-tracking", "no")
                client.call("CONFIG", "RESETSTAT")
                client.call("GET", "a")
                off = _info_fields(client.call("INFO", "latencystats"))
                bad = client.call("CONFIG", "SET", "latency-tracking-info-percentiles", "10 101")
            finally:
                client.call("CONFIG", "SET", "latency-tracking", "yes",
                            "latency-tracking-info-percentiles", "50 99 99.9")
        line = r"p0=[\d.]+,p50=[\d.]+,p99\.99=[\d.]+,p100=[\d.]+"
        assert re.fullmatch(line, fields["latency_percentiles_usec_set"]), fields
        assert re.fullmatch(line, fields["latency_percentiles_usec_client|id"]), fields
        assert off == {}
        assert isinstance(bad, RespError) and "between [0.0,100.0]" in bad.message


# ------------------------------------------------- MODULE, LOLWUT, CLIENT

def test_module_lolwut_client_no_evict(redis_server, fanout_broker) -> None:
    script = [("MODULE", "LIST"), ("MODULE", "UNLOAD", "nosuch"), ("MODULE", "HELP"), ("MODULE", "LIST", "x"),
              ("MODULE", "NOSUCH"), ("LOLWUT",), ("LOLWUT", "VERSION", "7"), ("LOLWUT", "VERSION", "x"),
              ("LOLWUT", "VERSION", "5", "10", "3", "2"), ("LOLWUT", "VERSION", "5", "1", "1", "1"),
              ("LOLWUT", "VERSION", "5", "x"), ("CLIENT", "NO-EVICT", "on"), ("CLIENT", "NO-EVICT", "off"),
              ("CLIENT", "NO-EVICT", "maybe"), ("CLIENT", "NO-EVICT")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)
    assert_same_replies(redis_server.port, fanout_broker.port, script, protocol=3)


def test_module_load_is_refused_clearly(redis_server, fanout_broker) -> None:
    """As Redis 7.0 refuses it by default (enable-module-command no); allowed, it would
    still be refused, saying why (tests/unit/test_introspection.py)."""
    script = [("MODULE", "LOAD", "/tmp/x.so"), ("MODULE", "LOADEX", "/tmp/x.so", "ARGS", "a"), ("MODULE", "LIST"),
              ("CONFIG", "GET", "enable-module-command")]
    replies = assert_same_replies(redis_server.port, fanout_broker.port, script)
    assert "enable-module-command" in replies[0].message


def test_lolwut_version_5_draws_schotter(fanout_broker) -> None:
    with RespClient(fanout_broker.port) as ours:
        art = ours.call("LOLWUT", "VERSION", "5").decode()
    lines = art.split("\n")
    assert lines[-2] == "Georg Nees - schotter, plotter on paper, 1968. Redis ver. 7.0.15"
    assert all(len(line) == 66 for line in lines[:-3]) and all("\u2800" <= ch <= "\u28ff" for ch in lines[0])
