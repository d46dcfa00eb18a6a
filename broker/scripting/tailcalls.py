"""Turn a compiled Lua 5.1 chunk's tail calls into plain calls, so frames stay.

Why: Redis's script libraries are C functions; a C function called in tail
position (``return cjson.decode(bad)``) leaves the script's frame on the stack,
so its error reads ``user_script:1: Expected value ...`` and the engine can say
``on @user_script:1``. Our libraries are Lua functions, and Lua replaces the
caller's frame on a tail call, losing that line. Rewriting each ``OP_TAILCALL A B 0``
of the script's bytecode into ``OP_CALL A B 0`` keeps the frame; the ``OP_RETURN A 0``
the compiler always emits after it then returns every result, as before.

The one behaviour that changes: unbounded tail recursion now uses a call frame
per level, so it stops at Lua's LUAI_MAXCALLS (20,000 levels) with "stack
overflow" where Redis would go on.

Usage (with the chunk from ``loadstring``): ``loadstring(untail(string.dump(f)), name)``.
The dump format is lundump.c's for the x86-64 build lupa ships: little-endian,
4-byte int and Instruction, 8-byte size_t and lua_Number.
"""

from __future__ import annotations

import struct

__all__ = ["untail"]

_HEADER = b"\x1bLua\x51\x00\x01\x04\x08\x04\x08\x00"
_OP_MASK = 0x3F
_OP_CALL = 28
_OP_TAILCALL = 29


def untail(dump: bytes) -> bytes:
    """Return ``dump`` (a ``string.dump`` of a Lua 5.1 function) with every tail
    call, in it and in its nested functions, made a plain call.

    Args:
        dump: The binary chunk.

    Returns:
        The patched binary chunk, the same length.

    Raises:
        ValueError: The chunk is not in the layout described above.
    """
    if not dump.startswith(_HEADER):
        raise ValueError("not a Lua 5.1 little-endian 64-bit binary chunk")
    code = bytearray(dump)
    end = _function(code, len(_HEADER))
    if end != len(code):
        raise ValueError("binary chunk has trailing bytes")
    return bytes(code)


def _int(code: bytearray, pos: int) -> tuple[int, int]:
    return struct.unpack_from("<i", code, pos)[0], pos + 4


def _string(code: bytearray, pos: int) -> int:
    size = struct.unpack_from("<Q", code, pos)[0]
    return pos + 8 + size


def _function(code: bytearray, pos: int) -> int:
    """Patch one function prototype (ldump.c DumpFunction) at ``pos``; its end."""
    pos = _string(code, pos)       # source
    pos += 4 + 4 + 4               # linedefined, lastlinedefined, nups/numparams/is_vararg/maxstacksize
    count, pos = _int(code, pos)
    for at in range(pos, pos + 4 * count, 4):
        instruction = struct.unpack_from("<I", code, at)[0]
        if instruction & _OP_MASK == _OP_TAILCALL:
            struct.pack_into("<I", code, at, (instruction & ~_OP_MASK) | _OP_CALL)
    pos += 4 * count
    count, pos = _int(code, pos)   # constants
    for _ in range(count):
        kind = code[pos]
        pos += 1
        if kind == 1:              # boolean
            pos += 1
        elif kind == 3:            # number
            pos += 8
        elif kind == 4:            # string
            pos = _string(code, pos)
    count, pos = _int(code, pos)   # nested functions
    for _ in range(count):
        pos = _function(code, pos)
    count, pos = _int(code, pos)   # lineinfo
    pos += 4 * count
    count, pos = _int(code, pos)   # locvars: name, startpc, endpc
    for _ in range(count):
        pos = _string(code, pos) + 8
    count, pos = _int(code, pos)   # upvalue names
    for _ in range(count):
        pos = _string(code, pos)
    return pos
