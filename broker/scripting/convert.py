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

Redis converts a returned table on the Lua stack, which holds at most
``LUAI_MAXCSTACK`` (8000) slots, checking for 4 free ones before each value:
a table nested that deep (or one that holds itself) becomes arrays down to
"-ERR reached lua stack limit" in place of each value past the limit. The
conversion here counts the slots Redis would use, and past ``_DEEP`` slots it
writes the rest straight to wire bytes without recursion (an ``Encoded`` reply).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from broker.resp import (NULL_ARRAY, BigNumber, CommandError, DoubleText, Encoded, Simple, Verbatim, encode,
                         format_double)

__all__ = ["LuaConverter", "OrderedSet", "error_message", "lua_number_to_int"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# luaReplyToRedisReply's stack: the slots in use when the script's value is converted
# (error handler, value), LUAI_MAXCSTACK, and the free slots checked before each value.
# A value inside an array sits 1 slot above its table, a map's key 4, its value 3, a
# set's member 3 (the table, key, value and copy of the key that lua_next leaves).
_TOP_SLOTS, _STACK_LIMIT, _STACK_NEEDS = 2, 8000, 4
_STACK_ERROR = "ERR reached lua stack limit"
_STACK_ERROR_WIRE = b"-" + _STACK_ERROR.encode() + b"\r\n"
# Past this many slots (at most as many tables deep, 3 Python frames each) the
# conversion goes on without recursion.
_DEEP = 200


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
                 is_table: Callable[[Any], bool], on_error: Callable[[str], None] | None = None) -> None:
        self.table_from = table_from
        self.classify = classify
        self.is_table = is_table
        # called with each error a script replies that is not counted in errorstats yet
        self.on_error = on_error

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
        """``{err='CODE message'}`` for a command's error line, marked as counted in
        errorstats already (redisProtocolToLuaType_Error)."""
        return self.table_from({b"err": error_message(line).encode(), b"ignore_error_stats_update": True})

    # ------------------------------------------------------------ out of Lua

    def to_reply(self, value: Any, resp: int, proto: int = 2, slots: int = _TOP_SLOTS) -> Any:
        """A Lua value (returned by a script) as the broker's reply value.

        Args:
            resp: the RESP version the script chose (redis.setresp).
            proto: the caller's protocol, for a reply nested deep enough to be
                written as wire bytes here.
            slots: Lua stack slots Redis would hold while converting this value.
        """
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
            if slots + _STACK_NEEDS > _STACK_LIMIT:
                return CommandError(_STACK_ERROR)
            return self.from_table(self.classify(value), resp, proto, slots)
        return None

    def from_table(self, parts: Any, resp: int, proto: int = 2, slots: int = _TOP_SLOTS) -> Any:
        """The reply for a classified table: ``(kind, part, ...)`` from the prelude,
        converted at ``slots`` (see ``to_reply``)."""
        if type(parts) is not tuple:
            parts = (parts,)
        if slots > _DEEP:
            return Encoded(self._encode_deep(parts, resp, proto, slots))
        kind = parts[0]
        convert = self.to_reply
        if kind == b"a":
            inner = slots + 1
            return [convert(item, resp, proto, inner) for item in parts[1:]]
        if kind == b"e":
            text = _text(parts[1])
            if self.on_error is not None and not (len(parts) > 2 and parts[2] is True):
                self.on_error(text)  # luaReplyToRedisReply: counted unless flagged
            return CommandError(text)
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
        key_at, value_at = slots + 4, slots + 3
        if kind == b"m":
            items = parts[1:]
            return {_key(convert(items[i], resp, proto, key_at), proto): convert(items[i + 1], resp, proto, value_at)
                    for i in range(0, len(items), 2)}
        if kind == b"s":
            return OrderedSet(convert(item, resp, proto, value_at) for item in parts[1:])
        if kind == b"A":
            table, size = parts[1], parts[2]
            return [convert(table[i], resp, proto, slots + 1) for i in range(1, size + 1)]
        if kind == b"M":
            table, size = parts[1], parts[2]
            return {_key(convert(table[i], resp, proto, key_at), proto): convert(table[i + 1], resp, proto, value_at)
                    for i in range(1, size + 1, 2)}
        if kind == b"S":
            table, size = parts[1], parts[2]
            return OrderedSet(convert(table[i], resp, proto, value_at) for i in range(1, size + 1))
        raise ValueError(f"unknown table kind {kind!r}")

    def _encode_deep(self, parts: Any, resp: int, proto: int, slots: int) -> bytes:
        """``from_table`` without recursion: the classified table's reply as wire bytes
        for ``proto``, with Redis's stack limit (a work stack of values still to write,
        each with the slots it is converted at)."""
        out: list[bytes] = []
        # (is it classified parts already, the parts or a Lua value, slots)
        work: list[tuple[bool, Any, int]] = [(True, parts, slots)]
        while work:
            classified, item, at = work.pop()
            if not classified:
                if at + _STACK_NEEDS > _STACK_LIMIT:
                    out.append(_STACK_ERROR_WIRE)
                    continue
                if not self.is_table(item):
                    out.append(encode(self.to_reply(item, resp), proto))
                    continue
                item = self.classify(item)
                if type(item) is not tuple:
                    item = (item,)
            kind = item[0]
            if kind in (b"a", b"A"):
                values = item[1:] if kind == b"a" else [item[1][i] for i in range(1, item[2] + 1)]
                out.append(b"*%d\r\n" % len(values))
                work.extend((False, value, at + 1) for value in reversed(values))
            elif kind in (b"m", b"M"):
                flat = item[1:] if kind == b"m" else [item[1][i] for i in range(1, item[2] + 1)]
                pairs = len(flat) // 2
                out.append(b"%%%d\r\n" % pairs if proto == 3 else b"*%d\r\n" % (2 * pairs))
                for i in range(len(flat) - 2, -1, -2):
                    work.append((False, flat[i + 1], at + 3))
                    work.append((False, flat[i], at + 4))
            elif kind in (b"s", b"S"):
                members = item[1:] if kind == b"s" else [item[1][i] for i in range(1, item[2] + 1)]
                out.append(b"~%d\r\n" % len(members) if proto == 3 else b"*%d\r\n" % len(members))
                work.extend((False, member, at + 3) for member in reversed(members))
            else:  # error, status, double, big number, verbatim: no nesting
                out.append(encode(self.from_table(item, resp), proto))
        return b"".join(out)


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


class _TableKey(Encoded):
    """A map key that is a table (or an error), encoded: its bytes hash, and each key
    stays its own entry (two tables may convert alike; Redis writes both)."""

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other


def _key(value: Any, proto: int) -> Any:
    """A converted map key as a dict key: tables and errors as their wire bytes."""
    if isinstance(value, (list, dict, frozenset, CommandError, Encoded)):
        return _TableKey(encode(value, proto))
    return value


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
