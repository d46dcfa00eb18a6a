"""Replies between the broker and Lua, converted as Redis 7.0's ``script_lua.c`` does.

Into Lua (``redisProtocolToLuaType``; what a command answered, seen through the
RESP version the script chose with ``redis.setresp``):

=================  =========================  ===================================
broker reply       RESP2                      RESP3
=================  =========================  ===================================
bytes / str        string                     string
int                number                     number
bool               number 1 / 0               boolean
float, DoubleText  string (``%.17g``, text)   ``{double=n}``
None, NULL_ARRAY   false                      nil
Simple             ``{ok=text}``              ``{ok=text}``
CommandError       ``{err=text}``             ``{err=text}``
list, set          array                      array / ``{set={m=true}}``
dict               flat array                 ``{map={k=v}}``
Verbatim           string                     ``{verbatim_string={format, string}}``
BigNumber          string                     ``{big_number=s}``
=================  =========================  ===================================

Out of Lua (``luaReplyToRedisReply``): string -> bulk, number -> integer
(truncated; out of range -> INT64_MIN as the C cast gives on x86), true -> 1
(``#t`` after setresp(3)), false -> nil (``#f`` after setresp(3)), a table ->
error / status / double / big number / verbatim / map / set / array up to the
first nil, anything else -> nil.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from broker.resp import NULL_ARRAY, BigNumber, CommandError, DoubleText, Simple, Verbatim, format_double

__all__ = ["LuaConverter", "OrderedSet", "error_message", "lua_number_to_int"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def lua_number_to_int(value: int | float) -> int:
    """``(long long)lua_tonumber(...)``: truncate toward zero; NaN, inf and values out
    of range give INT64_MIN, as x86's conversion does."""
    if type(value) is float:
        if math.isnan(value) or math.isinf(value):
            return _INT64_MIN
        value = int(value)
    if _INT64_MIN <= value <= _INT64_MAX:
        return int(value)
    return _INT64_MIN


def error_message(text: str) -> str:
    """The message of a Lua error table, as ``luaPushErrorBuff`` forms it from a
    command's error line (``-CODE msg``): code, one space, the message trimmed of
    CR/LF; a line without a space gets the code ERR."""
    if text.startswith("-"):
        text = text[1:]
    code, space, rest = text.partition(" ")
    if not space:
        code, rest = "ERR", code
    return f"{code} {rest.strip(chr(13) + chr(10))}"


class LuaConverter:
    """Converts both ways for one interpreter.

    Args:
        table_from: ``LuaRuntime.table_from`` (Python list/dict -> new Lua table).
        classify: the prelude's ``classify`` (a Lua table -> its kind and parts).
        is_table: True for a Lua table object (``lupa.lua_type(v) == 'table'``).
    """

    def __init__(self, table_from: Callable[..., Any], classify: Callable[..., Any],
                 is_table: Callable[[Any], bool]) -> None:
        self.table_from = table_from
        self.classify = classify
        self.is_table = is_table

    # ------------------------------------------------------------ into Lua

    def to_lua(self, reply: Any, resp: int) -> Any:
        """A command's reply as the Lua value ``redis.call`` returns."""
        kind = type(reply)
        if kind is bytes or kind is int:
            return reply
        if kind is Simple:
            return self.table_from({b"ok": reply.text.encode()})
        if reply is None or reply is NULL_ARRAY:
            return None if resp == 3 else False
        if kind is list or kind is tuple:
            return self.table_from([self.to_lua(item, resp) for item in reply])
        if isinstance(reply, CommandError):
            return self.error_table(reply.message)
        if kind is bool:
            return reply if resp == 3 else int(reply)
        if kind is float:
            return self.table_from({b"double": reply}) if resp == 3 else format_double(reply)
        if kind is dict:
            if resp == 3:
                inner = self.table_from({self.to_lua(k, resp): self.to_lua(v, resp) for k, v in reply.items()})
                return self.table_from({b"map": inner})
            flat: list[Any] = []
            for key, value in reply.items():
                flat.append(self.to_lua(key, resp))
                flat.append(self.to_lua(value, resp))
            return self.table_from(flat)
        if kind is set or kind is frozenset:
            if resp == 3:
                return self.table_from({b"set": self.table_from({self.to_lua(m, resp): True for m in reply})})
            return self.table_from([self.to_lua(item, resp) for item in reply])
        if kind is Verbatim:
            data = reply.encode()
            if resp == 3:
                inner = self.table_from({b"format": reply.fmt.encode(), b"string": data})
                return self.table_from({b"verbatim_string": inner})
            return data
        if kind is str:
            return reply.encode()
        if kind is BigNumber:
            return self.table_from({b"big_number": bytes(reply)}) if resp == 3 else bytes(reply)
        if kind is DoubleText:  # GEOPOS's coordinates: a double in RESP3, its text in RESP2
            return self.table_from({b"double": float(reply)}) if resp == 3 else bytes(reply)
        if isinstance(reply, bytes):
            return bytes(reply)
        if isinstance(reply, list):  # Push, Replies
            return self.table_from([self.to_lua(item, resp) for item in reply])
        if isinstance(reply, int):
            return int(reply)
        raise TypeError(f"no Lua form for a reply of type {kind.__name__}")

    def error_table(self, line: str) -> Any:
        """``{err='CODE message'}`` for a command's error line."""
        return self.table_from({b"err": error_message(line).encode()})

    # ------------------------------------------------------------ out of Lua

    def to_reply(self, value: Any, resp: int) -> Any:
        """A Lua value (returned by a script) as the broker's reply value."""
        kind = type(value)
        if kind is bytes:
            return value
        if kind is int or kind is float:
            return lua_number_to_int(value)
        if kind is bool:
            if resp == 3:
                return value
            return 1 if value else None
        if value is None:
            return None
        if self.is_table(value):
            return self.from_table(self.classify(value), resp)
        return None

    def from_table(self, parts: Any, resp: int) -> Any:
        """The reply for a classified table: ``(kind, part, ...)`` from the prelude."""
        if type(parts) is not tuple:
            parts = (parts,)
        kind = parts[0]
        convert = self.to_reply
        if kind == b"a":
            return [convert(item, resp) for item in parts[1:]]
        if kind == b"e":
            return CommandError(_text(parts[1]))
        if kind == b"o":
            return Simple(_text(parts[1]).replace("\r", " ").replace("\n", " "))
        if kind == b"d":
            return float(parts[1])
        if kind == b"n":
            return BigNumber(parts[1].replace(b"\r", b" ").replace(b"\n", b" "))
        if kind == b"v":
            text = Verbatim(_text(parts[2]))
            text.fmt = _text(parts[1])[:3].ljust(3)
            return text
        if kind == b"m":
            items = parts[1:]
            return {_hashable(convert(items[i], resp)): convert(items[i + 1], resp) for i in range(0, len(items), 2)}
        if kind == b"s":
            return OrderedSet(convert(item, resp) for item in parts[1:])
        if kind == b"A":
            table, size = parts[1], parts[2]
            return [convert(table[i], resp) for i in range(1, size + 1)]
        if kind == b"M":
            table, size = parts[1], parts[2]
            return {_hashable(convert(table[i], resp)): convert(table[i + 1], resp) for i in range(1, size + 1, 2)}
        if kind == b"S":
            table, size = parts[1], parts[2]
            return OrderedSet(convert(table[i], resp) for i in range(1, size + 1))
        raise ValueError(f"unknown table kind {kind!r}")


class OrderedSet(frozenset):  # type: ignore[type-arg]
    """A set reply that keeps Lua's iteration order on the wire (a frozenset
    would reorder the members)."""

    def __new__(cls, items: Any) -> "OrderedSet":
        ordered = list(items)
        self = super().__new__(cls, (_hashable(i) for i in ordered))
        self.ordered = ordered
        return self

    def __iter__(self) -> Any:
        return iter(self.ordered)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, v) for k, v in value.items())
    if isinstance(value, CommandError):
        return ("error", value.message)
    return value


def _text(value: Any) -> str:
    if type(value) is bytes:
        return value.decode("utf-8", "replace")
    return str(value)
