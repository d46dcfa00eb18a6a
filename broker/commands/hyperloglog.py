"""HyperLogLog commands, as redis-server 7.0 (``hyperloglog.c``); the representation
itself lives in ``broker/hyperloglog.py``.

An HLL is a string value, so GET, SET, DUMP/RESTORE and snapshots carry it as
they carry any string, and a value made by Redis works here and the other way.
"""

from __future__ import annotations

import random

from broker.client import Client
import math

from broker.hyperloglog import (DENSE, DENSE_SIZE, REGISTERS, SPARSE, Hll, HllError, count_registers, dense_add,
                               pack_dense, pattern, registers_max, unpack_dense)
from broker.keyspace import WRONGTYPE
from broker.notify import NotifyClass
from broker.resp import OK, CommandError, Simple
from broker.table import command

__all__: list[str] = []

_STRING = NotifyClass.STRING
INVALID = "INVALIDOBJ Corrupted HLL object detected"
NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."


def _hll_value(value: object) -> bytes:
    """``isHLLObjectOrReply``: the string value if it is an HLL."""
    if type(value) is not bytes:
        raise CommandError(WRONGTYPE)
    if not Hll.valid(value):
        raise CommandError(NOT_HLL)
    return value


def _sparse_max(client: Client) -> int:
    return int(client.broker.config.get("hll-sparse-max-bytes"))


# PFADD key [element ...]
@command("pfadd", -2, "write denyoom fast", keys=(1, 1, 1), group="hyperloglog", since="2.8.9")
def pfadd(client: Client, argv: list[bytes]) -> object:
    db, key = client.db, argv[1]
    value = db.lookup(key)
    if len(argv) == 3 and type(value) is bytes and len(value) == DENSE_SIZE and value[4] == DENSE \
            and value[:4] == b"HYLL":
        # one element into a dense HLL, the usual PFADD: no Hll object, no copy
        # unless the register grows
        new = dense_add(value, argv[2])
        if new is None:
            return 0
        db.replace(key, new)
        db.notify(_STRING, b"pfadd", key)
        return 1
    updated = 0
    if value is None:
        hll = Hll.new()
        db.add(key, hll.to_bytes())
        updated += 1
    else:
        hll = Hll.load(_hll_value(value))
    limit = _sparse_max(client)
    try:
        if len(argv) > 3:
            updated += hll.add_many(argv[2:], limit)
        elif len(argv) == 3 and hll.add(argv[2], limit):
            updated += 1
    except HllError:
        raise CommandError(INVALID) from None
    if updated:
        hll.invalidate()
        db.replace(key, hll.to_bytes())
        db.notify(_STRING, b"pfadd", key)
        return 1
    hll.keep(value)  # unchanged: what load took over still describes the value
    return 0


# PFCOUNT key [key ...]
@command("pfcount", -2, "readonly", keys=(1, -1, 1), group="hyperloglog", since="2.8.9")
def pfcount(client: Client, argv: list[bytes]) -> object:
    db = client.db
    if len(argv) > 2:
        union = bytes(REGISTERS)
        for key in argv[1:]:
            value = db.read(key)
            if value is None:
                continue
            try:
                union = registers_max(union, Hll.load(_hll_value(value), for_write=False).registers())
            except HllError:
                raise CommandError(INVALID) from None
        return count_registers(union)
    key = argv[1]
    value = db.read(key)
    if value is None:
        return 0
    _hll_value(value)
    cached = int.from_bytes(value[8:16], "little")
    if not cached >> 63:
        return cached
    hll = Hll.load(value)
    try:
        count = hll.count()
    except HllError:
        raise CommandError(INVALID) from None
    # Redis writes the fresh count into the value's header: a read that changes the
    # value (WATCH sees it, no event is sent)
    hll.set_cached_count(count)
    db.replace(key, hll.to_bytes())
    if db.watched:
        db.host.touch_watched(db.index, key)
    return count


# PFMERGE destkey [sourcekey ...]
@command("pfmerge", -2, "write denyoom", keys=(1, -1, 1), group="hyperloglog", since="2.8.9")
def pfmerge(client: Client, argv: list[bytes]) -> object:
    db = client.db
    union = bytes(REGISTERS)
    dense = False
    # the destination is one of the sources, as in Redis
    for key in argv[1:]:
        value = db.read(key)
        if value is None:
            continue
        source = Hll.load(_hll_value(value), for_write=False)
        dense = dense or source.encoding == DENSE
        try:
            union = registers_max(union, source.registers())
        except HllError:
            raise CommandError(INVALID) from None
    target = argv[1]
    value = db.lookup(target)
    if value is None:
        hll = Hll.new()
        db.add(target, hll.to_bytes())
    else:
        hll = Hll.load(value)
    try:
        if dense:
            hll.to_dense()
        hll.merge_max(union, _sparse_max(client))
    except HllError:
        raise CommandError(INVALID) from None
    hll.invalidate()
    db.replace(target, hll.to_bytes())
    db.notify(_STRING, b"pfadd", target)
    return OK


# PFSELFTEST
@command("pfselftest", 1, "admin", group="hyperloglog", since="2.8.9")
def pfselftest(client: Client, argv: list[bytes]) -> object:
    """Redis's two self checks, the second at up to 10,000 elements (Redis goes to
    10 million, which would hold this single-threaded server for minutes)."""
    rng = random.Random()
    for _ in range(10):
        registers = bytes(rng.randrange(64) for _ in range(REGISTERS))
        if unpack_dense(pack_dense(registers)) != registers:
            raise CommandError("TESTFAILED Register access")
    dense, sparse = Hll.new(), Hll.new()
    dense.to_dense()
    limit = _sparse_max(client)
    seed = rng.getrandbits(64)
    checkpoint = 1
    relative_error = 1.04 / REGISTERS ** 0.5
    for j in range(1, 10_001):
        element = (j ^ seed).to_bytes(8, "little")
        index, run = pattern(element)
        dense.set(index, run, limit)
        sparse.set(index, run, limit)
        if j == checkpoint:
            if j < limit // 2 and sparse.encoding == DENSE:
                raise CommandError("TESTFAILED sparse encoding not used")
            if dense.count() != sparse.count():
                raise CommandError("TESTFAILED dense/sparse disagree")
            error = abs(checkpoint - dense.count())
            allowed = 1 if j == 10 else math.ceil(relative_error * 6 * checkpoint)
            if error > allowed:
                raise CommandError(f"TESTFAILED Too big error. card:{checkpoint} abserr:{error}")
            checkpoint *= 10
    return OK


# PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
@command("pfdebug", 3, "write denyoom admin", keys=(2, 2, 1), group="hyperloglog", since="2.8.9")
def pfdebug(client: Client, argv: list[bytes]) -> object:
    db, key = client.db, argv[2]
    value = db.lookup(key)
    if value is None:
        raise CommandError("ERR The specified key does not exist")
    sub = argv[1].lower()
    hll = Hll.load(_hll_value(value), for_write=sub in (b"getreg", b"todense"))
    try:
        if sub == b"getreg":
            if hll.to_dense():
                db.replace(key, hll.to_bytes())
                client.broker.changes += 1  # an encoding change is recorded (Redis: dirty++)
            return list(hll.registers())
        if sub == b"decode":
            if hll.encoding != SPARSE:
                raise CommandError("ERR HLL encoding is not sparse")
            return hll.decode()
        if sub == b"encoding":
            return Simple("dense" if hll.encoding == DENSE else "sparse")
        if sub == b"todense":
            converted = hll.to_dense()
            if converted:
                db.replace(key, hll.to_bytes())
                client.broker.changes += 1  # an encoding change is recorded (Redis: dirty++)
            return 1 if converted else 0
    except HllError:
        raise CommandError(INVALID) from None
    raise CommandError(f"ERR Unknown PFDEBUG subcommand '{argv[1].decode('utf-8', 'replace')}'")
