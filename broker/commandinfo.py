"""What COMMAND INFO, COMMAND DOCS and COMMAND GETKEYSANDFLAGS answer (sans-I/O).

The facts come from ``broker/command_docs.json``, generated from Redis 7.0.15's
``src/commands/*.json`` by ``scripts/gen_command_docs.py`` (read that script to
regenerate it), read once on first use so a server that never runs COMMAND does
not pay for it. A command of ours the file does not know (one added since the file
was generated) is described from our own table.

Replies are built as Redis builds them (``server.c`` ``addReplyCommandInfo``,
``addReplyCommandDocs``, ``addReplyCommandKeySpecs``): flags and categories as
status replies in sets, maps for the key specs and the docs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from broker.resp import Simple

if TYPE_CHECKING:
    from broker.table import Command

__all__ = ["SetReply", "docs", "entry", "info", "key_flags"]

_PATH = Path(__file__).with_name("command_docs.json")
_table: dict[str, dict[str, Any]] | None = None


class SetReply(frozenset):  # type: ignore[type-arg]
    """A RESP3 set reply (``~``) of any items, unhashable ones (maps) included, in order.

    The encoder writes a frozenset as a set, taking its length and iterating it: the
    frozenset itself holds 0..n-1 (so ``len`` is right) and iteration gives the items.
    """

    _items: tuple[Any, ...]

    def __new__(cls, items: Iterable[Any]) -> "SetReply":
        order = tuple(items)
        made = super().__new__(cls, range(len(order)))
        made._items = order
        return made

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items)


def table() -> dict[str, dict[str, Any]]:
    """Every command and subcommand Redis 7.0.15 (and fanout) describes, by full name."""
    global _table
    if _table is None:
        with open(_PATH, encoding="utf-8") as source:
            _table = json.load(source)["commands"]
    return _table


def entry(cmd: "Command") -> dict[str, Any] | None:
    return table().get(cmd.fullname)


def _statuses(names: Iterable[str], prefix: str = "") -> SetReply:
    return SetReply(Simple(prefix + name) for name in names)


def _key_spec(spec: dict[str, Any]) -> dict[bytes, Any]:
    out: dict[bytes, Any] = {}
    if "notes" in spec:
        out[b"notes"] = spec["notes"].encode()
    out[b"flags"] = _statuses(spec["flags"])
    for part in ("begin_search", "find_keys"):
        found = spec[part]
        out[part.encode()] = {b"type": found["type"].encode(),
                              b"spec": {name.encode(): value.encode() if isinstance(value, str) else value
                                        for name, value in found["spec"].items()}}
    return out


def info(cmd: "Command", derived: Any) -> list[Any]:
    """One COMMAND INFO entry (``addReplyCommandInfo``); ``derived(cmd)`` describes a
    command the file does not know."""
    found = entry(cmd)
    if found is None:
        return derived(cmd)  # type: ignore[no-any-return]
    first, last, step = found["range"]
    return [cmd.fullname.encode(), found["arity"], _statuses(found["flags"]), first, last, step,
            _statuses(found["acl"], "@"), SetReply(tip.encode() for tip in found["tips"]),
            SetReply(_key_spec(spec) for spec in found["key_specs"]),
            [info(sub, derived) for sub in cmd.subcommands.values()]]


def _arguments(args: list[dict[str, Any]]) -> list[dict[bytes, Any]]:
    out = []
    for arg in args:
        item: dict[bytes, Any] = {}
        for name, value in arg.items():
            if name == "flags":
                item[b"flags"] = _statuses(value)
            elif name == "arguments":
                item[b"arguments"] = _arguments(value)
            elif name == "token" and value == '""':
                # MIGRATE's empty-string token: Redis's generator writes it into C as
                # """" (two empty literals), so Redis answers an empty token
                item[b"token"] = b""
            else:
                item[name.encode()] = value.encode() if isinstance(value, str) else value
        out.append(item)
    return out


def docs(cmd: "Command", derived: Any) -> dict[bytes, Any]:
    """One COMMAND DOCS map (``addReplyCommandDocs``)."""
    found = entry(cmd)
    if found is None:
        return derived(cmd)  # type: ignore[no-any-return]
    out: dict[bytes, Any] = {}
    for name, value in found["docs"].items():
        if name == "doc_flags":
            out[b"doc_flags"] = _statuses(value)
        elif name == "history":
            out[b"history"] = SetReply([since.encode(), changes.encode()] for since, changes in value)
        elif name == "arguments":
            out[b"arguments"] = _arguments(value)
        else:
            out[name.encode()] = value.encode()
    if cmd.subcommands:
        out[b"subcommands"] = {sub.fullname.encode(): docs(sub, derived) for sub in cmd.subcommands.values()}
    return out


# ------------------------------------------------------------ key specs

def _spec_keys(spec: dict[str, Any], argv: list[bytes]) -> list[int] | None:
    """The positions one key spec finds in ``argv`` (``getKeysUsingKeySpecs``);
    [] when its keyword is absent, None when the arguments do not fit it."""
    argc = len(argv)
    begin, find = spec["begin_search"], spec["find_keys"]
    if begin["type"] == "index":
        first = begin["spec"]["index"]
    elif begin["type"] == "keyword":
        keyword, start = begin["spec"]["keyword"].encode().lower(), begin["spec"]["startfrom"]
        index = start if start > 0 else argc + start
        end = argc - 1 if start > 0 else 1
        first = 0
        while True:
            if index >= argc or index < 1:
                break
            if argv[index].lower() == keyword:
                first = index + 1
                break
            if index == end:
                break
            index += 1 if index <= end else -1
        if not first:
            return []
    else:
        return None
    if find["type"] == "range":
        step, lastkey, limit = find["spec"]["keystep"], find["spec"]["lastkey"], find["spec"]["limit"]
        if lastkey >= 0:
            last = first + lastkey
        elif not limit:
            last = argc + lastkey
        else:
            last = first + ((argc - first) // limit + lastkey)
    elif find["type"] == "keynum":
        step = find["spec"]["keystep"]
        if find["spec"]["keynumidx"] >= argc or first + find["spec"]["keynumidx"] >= argc:
            return None
        try:
            numkeys = int(argv[first + find["spec"]["keynumidx"]])
        except ValueError:
            return None
        if numkeys < 0:
            return None
        first += find["spec"]["firstkey"]
        last = first + numkeys - 1
    else:
        return None
    if last >= argc or last < first or first >= argc:
        return None
    return list(range(first, last + 1, step))


def key_flags(cmd: "Command", argv: list[bytes], count: int) -> list[list[str]] | None:
    """The key-spec flags of the ``count`` keys COMMAND GETKEYS finds in ``argv``
    (COMMAND GETKEYSANDFLAGS), or None when the file does not know ``cmd``.

    Where the specs find the keys (``getKeysFromCommandWithSpecs``) each key has its
    spec's flags; where they cannot (incomplete or variable-flag specs: SET's GET,
    SORT's STORE, BITFIELD), the command's own rule gives them, as its
    ``getkeys_proc`` does (``db.c``).
    """
    found = entry(cmd)
    if found is None:
        return None
    specs = [spec for spec in found["key_specs"] if "not_key" not in spec["flags"]]
    if not any("variable_flags" in spec["flags"] or "incomplete" in spec["flags"] for spec in specs):
        flags: list[list[str]] = []
        for spec in specs:
            keys = _spec_keys(spec, argv)
            if keys is None:
                break
            flags += [spec["flags"]] * len(keys)
        else:
            if len(flags) == count:
                return flags
    name = cmd.fullname
    if name == "set":  # setGetKeys: with GET it reads the old value too
        has_get = any(arg.lower() == b"get" for arg in argv[3:])
        return [["RW", "access", "update"] if has_get else ["OW", "update"]] * count
    if name == "bitfield":
        return [["RO", "access"] if _bitfield_readonly(argv) else ["RW", "access", "update"]] * count
    if name in ("sort", "georadius", "georadiusbymember"):  # the STORE target is written over
        return [["RO", "access"]] + [["OW", "update"]] * (count - 1)
    out = []
    for index in range(count):
        spec = specs[min(index, len(specs) - 1)] if specs else {"flags": []}
        out.append([flag for flag in spec["flags"] if flag not in ("incomplete", "variable_flags")])
    return out


def _bitfield_readonly(argv: list[bytes]) -> bool:
    """bitfieldGetKeys: only GET (and OVERFLOW) subcommands, well formed."""
    index = 2
    while index < len(argv):
        remaining, arg = len(argv) - index - 1, argv[index].lower()
        if arg == b"get" and remaining >= 2:
            index += 3
        elif arg == b"overflow" and remaining >= 1:
            index += 2
        else:
            return False  # SET, INCRBY, or a syntax error: not read-only
    return True
