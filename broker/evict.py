"""``maxmemory`` eviction and the LRU/LFU rules, as Redis 7.0's ``evict.c`` (sans-I/O).

Redis does not keep an exact LRU list: before a command, while used memory is
over ``maxmemory``, it samples ``maxmemory-samples`` keys of each db into an
eviction pool of 16 candidates ordered by score (idle time, 255 - LFU counter, or
the TTL's nearness), and evicts the best candidate that still exists. This module
does the same, with the sampling lists of ``Keyspace`` (``sample_keys``,
``sample_volatile``) standing in for ``dictGetSomeKeys``. Two departures, for
Python's sake, neither visible in replies: a round frees 1/1024 of maxmemory past
the limit (so it serves the next few dozen writes), and allkeys-lru refills an
empty pool from ``maxmemory-samples`` x 16 keys at once, keeping the 16 idlest
(the same samples per evicted key as Redis's populate-then-pick), and evicts
those 16 together when nobody hears of evictions (so up to 15 keys more than
the round's target go).

The per-key field is Redis's 24-bit ``lru``, kept for every key in every
configuration (``OBJECT IDLETIME`` is exact by default, as in Redis):

- LRU policies (and ``noeviction``, ``*-random``, ``volatile-ttl``): the key's last
  access time. Redis keeps the LRU clock (seconds, 24 bits); the keyspace keeps
  milliseconds, from which ``OBJECT IDLETIME`` derives Redis's exact answer
  (``lru_idle_seconds``): rounded down to the second of the broker's LRU clock
  (``ACCESS_CLOCK``), or exact while an LRU policy has a limit to enforce
  (``ACCESS_LRU``), so that the pool ranks finer than Redis's seconds.
- LFU policies: ``ldt << 8 | counter``, the last decrement time in minutes (16
  bits) and a logarithmic counter (8 bits) that starts at ``LFU_INIT_VAL``, grows
  with probability ``1 / ((counter - 5) * lfu-log-factor + 1)`` per access and
  decays by one per ``lfu-decay-time`` minutes (``LFULogIncr``, ``LFUDecrAndReturn``).

Keys for which ``Evictor.exempt`` is true are never evicted (the embedded
gateway's heartbeats, presence and history: see ``gateway.app``); they still
count in used memory.
"""

from __future__ import annotations

import math
import random
import time
from bisect import insort
from collections import deque
from random import random as _random
from typing import TYPE_CHECKING, Any, Callable

from broker.memcost import STRING_BASE as _STRING_BASE
from broker.notify import NotifyClass

if TYPE_CHECKING:
    from broker.core import Broker

__all__ = ["ACCESS_CLOCK", "ACCESS_LFU", "ACCESS_LRU", "EVICT_FAIL", "EVICT_OK", "EVICT_RUNNING", "Evictor", "LFU_INIT_VAL", "OOM", "lfu_decr",
           "lfu_touch", "lru_idle_seconds"]

OOM = "OOM command not allowed when used memory > 'maxmemory'."
LFU_INIT_VAL = 5
LRU_CLOCK_MAX = (1 << 24) - 1
EVPOOL_SIZE = 16
EVICT_OK, EVICT_RUNNING, EVICT_FAIL = 0, 1, 2
_EVICTED_CLASS = int(NotifyClass.EVICTED)
_BYTES_ONLY = {bytes}
# Keyspace.access: what the lru field holds. ACCESS_CLOCK (the default): the last
# access on the LRU clock, whole seconds as Redis's LRU_CLOCK (a ms value rounded
# down, one shared int per second: no int object per key); ACCESS_LRU (an LRU policy
# with a limit, so the pool ranks finer): the last access in ms; ACCESS_LFU.
# ACCESS_CLOCK is 0 so that the hot paths test it with a plain ``if not access``.
ACCESS_CLOCK, ACCESS_LRU, ACCESS_LFU = 0, 1, 2

# maxmemory-policy -> (sampled from every key, not only keys with a TTL; score kind)
_POLICIES: dict[str, tuple[bool, str]] = {
    "volatile-lru": (False, "lru"), "volatile-lfu": (False, "lfu"), "volatile-random": (False, "random"),
    "volatile-ttl": (False, "ttl"), "allkeys-lru": (True, "lru"), "allkeys-lfu": (True, "lfu"),
    "allkeys-random": (True, "random"), "noeviction": (True, "none"),
}


# ----------------------------------------------------------------- LRU / LFU

def lru_idle_seconds(last_access_ms: int, now_ms: int) -> int:
    """``OBJECT IDLETIME``: ``estimateObjectIdleTime`` / 1000 on Redis's 24-bit LRU
    clock of seconds, wrap-around included."""
    clock = (now_ms // 1000) & LRU_CLOCK_MAX
    field = (last_access_ms // 1000) & LRU_CLOCK_MAX
    if clock >= field:
        return clock - field
    return clock + (LRU_CLOCK_MAX - field)


def lfu_minutes(now_ms: int) -> int:
    """``LFUGetTimeInMinutes``: unix time in minutes, 16 bits."""
    return (now_ms // 60000) & 65535


def lfu_decr(field: int, now_ms: int, decay_time: int) -> int:
    """``LFUDecrAndReturn``: the counter after the decay periods elapsed since ``ldt``."""
    ldt = (field >> 8) & 65535
    counter = field & 255
    if not decay_time:
        return counter
    now = lfu_minutes(now_ms)
    elapsed = now - ldt if now >= ldt else 65535 - ldt + now
    periods = elapsed // decay_time
    if periods:
        return 0 if periods > counter else counter - periods
    return counter


def lfu_log_incr(counter: int, log_factor: int) -> int:
    """``LFULogIncr``: +1 with probability 1 / ((counter - LFU_INIT_VAL) * factor + 1)."""
    if counter == 255:
        return 255
    base = counter - LFU_INIT_VAL
    if base < 0:
        base = 0
    if random.random() < 1.0 / (base * log_factor + 1):
        counter += 1
    return counter


def lfu_touch(field: int, db: Any) -> int:
    """``updateLFU``: decay, then the logarithmic increment, stamped now."""
    now = db.host.now_ms
    counter = lfu_log_incr(lfu_decr(field, now, db.lfu_decay_time), db.lfu_log_factor)
    return (lfu_minutes(now) << 8) | counter


def eviction_time_limit_us(tenacity: int) -> float:
    """``evictionTimeLimitUs``: how long one eviction round may run (tenacity 0..100)."""
    if tenacity <= 10:
        return 50.0 * tenacity
    if tenacity < 100:
        return 500.0 * math.pow(1.15, tenacity - 10.0)
    return math.inf


def _evict_plain_batch(db: Any, batch: list[bytes]) -> tuple[int, int]:
    """Evict every key of ``batch`` (and empty it) when nobody hears of evictions:
    ``Keyspace.delete`` for a batch at once, in calls at C speed over the 16 keys.
    Values that are not plain strings, or keys with a TTL, go back and take the
    full ``Keyspace.delete`` one by one; ghosts (keys deleted since they were
    sampled) are skipped.

    Returns:
        (keys evicted, bytes freed).
    """
    data = db.data
    keys = batch[:]
    batch.clear()
    nones = [None] * len(keys)
    values = list(map(data.pop, keys, nones))
    kinds = set(map(type, values))
    expires = db.expires
    if kinds != _BYTES_ONLY or (expires and not expires.keys().isdisjoint(keys)):
        # the rare batch: ghosts (None), containers, TTLs
        account = db.account
        before = account.dataset
        count = 0
        for key, value in zip(keys, values):
            if value is None:
                continue
            count += 1
            if type(value) is bytes and not (expires and key in expires):
                db.lru.pop(key, None)
                account.dataset -= _STRING_BASE + len(key) + len(value)
                if db.encodings:
                    db.encodings.pop(key, None)
            else:
                data[key] = value  # back for the full delete
                db.delete(key)
        return count, before - account.dataset
    deque(map(db.lru.pop, keys, nones), 0)
    if db.encodings:
        deque(map(db.encodings.pop, keys, nones), 0)
    count = len(keys)
    cost = count * _STRING_BASE + sum(map(len, keys)) + sum(map(len, values))
    db.account.dataset -= cost
    return count, cost


# ------------------------------------------------------------------ Evictor

class Evictor:
    """``performEvictions`` over a broker's dbs, with its pool and settings."""

    def __init__(self, broker: "Broker") -> None:
        self.broker = broker
        self.policy = "noeviction"
        self.allkeys = True
        self.kind = "none"
        self.samples = 5
        self.time_limit_us = eviction_time_limit_us(10)
        # (score, db, key) ascending, at most EVPOOL_SIZE (``EvictionPoolLRU``)
        self.pool: list[tuple[int, int, bytes]] = []
        # allkeys-lru with one db: keys to evict, the idlest last, and their db
        self.batch: list[bytes] = []
        self.batch_db: Any = None
        # the random policies visit the dbs in turn (``next_db``)
        self.next_db = 0
        # an eviction round ran out of time with memory still over: the cron goes on
        # (``startEvictionTimeProc``), commands are not refused meanwhile
        self.running = False
        # keys never evicted (set by an embedding gateway for its own keys: set_exempt)
        self.exempt: Callable[[bytes], bool] | None = None

    def set_exempt(self, exempt: Callable[[bytes], bool] | None) -> None:
        """Never evict the keys ``exempt`` is true for; they are left out of the
        keyspaces' sampling lists, so a sample is never wasted on them."""
        self.exempt = exempt
        for db in self.broker.dbs:
            db.exempt = exempt
        self.refresh_sampling()

    def refresh_sampling(self) -> None:
        """The keyspaces keep their sampling lists only while an allkeys-* policy
        has a limit to enforce (appending each new key costs every write)."""
        sampling = bool(self.broker.maxmemory) and self.allkeys and self.kind != "none"
        for db in self.broker.dbs:
            if sampling != db.sampling or sampling:
                db.sampling = sampling
                db._order = db.evictable_keys() if sampling else []

    def configure(self, policy: str, samples: int, tenacity: int) -> None:
        self.policy = policy
        self.allkeys, self.kind = _POLICIES[policy]
        self.samples = samples
        self.time_limit_us = eviction_time_limit_us(tenacity)
        self.pool.clear()
        self.batch.clear()
        self.refresh_sampling()

    def perform(self) -> int:
        """Evict until used memory is back under maxmemory, or the round's time is up.

        Returns:
            EVICT_OK (under the limit, or nothing to do now), EVICT_RUNNING (still
            over, the cron continues) or EVICT_FAIL (over, and nothing can be
            evicted: noeviction, or no candidate key).
        """
        broker = self.broker
        account = broker.memory
        tofree = account.startup + account.dataset + account.clients - broker.maxmemory
        if tofree <= 0 or broker.loading_refusal is not None:
            self.running = False
            return EVICT_OK
        if self.kind == "none":
            return EVICT_FAIL
        # Redis frees exactly down to the limit, so with every write over it every
        # write runs a round; a round here frees 1/1024 of maxmemory more (16 kB of
        # 16 MB), so it serves the next few dozen writes: the round's fixed Python
        # cost (this call, the db scan, the clock) is spread over them.
        needed = tofree
        tofree += broker.maxmemory >> 10
        freed = 0
        evicted = 0
        started = time.perf_counter()
        result = EVICT_OK
        self.running = False
        dbs = [db for db in broker.dbs if db.data]
        if self.allkeys and self.kind == "lru" and len(dbs) == 1:
            result = self._perform_allkeys_lru(dbs[0], needed, tofree, started)
            if broker.propagator.pending:
                broker.propagator.flush(wrap=False)
            return result
        while freed < tofree:
            picked = self._pick_random() if self.kind == "random" else self._pick_best(dbs)
            if picked is None:
                result = EVICT_FAIL if freed < needed else EVICT_OK
                break
            db, key = picked
            before = account.dataset
            self._evict(db, key)
            freed += before - account.dataset
            evicted += 1
            if not evicted % 16 and (time.perf_counter() - started) * 1e6 > self.time_limit_us:
                self.running = account.used > broker.maxmemory
                result = EVICT_RUNNING if self.running else EVICT_OK
                break
        broker.stats.evicted_keys += evicted
        if broker.propagator.pending:
            broker.propagator.flush(wrap=False)  # each DEL alone (propagate_no_multi)
        return result

    def _perform_allkeys_lru(self, db: Any, needed: int, tofree: int, started: float) -> int:
        """``perform``'s loop for allkeys-lru with one db holding keys (the common
        cache): the 16 idlest of ``maxmemory-samples`` x 16 sampled keys are taken
        at once (``_sample_idlest``) and evicted together. When nobody hears of an
        eviction (no WATCH or tracking on the db, no ``evicted`` events, no AOF) and
        the batch is plain strings without a TTL (``_evict_plain_batch``), that is a
        few calls at C speed for all 16; otherwise each key takes ``_evict``. So a
        round frees up to one batch (16 keys) past its target: a Python step per
        evicted key was most of what a SET that evicts costs over one that does not."""
        broker = self.broker
        account = broker.memory
        batch = self.batch
        if self.batch_db is not db:
            batch.clear()
            self.batch_db = db
        data = db.data
        plain = not db.watched and not broker.notify_flags & _EVICTED_CLASS and not broker.propagating
        freed = evicted = refills = 0
        result = EVICT_OK
        while freed < tofree:
            if not batch:
                if not data or refills == 16:  # no key, or samples of ghosts only
                    result = EVICT_FAIL if freed < needed else EVICT_OK
                    break
                self._sample_idlest(db, batch)
                refills += 1
                continue
            if plain:
                count, cost = _evict_plain_batch(db, batch)
                freed += cost
            else:
                count = 0
                while batch and freed < tofree:
                    key = batch.pop()
                    if key in data:  # (not a ghost: deleted since it was sampled)
                        before = account.dataset
                        self._evict(db, key)
                        freed += before - account.dataset
                        count += 1
            if count:
                refills = 0
                evicted += count
                if (time.perf_counter() - started) * 1e6 > self.time_limit_us:
                    self.running = account.used > broker.maxmemory
                    result = EVICT_RUNNING if self.running else EVICT_OK
                    break
        broker.stats.evicted_keys += evicted
        return result

    def _evict(self, db: Any, key: bytes) -> None:
        broker = self.broker
        db.delete(key)
        if db.watched:  # signalModifiedKey
            broker.touch_watched(db.index, key, False)  # not the command's doing: BCAST NOLOOP hears it too
        if broker.notify_flags:
            broker.notify(NotifyClass.EVICTED, b"evicted", key, db.index)
        if broker.propagating:
            broker.propagator.deletion(db.index, key, lazy=broker.lazy_eviction)

    def _pick_best(self, dbs: list[Any]) -> tuple[Any, bytes] | None:
        """The LFU/TTL and volatile-lru pick (allkeys-lru: ``_perform_allkeys_lru``):
        populate the pool from every db that has keys (``dbs``: only they can), take
        the pool's best live entry."""
        pool = self.pool
        allkeys = self.allkeys
        # Redis samples until it finds a key; rounds are bounded here because
        # exempt keys and ghosts may fill whole samples (a miss is EVICT_FAIL).
        for _ in range(16):
            full = [db for db in dbs if (db.data if allkeys else db.expires)]
            if not full:
                return None
            for db in full:
                self._populate(db)
            while pool:
                _, index, key = pool.pop()
                db = dbs[index]
                if key in (db.data if allkeys else db.expires):
                    return db, key
                # a ghost (deleted since it was pooled): try the next
        return None

    def _populate(self, db: Any) -> None:
        """``evictionPoolPopulate``: score ``maxmemory-samples`` keys of ``db`` into the pool."""
        pool = self.pool
        kind = self.kind
        now = self.broker.now_ms
        if self.allkeys:  # (exempt keys are not in the sampling list)
            exempt = None
            sampled: list[tuple[bytes, int]] = [(key, 0) for key in db.sample_keys(self.samples)]
        else:
            exempt = self.exempt
            sampled = db.sample_volatile(self.samples)
        lru = db.lru.get
        since = db.access_field(b"")  # what an untouched key's field reads as
        for key, deadline in sampled:
            if exempt is not None and exempt(key):
                continue
            if kind == "lru":
                score = now - lru(key, since)
            elif kind == "lfu":
                score = 255 - lfu_decr(lru(key, since), now, db.lfu_decay_time)
            else:  # volatile-ttl: the sooner the better
                score = -deadline
            # full, and no better than the worst candidate: not taken (k == 0 in Redis)
            if len(pool) == EVPOOL_SIZE and score <= pool[0][0]:
                continue
            insort(pool, (score, db.index, key))
            if len(pool) > EVPOOL_SIZE:
                del pool[0]

    def _sample_idlest(self, db: Any, batch: list[bytes]) -> None:
        """Fill ``batch`` with the 16 idlest of ``maxmemory-samples`` x 16 keys of
        ``db``, the idlest last (for ``pop``): what 16 rounds of Redis's
        populate-then-pick would evict, with the same samples per evicted key.

        The keys are one strided slice of the sampling list from a random offset
        (every key equally likely; spread evenly over the list, where Redis walks
        a few runs of hash buckets), then ghosts are dropped by ``filter`` and the
        rest sorted by their lru field: all at C speed. Per key sampled what is left
        is the memory it touches; a round of Python per key (random indices
        included) was most of a SET that evicts."""
        order = db.sample_list(tight=True)
        size = len(order)
        if not size:
            return
        count = self.samples * EVPOOL_SIZE
        if size > count:
            stride = size // count
            # the last of ``count`` keys in the list: every key may be taken
            start = int(_random() * (size - stride * (count - 1)))
            order = order[start:start + stride * count:stride]
        lru = db.lru
        # every live key has a field: one probe tells a ghost (a deleted key)
        idlest = sorted(filter(lru.__contains__, order), key=lru.__getitem__)
        batch += idlest[EVPOOL_SIZE - 1::-1]

    def _pick_random(self) -> tuple[Any, bytes] | None:
        """allkeys-random / volatile-random: a random key of the next db that has one."""
        dbs = self.broker.dbs
        exempt = self.exempt
        for _ in range(len(dbs)):
            self.next_db = (self.next_db + 1) % len(dbs)
            db = dbs[self.next_db]
            if self.allkeys:
                keys = db.sample_keys(self.samples) if db.data else []
            else:
                keys = [key for key, _ in db.sample_volatile(self.samples)] if db.expires else []
            for key in keys:
                if self.allkeys or exempt is None or not exempt(key):
                    return db, key
        return None
