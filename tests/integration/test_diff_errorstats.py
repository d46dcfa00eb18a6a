"""INFO errorstats / total_error_replies / commandstats after script errors and
failed blocked commands, against a real redis-server.

Each case runs after CONFIG RESETSTAT on both servers; the error counts by code,
``total_error_replies`` and the calls / rejected / failed counts of every command
that ran are compared. Redis counts an error once: where a command replied it
(redis.call / redis.pcall of a failing command, scriptCall's refusals), and the
script's reply of such an error (flagged ``ignore_error_stats_update``) adds
nothing; any other error a script replies (redis.error_reply, ``{err=...}``, a
Lua runtime error, a script killed) is counted when EVAL answers it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.resp_client import RespClient, error_stats, wait_until

# (name, script): each runs as EVAL <script> 0 with key "s" holding a non-integer
SCRIPTS = [
    ("raised_command_error", "return redis.call('incr','s')"),
    ("returned_pcall_error", "return redis.pcall('incr','s')"),
    ("swallowed_pcall_error", "redis.pcall('incr','s') return 1"),
    ("lua_pcall_of_call", "return pcall(redis.call,'incr','s')"),
    ("error_message_returned", "local t = redis.pcall('incr','s'); return t['err']"),
    ("error_reply", "return redis.error_reply('MY err')"),
    ("error_table", "return {err='XX bad'}"),
    ("runtime_error", "error('boom')"),
    ("unknown_command", "return redis.call('nosuch')"),
    ("unknown_command_pcall", "return redis.pcall('nosuch')"),
    ("unknown_command_swallowed", "redis.pcall('nosuch') return 1"),
    ("wrong_arity", "return redis.call('get')"),
    ("no_arguments", "return redis.call()"),
    ("no_arguments_swallowed", "redis.pcall() return 2"),
    ("block_refused", "return redis.pcall('xread','block',0,'streams','x','0')"),
    ("write_then_error_reply", "redis.call('set','x','1') return redis.error_reply('XY bad')"),
    # (an error nested in an array reply is counted as Redis counts it, but Redis also
    # counts the EVAL as failed then: not mimicked, see bench/README.md)
]



def _script_stats(port: int, script: str) -> tuple[Any, dict[str, Any]]:
    with RespClient(port) as client:
        client.call("FLUSHALL")
        client.call("SET", "s", "not a number")
        client.call("CONFIG", "RESETSTAT")
        reply = client.call("EVAL", script, 0)
        return reply, error_stats(client)


@pytest.mark.parametrize("name,script", SCRIPTS, ids=[name for name, _ in SCRIPTS])
def test_script_error_counts_as_redis(redis_server: Any, fanout_broker: Any, name: str, script: str) -> None:
    expected = _script_stats(redis_server.port, script)
    actual = _script_stats(fanout_broker.port, script)
    assert actual == expected


OOM_SCRIPTS = [
    ("oom_raised", "return redis.call('set','x','y')"),
    ("oom_pcall_swallowed", "local t = redis.pcall('set','x','y') return t['err']"),
    ("oom_pcall_returned", "return redis.pcall('set','x','y')"),
]


def _oom_script_stats(port: int, script: str) -> tuple[Any, dict[str, Any]]:
    """The Tcl test "Consistent eval error reporting": scriptVerifyOOM's refusal is
    counted once, as the refused command's rejected call."""
    with RespClient(port) as client:
        client.call("FLUSHALL")
        client.call("CONFIG", "RESETSTAT")
        client.call("CONFIG", "SET", "maxmemory", 1)
        try:
            reply = client.call("EVAL", script, 1, "x")
        finally:
            client.call("CONFIG", "SET", "maxmemory", 0)
        stats = error_stats(client)
        stats.pop("cmdstat_config|set")
        return reply, stats


@pytest.mark.parametrize("name,script", OOM_SCRIPTS, ids=[name for name, _ in OOM_SCRIPTS])
def test_script_oom_refusal_counts_as_redis(redis_server: Any, fanout_broker: Any, name: str, script: str) -> None:
    expected = _oom_script_stats(redis_server.port, script)
    actual = _oom_script_stats(fanout_broker.port, script)
    assert actual == expected


def _blocked_nogroup_stats(port: int) -> tuple[Any, dict[str, Any]]:
    """The Tcl test "XGROUP DESTROY should unblock XREADGROUP with -NOGROUP"."""
    with RespClient(port) as admin, RespClient(port) as waiter:
        admin.call("DEL", "mystream")
        admin.call("XGROUP", "CREATE", "mystream", "mygroup", "$", "MKSTREAM")
        admin.call("CONFIG", "RESETSTAT")
        waiter.send("XREADGROUP", "GROUP", "mygroup", "Alice", "BLOCK", 0, "STREAMS", "mystream", ">")
        wait_until(lambda: b"blocked_clients:1" in admin.call("INFO", "clients"), "the reader is blocked")
        admin.call("XGROUP", "DESTROY", "mystream", "mygroup")
        reply = waiter.read()
        return reply, error_stats(admin)


def test_failed_blocked_command_counts_as_redis(redis_server: Any, fanout_broker: Any) -> None:
    expected = _blocked_nogroup_stats(redis_server.port)
    actual = _blocked_nogroup_stats(fanout_broker.port)
    assert actual == expected
    assert expected[1]["errorstat_NOGROUP"] == "count=1"
