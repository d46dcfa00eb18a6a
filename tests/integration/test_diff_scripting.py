"""Lua scripting on our broker against redis-server 7.0.15: the same scripts, the
same bytes on the wire.

Each case runs on a fresh keyspace with a few keys of every type, over RESP2 and
over RESP3 (HELLO 3), and the raw reply bytes are compared, so a conversion that
differs only in RESP type (status vs bulk, double vs bulk, set vs array) fails.
Error texts include the ``script: <sha>, on @user_script:<line>.`` suffix.
"""

from __future__ import annotations

import socket
from typing import Any, Iterator, Sequence

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.resp_client import encode_command
from tests.support.servers import ServerProcess

SETUP: list[tuple[str, ...]] = [
    ("SET", "s", "hello"), ("SET", "n", "41"), ("RPUSH", "l", "a", "b", "c"), ("HSET", "h", "f", "v"),
    ("SADD", "st", "m"), ("ZADD", "z", "1.5", "m", "3", "n"), ("XADD", "x", "1-1", "f", "v"),
]


class RawClient:
    """One connection answering each command with its reply's exact bytes."""

    def __init__(self, port: int, protocol: int = 2) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.pending = b""
        if protocol == 3:
            self.call("HELLO", "3")

    def call(self, *args: Any) -> bytes:
        self.sock.sendall(encode_command(*args))
        reader = hiredis.Reader(notEnoughData=Ellipsis)
        data = self.pending
        reader.feed(data)
        while reader.gets() is Ellipsis:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
            reader.feed(chunk)
        self.pending = b""
        return data

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def clients(redis_server: ServerProcess, fanout_broker: ServerProcess) -> Iterator[dict[str, RawClient]]:
    made = {f"{name}{proto}": RawClient(server.port, proto)
            for name, server in (("redis", redis_server), ("fanout", fanout_broker)) for proto in (2, 3)}
    yield made
    for client in made.values():
        client.close()


def _fresh(client: RawClient) -> None:
    client.call("FLUSHALL")
    client.call("SCRIPT", "FLUSH")
    client.call("FUNCTION", "FLUSH")
    for command in SETUP:
        client.call(*command)


def _same(clients: dict[str, RawClient], commands: Sequence[Sequence[Any]], protocols: Sequence[int] = (2, 3)) -> list[bytes]:
    """Run ``commands`` on both servers per protocol; assert identical bytes; return redis's."""
    seen = []
    for proto in protocols:
        redis, ours = clients[f"redis{proto}"], clients[f"fanout{proto}"]
        _fresh(redis)
        _fresh(ours)
        for command in commands:
            want, got = redis.call(*command), ours.call(*command)
            if command[:2] == ("FUNCTION", "LIST") and want != got:
                # functions come in redis-server's hash order: compare them sorted
                want, got = _sorted_listing(want), _sorted_listing(got)
            assert got == want, f"RESP{proto} {command!r}:\n  redis-server: {want!r}\n  fanout:       {got!r}"
            seen.append(want)
    return seen


def _sorted_listing(raw: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(raw)
    libraries = reader.gets()
    if not isinstance(libraries, list):
        return libraries
    out = []
    for library in libraries:
        fields = dict(zip(library[::2], library[1::2])) if isinstance(library, list) else dict(library)
        fields[b"functions"] = sorted(map(repr, fields[b"functions"]))
        out.append(sorted(fields.items()))
    return sorted(out)


# Scripts run as EVAL <script> 2 s l arg1 2.5
SCRIPTS = [
    # Lua -> reply
    "return 1", "return 3.99", "return -3.99", "return 1e20", "return 0/0", "return 'str'", "return ''",
    "return true", "return false", "return nil", "return {}", "return {1, 2, 3.7, 'a', nil, 5}",
    "return {1, {2, {3, 'x'}}, false, 'after-false'}", "return {ok='fine'}", "return {ok='a\\r\\nb'}",
    "return {err='bad thing'}", "return {err='ERR x'}", "return {err=5}", "return {ok=5}",
    "return redis.error_reply('MY bad')", "return redis.error_reply('bad')", "return redis.error_reply('-E x')",
    "return redis.error_reply()", "return redis.status_reply('yo')", "return redis.status_reply(5)",
    "return {double=3.5}", "return {double=0.1}", "return {double='x'}", "return {big_number='1234567890123456789012'}",
    "return {map={a=1}}", "return {set={a=true}}", "return {verbatim_string={format='txt', string='hi'}}",
    "return {1, {ok='in'}, {err='ERR in'}}", "return print", "return function() end", "return coroutine.create(print)",
    "redis.setresp(3); return true", "redis.setresp(3); return false", "redis.setresp(3); return {double=2.5}",
    "redis.setresp(3); return {map={k='v'}}", "redis.setresp(3); return {set={k=true}}",
    "redis.setresp(3); return {big_number='99'}", "redis.setresp(3); return nil",
    # reply -> Lua (RESP2)
    "return redis.call('get', 's')", "return redis.call('get', 'nokey')", "return type(redis.call('get', 'nokey'))",
    "return redis.call('incr', 'n')", "return redis.call('ping')", "return redis.call('set', 'k', 'v')",
    "return type(redis.call('ping'))", "return redis.call('ping').ok", "return redis.call('lrange', 'l', 0, -1)",
    "return redis.call('hgetall', 'h')", "return redis.call('smembers', 'st')", "return redis.call('zscore', 'z', 'm')",
    "return redis.call('zrange', 'z', 0, -1, 'withscores')", "return redis.call('xrange', 'x', '-', '+')",
    "return redis.call('exists', 's', 'l', 'nokey')", "return redis.call('type', 'h')",
    "return redis.call('incrbyfloat', 'n', '1.5')", "return redis.call('set', 'k', 3.5)",
    "redis.call('set', 'k', 1/3); return redis.call('get', 'k')", "redis.call('set', 'k', 2^53); return redis.call('get', 'k')",
    "redis.call('set', 'k', 1e20); return redis.call('get', 'k')", "return redis.call('lpop', 'nokey')",
    "return redis.call('blpop', 'nokey', 0)", "return redis.call('xread', 'BLOCK', 0, 'STREAMS', 'nostream', '$')",
    "return redis.call('blmpop', 0, 1, 'nolist', 'LEFT')",
    # reply -> Lua (RESP3)
    "redis.setresp(3); return redis.call('hgetall', 'h')", "redis.setresp(3); return redis.call('get', 'nokey')",
    "redis.setresp(3); return type(redis.call('get', 'nokey'))", "redis.setresp(3); return redis.call('zscore', 'z', 'm')",
    "redis.setresp(3); local d = redis.call('zscore', 'z', 'm'); return {type(d), d.double}",
    "redis.setresp(3); return redis.call('smembers', 'st')", "redis.setresp(3); local t = redis.call('smembers', 'st'); return t.set.m",
    "redis.setresp(3); local t = redis.call('hgetall', 'h'); return t.map.f",
    "redis.setresp(3); return redis.call('zrange', 'z', 0, -1, 'withscores')",
    "redis.setresp(3); return redis.call('exists', 'h')", "redis.setresp(3); return redis.call('ping')",
    "redis.setresp(3); return redis.call('incrbyfloat', 'n', '1.5')",
    # KEYS / ARGV
    "return KEYS", "return ARGV", "return {#KEYS, #ARGV, KEYS[1], ARGV[2]}", "return tonumber(ARGV[2]) * 2",
    # errors
    "x = 5", "return x", "return _G.x", "return rawget(_G, 'x')", "error('boom')", "error({err='ERR table'})",
    "error({err='MY table'})", "error(nil)", "error(12)", "local a = nil; return a.b", "return 1 +",
    "return redis.call('nosuch')", "return redis.call('get')", "return redis.call('set', 'k')",
    "return redis.call()", "return redis.call({})", "return redis.call('get', {})", "return redis.call('get', nil)",
    "return redis.call('lpush', 's', 'a')", "return redis.pcall('lpush', 's', 'a')",
    "return pcall(redis.call, 'lpush', 's', 'a')", "return {pcall(redis.call, 'lpush', 's', 'a')}",
    "local ok, e = pcall(redis.call, 'nosuch'); return e", "return type(redis.pcall('nosuch'))",
    "return redis.pcall('nosuch')", "return redis.pcall('nosuch').err",
    "return redis.call('subscribe', 'c')", "return redis.call('multi')", "return redis.call('exec')",
    "return redis.call('config', 'get', 'maxmemory')", "return redis.call('eval', 'return 1', 0)",
    "return redis.call('blpop', 'l', 0)", "return redis.call('quit')", "return redis.call('watch', 'k')",
    "return redis.call('client', 'id')", "return redis.call('script', 'load', 'return 1')",
    "return redis.call('incr', 's')", "return redis.call('hget', 'l', 'f')",
    "\nredis.call('get',\n  'a', 'b')", "local function f() error('deep') end\nf()",
    "redis.setresp(4)", "redis.setresp()", "redis.log(redis.LOG_WARNING, 'hi')", "redis.log(99, 'hi')",
    "redis.log(1)", "redis.log('x', 'y')", "redis.set_repl(99)", "redis.set_repl()", "return redis.sha1hex()",
    "string.foo = 1", "redis.call = nil", "math.random = nil", "_G.x = 1", "rawset(_G, 'x', 1)",
    "setmetatable(_G, {})",
    # library surface
    "return redis.sha1hex('')", "return redis.sha1hex('abc')", "return redis.sha1hex(12)", "return redis.REPL_ALL",
    "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}",
    "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
    "return redis.replicate_commands()", "return redis.breakpoint()", "return redis.debug('x')",
    "redis.set_repl(redis.REPL_ALL); return 1", "return type(os)", "return type(io)", "return type(loadfile)",
    "return type(dofile)", "return type(require)", "return type(print)", "return type(package)",
    "return type(string.rep)", "return type(table.concat)", "return type(math.floor)", "return type(unpack)",
    "return type(tonumber)", "return type(loadstring)", "return type(coroutine.wrap)", "return _VERSION",
    "return loadstring('return 7')()", "return string.format('%d-%s', 7, 'x')", "return tostring(9007199254740993)",
    "return table.concat({'a', 'b'}, ',')", "return string.rep('ab', 3)", "return ('x'):rep(2)",
    "return select('#', 1, 2, 3)", "return unpack({1, 2})", "return math.floor(2.7)", "return math.huge > 1",
    "local t = {} t.x = 1 return t.x", "local co = coroutine.wrap(function() coroutine.yield(5) end) return co()",
    "return tostring(math.random())", "return math.random(10)", "return math.random(5, 7)",
    "math.randomseed(1); return {math.random(100), math.random(100)}",
    "return redis.call('select', 3)", "redis.call('select', 3); return redis.call('get', 's')",
    "return pcall(error)", "return select(2, pcall(error, 'x'))", "return select(2, pcall(error, {err='t'}))",
    "return xpcall(function() error('x') end, function(e) return 'handled' end)",
    "return redis.acl_check_cmd('get')",
    # commands of other groups through scripts
    "redis.call('geoadd', 'g', '13.361389', '38.115556', 'p'); return redis.call('geopos', 'g', 'p')",
    "redis.setresp(3); redis.call('geoadd', 'g', '13.361389', '38.115556', 'p'); return redis.call('geopos', 'g', 'p')",
    "redis.call('pfadd', 'hll', 'a', 'b'); return redis.call('pfcount', 'hll')",
    "return redis.call('sort', 'l', 'alpha')", "redis.call('set', 'a1', 'ohmytext'); redis.call('set', 'a2', 'mynewtext');"
    " return redis.call('lcs', 'a1', 'a2')", "redis.call('setbit', 'b', 7, 1); return redis.call('bitcount', 'b')",
]

_NUMBERED = list(enumerate(SCRIPTS))


@pytest.mark.parametrize("case", _NUMBERED, ids=[f"{i}" for i, _ in _NUMBERED])
def test_script_replies_match_redis(clients: dict[str, RawClient], case: tuple[int, str]) -> None:
    _, script = case
    _same(clients, [("EVAL", script, 2, "s", "l", "arg1", "2.5"), ("GET", "s"), ("DBSIZE",)])


def test_shebang_flags_and_read_only_scripts(clients: dict[str, RawClient]) -> None:
    _same(clients, [
        ("EVAL_RO", "return redis.call('get', 's')", 0),
        ("EVAL_RO", "return redis.call('set', 's', 'x')", 0),
        ("EVAL_RO", "return redis.call('publish', 'c', 'x')", 0),
        ("EVAL_RO", "return redis.call('pfcount', 'nohll')", 0),
        ("EVAL_RO", "return redis.pcall('del', 's')", 0),
        ("EVAL", "#!lua flags=no-writes\nreturn redis.call('set', 's', 'x')", 0),
        ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get', 's')", 0),
        ("EVAL_RO", "#!lua\nreturn redis.call('get', 's')", 0),
        ("EVAL_RO", "#!lua flags=no-writes\nreturn redis.call('get', 's')", 0),
        ("EVAL", "#!lua\nreturn 1", 0), ("EVAL", "#!lua", 0), ("EVAL", "#!python\nreturn 1", 0),
        ("EVAL", "#!lua flags=bogus\nreturn 1", 0), ("EVAL", "#!lua name=x\nreturn 1", 0),
        ("EVAL", "#!lua flags=allow-oom,no-writes\nerror('line two')", 0),
        ("EVAL", "#! lua\nreturn 1", 0),
    ])


def test_eval_arguments_and_script_cache(clients: dict[str, RawClient]) -> None:
    script = "return {KEYS[1], ARGV[1]}"
    sha = __import__("hashlib").sha1(script.encode()).hexdigest()
    _same(clients, [
        ("EVAL", "return 1", 1), ("EVAL", "return 1", -1), ("EVAL", "return 1", "x"), ("EVAL", "return 1", 2, "a"),
        ("EVAL", "return 1", "99999999999999999999"),
        ("EVALSHA", sha, 1, "k", "a"), ("EVALSHA", "short", 0), ("EVALSHA", sha.upper(), 0),
        ("SCRIPT", "EXISTS", sha, "0" * 40), ("SCRIPT", "LOAD", script), ("SCRIPT", "EXISTS", sha, sha.upper()),
        ("EVALSHA", sha, 1, "k", "a"), ("EVALSHA", sha.upper(), 1, "k", "a"), ("EVALSHA_RO", sha, 1, "k", "a"),
        ("EVALSHA", sha, 2, "k"), ("SCRIPT", "LOAD", "return 1 +"), ("SCRIPT", "FLUSH"),
        ("SCRIPT", "EXISTS", sha), ("EVALSHA", sha, 0), ("SCRIPT", "FLUSH", "ASYNC"), ("SCRIPT", "FLUSH", "SYNC"),
        ("SCRIPT", "FLUSH", "BOGUS"), ("SCRIPT", "KILL"), ("SCRIPT", "BOGUS"), ("SCRIPT", "LOAD"),
        ("SCRIPT", "EXISTS"), ("EVAL", script, 1, "k", "a"), ("SCRIPT", "EXISTS", sha),
        ("FUNCTION", "KILL"), ("SCRIPT", "HELP"),
    ])


LIB = "#!lua name=mylib\n" \
      "local function get(keys, args) return redis.call('get', keys[1]) end\n" \
      "redis.register_function('myget', get)\n" \
      "redis.register_function{function_name='myset', callback=function(keys, args) " \
      "return redis.call('set', keys[1], args[1]) end, description='sets', flags={'allow-oom'}}\n" \
      "redis.register_function{function_name='ro', callback=function(keys) return redis.call('exists', keys[1]) end, " \
      "flags={'no-writes'}}\n"
LIB2 = "#!lua name=other\nredis.register_function('o', function() return 'o' end)"


def test_functions_load_call_list_delete(clients: dict[str, RawClient]) -> None:
    _same(clients, [
        ("FUNCTION", "LIST"), ("FUNCTION", "LOAD", LIB), ("FUNCTION", "LOAD", LIB), ("FUNCTION", "LOAD", "REPLACE", LIB),
        ("FCALL", "myget", 1, "s"), ("FCALL", "MYGET", 1, "s"), ("FCALL", "myset", 1, "k", "v"), ("GET", "k"),
        ("FCALL_RO", "myset", 1, "k", "v"), ("FCALL_RO", "ro", 1, "k"), ("FCALL", "nosuch", 0),
        ("FCALL", "myget", "x"), ("FCALL", "myget", 5, "a"), ("FCALL", "myget", -1),
        ("FUNCTION", "LIST"), ("FUNCTION", "LIST", "WITHCODE"), ("FUNCTION", "LIST", "LIBRARYNAME", "my*"),
        ("FUNCTION", "LIST", "LIBRARYNAME", "zz*"), ("FUNCTION", "LIST", "LIBRARYNAME"), ("FUNCTION", "LIST", "BOGUS"),
        ("FUNCTION", "LIST", "WITHCODE", "WITHCODE"), ("FUNCTION", "STATS"),
        ("FUNCTION", "LOAD", LIB2), ("FCALL", "o", 0), ("FUNCTION", "DELETE", "other"), ("FUNCTION", "DELETE", "other"),
        ("FCALL", "o", 0), ("FUNCTION", "FLUSH"), ("FUNCTION", "LIST"), ("FUNCTION", "FLUSH", "BOGUS"),
        ("FUNCTION", "KILL"), ("FUNCTION", "HELP"), ("FUNCTION", "LOAD"), ("FUNCTION", "LOAD", "BOGUS", LIB),
        ("EVAL", "return redis.call('fcall', 'myget', 0)", 0),
    ])


LOAD_ERRORS = [
    "return 1", "#!lua\nreturn 1", "#!lua name=a name=b\n", "#!lua bogus=1\n", "#!lua name=bad-name\n",
    "#!py name=x\n", "#!lua name=x\nreturn 1", "#!lua name=x\nreturn 1 +",
    "#!lua name=x\nredis.register_function('f')", "#!lua name=x\nredis.register_function('f', 'g')",
    "#!lua name=x\nredis.register_function(1, function() end)", "#!lua name=x\nredis.register_function('x')",
    "#!lua name=x\nredis.register_function{function_name='f'}", "#!lua name=x\nredis.register_function{callback=print}",
    "#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags={'bogus'}}",
    "#!lua name=x\nredis.register_function{function_name='f', callback=function() end, bogus=1}",
    "#!lua name=x\nredis.register_function{function_name=1, callback=function() end}",
    "#!lua name=x\nredis.register_function('b-d', function() end)",
    "#!lua name=x\nredis.register_function('f', function() end)\nredis.register_function('f', function() end)",
    "#!lua name=x\nredis.call('ping')", "#!lua name=x\nlocal s = string.rep('a', 2)", "#!lua name=x\nerror('boom')",
    "#!lua name=x\nredis.log(redis.LOG_NOTICE, 'loading')\nredis.register_function('f', function() return 1 end)",
    "#!lua name=x\nredis.register_function('myget', function() end)",
    "#!lua name=x\nwhile true do end", "#!lua name=x\nredis.register_function('f', function() end)\nerror('x')",
    "#!lua name=x\nredis.register_function('f', function() end)\nredis.foo()",
]


@pytest.mark.parametrize("code", LOAD_ERRORS, ids=[str(i) for i in range(len(LOAD_ERRORS))])
def test_function_load_errors_match(clients: dict[str, RawClient], code: str) -> None:
    _same(clients, [("FUNCTION", "LOAD", LIB), ("FUNCTION", "LOAD", code), ("FUNCTION", "LIST", "LIBRARYNAME", "x")],
          protocols=(2,))


def test_function_runtime_errors_carry_the_function_name(clients: dict[str, RawClient]) -> None:
    lib = ("#!lua name=errs\n"
           "redis.register_function('boom', function() error('boom') end)\n"
           "redis.register_function('wrong', function(keys) return redis.call('lpush', keys[1], 'x') end)\n"
           "redis.register_function('glob', function() return KEYS end)\n")
    _same(clients, [("FUNCTION", "LOAD", lib), ("FCALL", "boom", 0), ("FCALL", "wrong", 1, "s"), ("FCALL", "glob", 0)])


def test_function_dump_restore_both_ways(clients: dict[str, RawClient]) -> None:
    """Our DUMP restores on redis-server and redis-server's on ours (payload bytes differ:
    redis-server compresses with LZF; RESTORE reads both)."""
    for source, target in (("redis2", "fanout2"), ("fanout2", "redis2")):
        src, dst = clients[source], clients[target]
        for client in (src, dst):
            _fresh(client)
        src.call("FUNCTION", "LOAD", LIB)
        src.call("FUNCTION", "LOAD", LIB2)
        payload = hiredis.Reader()
        payload.feed(src.call("FUNCTION", "DUMP"))
        dump = payload.gets()
        assert isinstance(dump, bytes) and dump[0] == 245
        assert dst.call("FUNCTION", "RESTORE", dump) == b"+OK\r\n"
        assert dst.call("FUNCTION", "RESTORE", dump).startswith(b"-ERR Library ")
        assert dst.call("FUNCTION", "RESTORE", dump, "REPLACE") == b"+OK\r\n"
        assert dst.call("FUNCTION", "RESTORE", dump, "FLUSH") == b"+OK\r\n"
        assert dst.call("FCALL", "o", 0) == b"$1\r\no\r\n"
        assert dst.call("FCALL", "myget", 1, "s") == b"$5\r\nhello\r\n"
        assert dst.call("FUNCTION", "LIST", "WITHCODE") == src.call("FUNCTION", "LIST", "WITHCODE") or \
            sorted(_libraries(dst)) == sorted(_libraries(src))
    _same(clients, [("FUNCTION", "RESTORE", "bogus"), ("FUNCTION", "RESTORE", b"\xf5\x01x\n\x00" + b"\x00" * 8),
                    ("FUNCTION", "RESTORE", "x" * 20, "BOGUS"), ("FUNCTION", "RESTORE", "x", "FLUSH", "extra")],
          protocols=(2,))


def _libraries(client: RawClient) -> list[bytes]:
    reader = hiredis.Reader()
    reader.feed(client.call("FUNCTION", "LIST", "WITHCODE"))
    return [entry[-1] for entry in reader.gets()]


def test_scripts_in_multi_pipelines_and_after_watch(clients: dict[str, RawClient]) -> None:
    _same(clients, [
        ("MULTI",), ("EVAL", "return redis.call('incr', KEYS[1])", 1, "n"), ("EVAL", "return x", 0),
        ("EVAL", "return redis.call('lpush', 's', 'x')", 0), ("EXEC",),
        ("WATCH", "n"), ("EVAL", "return redis.call('incr', 'n')", 0), ("MULTI",), ("GET", "n"), ("EXEC",),
        ("WATCH", "n"), ("MULTI",), ("EVAL", "return redis.call('get', 'n')", 0), ("EXEC",),
        ("MULTI",), ("EVAL", "return redis.call('multi')", 0), ("EXEC",),
    ])
    for proto in (2, 3):
        raw = {}
        for name in ("redis", "fanout"):
            client = clients[f"{name}{proto}"]
            _fresh(client)
            batch = b"".join(encode_command("EVAL", "return redis.call('incr', 'n')", 0) for _ in range(20))
            client.sock.sendall(batch + encode_command("GET", "n"))
            reader = hiredis.Reader()
            data, replies = b"", []
            while len(replies) < 21:
                chunk = client.sock.recv(1 << 16)
                data += chunk
                reader.feed(chunk)
                while (reply := reader.gets()) is not False:
                    replies.append(reply)
            raw[name] = data
        assert raw["fanout"] == raw["redis"]
        assert raw["redis"].endswith(b"$2\r\n61\r\n")


def test_select_inside_a_script_does_not_move_the_caller(clients: dict[str, RawClient]) -> None:
    _same(clients, [
        ("EVAL", "redis.call('select', 5); redis.call('set', 'k', 'in5'); return redis.call('get', 'k')", 0),
        ("GET", "k"), ("SELECT", "5"), ("GET", "k"), ("EVAL", "return redis.call('get', 'k')", 0), ("SELECT", "0"),
    ])


def test_keyspace_events_from_scripts_match(redis_server: ServerProcess, fanout_broker: ServerProcess) -> None:
    from tests.support.differential import keyspace_events
    script = [("EVAL", "redis.call('set', KEYS[1], 'v'); redis.call('incr', KEYS[2]); "
               "redis.call('lpush', KEYS[3], 'a'); redis.call('del', KEYS[1]); redis.call('expire', KEYS[2], 100); "
               "redis.call('get', 'nokey'); return 1", 3, "a", "b", "c"),
              ("EVAL", "redis.call('hset', 'h', 'f', 'v'); return redis.call('lpush', 'a2', 'x')", 0)]
    want = keyspace_events(redis_server.port, script, "KEA")
    assert want  # the events exist
    assert keyspace_events(fanout_broker.port, script, "KEA") == want


def test_math_random_sequence_matches_a_fresh_server(redis_server: ServerProcess) -> None:
    """math.random goes on across scripts from the server's start, as in 7.0: a fresh
    pair of servers gives the same numbers."""
    from tests.support.servers import free_port, start_fanout, start_redis_server
    fresh_redis = start_redis_server()
    fresh_ours = start_fanout("broker", "--port", str(free_port()))
    try:
        out = []
        for server in (fresh_redis, fresh_ours):
            client = RawClient(server.port)
            out.append([client.call("EVAL", "return {math.random(1000), math.random(), math.random(3, 9)}", 0)
                        for _ in range(3)])
            client.close()
        assert out[0] == out[1]
        assert len(set(out[0])) == 3
    finally:
        fresh_redis.stop()
        fresh_ours.stop()


# ------------------------------------------------------------------ generated scripts

_KEYS = ["s", "n", "l", "h", "st", "z", "nokey"]
_VALUES = ["1", "2.5", "-3", "x", "", "10000000000"]
_CALLS = st.one_of(
    st.tuples(st.sampled_from(["get", "incr", "decr", "strlen", "type", "exists", "del", "lpop", "rpop", "llen",
                               "hgetall", "hkeys", "scard", "smembers", "zcard", "ttl", "persist"]),
              st.sampled_from(_KEYS)),
    st.tuples(st.sampled_from(["set", "append", "incrby", "lpush", "rpush", "sadd", "srem", "sismember", "setnx",
                               "getset", "hget", "hexists", "zscore", "zrank", "expire", "incrbyfloat"]),
              st.sampled_from(_KEYS), st.sampled_from(_VALUES)),
    st.tuples(st.sampled_from(["hset", "zadd", "hincrby", "lrange", "zrange", "zincrby", "lindex", "setrange"]),
              st.sampled_from(_KEYS), st.sampled_from(_VALUES), st.sampled_from(_VALUES + ["f", "m"])),
)
_STATEMENT = st.tuples(st.sampled_from(["call", "pcall", "ret"]), _CALLS)


def _lua(statements: list[tuple[str, tuple[str, ...]]], resp: int) -> str:
    lines = [f"redis.setresp({resp})", "local out = {}"]
    for kind, call in statements:
        args = ", ".join(f"'{a}'" for a in call)
        if kind == "call":
            lines.append(f"out[#out + 1] = redis.call({args})")
        elif kind == "pcall":
            lines.append(f"out[#out + 1] = redis.pcall({args})")
        else:
            lines.append(f"return redis.call({args})")
            break
    else:
        lines.append("return out")
    return "\n".join(lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(statements=st.lists(_STATEMENT, min_size=1, max_size=6), resp=st.sampled_from([2, 3]))
def test_generated_scripts_match_redis(clients: dict[str, RawClient], statements: list[Any], resp: int) -> None:
    script = _lua(statements, resp)
    _same(clients, [("EVAL", script, 0), ("DBSIZE",)])


# ---------------------------------------------------------------- issue 12: what Redis's Tcl suite found

def test_globals_metatable_and_registering_outside_function_load(clients: dict[str, RawClient]) -> None:
    """Regression (issue 12, unit/scripting "Try trick global protection 2", unit/functions
    "register function inside a function"): getmetatable(_G) is a read-only table, and
    redis.register_function exists only while FUNCTION LOAD runs a library."""
    lib = ("#!lua name=meta\n"
           "redis.register_function('mt', function() local mt = getmetatable(_G) "
           "return {type(mt), type(mt.__index), type(mt.__index.redis)} end)\n"
           "redis.register_function('trick', function() getmetatable(_G).__index.redis = 1 end)\n"
           "redis.register_function('inner', function() redis.register_function('f2', function() return 2 end) end)\n")
    _same(clients, [
        ("EVAL", "local g = getmetatable(_G); g.__index = {}", 0),
        ("EVAL", "local g = getmetatable(_G); return {type(g), type(g.__index), type(g.__newindex)}", 0),
        ("EVAL", "return getmetatable(_G).__index(_G, 'x')", 0),
        ("EVAL", "setmetatable(getmetatable(_G), {})", 0),
        ("EVAL", "return type(redis.register_function)", 0),
        ("EVAL", "redis.register_function('f', function() end)", 0),
        ("FUNCTION", "LOAD", lib), ("FCALL", "mt", 0), ("FCALL", "trick", 0), ("FCALL", "inner", 0),
    ])


def test_precompiled_chunks_are_refused(clients: dict[str, RawClient]) -> None:
    """Regression (issue 12, "Binary code loading failed"): Redis parses every chunk as
    text, so bytecode fails at its first byte, ESC, wherever it is loaded from."""
    dumped = "string.dump(function() return 1 end)"
    _same(clients, [
        ("EVAL", f"return loadstring({dumped})()", 0),
        ("EVAL", f"local f, e = loadstring({dumped}); return {{tostring(f), e}}", 0),
        ("EVAL", f"local f, e = loadstring({dumped}, 'named'); return {{tostring(f), e}}", 0),
        ("EVAL", "local f, e = loadstring('\\27Lua'); return {tostring(f), e}", 0),
        ("EVAL", f"local n = 0; return {{tostring(select(2, load(function() n = n + 1; "
                 f"if n == 1 then return {dumped} end end)))}}", 0),
        ("EVAL", "local n = 0; return load(function() n = n + 1; if n == 1 then return 'return 7' end end)()", 0),
        ("EVAL", "return {loadstring('return 5')()}", 0), ("EVAL", "return {loadstring('x x')}", 0),
        ("EVAL", "return loadstring()", 0), ("EVAL", "return loadstring({})", 0), ("EVAL", "return load(nil)", 0),
        ("EVAL", "\x1bLuaQ", 0),
    ])


def test_cluster_commands_answer_as_without_cluster_support(clients: dict[str, RawClient]) -> None:
    """Regression (issue 12, "CLUSTER RESET can not be invoke from within a script")."""
    _same(clients, [
        ("CLUSTER", "INFO"), ("CLUSTER", "RESET", "HARD"), ("CLUSTER", "HELP"), ("CLUSTER", "KEYSLOT", "k"),
        ("CLUSTER", "KEYSLOT"), ("CLUSTER", "NOSUCH"), ("CLUSTER",), ("CLUSTER", "SLOTS"), ("CLUSTER", "MYID"),
        ("READONLY",), ("READWRITE",), ("ASKING",), ("READONLY", "x"),
        ("EVAL", "return redis.call('cluster', 'reset', 'hard')", 0),
        ("EVAL", "return redis.pcall('cluster', 'reset')", 0),
        ("EVAL", "return redis.call('cluster', 'info')", 0), ("EVAL", "return redis.pcall('readonly')", 0),
    ])


def test_lua_stack_sized_arguments_and_self_referencing_replies(clients: dict[str, RawClient]) -> None:
    """Regression (issue 12, "Script check unpack with massive arguments", "Script return
    recursive object"): redis.call takes what the Lua stack holds, and a reply nested
    past it ends in "reached lua stack limit" at the same depth, in both protocols."""
    lib = ("#!lua name=rec\n"
           "redis.register_function('rec', function() local a = {}; a[1] = {a}; return a end)\n")
    _same(clients, [
        ("EVAL", "local a = {} for i = 1, 7999 do a[i] = i end return redis.call('lpush', 'big', unpack(a))", 0),
        ("EVAL", "local a = {} for i = 1, 7999 do a[i] = 1 end return redis.pcall('rpush', 'big', unpack(a))", 0),
        ("LLEN", "big"), ("LRANGE", "big", 0, 2),
        ("EVAL", "local a = {} for i = 1, 8000 do a[i] = 1 end return redis.call('lpush', 'big', unpack(a))", 0),
        ("EVAL", "local a = {} for i = 1, 300 do a = {a, i} end return a", 0),
    ])
    deep = [
        ("EVAL", "local a = {}; local b = {a}; a[1] = b; return a", 0),
        ("EVAL", "local a = {}; a.map = {x = a}; return a", 0),
        ("EVAL", "local a = {}; a.map = {}; a.map[a] = 1; return a", 0),
        ("EVAL", "local a = {}; a.set = {}; a.set[a] = true; return a", 0),
        ("EVAL", "local a = {1, 2, {ok = 'x'}, {err = 'y'}}; a[5] = a; return a", 0),
        ("FCALL", "rec", 0),
    ]
    for proto in (2, 3):
        redis, ours = clients[f"redis{proto}"], clients[f"fanout{proto}"]
        for client in (redis, ours):
            _fresh(client)
            client.call("FUNCTION", "LOAD", lib)
        for command in deep:
            want, got = _reply_nested_past_hiredis(redis, command), _reply_nested_past_hiredis(ours, command)
            assert b"-ERR reached lua stack limit\r\n" in want and len(want) > 10_000
            assert got == want, f"RESP{proto} {command!r}: {len(got)} bytes, redis-server's {len(want)}"
        # map keys that are tables (each its own key, even when alike), which hiredis cannot read in RESP3
        for command in [("EVAL", "return {map = {[{1}] = 1, [{1}] = 2}}", 0),
                        ("EVAL", "return {map = {[{err = 'k'}] = 1, [{map = {a = 1}}] = 2}}", 0)]:
            assert _reply_nested_past_hiredis(ours, command) == _reply_nested_past_hiredis(redis, command), command


def _reply_nested_past_hiredis(client: RawClient, command: Sequence[Any]) -> bytes:
    """The raw reply to ``command``, one hiredis cannot read (nested past its depth, maps
    with array keys): the command then a PING, read up to the PONG (the reply itself
    holds no simple string)."""
    client.sock.sendall(encode_command(*command) + encode_command("PING"))
    data = b""
    while not data.endswith(b"+PONG\r\n"):
        chunk = client.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data[:-len(b"+PONG\r\n")]


def test_function_flush_arguments_and_quoted_shebang_values(clients: dict[str, RawClient]) -> None:
    """Regression (issue 12, "test function wrong argument", "function test name with
    quotes"): shebang lines are split as sdssplitargs splits them."""
    _same(clients, [
        ("FUNCTION", "FLUSH", "bad_arg"), ("FUNCTION", "FLUSH", "sync", "extra_arg"),
        ("FUNCTION", "LOAD", "#!lua name=\"foo\"\nredis.register_function('foo', function() return 1 end)"),
        ("FCALL", "foo", 0), ("FUNCTION", "LIST", "LIBRARYNAME", "foo"),
        ("FUNCTION", "LOAD", "#!lua name='b a'\nredis.register_function('ba', function() return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=\"unbalanced\nredis.register_function('u', function() return 1 end)"),
        ("EVAL", "#!lua flags=\nreturn 1", 0),
        ("EVAL", "#!lua flags=\"no-writes\"\nreturn redis.call('set', 's', 'x')", 0),
        ("EVAL", "#!lua \"flags=no-writes\nreturn 1", 0),
    ])


def _info_fields(client: RawClient, section: str) -> dict[bytes, bytes]:
    reader = hiredis.Reader()
    reader.feed(client.call("INFO", section))
    text = reader.gets()
    return dict(line.split(b":", 1) for line in text.split(b"\r\n") if b":" in line)


def test_info_counts_cached_scripts_and_functions_and_script_writes_count_as_changes(
        clients: dict[str, RawClient]) -> None:
    """Regression (issue 12, "SCRIPTING FLUSH ASYNC"): INFO memory's scripting fields;
    a script's writes add to rdb_changes_since_last_save as the same commands would."""
    counts = {}
    for name in ("redis2", "fanout2"):
        client = clients[name]
        _fresh(client)
        for j in range(5):
            client.call("SCRIPT", "LOAD", f"return {j}")
        client.call("FUNCTION", "LOAD", "#!lua name=l1\nredis.register_function('a', function() return 1 end)\n"
                                        "redis.register_function('b', function() return 1 end)")
        memory = _info_fields(client, "memory")
        fields = [memory[key] for key in (b"number_of_cached_scripts", b"number_of_functions",
                                          b"number_of_libraries")]
        assert int(memory[b"used_memory_vm_eval"]) > 0 and memory[b"used_memory_lua"] == memory[b"used_memory_vm_eval"]
        client.call("SCRIPT", "FLUSH", "ASYNC")
        fields.append(_info_fields(client, "memory")[b"number_of_cached_scripts"])
        before = int(_info_fields(client, "persistence")[b"rdb_changes_since_last_save"])
        client.call("EVAL", "redis.call('set', KEYS[1], 'v'); redis.call('incr', KEYS[2]); "
                            "redis.call('get', KEYS[1]); return redis.pcall('incr', KEYS[1])", 2, "w1", "w2")
        after = int(_info_fields(client, "persistence")[b"rdb_changes_since_last_save"])
        counts[name] = (fields, after - before)
    assert counts["fanout2"] == counts["redis2"] == ([b"5", b"2", b"1", b"0"], 2)


# ---------------------------------------------------------------- libraries on first use

def test_libraries_loaded_on_first_use_answer_as_loaded_at_start(clients: dict[str, RawClient]) -> None:
    """cjson/struct/cmsgpack/bit are loaded when a script first reads their global (our
    libraries are Lua code; Redis's, C, cost nothing unused): the first read may be
    in a pcall, a function, a write attempt, struct before bit (struct uses bit's
    code), after SCRIPT FLUSH (a new interpreter); FUNCTION LOAD's code finds none."""
    first_touches = [
        ("EVAL", "return {type(cjson), type(struct), type(cmsgpack), type(bit)}", 0),
        ("EVAL", "cjson.encode = nil", 0),
        ("EVAL", "return {pcall(cjson.decode, '{')}", 0),
        ("EVAL", "return struct.pack('>I2', 258)", 0),
        ("EVAL", "return bit.tohex(bit.band(0xff, 0x0f))", 0),
        ("EVAL", "return cmsgpack.unpack(cmsgpack.pack({1, 'a', {2}}))", 0),
        ("EVAL", "return cjson.decode('[1,\"x\"') ", 0),
        ("EVAL", "return {pcall(function() return struct.unpack('>I', 'ab') end)}", 0),
        ("EVAL", "bit = 1", 0),
        ("EVAL", "return rawequal(cjson, cjson)", 0),
    ]
    for touch in first_touches:
        _same(clients, [touch, ("SCRIPT", "FLUSH"), touch])
    _same(clients, [
        ("FUNCTION", "LOAD", "#!lua name=lib1\nredis.register_function('j', function(k, a) "
                             "return cjson.encode({a[1], struct.size('>I')}) end)"),
        ("FCALL", "j", 0, "x"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nlocal e = cjson.encode\n"
                             "redis.register_function('k', function() return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=lib3\nlocal ok = pcall(function() return bit end)\n"
                             "redis.register_function('m', function() return ok end)"),
        ("FCALL", "m", 0),
    ])


def test_used_memory_lua_stays_low_after_many_scripts(clients: dict[str, RawClient]) -> None:
    """Regression (issue 12, unit/scripting "EVAL does not leak in the Lua stack"):
    right after SCRIPT FLUSH, and after it and 10,000 scripts that use no library,
    used_memory_lua is below 100 KB on both servers."""
    for name in ("redis2", "fanout2"):
        client = clients[name]
        _fresh(client)
        client.call("EVAL", "return cjson.encode({1})", 0)  # a library loaded before the flush
        client.call("SCRIPT", "FLUSH")
        # the new interpreter, before it ran anything (the Tcl test's functions round
        # runs its scripts as FCALLs: the EVAL interpreter stays as SCRIPT FLUSH left it)
        fresh = int(_info_fields(client, "memory")[b"used_memory_lua"])
        assert fresh < 100 * 1024, (name, fresh)
        client.call("SET", "x", "0")
        script = "return redis.call('incr', KEYS[1])"
        batch = b"".join(encode_command("EVAL", script, 1, "x") for _ in range(500))
        for _ in range(20):
            client.sock.sendall(batch)
            reader = hiredis.Reader()
            replies = 0
            while replies < 500:
                reader.feed(client.sock.recv(1 << 16))
                while reader.gets() is not False:
                    replies += 1
        assert client.call("GET", "x") == b"$5\r\n10000\r\n"
        used = int(_info_fields(client, "memory")[b"used_memory_lua"])
        assert used < 100 * 1024, (name, used)
