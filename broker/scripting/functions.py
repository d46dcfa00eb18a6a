"""Redis 7 functions: libraries loaded with FUNCTION LOAD, called with FCALL
(``functions.c``, ``function_lua.c``), and their DUMP/RESTORE payload.

A library is Lua code after a ``#!lua name=<lib>`` line; running it once calls
``redis.register_function`` for each function it offers. While it runs, the
code sees only ``redis.register_function``, ``redis.log`` and the version
fields, as in Redis; the functions, when called, see the whole sandbox.

The DUMP payload is the RDB encoding Redis uses: per library the opcode
``RDB_OPCODE_FUNCTION2`` (245) and the code as an RDB string, then the RDB
version (2 bytes, little-endian) and a CRC-64 (Jones, little-endian) of all
that precedes. We write the code uncompressed; redis-server compresses long
strings with LZF, which RESTORE here reads too.
"""

from __future__ import annotations

import re
import struct as _struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import lupa.lua51 as lua51

from broker.glob import glob_match
from broker.resp import CommandError, ProtocolError, Simple, split_inline
from broker.scripting.convert import OrderedSet
from broker.scripting.engine import Sandbox, ScriptRun, _CompileError, _lua_tostring
from broker.scripting.evalcache import SCRIPT_FLAGS

if TYPE_CHECKING:
    from broker.client import Client

__all__ = ["Functions", "Library", "Function", "dump_payload", "parse_payload", "crc64"]

RDB_VERSION = 10  # Redis 7.0's
RDB_OPCODE_FUNCTION2 = 245
_NAME = re.compile(rb"[A-Za-z0-9_]+\Z")
_BAD_NAME = ("Library names can only contain letters, numbers, or underscores(_) and must be at least "
             "one character long")


@dataclass(slots=True, eq=False)
class Function:
    name: str
    callback: Any
    description: bytes | None
    flags: frozenset[str]
    library: "Library"


@dataclass(slots=True, eq=False)
class Library:
    name: str
    code: bytes
    functions: dict[str, Function] = field(default_factory=dict)


class Functions:
    """The libraries of one broker and FCALL on one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.libraries: dict[str, Library] = {}
        # lower-cased name -> function: Redis finds functions in any letter case
        self.functions: dict[str, Function] = {}
        self._loading: Library | None = None

    # ------------------------------------------------------------ loading

    def load(self, code: bytes, replace: bool) -> str:
        """FUNCTION LOAD: returns the library's name.

        Raises:
            CommandError: Redis's wording for a bad shebang, a compile or run
            error of the code, no functions, or a name taken.
        """
        library = self._create(code)
        old = self.libraries.get(library.name)
        if old is not None and not replace:
            raise CommandError(f"ERR Library '{library.name}' already exists")
        for name in library.functions:
            taken = self.functions.get(name.lower())
            if taken is not None and taken.library is not old:
                raise CommandError(f"ERR Function {name} already exists")
        if old is not None:
            self._unlink(old)
        self._link(library)
        return library.name

    def _create(self, code: bytes) -> Library:
        """``functionsCreateWithLibraryCtx`` up to linking: parse, compile, run."""
        name, body = _metadata(code)
        if not _NAME.match(name.encode()):
            raise CommandError(f"ERR {_BAD_NAME}")
        library = Library(name, code)
        sandbox = self.sandbox
        try:
            function = sandbox.compile(body, b"@user_function")
        except _CompileError as exc:
            raise CommandError(f"ERR Error compiling function: {exc.lua_message}") from None
        self._loading = library
        sandbox.register_function = self._register
        sandbox.set_load_mode(True)
        sandbox.begin_load()
        try:
            outcome = sandbox.run_load(function)
        except lua51.LuaMemoryError:
            outcome = (3, b"not enough memory")
        finally:
            sandbox.end_load()
            sandbox.set_load_mode(False)
            sandbox.register_function = None
            self._loading = None
        if type(outcome) is tuple and outcome[0] in (2, 3):
            message = outcome[1]
            text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
            if outcome[0] == 3:
                text = "ERR " + text
            raise CommandError(f"ERR Error registering functions: {text}")
        if not library.functions:
            raise CommandError("ERR No functions registered")
        return library

    def _register(self, *args: Any) -> Any:
        """redis.register_function(name, callback) or redis.register_function{...}."""
        err = self.sandbox.err
        library = self._loading
        assert library is not None
        description: bytes | None = None
        flags: set[str] = set()
        if len(args) == 1:
            if lua51.lua_type(args[0]) != "table":
                return err(b"ERR calling redis.register_function with a single argument is only applicable to "
                           b"Lua table (representing named arguments)."), True
            name: Any = None
            callback: Any = None
            for key, value in args[0].items():
                if type(key) is not bytes:
                    return err(b"ERR named argument key given to redis.register_function is not a string"), True
                lowered = key.lower()
                if lowered == b"function_name":
                    value = _lua_tostring(value)
                    if value is None:
                        return err(b"ERR function_name argument given to redis.register_function must be a "
                                   b"string"), True
                    name = value
                elif lowered == b"description":
                    value = _lua_tostring(value)
                    if value is None:
                        return err(b"ERR description argument given to redis.register_function must be a "
                                   b"string"), True
                    description = value
                elif lowered == b"callback":
                    if lua51.lua_type(value) != "function":
                        return err(b"ERR callback argument given to redis.register_function must be a "
                                   b"function"), True
                    callback = value
                elif lowered == b"flags":
                    if lua51.lua_type(value) != "table":
                        return err(b"ERR flags argument to redis.register_function must be a table "
                                   b"representing function flags"), True
                    for flag in value.values():
                        text = flag.decode("utf-8", "replace") if type(flag) is bytes else ""
                        if text not in SCRIPT_FLAGS:
                            return err(b"ERR unknown flag given"), True
                        flags.add(text)
                else:
                    return err(b"ERR unknown argument given to redis.register_function"), True
            if name is None:
                return err(b"ERR redis.register_function must get a function name argument"), True
            if callback is None:
                return err(b"ERR redis.register_function must get a callback argument"), True
        elif len(args) == 2:
            name, callback = args
            name = _lua_tostring(name)
            if name is None:
                return err(b"ERR first argument to redis.register_function must be a string"), True
            if lua51.lua_type(callback) != "function":
                return err(b"ERR second argument to redis.register_function must be a function"), True
        else:
            return err(b"ERR wrong number of arguments to redis.register_function"), True
        if not _NAME.match(name):
            return err(("ERR " + _BAD_NAME).encode()), True
        text_name = name.decode()
        if text_name in library.functions:
            return err(b"ERR Function already exists in the library"), True
        library.functions[text_name] = Function(text_name, callback, description, frozenset(flags), library)
        return None

    def _link(self, library: Library) -> None:
        self.libraries[library.name] = library
        for name, function in library.functions.items():
            self.functions[name.lower()] = function

    def _unlink(self, library: Library) -> None:
        del self.libraries[library.name]
        for name in library.functions:
            self.functions.pop(name.lower(), None)

    # ------------------------------------------------------------ management

    def delete(self, name: bytes) -> None:
        library = self.libraries.get(name.decode("utf-8", "replace"))
        if library is None:
            raise CommandError("ERR Library not found")
        self._unlink(library)

    def flush(self) -> None:
        self.libraries.clear()
        self.functions.clear()
        self.sandbox.recover()

    def listing(self, pattern: bytes | None, with_code: bool) -> list[dict[bytes, Any]]:
        """FUNCTION LIST's reply."""
        reply = []
        for library in self.libraries.values():
            if pattern is not None and not glob_match(pattern.lower(), library.name.lower().encode()):
                continue
            functions = []
            for function in library.functions.values():
                functions.append({
                    b"name": function.name.encode(),
                    b"description": function.description,
                    b"flags": OrderedSet(Simple(flag) for flag in SCRIPT_FLAGS if flag in function.flags),
                })
            entry: dict[bytes, Any] = {b"library_name": library.name.encode(), b"engine": b"LUA",
                                       b"functions": functions}
            if with_code:
                entry[b"library_code"] = library.code
            reply.append(entry)
        return reply

    def stats(self) -> dict[bytes, Any]:
        return {b"running_script": None, b"engines": {b"LUA": {
            b"libraries_count": len(self.libraries), b"functions_count": len(self.functions)}}}

    def dump(self) -> bytes:
        return dump_payload([library.code for library in self.libraries.values()])

    def restore(self, payload: bytes, policy: str) -> None:
        """FUNCTION RESTORE with policy APPEND, REPLACE or FLUSH."""
        codes = parse_payload(payload)
        loaded: dict[str, Library] = {}
        for code in codes:
            library = self._create(code)
            if library.name in loaded:
                raise CommandError(f"ERR Library {library.name} already exists")
            loaded[library.name] = library
        if policy == "flush":
            self.flush()
        elif policy == "append":
            for name in loaded:
                if name in self.libraries:
                    raise CommandError(f"ERR Library {name} already exists")
        replaced = [self.libraries[name] for name in loaded if name in self.libraries]
        taken = {fname for lib in self.libraries.values() if lib.name not in loaded for fname in
                 (f.lower() for f in lib.functions)}
        for library in loaded.values():
            for fname in library.functions:
                if fname.lower() in taken:
                    raise CommandError(f"ERR Function {fname} already exists")
        for library in replaced:
            self._unlink(library)
        for library in loaded.values():
            self._link(library)

    # ------------------------------------------------------------ calling

    def find(self, name: bytes) -> Function | None:
        return self.functions.get(name.decode("utf-8", "replace").lower())

    def call(self, client: "Client", function: Function, keys: list[bytes], args: list[bytes], ro: bool) -> Any:
        if ro and "no-writes" not in function.flags:
            raise CommandError("ERR Can not execute a script with write flag using *_ro command.")
        sandbox = self.sandbox
        run = ScriptRun(client, function.name, ro or "no-writes" in function.flags, sandbox.monotonic(),
                        flags=function.flags)
        return sandbox.execute(run, sandbox.run_function, function.callback, keys, args, sandbox.fixed_function)


# ---------------------------------------------------------------- metadata

def _metadata(code: bytes) -> tuple[str, bytes]:
    """``functionExtractLibMetaData``: (library name, code after the shebang line)."""
    if not code.startswith(b"#!"):
        raise CommandError("ERR Missing library metadata")
    end = code.find(b"\n")
    if end < 0:
        raise CommandError("ERR Invalid library metadata")
    try:
        # sdssplitargs, as Redis splits it: name="foo" is the name foo
        parts = [part.decode("utf-8", "replace") for part in split_inline(code[:end])]
    except ProtocolError:
        parts = []
    if not parts:
        raise CommandError("ERR Invalid library metadata")
    engine = parts[0][2:]
    name: str | None = None
    for part in parts[1:]:
        if part[:5].lower() == "name=":
            if name is not None:
                raise CommandError("ERR Invalid metadata value, name argument was given multiple times")
            name = part[5:]
            continue
        raise CommandError(f"ERR Invalid metadata value given: {part}")
    if name is None:
        raise CommandError("ERR Library name was not given")
    if not _NAME.match(name.encode()):
        raise CommandError(f"ERR {_BAD_NAME}")
    if engine.upper() != "LUA":
        raise CommandError(f"ERR Engine '{engine}' not found")
    return name, code[end:]


# ---------------------------------------------------------------- payload

def _crc64_table() -> list[int]:
    poly = 0x95AC9329AC4BC9B5  # Jones polynomial, reflected (Redis crc64.c)
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc64_table()


def crc64(data: bytes, crc: int = 0) -> int:
    """Redis's CRC-64 (``crc64(0, "123456789") == 0xe9c6d914c4b8d9ca``)."""
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def _rdb_length(size: int) -> bytes:
    if size < 1 << 6:
        return bytes([size])
    if size < 1 << 14:
        return bytes([0x40 | (size >> 8), size & 0xFF])
    if size <= 0xFFFFFFFF:
        return b"\x80" + _struct.pack(">I", size)
    return b"\x81" + _struct.pack(">Q", size)


def dump_payload(codes: list[bytes]) -> bytes:
    """FUNCTION DUMP's payload for libraries with these codes."""
    body = b"".join(bytes([RDB_OPCODE_FUNCTION2]) + _rdb_length(len(code)) + code for code in codes)
    body += _struct.pack("<H", RDB_VERSION)
    return body + _struct.pack("<Q", crc64(body))


def parse_payload(payload: bytes) -> list[bytes]:
    """The library codes in a FUNCTION DUMP payload (ours or redis-server's).

    Raises:
        CommandError: bad footer or checksum, or a part that is not a library.
    """
    if len(payload) < 10:
        raise CommandError("ERR DUMP payload version or checksum are wrong")
    version = _struct.unpack("<H", payload[-10:-8])[0]
    crc = _struct.unpack("<Q", payload[-8:])[0]
    if version > RDB_VERSION or crc64(payload[:-8]) != crc:
        raise CommandError("ERR DUMP payload version or checksum are wrong")
    codes = []
    pos, end = 0, len(payload) - 10
    while pos < end:
        if payload[pos] != RDB_OPCODE_FUNCTION2:
            raise CommandError("ERR given type is not a function")
        try:
            code, pos = _rdb_string(payload, pos + 1)
        except (IndexError, ValueError, _struct.error):
            raise CommandError("ERR failed loading the given functions payload") from None
        codes.append(code)
    return codes


def _rdb_len(data: bytes, pos: int) -> tuple[int, bool, int]:
    """(length or encoding, is it an encoding, position after)."""
    first = data[pos]
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, False, pos + 1
    if kind == 1:
        return ((first & 0x3F) << 8) | data[pos + 1], False, pos + 2
    if kind == 3:
        return first & 0x3F, True, pos + 1
    if first == 0x80:
        return _struct.unpack(">I", data[pos + 1:pos + 5])[0], False, pos + 5
    if first == 0x81:
        return _struct.unpack(">Q", data[pos + 1:pos + 9])[0], False, pos + 9
    raise ValueError("bad length")


def _rdb_string(data: bytes, pos: int) -> tuple[bytes, int]:
    size, encoded, pos = _rdb_len(data, pos)
    if not encoded:
        if pos + size > len(data):
            raise ValueError("short string")
        return data[pos:pos + size], pos + size
    if size == 0:
        return b"%d" % _struct.unpack("b", data[pos:pos + 1])[0], pos + 1
    if size == 1:
        return b"%d" % _struct.unpack("<h", data[pos:pos + 2])[0], pos + 2
    if size == 2:
        return b"%d" % _struct.unpack("<i", data[pos:pos + 4])[0], pos + 4
    if size == 3:
        compressed, encoded, pos = _rdb_len(data, pos)
        length, encoded, pos = _rdb_len(data, pos)
        return lzf_decompress(data[pos:pos + compressed], length), pos + compressed
    raise ValueError("unknown string encoding")


def lzf_decompress(data: bytes, length: int) -> bytes:
    """LibLZF's decompressor (what Redis compresses long RDB strings with)."""
    out = bytearray()
    i, size = 0, len(data)
    while i < size:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            out += data[i:i + ctrl + 1]
            i += ctrl + 1
            continue
        run = ctrl >> 5
        if run == 7:
            run += data[i]
            i += 1
        ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
        i += 1
        if ref < 0:
            raise ValueError("bad back reference")
        for _ in range(run + 2):
            out.append(out[ref])
            ref += 1
    if len(out) != length:
        raise ValueError("length mismatch")
    return bytes(out)
