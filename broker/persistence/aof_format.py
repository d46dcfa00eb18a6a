"""The AOF's contents: commands as RESP arrays, read back and written (sans-I/O).

Reading follows ``loadSingleAppendOnlyFile``: a file is a sequence of ``*<argc>``
arrays of ``$<len>`` bulk strings, with ``#...`` annotation lines (``#TS:<unix
time>`` with ``aof-timestamp-enabled``) skipped. Bytes that are not that format are
corruption (refused, with the offset); a command cut by the end of the file is a
truncated tail (loaded up to the last whole command with ``aof-load-truncated``).

Writing a base (``rewriteAppendOnlyFileRio``): SELECT per db, then per key the
commands that build it (SET, RPUSH/SADD/ZADD/HSET in batches of 64 items, XADD per
entry and XSETID), and PEXPIREAT for a key with a TTL.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterator

from broker.propagate import encode_command
from broker.resp import format_double
from broker.stream import Stream, format_id
from broker.zset import ZSet

__all__ = ["AofCorrupt", "AofTruncated", "read_commands", "write_base", "ITEMS_PER_COMMAND"]

# AOF_REWRITE_ITEMS_PER_CMD
ITEMS_PER_COMMAND = 64


class AofCorrupt(ValueError):
    """Bytes that are not a command, at ``offset``."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} at offset {offset}")
        self.offset = offset
        self.reason = reason


class AofTruncated(ValueError):
    """The file ends inside a command; ``valid_up_to`` ends the last whole one."""

    def __init__(self, valid_up_to: int) -> None:
        super().__init__(f"unexpected end of file after offset {valid_up_to}")
        self.valid_up_to = valid_up_to


def _line(data: bytes, start: int) -> tuple[bytes, int] | None:
    end = data.find(b"\n", start)
    if end < 0:
        return None
    return data[start:end + 1], end + 1


def read_commands(data: bytes, start: int = 0) -> Iterator[tuple[list[bytes], int]]:
    """Yield each command of ``data`` (from ``start``) with the offset just past it.

    Raises:
        AofCorrupt: where the bytes are not a command.
        AofTruncated: when the data ends inside a command.
    """
    pos = start
    size = len(data)
    find = data.find
    while pos < size:
        head = data[pos]
        if head == 0x23:  # '#': an annotation line
            end = find(b"\n", pos)
            if end < 0:
                raise AofTruncated(pos)
            pos = end + 1
            continue
        if head != 0x2A:  # '*'
            raise AofCorrupt(pos, "Bad file format reading the append only file")
        begin = pos
        end = find(b"\r\n", pos)
        if end < 0:
            raise AofTruncated(begin)
        try:
            argc = int(data[pos + 1:end])
        except ValueError:
            raise AofCorrupt(pos, "Bad file format reading the append only file") from None
        if argc < 1:
            raise AofCorrupt(pos, "Bad file format reading the append only file")
        pos = end + 2
        argv = []
        for _ in range(argc):
            if pos >= size:
                raise AofTruncated(begin)
            if data[pos] != 0x24:  # '$'
                raise AofCorrupt(pos, "Bad file format reading the append only file")
            end = find(b"\r\n", pos)
            if end < 0:
                raise AofTruncated(begin)
            try:
                length = int(data[pos + 1:end])
            except ValueError:
                raise AofCorrupt(pos, "Bad file format reading the append only file") from None
            if length < 0:
                raise AofCorrupt(pos, "Bad file format reading the append only file")
            pos = end + 2
            if pos + length + 2 > size:
                raise AofTruncated(begin)
            if data[pos + length:pos + length + 2] != b"\r\n":
                raise AofCorrupt(pos + length, "Bad file format reading the append only file")
            argv.append(data[pos:pos + length])
            pos += length + 2
        yield argv, pos


# ------------------------------------------------------------------ writing

def _chunks(items: list[bytes], size: int = ITEMS_PER_COMMAND) -> Iterator[list[bytes]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def key_commands(key: bytes, value: Any) -> Iterator[list[bytes]]:
    """The commands that rebuild ``value`` at ``key`` (its TTL aside)."""
    kind = type(value)
    if kind is bytes:
        yield [b"SET", key, value]
    elif kind is dict:
        items = [part for pair in value.items() for part in pair]
        for chunk in _chunks(items, 2 * ITEMS_PER_COMMAND):
            yield [b"HMSET", key, *chunk]
    elif kind is set:
        for chunk in _chunks(list(value)):
            yield [b"SADD", key, *chunk]
    elif kind is deque:
        for chunk in _chunks(list(value)):
            yield [b"RPUSH", key, *chunk]
    elif kind is ZSet:
        items = [part for member, score in value for part in (format_double(score), member)]
        for chunk in _chunks(items, 2 * ITEMS_PER_COMMAND):
            yield [b"ZADD", key, *chunk]
    elif kind is Stream:
        if value.ids:
            for entry_id, fields in zip(value.ids, value.values):
                yield [b"XADD", key, format_id(entry_id), *fields]
        else:
            # an empty stream: created and emptied in one command, as Redis writes it
            yield [b"XADD", key, b"MAXLEN", b"0", format_id(value.last_id), b"x", b"y"]
        yield [b"XSETID", key, format_id(value.last_id), b"ENTRIESADDED", b"%d" % value.entries_added,
               b"MAXDELETEDID", format_id(value.max_deleted_id)]
    else:
        raise TypeError(f"cannot write a {kind.__name__} to the AOF")


def write_base(dbs: list[Any], write: Callable[[bytes], Any], now_ms: int) -> None:
    """Write every live key of ``dbs`` as commands (an AOF base in command form)."""
    for db in dbs:
        if not db.data:
            continue
        write(encode_command([b"SELECT", b"%d" % db.index]))
        expires = db.expires
        out: list[bytes] = []
        size = 0
        for key, value in db.data.items():
            deadline = expires.get(key)
            if deadline is not None and deadline <= now_ms:
                continue
            for argv in key_commands(key, value):
                chunk = encode_command(argv)
                out.append(chunk)
                size += len(chunk)
            if deadline is not None:
                out.append(encode_command([b"PEXPIREAT", key, b"%d" % deadline]))
            if size > 1 << 20:
                write(b"".join(out))
                out.clear()
                size = 0
        if out:
            write(b"".join(out))
