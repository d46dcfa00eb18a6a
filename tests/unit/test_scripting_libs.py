"""broker.scripting.libs in a bare lupa runtime: what Redis 7.0's deps/lua/src
libraries answer, on values whose answers are fixed by their C source. The same
snippets are compared with a live redis-server in
tests/integration/test_diff_scripting_libs.py."""

from __future__ import annotations

import pytest

from tests.support.lua_libs import LuaLibsRuntime


@pytest.fixture(scope="module")
def lua() -> LuaLibsRuntime:
    return LuaLibsRuntime()


@pytest.mark.parametrize(("snippet", "expected"), [
    ("return bit.tobit(2^32 + 5), bit.tobit(-1), bit.tobit(2^31)", "ok 5 -1 -2147483648"),
    ("return bit.tobit(0.5), bit.tobit(1.5), bit.tobit(2.5)", "ok 0 2 2"),  # ties to even
    ("return bit.band(0xff, 0xf0f, 0xf0), bit.bor(1, 2, 4), bit.bxor(-1, 1)", "ok 0 7 -2"),
    ("return bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4)", "ok -2147483648 15 -16"),
    ("return bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678)",
     "ok 878082066 2014458966 2018915346"),
    ("return bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x1234, 2)", 'ok "000000ff" "FFFF" "34"'),
    ("return bit.band('12', 10)", "ok 8"),
])
def test_bit(lua: LuaLibsRuntime, snippet: str, expected: str) -> None:
    assert lua.run(snippet).decode() == expected


def test_bit_errors_name_the_function_and_argument(lua: LuaLibsRuntime) -> None:
    assert lua.run("local r = bit.band(1, 2, {}) return r").decode() == (
        "error \"user_script:32: bad argument #3 to 'band' (number expected, got table)\"")
    assert lua.run("local r = bit.tohex() return r").decode() == (
        "error \"user_script:32: bad argument #1 to 'tohex' (number expected, got no value)\"")
    # called through pcall there is no name to report
    assert lua.run("local ok, e = pcall(bit.bnot, 'x') return e").decode() == (
        "ok \"bad argument #1 to '?' (number expected, got string)\"")


@pytest.mark.parametrize(("snippet", "expected"), [
    ('return cjson.encode({1, 2, "a/b", true, false})', r'ok "[1,2,\34a\92/b\34,true,false]"'),
    ("return cjson.encode({})", 'ok "{}"'),
    ("return cjson.encode(0.1), cjson.encode(1/3), cjson.encode(1e300)",
     'ok "0.1" "0.33333333333333" "1e+300"'),
    ('return cjson.encode("\\0\\1\\127\\200\\t")', r'ok "\34\92u0000\92u0001\92u007f\200\92t\34"'),
    ("return cjson.encode({[1]=1, [3]=3})", r'ok "[1,null,3]"'),
    ("return pcall(cjson.encode, {[20]=1})",
     'ok false "Cannot serialise table: excessively sparse array"'),
    ("return cjson.decode('[1, 2.5e3, \"\\\\u00e9\\\\ud83d\\\\ude00\", null]')",
     'ok {[1]=1,[2]=2500,[3]="\\195\\169\\240\\159\\152\\128",[4]=null}'),
    ("return pcall(cjson.decode, '{\"a\" 1}')", 'ok false "Expected colon but found T_NUMBER at character 6"'),
    ("return pcall(cjson.decode, '[\"abc')",
     'ok false "Expected value but found unexpected end of string at character 6"'),
    ("return cjson.decode('0x10'), cjson.decode('+1'), cjson.decode('-Infinity')", "ok 16 1 -inf"),
    ("return cjson.encode_sparse_array(true, 3), cjson.encode_sparse_array()", "ok true true 3 10"),
    ("return pcall(cjson.encode_max_depth, 0)",
     "ok false \"bad argument #1 to '?' (expected integer between 1 and 2147483647)\""),
])
def test_cjson(lua: LuaLibsRuntime, snippet: str, expected: str) -> None:
    assert lua.run(snippet).decode() == expected


@pytest.mark.parametrize(("snippet", "expected"), [
    ("return cmsgpack.pack(1, -1, 200, -200, 70000, 2^40, -2^40)",
     r'ok "\1\255\204\200\209\2558\206\0\1\17p\207\0\0\1\0\0\0\0\0\211\255\255\255\0\0\0\0\0"'),
    ("return cmsgpack.pack(0.5, 0.1)", r'ok "\202?\0\0\0\203?\185\153\153\153\153\153\154"'),
    ("return cmsgpack.pack({}, {1, 2}, {a = 1})", r'ok "\144\146\1\2\129\161a\1"'),
    ("return cmsgpack.unpack(cmsgpack.pack(1, 'x', {true, false}))", 'ok 1 "x" {[1]=true,[2]=false}'),
    ("return cmsgpack.unpack_one(cmsgpack.pack(1, 2))", "ok 1 1"),
    ("return cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)", "ok 2 1 2"),
    ("return pcall(cmsgpack.unpack, '\\205\\1')", 'ok false "Missing bytes in input."'),
    ("return pcall(cmsgpack.unpack, '\\193')", 'ok false "Bad data format in input."'),
])
def test_cmsgpack(lua: LuaLibsRuntime, snippet: str, expected: str) -> None:
    assert lua.run(snippet).decode() == expected


@pytest.mark.parametrize(("snippet", "expected"), [
    ("return struct.pack('>I2i', 258, -1)", r'ok "\1\2\255\255\255\255"'),
    ("return struct.unpack('<hd', struct.pack('<hd', -2, 0.25))", "ok -2 0.25 11"),
    ("return struct.pack('!4bi', 1, 2)", r'ok "\1\0\0\0\2\0\0\0"'),
    ("return struct.unpack('s', 'ab\\0cd')", 'ok "ab" 4'),
    ("return struct.size('>!8bd'), struct.size('c10')", "ok 16 10"),
    ("return pcall(struct.pack, 'q', 1)", "ok false \"bad argument #1 to '?' (invalid format option 'q')\""),
])
def test_struct(lua: LuaLibsRuntime, snippet: str, expected: str) -> None:
    assert lua.run(snippet).decode() == expected


def test_install_sets_the_four_globals_and_needs_debug_only_while_installing() -> None:
    import lupa.lua51

    from broker.scripting.libs import LIBRARIES, install

    lua = lupa.lua51.LuaRuntime(encoding=None)
    install(lua)
    lua.execute(b"debug = nil")  # as the sandbox does after loading the libraries
    assert [lua.eval(f"type({name})".encode()) for name in LIBRARIES] == [b"table"] * 4
    message = lua.execute(b"local ok, e = pcall(function() local r = struct.pack('i', {}) return r end) return e")
    assert message == b"[string \"<python>\"]:1: bad argument #2 to 'pack' (number expected, got table)"
