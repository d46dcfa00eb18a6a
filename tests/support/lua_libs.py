"""Run Lua snippets the same way on redis-server (EVAL), on our broker (EVAL) and in
a bare lupa runtime with broker.scripting.libs installed, and compare what they print.

A snippet is the body of a function. ``wrap(snippet)`` makes a whole script that
pcalls it and returns one string describing every result (or the error message)
in a canonical form: strings quoted with \\ddd for every byte but printable ASCII, numbers with %.17g, tables with their keys
sorted, cjson.null as ``null``. The describing code is the same Lua on every side,
so equal strings mean equal results, byte for byte.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["wrap", "lua_literal", "LuaLibsRuntime"]

_DUMP = r"""
local function dump(v, depth)
  local t = type(v)
  if t == "string" then
    return '"' .. string.gsub(v, '[%z\1-\31"\\\127-\255]', function(c) return "\\" .. string.byte(c) end) .. '"'
  end
  if t == "number" then
    if v ~= v then return "nan" end
    if v == 1/0 then return "inf" end
    if v == -1/0 then return "-inf" end
    return string.format("%.17g", v)
  end
  if t == "table" then
    if depth > 20 then return "{...}" end
    local items = {}
    for k, x in pairs(v) do items[#items + 1] = "[" .. dump(k, depth + 1) .. "]=" .. dump(x, depth + 1) end
    table.sort(items)
    return "{" .. table.concat(items, ",") .. "}"
  end
  if t == "userdata" then
    if v == cjson.null then return "null" end
    return "userdata"
  end
  return tostring(v)
end
local function describe(ok, ...)
  local out = {ok and "ok" or "error"}
  for i = 1, select("#", ...) do out[#out + 1] = dump((select(i, ...)), 0) end
  return table.concat(out, " ")
end
return describe(pcall(function()
"""


def wrap(snippet: str) -> str:
    """The whole script for ``snippet`` (a function body, which may ``return`` values)."""
    return _DUMP + snippet + "\nend))\n"


def lua_literal(value: Any) -> str:
    """A Lua expression for a Python value: None -> nil, bytes/str, int/float, bool,
    list (1..n), dict (any keys), with inf and nan as 1/0 and 0/0."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            return "(0/0)"
        if value in (math.inf, -math.inf):
            return "(1/0)" if value > 0 else "(-1/0)"
        return repr(float(value)) if isinstance(value, float) else f"({value})"
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return '"' + "".join(f"\\{b}" for b in value) + '"'
    if isinstance(value, list):
        return "{" + ",".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"[{lua_literal(k)}]={lua_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Lua literal for {value!r}")


class LuaLibsRuntime:
    """A lupa Lua 5.1 runtime (``encoding=None``, as the engine makes it) with the
    four libraries installed and nothing else of the scripting engine."""

    def __init__(self) -> None:
        import lupa.lua51

        from broker.scripting.libs import install

        self.lua = lupa.lua51.LuaRuntime(encoding=None)
        install(self.lua)

    def run(self, snippet: str) -> bytes:
        """``wrap(snippet)`` run here; its description string."""
        # Redis names a script's chunk "@user_script": errors read "user_script:3: ..."
        result = self.lua.compile(wrap(snippet).encode(), name="@user_script")()
        assert isinstance(result, bytes), result
        return result
