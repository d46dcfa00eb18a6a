"""The libraries Redis 7.0 gives scripts: cjson, cmsgpack, bit and struct.

Each is written in Lua and run in the script's own runtime, so values never cross
into Python (Lua strings stay bytes, tables stay tables) and errors are plain Lua
strings that ``pcall`` sees as it would on redis-server. Only the IEEE 754 bit
conversions are host functions (``floats``).

Layout:
    support.lua   lauxlib's argument checks and their error wording
    bit.lua       LuaBitOp (deps/lua/src/lua_bit.c)
    struct.lua    struct.pack/unpack/size (deps/lua/src/lua_struct.c)
    cmsgpack.lua  lua-cmsgpack (deps/lua/src/lua_cmsgpack.c)
    cjson.lua     Lua CJSON 2.1.0 (deps/lua/src/lua_cjson.c)
    floats.py     float/double <-> bytes for struct and cmsgpack
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from broker.scripting.libs import floats
from broker.scripting.prelude import API_SOURCE

__all__ = ["install", "LIBRARIES", "source", "host"]

# Globals install() sets, in the order Redis loads them (script_lua.c luaLoadLibraries).
LIBRARIES = ("cjson", "struct", "cmsgpack", "bit")


@cache
def _source(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def source(name: bytes) -> bytes:
    """A library file's Lua code (``b"cjson.lua"`` ...): what the sandbox's prelude
    loads the first time a script reads the library's global (see ``prelude``)."""
    return _source(name.decode())


def host(lua: Any) -> Any:
    """The Lua table of host functions struct.lua and cmsgpack.lua take (``floats``)."""
    return lua.table_from({b"pack": floats.pack, b"unpack": floats.unpack, b"msgpack": floats.msgpack})


def _run(lua: Any, name: str, *args: Any) -> Any:
    # The engine's error handler skips frames of this chunk name when it looks for
    # the script line an error came from; a library frame is never that line.
    chunk = lua.compile(_source(name), name=API_SOURCE)
    return chunk(*args)


def install(lua: Any) -> None:
    """Set the globals ``cjson``, ``struct``, ``cmsgpack`` and ``bit`` in ``lua`` at
    once (a bare runtime, as the library tests use; the script sandbox loads each
    on first use instead, with the same files and arguments: see ``prelude``).

    Call it before the sandbox hides ``debug`` and freezes the globals: the
    libraries keep a reference to ``debug.getinfo`` (for lauxlib's "bad argument #1
    to 'band'" wording) and to ``newproxy`` (cjson.null).

    Args:
        lua: A ``lupa.lua51.LuaRuntime``; ``encoding=None`` or an encoding both work.

    Returns:
        None.
    """
    support = _run(lua, "support.lua")
    floats_ = host(lua)
    bit, uand = _run(lua, "bit.lua", support)
    libs = {
        b"bit": bit,
        b"struct": _run(lua, "struct.lua", support, floats_, uand),
        b"cmsgpack": _run(lua, "cmsgpack.lua", support, floats_),
        b"cjson": _run(lua, "cjson.lua", support),
    }
    g = lua.globals()
    for name, table in libs.items():
        g[name] = table
