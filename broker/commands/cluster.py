"""CLUSTER, READONLY, READWRITE, ASKING: refused as a Redis without cluster support
refuses them (``cluster.c``: ``cluster_enabled`` is no).

The broker is one node, never a cluster. Clients and Redis's own tests still send
these commands (a script's ``redis.call('cluster', 'reset', 'hard')``, a client's
start-up probe), and Redis answers them with its table's arity and flags before the
refusal: CLUSTER RESET is ``noscript``, so a script gets "This Redis command is not
allowed from script", and a wrong argument count or an unknown subcommand is
reported as for any command.
"""

from __future__ import annotations

from broker.client import Client
from broker.resp import CommandError
from broker.table import command, container, subcommand

__all__ = ["DISABLED"]

DISABLED = "ERR This instance has cluster support disabled"

# Redis 7.0.15's src/commands/cluster-*.json: (subcommand, arity, flags, since)
_SUBCOMMANDS = (
    ("addslots", -3, "no_async_loading admin stale", "3.0.0"),
    ("addslotsrange", -4, "no_async_loading admin stale", "7.0.0"),
    ("bumpepoch", 2, "no_async_loading admin stale", "3.0.0"),
    ("count-failure-reports", 3, "admin stale", "3.0.0"),
    ("countkeysinslot", 3, "stale", "3.0.0"),
    ("delslots", -3, "no_async_loading admin stale", "3.0.0"),
    ("delslotsrange", -4, "no_async_loading admin stale", "7.0.0"),
    ("failover", -2, "no_async_loading admin stale", "3.0.0"),
    ("flushslots", 2, "no_async_loading admin stale", "3.0.0"),
    ("forget", 3, "no_async_loading admin stale", "3.0.0"),
    ("getkeysinslot", 4, "stale", "3.0.0"),
    ("help", 2, "loading stale", "5.0.0"),
    ("info", 2, "stale", "3.0.0"),
    ("keyslot", 3, "stale", "3.0.0"),
    ("links", 2, "stale", "7.0.0"),
    ("meet", -4, "no_async_loading admin stale", "3.0.0"),
    ("myid", 2, "stale", "3.0.0"),
    ("nodes", 2, "stale", "3.0.0"),
    ("replicas", 3, "admin stale", "5.0.0"),
    ("replicate", 3, "no_async_loading admin stale", "3.0.0"),
    ("reset", -2, "admin stale noscript", "3.0.0"),
    ("saveconfig", 2, "no_async_loading admin stale", "3.0.0"),
    ("set-config-epoch", 3, "no_async_loading admin stale", "3.0.0"),
    ("setslot", -4, "no_async_loading admin stale", "3.0.0"),
    ("shards", 2, "stale", "7.0.0"),
    ("slaves", 3, "admin stale", "3.0.0"),
    ("slots", 2, "stale", "3.0.0"),
)


def _disabled(client: Client, argv: list[bytes]) -> object:
    raise CommandError(DISABLED)


_cluster = container("cluster", "", group="cluster", since="3.0.0")
for _name, _arity, _flags, _since in _SUBCOMMANDS:
    subcommand(_cluster, _name, _arity, _flags, since=_since)(_disabled)


# READONLY
@command("readonly", 1, "fast loading stale", group="cluster", since="3.0.0")
def readonly(client: Client, argv: list[bytes]) -> object:
    raise CommandError(DISABLED)


# READWRITE
@command("readwrite", 1, "fast loading stale", group="cluster", since="3.0.0")
def readwrite(client: Client, argv: list[bytes]) -> object:
    raise CommandError(DISABLED)


# ASKING
@command("asking", 1, "fast", group="cluster", since="3.0.0")
def asking(client: Client, argv: list[bytes]) -> object:
    raise CommandError(DISABLED)
