"""MONITOR compared line for line with a real redis-server (issue #18): what is shown, in
what order, how arguments are quoted and passwords redacted, and what a monitor may send."""

from __future__ import annotations

import re
import subprocess

from tests.support.resp_client import RespClient, client_flags, wait_until
from tests.support.transcript import transcript

MONITORED = [
    ("m", ["MONITOR"]),
    ("a", ["SET", "k", "v"]),
    ("a", ["GET", "k"]),
    ("a", ["SET", "quote\"d", "back\\slash"]),
    ("a", ["SET", "ctl", b"a\nb\r\tc\x07\x08\x00\xff\x7f end"]),
    ("a", ["SET", "empty", ""]),
    ("a", ["ECHO", "é"]),
    ("a", ["SELECT", "3"]),              # shown with the db it selected
    ("a", ["INCR", "n"]),
    ("a", ["SELECT", "0"]),
    ("a", ["MULTI"]),
    ("a", ["SET", "t", "1"]),
    ("a", ["INCR", "t"]),
    ("a", ["EXEC"]),                     # multi, then the queued commands, then exec
    ("a", ["MULTI"]),
    ("a", ["NOSUCHCOMMAND"]),
    ("a", ["EXEC"]),                     # EXECABORT: multi then exec only
    ("a", ["EVAL", "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])", "1", "s", "x"]),
    ("a", ["EVAL", "redis.call('select', 5); return redis.call('incr', 'c')", "0"]),
    ("a", ["EVAL", "return redis.pcall('hget', 's', 'f')", "0"]),   # an error, still shown
    ("a", ["EVALSHA", "0000000000000000000000000000000000000000", "0"]),
    ("a", ["FUNCTION", "LOAD", "#!lua name=monlib\nredis.register_function('mf', function() "
                               "return redis.call('set', 'fk', 'fv') end)"]),
    ("a", ["FCALL", "mf", "0"]),
    ("a", ["FUNCTION", "DELETE", "monlib"]),
    ("a", ["AUTH", "secret"]),           # arguments redacted
    ("a", ["AUTH", "user", "secret"]),
    ("a", ["AUTH", "a", "b", "c"]),      # a syntax error: nothing redacted
    ("a", ["HELLO", "2", "AUTH", "default", "secret"]),
    ("a", ["HELLO", "2", "SETNAME", "x", "AUTH", "default", "pw"]),
    ("a", ["CLIENT", "SETNAME", "named"]),
    ("a", ["CLIENT", "NO-EVICT", "on"]),  # admin: hidden
    ("a", ["CONFIG", "GET", "maxmemory"]),
    ("a", ["CLIENT", "KILL", "ID", "999999"]),
    ("a", ["GET"]),                      # refused before running: hidden
    ("a", ["NOSUCH"]),
    ("a", ["PUBLISH", "ch", "msg"]),
    ("m", ["GET", "k"]),                 # a monitor cannot touch the keyspace
    ("m", ["SET", "k", "v"]),
    ("m", ["PUBLISH", "ch", "x"]),
    ("m", ["ECHO", "still"]),
    ("m", ["MONITOR"]),                  # again: no reply at all
    ("m", ["CLIENT", "ID"]),
    ("m", ["RESET"]),                    # leaves monitor mode
    ("a", ["SET", "after", "reset"]),
    ("m", ["GET", "after"]),
    ("a", ["MULTI"]),
    ("a", ["MONITOR"]),
    ("a", ["EXEC"]),                     # MONITOR inside EXEC is refused
    ("a", ["EVAL", "return redis.call('monitor')", "0"]),
]


def test_monitor_lines_match_redis(redis_server, fanout_broker) -> None:
    names = ["m", "a"]
    expected = transcript(redis_server.port, names, MONITORED)
    actual = transcript(fanout_broker.port, names, MONITORED)
    for (step, want), (_, got) in zip(expected, actual):
        assert got == want, f"after {step!r}:\n  redis-server: {want!r}\n  fanout:       {got!r}"
    shown = b"".join(out["m"] for _, out in expected)
    assert b'"EVAL"' in shown and b"[0 lua]" in shown and b'"(redacted)"' in shown  # the script is meaningful


def test_two_monitors_and_the_monitor_flag(redis_server, fanout_broker) -> None:
    for port in (redis_server.port, fanout_broker.port):
        with RespClient(port) as m1, RespClient(port) as m2, RespClient(port) as admin:
            m1_id = m1.call("CLIENT", "ID")
            assert client_flags(admin, m1_id) == b"N"
            assert m1.call("MONITOR") == b"OK" and m2.call("MONITOR") == b"OK"
            assert client_flags(admin, m1_id) == b"O"  # CLIENT LIST: admin, not shown
            admin.call("CLIENT", "ID")  # shown to both monitors
            line = admin.call("CLIENT", "LIST")
            assert line.count(b"flags=O ") == 2 and line.count(b"cmd=monitor ") == 2
            admin.call("SET", "seen", "by both")
            for monitor in (m1, m2):
                first, second = monitor.read(), monitor.read()
                assert re.fullmatch(rb'\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "CLIENT" "ID"', first), first
                assert second.endswith(b'"SET" "seen" "by both"'), second


def test_redis_cli_monitor_shows_commands(fanout_broker) -> None:
    """The operator's view: redis-cli MONITOR prints each command, one run by EVAL too."""
    cli = subprocess.Popen(["redis-cli", "-p", str(fanout_broker.port), "MONITOR"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert cli.stdout is not None
        assert cli.stdout.readline().strip() == "OK"
        with RespClient(fanout_broker.port) as client:
            wait_until(lambda: b"cmd=monitor" in client.call("CLIENT", "LIST"), "redis-cli monitors")
            client.call("SET", "cli:key", "hello world")
            client.call("EVAL", "return redis.call('get', KEYS[1])", "1", "cli:key")
        lines = [cli.stdout.readline().strip() for _ in range(3)]  # CLIENT LIST is not shown
    finally:
        cli.terminate()
        cli.wait(timeout=10)
    assert re.fullmatch(r'\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "SET" "cli:key" "hello world"', lines[0]), lines
    assert re.fullmatch(r'\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "EVAL" "return redis.call\(\'get\', KEYS\[1\]\)" '
                        r'"1" "cli:key"', lines[1]), lines
    assert re.fullmatch(r'\d+\.\d{6} \[0 lua\] "get" "cli:key"', lines[2]), lines
