"""cjson, cmsgpack, bit and struct: the same Lua on redis-server (EVAL), and on each
of ours: a bare lupa runtime with broker.scripting.libs installed, and our broker's
EVAL. Results are compared byte for byte (tests/support/lua_libs.py describes them
canonically). A fixed corpus covers the edges read off Redis 7.0's
deps/lua/src/*.c; hypothesis adds generated values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.lua_libs import LuaLibsRuntime, lua_literal, wrap
from tests.support.servers import ServerProcess, free_port, start_fanout, start_redis_server


class BrokerEval:
    """Our broker's EVAL, with LuaLibsRuntime's run()."""

    def __init__(self, port: int) -> None:
        self.client = redis.Redis(port=port)

    def run(self, snippet: str) -> bytes:
        result = self.client.eval(wrap(snippet), 0)
        assert isinstance(result, bytes), result
        return result


# Servers of this module's own: every generated snippet is a new script that EVAL
# caches, and a session server's script cache that large changes what MEMORY DOCTOR
# says to other modules' tests.
@pytest.fixture(scope="module")
def own_redis() -> Iterator[ServerProcess]:
    server = start_redis_server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def our_broker() -> Iterator[ServerProcess]:
    server = start_fanout("broker", "--port", str(free_port()))
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["lupa", "broker"])
def lua(request: pytest.FixtureRequest) -> LuaLibsRuntime | BrokerEval:
    if request.param == "lupa":
        return LuaLibsRuntime()
    return BrokerEval(request.getfixturevalue("our_broker").port)


@pytest.fixture(scope="module")
def real(own_redis: ServerProcess) -> redis.Redis:
    return redis.Redis(port=own_redis.port)


def assert_same(real: redis.Redis, lua: LuaLibsRuntime | BrokerEval, snippet: str) -> bytes:
    want = real.eval(wrap(snippet), 0)
    got = lua.run(snippet)
    assert got == want, f"{snippet}\n  redis-server: {want!r}\n  ours:         {got!r}"
    return want


CORPUS = [
    # bit: conversions of doubles (LuaBitOp's 2^52+2^51 trick), strings, errors
    "return bit.tobit(2^53), bit.tobit(2^53 + 2), bit.tobit(-2^53), bit.tobit(2^60 + 2^33 + 7)",
    "return bit.tobit(1/0), bit.tobit(-1/0), bit.tobit(0/0), bit.tobit(-0.5), bit.tobit(-1.5)",
    "return bit.tobit(' 0x10 '), bit.tobit('1e3')",
    "return pcall(bit.tobit, 'x'), pcall(bit.tobit)",
    "return bit.band(), 1",
    "local ok, e = pcall(function() local x = bit.bor(1, 'a', {}) return x end) return e",
    "return bit.lshift(1, 32), bit.lshift(1, 33), bit.lshift(1, -1), bit.rshift(1, 64)",
    "return bit.arshift(-1, 31), bit.arshift(0x7fffffff, 1), bit.rol(1, 0), bit.ror(1, 0), bit.ror(1, 32)",
    "return bit.tohex(-1, 0), bit.tohex(1, 9), bit.tohex(1, -9), bit.tohex(0xabcdef, -2^31), bit.tohex(1, 2^32 + 3)",
    "return pcall(bit.tohex, 1, nil)",
    # struct
    "return struct.pack('bBhHlLTiI', -1, 255, -2, 65535, -3, 2^40, 7, -4, 2^32 - 1)",
    "return struct.pack('>i16', -1), struct.pack('<I3', 2^24 + 5), struct.pack('i7', 2^50)",
    "return struct.unpack('>i16', struct.pack('>i16', -1))",
    "return struct.unpack('>l', '\\255\\255\\255\\255\\255\\255\\255\\255'), struct.unpack('>L', '\\255\\255\\255\\255\\255\\255\\255\\255')",
    "return struct.unpack('>I7', '\\1\\2\\3\\4\\5\\6\\7'), struct.unpack('>i6', '\\128\\0\\0\\0\\0\\1')",
    "return struct.pack('f', 0.1), struct.pack('>d', 1/3), struct.pack('f', 1e300), struct.pack('<f', -1e300)",
    "return struct.unpack('<f', struct.pack('<f', 0.1)), struct.unpack('>d', struct.pack('>d', -0.0))",
    "return struct.pack('!xd', 1), struct.pack('!2xi', 1), struct.pack('!bh!4i', 1, 2, 3), struct.pack('xxb', 1)",
    "return struct.pack('c3', 'abcdef'), struct.pack('c0', 'xyz'), struct.pack('s', 'ab'), struct.pack('c', 12)",
    "return pcall(struct.pack, 'c5', 'ab')",
    "return pcall(struct.pack, 'i', 'x'), pcall(struct.pack, 'i'), pcall(struct.pack)",
    "return pcall(struct.pack, 'i33', 1), pcall(struct.pack, '!3i', 1), pcall(struct.pack, 'i99999999999', 1)",
    "return struct.unpack('bc0', '\\3abcdef'), struct.unpack('c2c0', '12abcdefghijkl')",
    "return pcall(struct.unpack, 'c0', 'abc'), pcall(struct.unpack, 'i', 'ab'), pcall(struct.unpack, 's', 'ab')",
    "return struct.unpack('b', 'abc', 2), struct.unpack('', 'abc', -5), pcall(struct.unpack, 'b', 'abc', 0)",
    "return pcall(struct.unpack, 'b', 'abc', 4), pcall(struct.unpack, 'b', 'abc', -1), struct.unpack('b', 'abc', 3.9)",
    "return struct.size('bhilfd'), struct.size('!bhilfd'), struct.size('<>! x'), struct.size('zq')",
    "return pcall(struct.size, 's'), pcall(struct.size, 'c0'), pcall(struct.size, '='), pcall(struct.size, {})",
    "return struct.unpack(' < i > i', struct.pack(' < i > i', 1, 2))",
    # cmsgpack: every width, float32 vs float64, arrays vs maps, nesting, errors
    "return cmsgpack.pack(127, 128, 255, 256, 65535, 65536, 2^32 - 1, 2^32, 2^53, 2^63, -2^63, 2^64)",
    "return cmsgpack.pack(-32, -33, -128, -129, -32768, -32769, -2^31, -2^31 - 1, -2^53)",
    "return cmsgpack.pack(1/0, -1/0, 0/0, 0.5, 1e300, 3.4e38, 3.5e38, -0.0, 2^-149, 1.5)",
    "return cmsgpack.pack(string.rep('a', 31), string.rep('b', 32), string.rep('c', 255), string.rep('d', 256))",
    "return #cmsgpack.pack(string.rep('e', 65536)), cmsgpack.pack(true, false, nil, function() end)",
    "return cmsgpack.pack({1, 2, nil, 4}), cmsgpack.pack({[1]=1, [3]=3}), cmsgpack.pack({[0]=1}), cmsgpack.pack({[1.5]=1})",
    "local t = {} for i = 1, 16 do t[i] = i end return cmsgpack.pack(t), cmsgpack.pack({[2^31]=1})",
    "local t = {} for i = 1, 20 do t = {t} end return cmsgpack.pack(t)",
    "local t = {} for i = 1, 70000 do t[i] = i % 3 end local s = cmsgpack.pack(t) return #s, string.sub(s, 1, 5)",
    "return pcall(cmsgpack.pack)",
    "return cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255', '\\211\\128\\0\\0\\0\\0\\0\\0\\1')",
    "return cmsgpack.unpack('\\207\\0\\32\\0\\0\\0\\0\\0\\1'), cmsgpack.unpack('\\209\\255\\1'), cmsgpack.unpack('\\210\\128\\0\\0\\0')",
    "return cmsgpack.unpack('\\217\\3abc\\218\\0\\1x\\219\\0\\0\\0\\2yz')",
    "return cmsgpack.unpack('\\220\\0\\2\\1\\2\\222\\0\\1\\1\\2\\221\\0\\0\\0\\1\\192\\223\\0\\0\\0\\0')",
    "return pcall(cmsgpack.unpack, '\\129\\192\\1'), pcall(cmsgpack.unpack, '\\146\\1')",
    "return pcall(cmsgpack.unpack, '\\196\\1a'), pcall(cmsgpack.unpack, ''), pcall(cmsgpack.unpack, {})",
    "return cmsgpack.unpack(12)",
    "return cmsgpack.unpack_limit('\\192\\192\\1\\192', 3), cmsgpack.unpack_one('\\192\\1'), cmsgpack.unpack('\\192\\1\\192')",
    "return cmsgpack.unpack_one('\\1\\2\\3', 1), cmsgpack.unpack_one('\\1\\2\\3', 2), cmsgpack.unpack_one('\\1\\2\\3', 3)",
    "return pcall(cmsgpack.unpack_one, '\\1', 5), pcall(cmsgpack.unpack_one, '\\1', -1), pcall(cmsgpack.unpack_one, nil, 'x')",
    "return cmsgpack.unpack_limit('\\1\\2\\3', 0), cmsgpack.unpack_limit('\\1\\2\\3', 0, 1), cmsgpack.unpack_limit('\\1\\2\\3', 5, 1)",
    "return pcall(cmsgpack.unpack_limit, '\\1\\2\\3'), pcall(cmsgpack.unpack_limit, '\\1\\2\\3', -1)",
    "return cmsgpack._NAME, cmsgpack._VERSION, cmsgpack._COPYRIGHT, cmsgpack._DESCRIPTION",
    "local s = string.rep('\\1', 7998) return select('#', cmsgpack.unpack(s))",
    "local s = string.rep('\\1', 8000) return pcall(cmsgpack.unpack, s)",
    # cjson encode
    "return cjson.encode(nil), cjson.encode(true), cjson.encode(-0.0), cjson.encode(1e15), cjson.encode(123456789012345678)",
    "return cjson.encode(0.1 + 0.2), cjson.encode(-1e-300), cjson.encode(2^53), cjson.encode(100), cjson.encode(1e14)",
    "return pcall(cjson.encode, 1/0), pcall(cjson.encode, {0/0}), pcall(cjson.encode, {[1/0]=1})",
    "return pcall(cjson.encode), pcall(cjson.encode, 1, 2), pcall(cjson.encode, function() end), pcall(cjson.encode, {[true]=1})",
    "return cjson.encode({[1]=1, [2]=2, [4]=4}), cjson.encode({[11]=1}), cjson.encode({[10]=1}), cjson.encode({[1.5]=1})",
    "return cjson.encode({[-1]=1}), cjson.encode({[0]=1}), cjson.encode({[2^40]=1}), cjson.encode({[2^31]=1, [2^31 + 1]=2})",
    "return cjson.encode({a={b={c={}}}}), cjson.encode({{}, {{}}}), cjson.encode({cjson.null, false})",
    "local s = '' for i = 0, 255 do s = s .. string.char(i) end return cjson.encode(s)",
    "local t = {} local c = t for i = 1, 999 do c[1] = {} c = c[1] end return #cjson.encode(t)",
    "local t = {} local c = t for i = 1, 1000 do c[1] = {} c = c[1] end return pcall(cjson.encode, t)",
    "return cjson.encode_invalid_numbers(true), cjson.encode(1/0), cjson.encode(-1/0), cjson.encode(0/0), cjson.encode_invalid_numbers(false)",
    "return cjson.encode_invalid_numbers('null'), cjson.encode({1/0, 0/0}), cjson.encode_invalid_numbers('off')",
    "return pcall(cjson.encode_invalid_numbers, 'maybe'), pcall(cjson.encode_invalid_numbers, 1, 2), pcall(cjson.encode_invalid_numbers, {})",
    "return cjson.encode_number_precision(3), cjson.encode(1/3), cjson.encode(123456), cjson.encode_number_precision(14)",
    "return pcall(cjson.encode_number_precision, 15), pcall(cjson.encode_number_precision, 'x'), cjson.encode_number_precision('5'), cjson.encode_number_precision(14)",
    "return cjson.encode_sparse_array(true), cjson.encode({[20]=1}), cjson.encode_sparse_array(false, 2, 10)",
    "return cjson.encode_sparse_array(nil, 0), cjson.encode({[30]=1}), cjson.encode_sparse_array(nil, 2)",
    # (the first call turns conversion on before its ratio fails; the last undoes it)
    "return pcall(cjson.encode_sparse_array, 'on', -1), pcall(cjson.encode_sparse_array, 1, 2, 3, 4), cjson.encode_sparse_array(false)",
    "return cjson.encode_max_depth(2), pcall(cjson.encode, {{{}}}), cjson.encode({{}}), cjson.encode_max_depth(1000)",
    "return cjson.encode_keep_buffer(), cjson.encode_keep_buffer('off'), cjson.encode_keep_buffer(true)",
    "return cjson._NAME, cjson._VERSION, type(cjson.null), cjson.null == cjson.decode('null'), type(cjson.new)",
    "local c = cjson.new() c.encode_number_precision(2) return c.encode(1/3), cjson.encode(1/3), c.null == cjson.null",
    # cjson decode
    "return cjson.decode('  {\"a\" : [1, 2, {\"b\": null}], \"c\": \"\\\\n\\\\t\\\\/\\\\\\\\\\\\\"\"} ')",
    "return cjson.decode('[]'), cjson.decode('{}'), cjson.decode('\"\"'), cjson.decode('0'), cjson.decode('-0')",
    "return cjson.decode('1e400'), cjson.decode('-1e400'), cjson.decode('1.5E-3'), cjson.decode('123456789012345678901')",
    "return cjson.decode('0x1F'), cjson.decode('-0x10'), cjson.decode('0x1.8p1'), cjson.decode('012'), cjson.decode('1.')",
    "return cjson.decode('NaN') ~= cjson.decode('NaN'), cjson.decode('inf'), cjson.decode('-Infinity'), cjson.decode('+.5')",
    "return cjson.decode('[nan(123)]')[1] ~= 0, cjson.decode('[Infinityx') == nil",
    "return pcall(cjson.decode, '[Infinityx')",
    "return pcall(cjson.decode, ''), pcall(cjson.decode, ' '), pcall(cjson.decode, '[1,]'), pcall(cjson.decode, '{,}')",
    "return pcall(cjson.decode, '{\"a\":1,}'), pcall(cjson.decode, '{1:2}'), pcall(cjson.decode, '[1 2]'), pcall(cjson.decode, '{\"a\":1 \"b\"}')",
    "return pcall(cjson.decode, 'tru'), pcall(cjson.decode, 'nul'), pcall(cjson.decode, 'falsey'), pcall(cjson.decode, '-'), pcall(cjson.decode, '.5')",
    "return pcall(cjson.decode, '\"\\\\x\"'), pcall(cjson.decode, '\"\\\\u12\"'), pcall(cjson.decode, '\"\\\\ud800\"'), pcall(cjson.decode, '\"\\\\udc00\"')",
    "return pcall(cjson.decode, '\"\\\\ud800\\\\u0041\"'), cjson.decode('\"\\\\u0000\\\\u00FF\\\\uFFFF\"'), pcall(cjson.decode, '\"a\\\\')",
    "return pcall(cjson.decode, '[1]\\0garbage'), pcall(cjson.decode, '\"a\\0b\"'), pcall(cjson.decode, '\\0['), pcall(cjson.decode, 'a\\0')",
    "return pcall(cjson.decode), pcall(cjson.decode, 1, 2), pcall(cjson.decode, {}), cjson.decode(5)",
    "return pcall(cjson.decode, '[1] x'), pcall(cjson.decode, 'x'), pcall(cjson.decode, '[\"\\1\"]')",
    "local s = string.rep('[', 1000) .. string.rep(']', 1000) return type(cjson.decode(s))",
    "local s = string.rep('[', 1001) .. string.rep(']', 1001) return pcall(cjson.decode, s)",
    "return cjson.decode_max_depth(3), pcall(cjson.decode, '[[[[1]]]]'), pcall(cjson.decode, '{\"a\":{\"b\":{\"c\":{}}}}'), cjson.decode_max_depth(1000)",
    "return cjson.decode_invalid_numbers(false), pcall(cjson.decode, '0x10'), pcall(cjson.decode, '+1'), pcall(cjson.decode, 'inf'), pcall(cjson.decode, '[01]'), pcall(cjson.decode, '-nan'), cjson.decode('-0.5'), cjson.decode_invalid_numbers(true)",
    "return cjson.decode('[1, 2, 3]')[2], #cjson.decode('[1, null, 3]'), cjson.decode('{\"1\": 2}')['1']",
]


# What the library tables hold. Only in the bare runtime: the engine hands scripts
# read-only proxies of the global tables, which pairs() finds empty (a difference of
# the sandbox, documented in README, not of the libraries).
TABLE_CONTENTS = [
    f"local t = {{}} for k, v in pairs({name}) do t[#t + 1] = k end table.sort(t) return table.concat(t, ',')"
    for name in ("bit", "cjson", "cmsgpack", "struct")
]


@pytest.mark.parametrize("snippet", TABLE_CONTENTS)
def test_library_tables_hold_what_redis_ships(real: redis.Redis, snippet: str) -> None:
    assert_same(real, LuaLibsRuntime(), snippet)


@pytest.mark.parametrize("snippet", CORPUS)
def test_corpus_matches_redis(real: redis.Redis, lua: LuaLibsRuntime | BrokerEval, snippet: str) -> None:
    assert_same(real, lua, snippet)


# ---------------------------------------------------------------- generated values

DIFF = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

numbers = st.one_of(
    st.integers(-2**64, 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, -0.0, 1e-300, 2.0**53 + 1, 2.0**63, -(2.0**63), 3.4e38, 1 / 3]),
)
strings = st.binary(max_size=40)
scalars = st.one_of(numbers, strings, st.booleans())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        # Keys under 32 bytes: from 32 on, Redis's Lua hashes every byte of a string
        # (deps/lua/src/lstring.c, #9449) and stock Lua 5.1 samples them, so the two
        # walk such tables in different orders (a known difference, see README).
        st.dictionaries(st.one_of(st.binary(max_size=31), st.integers(-3, 40)), inner, max_size=5),
    ),
    max_leaves=20,
)


@DIFF
@given(value=values)
def test_cjson_encode_and_round_trip(real: redis.Redis, lua: LuaLibsRuntime | BrokerEval, value: Any) -> None:
    literal = lua_literal(value)
    assert_same(real, lua, f"local v = {literal} local ok, s = pcall(cjson.encode, v) "
                           "if not ok then return s end return s, cjson.decode(s)")


@DIFF
@given(value=values, junk=st.sampled_from(["", " ", "x", ",", "]", "}", "\\u", '"', "1e", "-", "\0"]),
       cut=st.integers(0, 200))
def test_cjson_decode_text(real: redis.Redis, lua: LuaLibsRuntime | BrokerEval, value: Any, junk: str, cut: int) -> None:
    def plain(v: Any) -> Any:
        if isinstance(v, bytes):
            return v.decode("latin-1")
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {plain(k) if isinstance(k, bytes) else str(k): plain(x) for k, x in v.items()}
        if isinstance(v, int) and abs(v) > 2**53:
            return float(v)
        return v
    text = json.dumps(plain(value))
    text = text[:cut] + junk + text[cut:]
    assert_same(real, lua, f"return pcall(cjson.decode, {lua_literal(text)})")


@DIFF
@given(items=st.lists(values, min_size=1, max_size=4))
def test_cmsgpack_pack_and_unpack(real: redis.Redis, lua: LuaLibsRuntime | BrokerEval, items: list[Any]) -> None:
    args = ", ".join(lua_literal(v) for v in items)
    assert_same(real, lua, f"local s = cmsgpack.pack({args}) "
                           "return s, cmsgpack.unpack(s), cmsgpack.unpack_one(s), cmsgpack.unpack_limit(s, 2, 1)")


@DIFF
@given(data=st.binary(max_size=30), offset=st.integers(-1, 32), limit=st.integers(-1, 4))
def test_cmsgpack_unpack_bytes(real: redis.Redis, lua: LuaLibsRuntime | BrokerEval, data: bytes, offset: int, limit: int) -> None:
    s = lua_literal(data)
    assert_same(real, lua, f"return {{pcall(cmsgpack.unpack, {s})}}, {{pcall(cmsgpack.unpack_one, {s}, {offset})}}, "
                           f"{{pcall(cmsgpack.unpack_limit, {s}, {limit}, {offset})}}")


bit_numbers = st.one_of(
    st.integers(-2**32, 2**32),
    st.integers(-2**53, 2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2.0**33, 2.0**33),
)


@DIFF
@given(a=bit_numbers, b=bit_numbers, c=bit_numbers, n=st.integers(-40, 40))
def test_bit_operations(real: redis.Redis, lua: LuaLibsRuntime | BrokerEval, a: float, b: float, c: float, n: int) -> None:
    a_, b_, c_ = lua_literal(a), lua_literal(b), lua_literal(c)
    assert_same(real, lua, (
        f"local a, b, c, n = {a_}, {b_}, {c_}, {n} "
        "return bit.tobit(a), bit.bnot(a), bit.band(a, b, c), bit.bor(a, b), bit.bxor(a, b, c), "
        "bit.lshift(a, n), bit.rshift(a, n), bit.arshift(a, n), bit.rol(a, n), bit.ror(a, n), "
        "bit.bswap(a), bit.tohex(a), bit.tohex(a, n), bit.lshift(a, b)"))


struct_options = st.sampled_from(["b", "B", "h", "H", "l", "L", "T", "i", "I", "i3", "I5", "i8", "f", "d",
                                  "x", "c4", "s", "<", ">", "!", "!2", "!4", " "])


@DIFF
@given(options=st.lists(struct_options, min_size=1, max_size=6),
       nums=st.lists(st.one_of(st.integers(-2**40, 2**40), st.floats(-1e10, 1e10)), min_size=6, max_size=6),
       text=st.binary(min_size=0, max_size=8))
def test_struct_round_trip(real: redis.Redis, lua: LuaLibsRuntime | BrokerEval, options: list[str], nums: list[float],
                           text: bytes) -> None:
    fmt = "".join(options)
    args = []
    for i, opt in enumerate(o for o in options if o[0] not in "<>! x"):
        args.append(lua_literal(text) if opt[0] in "cs" else lua_literal(nums[i % 6]))
    arglist = ", ".join([lua_literal(fmt), *args])
    assert_same(real, lua, (
        f"local ok, s = pcall(struct.pack, {arglist}) "
        f"if not ok then return s end "
        f"return s, struct.size({lua_literal(fmt.replace('s', 'c1'))}), {{pcall(struct.unpack, {lua_literal(fmt)}, s)}}"))


def test_functions_have_the_libraries_too(real: redis.Redis, our_broker: ServerProcess) -> None:
    library = ("#!lua name=libs\nredis.register_function('packed', function(keys, args) "
               "return cjson.encode({n = bit.band(tonumber(args[1]), 0xff), s = struct.pack('>H', 258), "
               "m = cmsgpack.pack({1, 2.5}), back = cjson.decode(args[2])}) end)")
    replies = []
    for client in (real, redis.Redis(port=our_broker.port)):
        client.function_flush()
        assert client.function_load(library) == b"libs"
        replies.append(client.fcall("packed", 0, 1023, '{"a":[1,2,{"b":null}]}'))
    assert replies[0] == replies[1]
    assert b'"n":255' in replies[0]


# A library function's error from a tail call (`return cjson.decode(bad)`): Redis's C
# libraries leave the script's frame, so the message starts `user_script:N:`; ours are
# Lua, and the sandbox compiles scripts with their tail calls made plain calls
# (broker/scripting/tailcalls.py) to keep that frame too.
TAIL_ERRORS = [
    "return cjson.decode('[')",
    "\n\nreturn cjson.decode('{\"a\":')",
    "local x = 1\nreturn bit.band({})",
    "return struct.unpack('>i', 'ab')",
    "local function f() return cjson.decode('nul') end\nreturn f()",
]


@pytest.mark.parametrize("script", TAIL_ERRORS)
def test_library_errors_in_tail_position_name_the_script_line(real: redis.Redis, our_broker: ServerProcess,
                                                              script: str) -> None:
    messages = []
    for client in (real, redis.Redis(port=our_broker.port)):
        with pytest.raises(redis.ResponseError) as caught:
            client.eval(script, 0)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "user_script:" in messages[0]
