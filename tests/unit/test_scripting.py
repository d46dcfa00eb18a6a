"""Lua scripting in the sans-I/O core: conversions, errors, the sandbox, runaway and
memory limits, functions and their payload (no sockets; redis-server comparisons
are in tests/integration/test_diff_scripting.py)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from broker.core import Broker, Client
from broker.resp import NULL_ARRAY, BigNumber, CommandError, Simple, Verbatim, encode
from broker.scripting import scripting_of
from broker.scripting.convert import error_message, lua_number_to_int
from broker.scripting.engine import version_num
from broker.scripting.functions import crc64, dump_payload, parse_payload


class _Client(Client):
    def deliver(self, message: Any) -> None:
        self.delivered.append(message)


def _broker(**config: str) -> tuple[Broker, _Client]:
    broker = Broker(clock=lambda: 1_700_000_000.0, config=config)
    client = _Client(broker)
    client.delivered = []  # type: ignore[attr-defined]
    broker.connect(client)
    return broker, client


def _eval(broker: Broker, client: Client, script: str, *keys_then_args: str, numkeys: int = 0) -> Any:
    return broker.execute(client, [b"EVAL", script.encode(), b"%d" % numkeys, *(a.encode() for a in keys_then_args)])


# ------------------------------------------------------------------ conversions

@pytest.mark.parametrize("script, reply", [
    ("return 7", 7), ("return 3.99", 3), ("return -3.99", -3), ("return 'x'", b"x"), ("return true", 1),
    ("return false", None), ("return nil", None), ("return {1, 'a', {2}, nil, 9}", [1, b"a", [2]]),
    ("return {ok='fine'}", Simple("fine")), ("return {err='MY bad'}", CommandError("MY bad")),
    ("return {double=2.5}", 2.5), ("return {big_number='12345678901234567890'}", BigNumber(b"12345678901234567890")),
    ("return {map={a=1}}", {b"a": 1}), ("return 1e300", -(2**63)), ("return 0/0", -(2**63)),
    ("redis.setresp(3) return true", True), ("redis.setresp(3) return false", False),
])
def test_lua_values_become_replies(script: str, reply: Any) -> None:
    broker, client = _broker()
    got = _eval(broker, client, script)
    if isinstance(reply, CommandError):
        assert isinstance(got, CommandError) and got.message == reply.message
    else:
        assert got == reply and type(got) is type(reply)


def test_set_and_verbatim_replies_on_the_wire() -> None:
    broker, client = _broker()
    assert encode(_eval(broker, client, "return {set={a=true}}"), 3) == b"~1\r\n$1\r\na\r\n"
    assert encode(_eval(broker, client, "return {set={a=true}}"), 2) == b"*1\r\n$1\r\na\r\n"
    verbatim = _eval(broker, client, "return {verbatim_string={format='mkd', string='# hi'}}")
    assert isinstance(verbatim, Verbatim) and encode(verbatim, 3) == b"=8\r\nmkd:# hi\r\n"
    assert encode(verbatim, 2) == b"$4\r\n# hi\r\n"
    assert encode(BigNumber(b"99"), 3) == b"(99\r\n"


@pytest.mark.parametrize("resp, script, reply", [
    (2, "return type(redis.call('get', 'missing'))", b"boolean"),
    (3, "return type(redis.call('get', 'missing'))", b"nil"),
    (2, "redis.call('zadd', 'z', 1.5, 'm') return redis.call('zscore', 'z', 'm')", b"1.5"),
    (3, "redis.call('zadd', 'z', 1.5, 'm') return redis.call('zscore', 'z', 'm').double * 2", 3),
    (2, "redis.call('hset', 'h', 'f', 'v') return redis.call('hgetall', 'h')", [b"f", b"v"]),
    (3, "redis.call('hset', 'h', 'f', 'v') return redis.call('hgetall', 'h').map.f", b"v"),
    (3, "redis.call('sadd', 's', 'm') return redis.call('smembers', 's').set.m", 1),
    (2, "return redis.call('ping').ok", b"PONG"),
    (2, "return redis.call('set', 'k', 1/3) and redis.call('get', 'k')", b"0.33333333333333331"),
])
def test_replies_become_lua_values(resp: int, script: str, reply: Any) -> None:
    broker, client = _broker()
    assert _eval(broker, client, f"redis.setresp({resp}) " + script) == reply


def test_error_tables_are_worded_as_redis_words_them() -> None:
    assert error_message("WRONGTYPE Operation against a key") == "WRONGTYPE Operation against a key"
    assert error_message("-NOSPACE") == "ERR NOSPACE"
    assert error_message("-ERR line\r\n") == "ERR line"
    assert lua_number_to_int(2.0**63) == -(2**63) and lua_number_to_int(-7.9) == -7
    assert version_num("7.0.15") == 0x07000F


# ------------------------------------------------------------------ errors and sandbox

def test_errors_name_the_script_and_line() -> None:
    broker, client = _broker()
    script = "local x = 1\nreturn redis.call('nosuch')"
    sha = hashlib.sha1(script.encode()).hexdigest()
    reply = _eval(broker, client, script)
    assert reply.message == f"ERR Unknown Redis command called from script script: {sha}, on @user_script:2."
    reply = _eval(broker, client, "return y")
    assert "Script attempted to access nonexistent global variable 'y'" in reply.message
    assert "Attempt to modify a readonly table" in _eval(broker, client, "string.rep = nil").message
    assert _eval(broker, client, "return redis.pcall('incr', KEYS[1])", "k", numkeys=1) == 1
    broker.execute(client, [b"LPUSH", b"list", b"a"])
    assert _eval(broker, client, "return redis.pcall('incr', 'list')").message.startswith("WRONGTYPE")
    assert _eval(broker, client, "return 1", "a", numkeys=2).message == \
        "ERR Number of keys can't be greater than number of args"
    assert broker.execute(client, [b"EVALSHA", b"0" * 40, b"0"]).message == \
        "NOSCRIPT No matching script. Please use EVAL."


@pytest.mark.parametrize("script", [
    "return python", "return debug.getinfo(1)", "return os.execute('true')", "return io.open('/etc/passwd')",
    "return require('os')", "return loadfile('/etc/passwd')", "return redis.call.__class__",
    "return getfenv(0).x", "rawset(_G, 'leak', 1)", "setmetatable(_G, nil)", "setfenv(0, {})",
])
def test_sandbox_keeps_python_and_the_host_out_of_reach(script: str) -> None:
    broker, client = _broker()
    assert isinstance(_eval(broker, client, script), CommandError)
    # and nothing a script did stays for the next one
    assert isinstance(_eval(broker, client, "return leak"), CommandError)
    assert _eval(broker, client, "return string.rep('a', 2)") == b"aa"


def test_scripts_are_atomic_and_notify_as_they_run() -> None:
    broker, client = _broker(**{"notify-keyspace-events": "KEA"})
    listener = _Client(broker)
    listener.delivered = []  # type: ignore[attr-defined]
    broker.connect(listener)
    broker.execute(listener, [b"PSUBSCRIBE", b"__keyevent@0__:*"])
    assert _eval(broker, client, "redis.call('set', 'a', '1') redis.call('incr', 'a') return redis.call('get', 'a')") \
        == b"2"
    events = [(m.channel, m.data) for m in listener.delivered]  # type: ignore[attr-defined]
    assert events == [(b"__keyevent@0__:set", b"a"), (b"__keyevent@0__:incrby", b"a")]


def test_select_in_a_script_leaves_the_caller_in_its_db() -> None:
    broker, client = _broker()
    assert _eval(broker, client, "redis.call('select', 2) redis.call('set', 'k', 'v') return 1") == 1
    assert client.db.index == 0 and broker.execute(client, [b"GET", b"k"]) is None
    broker.execute(client, [b"SELECT", b"2"])
    assert broker.execute(client, [b"GET", b"k"]) == b"v"


# ------------------------------------------------------------------ runaway and memory

def test_runaway_script_is_stopped_past_the_threshold_by_the_injected_clock() -> None:
    broker, client = _broker(**{"busy-reply-threshold": "1000"})
    sandbox = scripting_of(broker).eval.sandbox
    now = [0.0]

    def clock() -> float:
        now[0] += 0.25  # each runaway check sees 250 ms more
        return now[0]

    sandbox.monotonic = clock
    reply = _eval(broker, client, "while true do pcall(function() while true do end end) end")
    assert isinstance(reply, CommandError)
    assert reply.message.startswith("ERR Script killed: it ran longer than busy-reply-threshold (lua-time-limit, "
                                    "1000 ms)")
    sandbox.monotonic = lambda: 5.0  # a clock that stands still: no script runs "long"
    assert _eval(broker, client, "local n = 0 for i = 1, 1000000 do n = n + i end return n") == 500000500000
    # the stop made the hook fire at every instruction; the next script is back to
    # one runaway check (one clock reading) per HOOK_COUNT instructions
    readings = []
    sandbox.monotonic = lambda: readings.append(1) or 5.0
    assert _eval(broker, client, "local n = 0 for i = 1, 100000 do n = n + 1 end return n") == 100000
    assert 1 <= len(readings) <= 10, len(readings)
    sandbox.monotonic = clock
    broker.execute(client, [b"CONFIG", b"SET", b"lua-time-limit", b"0"])  # 0: never stopped
    assert broker.config.get("busy-reply-threshold") == "0"
    assert _eval(broker, client, "local n = 0 for i = 1, 3000000 do n = n + 1 end return n") == 3000000


def test_memory_cap_stops_a_hungry_script_and_the_interpreter_recovers() -> None:
    broker, client = _broker(**{"lua-max-memory": str(16 * 1024 * 1024)})
    hog = "local t = {} local s = string.rep('x', 65536) for i = 1, 1e9 do t[i] = s .. i end"
    for _ in range(3):
        reply = _eval(broker, client, hog)
        assert isinstance(reply, CommandError) and "not enough memory" in reply.message
    assert _eval(broker, client, "local t = {} for i = 1, 1000 do t[i] = string.rep('y', 1000) end return #t") == 1000


# ------------------------------------------------------------------ functions

LIBRARY = b"#!lua name=lib\nredis.register_function('hello', function(keys, args) return 'hi ' .. args[1] end)\n"


def test_function_load_call_and_payload_round_trip() -> None:
    broker, client = _broker()
    assert broker.execute(client, [b"FUNCTION", b"LOAD", LIBRARY]) == b"lib"
    assert broker.execute(client, [b"FCALL", b"hello", b"0", b"you"]) == b"hi you"
    payload = broker.execute(client, [b"FUNCTION", b"DUMP"])
    assert parse_payload(payload) == [LIBRARY] and payload == dump_payload([LIBRARY])
    broker.execute(client, [b"FUNCTION", b"FLUSH"])
    assert broker.execute(client, [b"FCALL", b"hello", b"0", b"x"]).message == "ERR Function not found"
    assert broker.execute(client, [b"FUNCTION", b"RESTORE", payload]) == Simple("OK")
    assert broker.execute(client, [b"FCALL_RO", b"hello", b"0", b"x"]).message == \
        "ERR Can not execute a script with write flag using *_ro command."
    broken = payload[:-1] + bytes([payload[-1] ^ 1])
    assert broker.execute(client, [b"FUNCTION", b"RESTORE", broken]).message == \
        "ERR DUMP payload version or checksum are wrong"


def test_function_load_of_code_that_never_ends_times_out() -> None:
    broker, client = _broker()
    sandbox = scripting_of(broker).functions.sandbox
    now = [0.0]

    def clock() -> float:
        now[0] += 0.2
        return now[0]

    sandbox.monotonic = clock
    reply = broker.execute(client, [b"FUNCTION", b"LOAD", b"#!lua name=spin\nwhile true do end"])
    assert reply.message == "ERR Error registering functions: ERR FUNCTION LOAD timeout"
    assert broker.execute(client, [b"FUNCTION", b"LOAD", LIBRARY]) == b"lib"
    sandbox.monotonic = lambda: 1.0
    assert broker.execute(client, [b"FCALL", b"hello", b"0", b"again"]) == b"hi again"


def test_crc64_is_redis_crc64_jones() -> None:
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


def test_blocking_commands_and_multi_refused_in_scripts_nulls_from_non_blocking_forms() -> None:
    broker, client = _broker()
    assert _eval(broker, client, "return redis.pcall('blpop', 'l', 0)").message == \
        "ERR This Redis command is not allowed from script"
    assert _eval(broker, client, "return redis.pcall('multi')").message == \
        "ERR This Redis command is not allowed from script"
    assert _eval(broker, client, "return redis.call('blmpop', 0, 1, 'l', 'LEFT')") is None
    assert broker.execute(client, [b"EVAL", b"return redis.call('blmpop', 0, 1, 'l', 'LEFT')", b"0"]) is not NULL_ARRAY
