"""Generic key commands: DEL EXISTS TYPE, TTLs, KEYS/SCAN, RENAME ..."""

from __future__ import annotations

from broker.core import Client
from broker.notify import NotifyClass
from broker.table import command

__all__: list[str] = []


# DEL key [key ...]
@command("del", -2, "write", keys=(1, -1, 1), group="generic")
def del_(client: Client, argv: list[bytes]) -> int:
    db = client.db
    deleted = 0
    for key in argv[1:]:
        if db.lookup(key) is not None:
            db.delete(key)
            db.notify(NotifyClass.GENERIC, b"del", key)
            deleted += 1
    return deleted


# EXISTS key [key ...]
@command("exists", -2, "readonly fast", keys=(1, -1, 1), group="generic")
def exists(client: Client, argv: list[bytes]) -> int:
    db = client.db
    return sum(1 for key in argv[1:] if db.lookup(key) is not None)
