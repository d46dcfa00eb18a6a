"""How much a write adds to the dirty counter (Redis's ``server.dirty``), where not 1.

The core adds 1 for a write command that changed data (``Broker.changes`` moved);
the commands below add what their Redis implementation adds instead, which is the
number of elements they touched: ``hsetCommand`` adds ``(argc - 2) / 2`` (every
pair, changed or not), ``delGenericCommand`` the keys it deleted, ``pushGenericCommand``
the values it pushed, and so on (ZADD's added + updated is added by its handler). ``rdb_changes_since_last_save`` (INFO) and the
``save`` schedule read the counter.

Each entry maps a command name to ``(argv, reply) -> amount``; ``set_dirty_counts``
installs them on the command table (``Command.dirty_of``) once, at start-up.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from broker.table import Command

__all__ = ["DIRTY_COUNTS", "set_dirty_counts"]


def _reply(argv: list[bytes], reply: Any) -> int:
    # the reply is the number of elements removed or added (DEL, SREM, HDEL ...)
    return reply if type(reply) is int else 1


def _pairs_after_key(argv: list[bytes], reply: Any) -> int:
    return (len(argv) - 2) // 2


def _values_after_key(argv: list[bytes], reply: Any) -> int:
    return len(argv) - 2


def _pairs(argv: list[bytes], reply: Any) -> int:
    return (len(argv) - 1) // 2


def _popped(argv: list[bytes], reply: Any) -> int:
    # LPOP/RPOP (a list) and SPOP (a set) with a count answer what they took
    return len(reply) if type(reply) is list or type(reply) is set else 1


def _zpopped(argv: list[bytes], reply: Any) -> int:
    # member, score, ... in RESP2; [member, score] pairs in RESP3
    if type(reply) is not list:
        return 1
    return len(reply) // 2 if reply and type(reply[0]) is not list else len(reply)


def _counted_by_handler(argv: list[bytes], reply: Any) -> int:
    # the handler adds to the counter itself (FLUSHALL must, before its save resets it)
    return 0


DIRTY_COUNTS: dict[str, Callable[[list[bytes], Any], int]] = {
    "hset": _pairs_after_key, "hmset": _pairs_after_key, "hdel": _reply,
    "lpush": _values_after_key, "rpush": _values_after_key, "lpushx": _values_after_key,
    "rpushx": _values_after_key, "lpop": _popped, "rpop": _popped, "lrem": _reply,
    "sadd": _reply, "srem": _reply, "spop": _popped,
    "zrem": _reply, "zpopmin": _zpopped, "zpopmax": _zpopped, "zremrangebyscore": _reply, "zremrangebyrank": _reply, "zremrangebylex": _reply,
    "del": _reply, "unlink": _reply, "mset": _pairs, "msetnx": _pairs,
    "xdel": _reply, "xtrim": _reply,
    "flushall": _counted_by_handler, "flushdb": _counted_by_handler, "migrate": _counted_by_handler,
}


def set_dirty_counts(commands: Iterable[Command]) -> None:
    """Install ``DIRTY_COUNTS`` on the table's commands (idempotent)."""
    for cmd in commands:
        count = DIRTY_COUNTS.get(cmd.name) if cmd.container is None else None
        if count is not None:
            cmd.dirty_of = count
