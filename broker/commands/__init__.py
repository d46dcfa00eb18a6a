"""Command handlers, one module per Redis command group.

Layout: ``connection`` (PING, HELLO, AUTH, CLIENT ...), ``server`` (INFO, CONFIG,
COMMAND, FLUSHDB ...), ``transactions`` (MULTI/EXEC/WATCH), ``pubsub``, ``keys``
(generic key commands and TTLs), ``strings``, ``hashes``, ``sets``, ``zsets``,
``lists``, ``streams``, ``memory`` (MEMORY USAGE ...). Each handler is registered in ``broker.table`` by the
``@command`` decorator and takes ``(client, argv)``; shared argument parsing is in
``args``. ``load()`` imports every group, once: the core calls it, so the table
(and ``broker.core``) never import a command module.
"""

from __future__ import annotations

from broker.table import COMMANDS, Command

__all__ = ["load"]


_loaded = False


def load() -> dict[bytes, Command]:
    """Import every command group (idempotent) and return the table."""
    global _loaded
    if not _loaded:
        from broker.commands import (  # noqa: F401  (imported for registration)
            acl, aof, bitmaps, cluster, connection, fanout, geo, hashes, hyperloglog, keys, lcs, lists, memory,
            migrate, persistence, pubsub, replication, scripting, server, sets, sort, stream_groups, streams, strings,
            transactions, zsets)
        from broker.commands import monitor, tracking  # noqa: F401  (CLIENT TRACKING ..., MONITOR)
        from broker.commands import introspection  # noqa: F401  (SLOWLOG, LATENCY, MODULE, LOLWUT)
        _loaded = True
    return COMMANDS
