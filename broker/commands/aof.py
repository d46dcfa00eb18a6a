"""AOF commands: BGREWRITEAOF (the log itself is broker/persistence/aof.py)."""

from __future__ import annotations

from broker.client import Client
from broker.resp import CommandError, Simple
from broker.table import command

__all__: list[str] = []


# BGREWRITEAOF
@command("bgrewriteaof", 1, "admin noscript no_async_loading", group="server", since="1.0.0",
         summary="Asynchronously rewrites the append-only file to disk.")
def bgrewriteaof(client: Client, argv: list[bytes]) -> object:
    aof = client.broker.aof
    if aof is None:
        raise CommandError("ERR the append-only file is not available in this process")
    if aof.child_pid:
        raise CommandError("ERR Background append only file rewriting already in progress")
    if client.broker.persistence.has_child():  # a BGSAVE child runs: after it, as Redis
        aof.rewrite_scheduled = True
        return Simple("Background append only file rewriting scheduled")
    try:
        aof.rewrite_background()
    except OSError as exc:
        raise CommandError(f"ERR Can't execute an AOF background rewriting. Please check the server logs "
                           f"for more information. ({exc.strerror})") from None
    return Simple("Background append only file rewriting started")
