"""broker/scripting/tailcalls.py: tail calls made plain calls keep the script's
frame, so a library error in `return lib.f(bad)` carries the script's line as on
redis-server (tests/integration/test_diff_scripting_libs.py has the Redis side)."""

from __future__ import annotations

import lupa.lua51
import pytest

from broker.scripting.libs import install
from broker.scripting.tailcalls import untail


@pytest.fixture(scope="module")
def lua() -> lupa.lua51.LuaRuntime:
    runtime = lupa.lua51.LuaRuntime(encoding=None)
    install(runtime)
    return runtime


def run(lua: lupa.lua51.LuaRuntime, source: bytes, patched: bool = True) -> list[object]:
    chunk = lua.eval("loadstring")(source, b"@user_script")
    if patched:
        chunk = lua.eval("loadstring")(untail(lua.eval("string.dump")(chunk)), b"@user_script")
    results = lua.eval("function(f) local r = {pcall(f)} return r, select('#', unpack(r)) end")(chunk)
    table, count = results
    return [table[i] for i in range(1, count + 1)]


def test_an_error_in_tail_position_names_the_script_line(lua: lupa.lua51.LuaRuntime) -> None:
    source = b"\n\nreturn cjson.decode('[')"
    assert run(lua, source, patched=False) == [False, b"Expected value but found T_END at character 2"]
    assert run(lua, source) == [False, b"user_script:3: Expected value but found T_END at character 2"]


def test_nested_functions_are_patched_and_results_are_unchanged(lua: lupa.lua51.LuaRuntime) -> None:
    source = (b"local function pass(...) return ... end\n"
              b"local function count(n) if n == 0 then return 'done' end return count(n - 1) end\n"
              b"local ok, e = pcall(function() return bit.band({}) end)\n"
              b"return e, count(5000), pass(1, nil, 3)")
    assert run(lua, source) == [True, b"user_script:3: bad argument #1 to 'band' (number expected, got table)",
                                b"done", 1, None, 3]


def test_other_chunks_are_refused() -> None:
    with pytest.raises(ValueError):
        untail(b"return 1")
