"""maxmemory on the sans-I/O core (issue 18): accounting, LRU/LFU fields, eviction
policies, -OOM rules. The fake clock makes idle times and LFU decay exact."""

from __future__ import annotations

import random

import pytest

from broker.core import Broker
from broker.evict import OOM, lfu_decr, lru_idle_seconds
from broker.memcost import EXPIRE_COST, string_cost
from broker.resp import NULL_ARRAY, OK
from tests.support.core import Clock, FakeClient, error, run


def fill(broker: Broker, client: FakeClient, count: int, prefix: str = "k", size: int = 100, *extra: str) -> None:
    for i in range(count):
        run(broker, client, "SET", f"{prefix}{i}", "x" * size, *extra)


def limit(broker: Broker, client: FakeClient, policy: str, headroom: int = 0) -> None:
    """maxmemory just above what is used now, under ``policy``."""
    run(broker, client, "CONFIG", "SET", "maxmemory-policy", policy)
    broker.refresh_memory()  # the clients' share, counted once a limit is set
    run(broker, client, "CONFIG", "SET", "maxmemory", str(broker.memory.used + headroom))


# ------------------------------------------------------------ accounting

def test_string_writes_are_costed_and_deletes_give_it_back(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "SET", "k", "v" * 10)
    assert broker.memory.dataset == string_cost(b"k", b"v" * 10)
    run(broker, client, "SET", "k", "v" * 30)  # the fast path's overwrite
    assert broker.memory.dataset == string_cost(b"k", b"v" * 30)
    run(broker, client, "APPEND", "k", "tail")
    run(broker, client, "INCR", "n")
    run(broker, client, "INCRBY", "n", "5000")
    assert broker.memory.dataset == string_cost(b"k", b"v" * 30 + b"tail") + string_cost(b"n", b"5001")
    run(broker, client, "EXPIRE", "k", "100")
    assert broker.memory.dataset == string_cost(b"k", b"v" * 30 + b"tail") + string_cost(b"n", b"5001") + EXPIRE_COST
    run(broker, client, "PERSIST", "k")
    run(broker, client, "DEL", "k", "n")
    assert broker.memory.dataset == 0


def test_containers_follow_in_place_changes_and_every_type_returns_to_zero(broker: Broker,
                                                                        client: FakeClient) -> None:
    run(broker, client, "HSET", "h", "f", "v")
    small = broker.memory.dataset
    run(broker, client, "HSET", "h", *[f"f{i}" for i in range(2000) for _ in (0, 1)])
    for i in range(16):  # re-costed within 16 changes (Keyspace.notify)
        run(broker, client, "HSET", "h", f"more{i}", "v")
    assert broker.memory.dataset > small + 2000 * 50  # two bytes objects per field at least
    for i in range(500):
        run(broker, client, "RPUSH", "l", f"item{i}")
        run(broker, client, "SADD", "s", f"m{i}")
        run(broker, client, "ZADD", "z", str(i), f"m{i}")
        run(broker, client, "XADD", "x", "*", "f", f"v{i}")
    run(broker, client, "XADD", "empty", "1-1", "f", "v")
    run(broker, client, "XDEL", "empty", "1-1")  # an empty stream stays a key
    run(broker, client, "XGROUP", "CREATE", "empty", "g", "0")
    run(broker, client, "SUNIONSTORE", "s2", "s")
    run(broker, client, "RENAME", "l", "l2")
    run(broker, client, "LPOP", "l2", "100")
    run(broker, client, "SETEX", "t", "100", "v")
    run(broker, client, "DEBUG", "RELOAD")  # a load re-costs every key, the empty stream included
    run(broker, client, "DEL", "h", "l2", "s", "s2", "z", "x", "t", "empty")
    assert broker.memory.dataset == 0


def test_random_workload_leaves_no_drift(broker: Broker, client: FakeClient, clock: Clock) -> None:
    rng = random.Random(18)
    keys = [f"k{i}" for i in range(40)]
    for _ in range(3000):
        key = rng.choice(keys)
        op = rng.randrange(9)
        if op == 0:
            run(broker, client, "SET", key, "v" * rng.randrange(200), *(("PX", "50") if rng.random() < 0.3 else ()))
        elif op == 1:
            run(broker, client, "HSET", "h" + key, f"f{rng.randrange(50)}", "v" * rng.randrange(80))
        elif op == 2:
            run(broker, client, "HDEL", "h" + key, f"f{rng.randrange(50)}")
        elif op == 3:
            run(broker, client, "LPUSH", "l" + key, "x" * rng.randrange(30))
        elif op == 4:
            run(broker, client, "RPOP", "l" + key)
        elif op == 5:
            run(broker, client, "ZADD", "z" + key, str(rng.random()), f"m{rng.randrange(30)}")
        elif op == 6:
            run(broker, client, "DEL", key, "h" + key)
        elif op == 7:
            run(broker, client, "EXPIRE", "z" + key, "1")
        else:
            clock.now += 0.02
            broker.active_expire()
    clock.now += 10
    broker.active_expire()
    run(broker, client, "SWAPDB", "0", "1")
    run(broker, client, "SELECT", "1")
    for pattern in ("k*", "hk*", "lk*", "zk*"):
        for key in run(broker, client, "KEYS", pattern):
            run(broker, client, "DEL", key)
    assert broker.memory.dataset == 0


def test_flush_and_load_recount(broker: Broker, client: FakeClient) -> None:
    fill(broker, client, 100)
    run(broker, client, "HSET", "h", "f", "v")
    before = broker.memory.dataset
    run(broker, client, "SELECT", "3")
    fill(broker, client, 10, "other")
    run(broker, client, "FLUSHDB")
    assert broker.memory.dataset == before
    run(broker, client, "DEBUG", "RELOAD")
    assert broker.memory.dataset == before
    run(broker, client, "FLUSHALL")
    assert broker.memory.dataset == 0


def test_info_memory_fields(broker: Broker, client: FakeClient) -> None:
    fill(broker, client, 10)
    run(broker, client, "CONFIG", "SET", "maxmemory", "100mb")
    info = run(broker, client, "INFO", "memory")
    fields = dict(line.split(":", 1) for line in str(info).splitlines() if ":" in line)
    used = int(fields["used_memory"])
    assert used == broker.memory.used and int(fields["used_memory_dataset"]) == broker.memory.dataset
    for name in ("used_memory_human", "used_memory_rss", "used_memory_rss_human", "used_memory_peak",
                 "used_memory_startup", "mem_fragmentation_ratio", "mem_allocator", "lazyfree_pending_objects"):
        assert name in fields, name
    assert fields["maxmemory"] == str(100 * 1024 * 1024) and fields["maxmemory_human"] == "100.00M"
    assert fields["maxmemory_policy"] == "noeviction" and int(fields["used_memory_peak"]) >= used


# ------------------------------------------------------------- LRU / LFU

def test_idletime_follows_the_lru_clock_and_notouch_lookups(broker: Broker, client: FakeClient,
                                                            clock: Clock) -> None:
    run(broker, client, "SET", "old", "v")
    clock.now += 100
    run(broker, client, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru")  # the fields stay
    assert run(broker, client, "OBJECT", "IDLETIME", "old") == 100
    run(broker, client, "SET", "k", "v")
    clock.now += 10
    assert run(broker, client, "OBJECT", "IDLETIME", "k") == 10
    for argv in (("TYPE", "k"), ("EXISTS", "k"), ("TTL", "k"), ("OBJECT", "ENCODING", "k")):
        run(broker, client, *argv)  # LOOKUP_NOTOUCH
    assert run(broker, client, "OBJECT", "IDLETIME", "k") == 10
    run(broker, client, "GET", "k")
    assert run(broker, client, "OBJECT", "IDLETIME", "k") == 0
    clock.now += 3
    run(broker, client, "TOUCH", "k")
    assert run(broker, client, "OBJECT", "IDLETIME", "k") == 0
    clock.now += 3.5
    run(broker, client, "HSET", "h", "f", "v")
    clock.now += 2
    run(broker, client, "HSET", "h", "g", "v")  # a write lookup touches too
    assert run(broker, client, "OBJECT", "IDLETIME", "k") == 5  # seconds of the clock, as Redis
    assert run(broker, client, "OBJECT", "IDLETIME", "h") == 0
    assert run(broker, client, "OBJECT", "IDLETIME", "old") == 118


@pytest.mark.parametrize("maxmemory", ["0", "100mb"])
def test_idletime_is_exact_by_default_on_the_lru_clock_of_seconds(broker: Broker, client: FakeClient,
                                                                   clock: Clock, maxmemory: str) -> None:
    # no limit and noeviction (or a limit without an LRU policy): the coarse clock
    run(broker, client, "CONFIG", "SET", "maxmemory", maxmemory)
    clock.now = 1_700_000_000.9
    run(broker, client, "SET", "k", "v")
    run(broker, client, "SET", "n", "1")
    run(broker, client, "HSET", "h", "f", "v")
    clock.now += 0.2  # the next second of the LRU clock, 0.2 s later: idle 1, as Redis's
    assert run(broker, client, "OBJECT", "IDLETIME", "k") == 1
    clock.now += 9
    for argv in (("TYPE", "k"), ("EXISTS", "k"), ("TTL", "k"), ("OBJECT", "ENCODING", "k")):
        run(broker, client, *argv)  # LOOKUP_NOTOUCH
    assert run(broker, client, "OBJECT", "IDLETIME", "k") == 10
    run(broker, client, "GET", "k")
    run(broker, client, "INCR", "n")
    run(broker, client, "HGET", "h", "f")
    assert [run(broker, client, "OBJECT", "IDLETIME", key) for key in ("k", "n", "h")] == [0, 0, 0]
    clock.now += 4
    run(broker, client, "SET", "k", "w")  # the fast path's overwrite
    assert [run(broker, client, "OBJECT", "IDLETIME", key) for key in ("k", "n", "h")] == [0, 4, 4]
    # every key touched in one second shares one int: the table holds no int per key
    db = broker.dbs[0]
    run(broker, client, "SET", "n", "2")
    assert db.lru[b"k"] is db.lru[b"n"] is broker.lru_clock
    run(broker, client, "DEL", "k")
    assert b"k" not in db.lru


def test_switching_between_lru_and_lfu_reinterprets_the_fields_as_redis(broker: Broker, client: FakeClient,
                                                                         clock: Clock) -> None:
    clock.now = 1_700_000_123.0
    run(broker, client, "SET", "k", "v")
    run(broker, client, "CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    clock_field = 1_700_000_123 & ((1 << 24) - 1)  # Redis's lru bits: the LRU clock, read as ldt << 8 | counter
    assert broker.dbs[0].lru[b"k"] == clock_field
    assert run(broker, client, "OBJECT", "FREQ", "k") == lfu_decr(clock_field, broker.now_ms, 1)
    run(broker, client, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    # and back: those 24 bits as an LRU clock value, the idle time Redis's estimate gives
    assert run(broker, client, "OBJECT", "IDLETIME", "k") == lru_idle_seconds(clock_field * 1000, broker.now_ms)


def test_lru_clock_wraps_at_24_bits() -> None:
    wrap = (1 << 24) * 1000
    assert lru_idle_seconds(wrap - 5000, wrap + 3000) == 8 - 1  # Redis's wrap counts LRU_CLOCK_MAX, not +1
    assert lru_idle_seconds(1000, 61_000) == 60


def test_lfu_counter_grows_and_decays_by_redis_rules(broker: Broker, client: FakeClient, clock: Clock) -> None:
    run(broker, client, "CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    run(broker, client, "CONFIG", "SET", "lfu-log-factor", "0")  # every access counts
    run(broker, client, "SET", "k", "v")
    assert run(broker, client, "OBJECT", "FREQ", "k") == 5  # LFU_INIT_VAL
    for _ in range(3):
        run(broker, client, "GET", "k")
    assert run(broker, client, "OBJECT", "FREQ", "k") == 8
    run(broker, client, "SET", "k", "w")  # an overwrite keeps the counter (dbOverwrite), touched once
    assert run(broker, client, "OBJECT", "FREQ", "k") == 9
    clock.now += 3 * 60  # three decay periods of one minute
    assert run(broker, client, "OBJECT", "FREQ", "k") == 6
    run(broker, client, "CONFIG", "SET", "lfu-decay-time", "0")
    clock.now += 3600
    assert run(broker, client, "OBJECT", "FREQ", "k") == 9  # no decay: the stored counter
    assert error(run(broker, client, "OBJECT", "IDLETIME", "k")).startswith("ERR An LFU maxmemory policy is selected")


def test_lfu_log_factor_makes_increments_rarer(broker: Broker, client: FakeClient) -> None:
    run(broker, client, "CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    random.seed(18)
    run(broker, client, "SET", "k", "v")
    for _ in range(1000):
        run(broker, client, "GET", "k")
    # p = 1 / ((counter - 5) * 10 + 1): a thousand hits end near 5 + sqrt(2 * 1000 / 10) ~ 19
    assert 14 <= run(broker, client, "OBJECT", "FREQ", "k") <= 26


def test_lfu_decr_wraps_the_minutes() -> None:
    field = (65530 << 8) | 20
    now_ms = (65536 + 4) * 60_000  # minute 4 of the next wrap: 65535 - 65530 + 4 = 9 elapsed
    assert lfu_decr(field, now_ms, 1) == 11
    assert lfu_decr(field, now_ms, 3) == 17
    assert lfu_decr(field, now_ms, 0) == 20


# ------------------------------------------------------------- eviction

def test_allkeys_lru_keeps_the_recently_used_keys(broker: Broker, client: FakeClient, clock: Clock) -> None:
    random.seed(1)
    fill(broker, client, 50, "hot")
    limit(broker, client, "allkeys-lru", headroom=200 * 300)
    for i in range(2000):
        clock.now += 0.01
        for j in range(5):  # each hot key is read every 10 writes; cold ones are never read
            run(broker, client, "GET", f"hot{(5 * i + j) % 50}")
        run(broker, client, "SET", f"cold{i}", "x" * 100)
    assert broker.stats.evicted_keys > 1000
    assert broker.memory.used <= broker.maxmemory + 400  # over by at most the last write
    survivors = sum(1 for i in range(50) if run(broker, client, "EXISTS", f"hot{i}"))
    assert survivors >= 48  # sampled LRU: (nearly) all of the hot set stays


def test_allkeys_lfu_keeps_the_frequently_used_keys(broker: Broker, client: FakeClient) -> None:
    random.seed(2)
    run(broker, client, "CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
    fill(broker, client, 100, "hot")
    for _ in range(20):
        for i in range(100):
            run(broker, client, "GET", f"hot{i}")
    limit(broker, client, "allkeys-lfu", headroom=200 * 300)
    fill(broker, client, 3000, "cold")
    assert broker.stats.evicted_keys > 2000
    # sampled: a round may pool only hot keys, whose counters are the lowest it saw
    assert sum(1 for i in range(100) if run(broker, client, "EXISTS", f"hot{i}")) >= 97


def test_volatile_policies_never_evict_keys_without_ttl(broker: Broker, client: FakeClient) -> None:
    for policy in ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"):
        run(broker, client, "FLUSHALL")
        run(broker, client, "CONFIG", "SET", "maxmemory", "0")
        fill(broker, client, 100, "keep")
        limit(broker, client, policy, headroom=50 * 300)
        fill(broker, client, 300, "ttl", 100, "EX", "1000")
        assert all(run(broker, client, "EXISTS", f"keep{i}") for i in range(100)), policy
        assert broker.memory.used <= broker.maxmemory + 400, policy
        # once no key with a TTL is left, writes are refused
        replies = [run(broker, client, "SET", f"more{i}", "x" * 100) for i in range(200)]
        assert error(replies[-1]) == OOM and not broker.dbs[0].expires, policy
        assert all(run(broker, client, "EXISTS", f"keep{i}") for i in range(100)), policy


def test_volatile_ttl_evicts_the_nearest_deadlines_first(broker: Broker, client: FakeClient) -> None:
    random.seed(3)
    for i in range(100):
        run(broker, client, "SET", f"soon{i}", "x" * 100, "EX", str(100 + i))
    for i in range(100):
        run(broker, client, "SET", f"late{i}", "x" * 100, "EX", str(100_000 + i))
    limit(broker, client, "volatile-ttl")
    run(broker, client, "CONFIG", "SET", "maxmemory", str(broker.memory.used - 50 * 400))
    run(broker, client, "PING")
    gone = [key for key in [f"soon{i}" for i in range(100)] + [f"late{i}" for i in range(100)]
            if not run(broker, client, "EXISTS", key)]
    assert len(gone) >= 30 and sum(key.startswith("late") for key in gone) <= 3


@pytest.mark.parametrize("listening", [False, True])
def test_allkeys_lru_inline_eviction_keeps_the_account_and_tells_listeners(broker: Broker, client: FakeClient,
                                                                           clock: Clock, listening: bool) -> None:
    # plain strings nobody hears of go inline; hashes, TTL keys, and every key while
    # someone listens (events, WATCH) take Keyspace.delete: both leave no drift
    random.seed(7)
    listener = FakeClient(broker)
    watcher = FakeClient(broker)
    if listening:
        run(broker, client, "CONFIG", "SET", "notify-keyspace-events", "Ee")
        run(broker, listener, "SUBSCRIBE", "__keyevent@0__:evicted")
        run(broker, watcher, "WATCH", "s3")
    limit(broker, client, "allkeys-lru", headroom=300 * 300)
    for i in range(3000):
        clock.now += 0.001
        if i % 5 == 0:
            run(broker, client, "HSET", f"h{i}", "f", "v" * 50)
        elif i % 7 == 0:
            run(broker, client, "SET", f"t{i}", "x" * 100, "EX", "1000")
        else:
            run(broker, client, "SET", f"s{i}", "x" * 100)
    db = broker.dbs[0]
    assert broker.stats.evicted_keys > 2000
    assert broker.memory.dataset == db.cost() and set(db.lru) == set(db.data)
    assert len(db.data) + broker.stats.evicted_keys == 3000
    evicted = [m.data for m in listener.messages if m.channel == b"__keyevent@0__:evicted"]
    assert len(evicted) == (broker.stats.evicted_keys if listening else 0)
    if listening:
        run(broker, watcher, "MULTI")
        assert run(broker, watcher, "EXEC") is NULL_ARRAY  # s3 was evicted: the transaction aborts


def test_allkeys_lru_batch_eviction_skips_ghosts_and_drops_sticky_encodings(broker: Broker, client: FakeClient,
                                                                         clock: Clock) -> None:
    # a whole batch of plain strings goes at once (_evict_plain_batch); keys deleted
    # after they were sampled (ghosts in the pending batch) are skipped, and a key's
    # kept encoding (SETRANGE'd "raw") goes with it
    random.seed(11)
    for i in range(400):
        run(broker, client, "SET", f"old{i}", "1234")
        if i % 3 == 0:
            run(broker, client, "SETRANGE", f"old{i}", "0", "5")  # "5234", still "raw"
    clock.now += 10
    limit(broker, client, "allkeys-lru", headroom=100 * 100)
    db = broker.dbs[0]
    watcher = FakeClient(broker)
    deleted = 0
    for i in range(1500):
        clock.now += 0.001
        # while a WATCH is on, keys go one by one and a round may leave part of its
        # batch; keys of it deleted then are ghosts when the batch goes at once
        run(broker, watcher, "WATCH" if i % 100 < 50 else "UNWATCH", *(["w"] if i % 100 < 50 else []))
        run(broker, client, "SET", f"new{i}", "x" * 20)
        for key in broker.evictor.batch[:2] if i % 100 == 49 else []:
            deleted += run(broker, client, "DEL", key)
    assert broker.stats.evicted_keys > 400 and deleted > 0
    assert broker.memory.dataset == db.cost() and set(db.lru) == set(db.data)
    assert set(db.encodings) <= set(db.data)
    assert set(db.data) <= set(db.sample_list())  # none lost from the sampling list
    assert len(db.data) + broker.stats.evicted_keys + deleted == 1900
    # the idlest went first (sampled, so a few old keys may be left)
    assert sum(key.startswith(b"old") for key in db.data) < 10
    assert broker.memory.used <= broker.maxmemory


def test_allkeys_lru_over_several_dbs_takes_the_idlest_of_each(broker: Broker, client: FakeClient,
                                                               clock: Clock) -> None:
    # two dbs with keys: the pool of (idle, db, key) across them, as Redis's
    random.seed(9)
    for index in ("0", "1"):
        run(broker, client, "SELECT", index)
        fill(broker, client, 200, f"old{index}-")
    clock.now += 100
    limit(broker, client, "allkeys-lru")
    for i in range(200):
        run(broker, client, "SELECT", str(i % 2))
        run(broker, client, "SET", f"new{i}", "x" * 100)
    assert broker.stats.evicted_keys >= 150 and broker.memory.used <= broker.maxmemory + 400
    survivors = [key for db in broker.dbs[:2] for key in db.data]
    assert sum(key.startswith(b"new") for key in survivors) >= 190  # the old ones went first
    assert all(len(db.data) < 300 for db in broker.dbs[:2])


def test_evicted_keys_are_announced_counted_and_watched(broker: Broker, client: FakeClient) -> None:
    random.seed(4)
    run(broker, client, "CONFIG", "SET", "notify-keyspace-events", "Ee")
    listener = FakeClient(broker)
    run(broker, listener, "SUBSCRIBE", "__keyevent@0__:evicted")
    watcher = FakeClient(broker)
    fill(broker, client, 50)
    for i in range(50):
        run(broker, watcher, "WATCH", f"k{i}")
    run(broker, watcher, "MULTI")
    limit(broker, client, "allkeys-random")
    fill(broker, client, 20, "new")
    run(broker, client, "CONFIG", "SET", "maxmemory", "0")  # (itself a command that evicts first)
    evicted = [m.data for m in listener.messages if m.channel == b"__keyevent@0__:evicted"]
    assert evicted and len(evicted) == broker.stats.evicted_keys
    assert all(not run(broker, client, "EXISTS", key) for key in evicted)
    assert f"evicted_keys:{len(evicted)}" in str(run(broker, client, "INFO", "stats"))
    assert any(key.startswith(b"k") for key in evicted)
    assert run(broker, watcher, "EXEC") == NULL_ARRAY  # a watched key was evicted: signalModifiedKey


def test_exempt_keys_are_never_evicted(broker: Broker, client: FakeClient) -> None:
    broker.evictor.set_exempt(lambda key: key.startswith(b"node:"))
    fill(broker, client, 100, "node:")
    limit(broker, client, "allkeys-lru")
    fill(broker, client, 200, "cache")
    assert all(run(broker, client, "EXISTS", f"node:{i}") for i in range(100))
    assert broker.stats.evicted_keys > 100
    run(broker, client, "FLUSHALL")
    fill(broker, client, 100, "node:")
    limit(broker, client, "allkeys-lru")
    fill(broker, client, 1, "node:extra")
    # only exempt keys left: nothing can go, writes are refused
    assert error(run(broker, client, "SET", "cache", "x")) == OOM


# ------------------------------------------------------------------ -OOM

@pytest.fixture
def full(broker: Broker, client: FakeClient) -> Broker:
    """noeviction, 1 byte of maxmemory: every deny-oom command is refused."""
    run(broker, client, "SET", "k", "v")
    run(broker, client, "CONFIG", "SET", "maxmemory", "1")
    return broker


def test_noeviction_refuses_denyoom_commands_only(full: Broker, client: FakeClient) -> None:
    assert error(run(full, client, "SET", "a", "b")) == OOM
    assert error(run(full, client, "HSET", "h", "f", "v")) == OOM
    assert run(full, client, "GET", "k") == b"v"
    assert run(full, client, "EXPIRE", "k", "100") == 1  # a write that is not deny-oom
    assert run(full, client, "DEL", "k") == 1
    assert run(full, client, "PUBLISH", "ch", "m") == 0
    assert full.stats.evicted_keys == 0


def test_oom_in_multi_exec_and_gateway_client(full: Broker, client: FakeClient) -> None:
    assert run(full, client, "MULTI") == OK
    assert error(run(full, client, "GET", "k")) == OOM  # anything queued when out of memory
    assert error(run(full, client, "EXEC")).startswith("EXECABORT Transaction discarded because of previous")
    run(full, client, "CONFIG", "SET", "maxmemory", "0")
    run(full, client, "MULTI")
    run(full, client, "SET", "a", "b")
    other = FakeClient(full)
    run(full, other, "CONFIG", "SET", "maxmemory", "1")
    assert error(run(full, client, "EXEC")) == "EXECABORT Transaction discarded because of: " + OOM
    assert client.multi is None and run(full, client, "GET", "a") is None
    exempt = FakeClient(full)
    exempt.oom_exempt = True
    assert run(full, exempt, "SET", "a", "b") == OK


def test_oom_and_scripts(full: Broker, client: FakeClient) -> None:
    plain = "return redis.call('set', 'a', 'b')"
    assert error(run(full, client, "EVAL", plain, "0")).startswith(OOM)
    assert run(full, client, "EVAL", "return redis.call('get', 'k')", "0") == b"v"
    assert error(run(full, client, "EVAL", "#!lua\nreturn 1", "0")) == OOM
    assert run(full, client, "EVAL", "#!lua flags=no-writes\nreturn 1", "0") == 1
    assert run(full, client, "EVAL", "#!lua flags=allow-oom\n" + plain, "0") == OK
    # past its first write a script cannot be stopped (scriptVerifyOOM)
    assert run(full, client, "EVAL", "redis.call('del', 'zz'); return redis.call('set', 'c', 'd')", "0") == OK
    run(full, client, "CONFIG", "SET", "maxmemory", "0")  # no limit: scripts write again (Redis's unit/scripting)
    assert run(full, client, "EVAL", plain, "0") == OK
