"""MEMORY USAGE / STATS / DOCTOR / PURGE / MALLOC-STATS / HELP, as redis-server 7.

Sizes are estimates from Python's object sizes (``sys.getsizeof``), sampled the way
Redis's ``objectComputeSize`` samples a container: up to SAMPLES elements (default
5, 0 for all) measured and the average scaled to the whole. They answer what
``redis-cli --memkeys`` and dashboards ask ("which keys are big?"); the bytes are
this process's, not what Redis would use for the same data.
"""

from __future__ import annotations

import sys
from itertools import islice
from typing import Any, Iterable

from broker.commands.args import SYNTAX, parse_int
from broker.commands.server import rss_bytes
from broker.client import Client
from broker.resp import OK, CommandError, Simple
from broker.stream import Stream
from broker.table import container, subcommand
from broker.zset import ZSet

__all__ = ["value_size"]

DEFAULT_SAMPLES = 5
# What a key costs beyond its name and value: the keyspace dict's share of a slot.
_ENTRY_OVERHEAD = 3 * 8

_memory = container("memory", "", group="server", since="4.0.0")

_MEMORY_HELP = [
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
]


def _sampled(container_size: int, count: int, sizes: Iterable[int], samples: int) -> int:
    """``container_size`` plus the average of up to ``samples`` element sizes times ``count``."""
    measured = list(islice(sizes, samples))
    if not measured:
        return container_size
    return container_size + sum(measured) * count // len(measured)


def value_size(value: Any, samples: int = DEFAULT_SAMPLES) -> int:
    """Estimated bytes held by one value of any type."""
    size = sys.getsizeof
    if type(value) is bytes:
        return size(value)
    if type(value) is dict:  # hash: field and value per entry
        return _sampled(size(value), len(value), (size(f) + size(v) for f, v in value.items()), samples)
    if type(value) is ZSet:  # the member in the dict and again in its order key (+9 bytes)
        return _sampled(size(value.scores) + size(value.order), len(value),
                        (2 * size(member) + 9 for member in value.scores), samples)
    if type(value) is Stream:
        return _sampled(size(value.ids) + size(value.values), len(value.ids),
                        (sum(size(field) for field in fields) for fields in value.values), samples)
    return _sampled(size(value), len(value), (size(item) for item in value), samples)  # set, list


# MEMORY USAGE key [SAMPLES count]
@subcommand(_memory, "usage", -3, "readonly", keys=(2, 2, 1))
def memory_usage(client: Client, argv: list[bytes]) -> int | None:
    samples = DEFAULT_SAMPLES
    i = 3
    while i < len(argv):
        if argv[i].lower() == b"samples" and i + 1 < len(argv):
            samples = parse_int(argv[i + 1])
            if samples < 0:
                raise CommandError(SYNTAX)
            if samples == 0:
                samples = sys.maxsize
            i += 2
        else:
            raise CommandError(SYNTAX)
    key = argv[2]
    value = client.db.data.get(key)  # dbFind: no expiry check, no hit/miss counted
    if value is None:
        return None
    return value_size(value, samples) + sys.getsizeof(key) + _ENTRY_OVERHEAD


# MEMORY STATS
@subcommand(_memory, "stats", 2, "")
def memory_stats(client: Client, argv: list[bytes]) -> dict[bytes, Any] | list[Any]:
    broker = client.broker
    rss = rss_bytes()
    keys = sum(len(db.data) for db in broker.dbs)
    dataset = sum(value_size(value) + sys.getsizeof(key) + _ENTRY_OVERHEAD
                  for db in broker.dbs for key, value in islice(db.data.items(), 1000))
    sampled = sum(min(len(db.data), 1000) for db in broker.dbs)
    if sampled:
        dataset = dataset * keys // sampled
    fields: list[tuple[bytes, Any]] = [
        (b"peak.allocated", rss), (b"total.allocated", rss), (b"startup.allocated", max(rss - dataset, 0)),
        (b"replication.backlog", 0), (b"clients.slaves", 0), (b"clients.normal", 0), (b"cluster.links", 0),
        (b"aof.buffer", 0), (b"lua.caches", 0), (b"functions.caches", 0),
        (b"overhead.total", max(rss - dataset, 0)), (b"keys.count", keys),
        (b"keys.bytes-per-key", dataset // keys if keys else 0), (b"dataset.bytes", dataset),
        (b"dataset.percentage", 100.0 * dataset / rss if rss else 0.0),
    ]
    if client.proto == 3:
        return dict(fields)
    flat: list[Any] = []
    for name, value in fields:
        flat += [name, value]
    return flat


# MEMORY DOCTOR
@subcommand(_memory, "doctor", 2, "")
def memory_doctor(client: Client, argv: list[bytes]) -> bytes:
    if not any(db.data for db in client.broker.dbs):
        return (b"Hi Sam, this instance is empty or is using very little memory, my issues detector can't be "
                b"used in these conditions. Please, leave for your mission on Earth and fill it with some data. "
                b"The new Sam and I will be back to our programming as soon as I finished rebooting.")
    return (b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs "
            b"on this base.")


# MEMORY PURGE
@subcommand(_memory, "purge", 2, "")
def memory_purge(client: Client, argv: list[bytes]) -> Simple:
    return OK


# MEMORY MALLOC-STATS
@subcommand(_memory, "malloc-stats", 2, "")
def memory_malloc_stats(client: Client, argv: list[bytes]) -> bytes:
    return b"Stats not supported for the current allocator"


# MEMORY HELP
@subcommand(_memory, "help", 2, "loading stale")
def memory_help(client: Client, argv: list[bytes]) -> list[Simple]:
    return [Simple(line) for line in _MEMORY_HELP]
