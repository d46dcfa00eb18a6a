"""Presence tracker over the in-process backend: per-user aggregation, atomic joins and leaves."""

from __future__ import annotations

import random

from broker.backends.memory import MemoryBackend
from broker.core import Broker
from presence import model
from presence.tracker import PresenceTracker


async def _tracker(node: str = "n1") -> tuple[PresenceTracker, MemoryBackend]:
    backend = MemoryBackend(Broker())
    await backend.start()
    return PresenceTracker(backend, node), backend


async def test_a_user_with_three_tabs_joins_once_and_leaves_once():
    tracker, backend = await _tracker()
    events: list[bytes] = []
    backend.set_handler(lambda channel, data, pattern: events.append(data[:4]))
    await backend.subscribe(b"chat:lobby")
    joins = []
    for conn in ("c1", "c2", "c3"):
        await tracker.connect(conn, "alice", {"name": "Alice"}, 1000)
        joins.append(await tracker.join("chat:lobby", conn, "alice", {"name": "Alice"}, 1000))
    assert joins == [(True, True), (True, False), (True, False)]
    present = await tracker.present("chat:lobby")
    assert present == {"alice": {"info": {"name": "Alice"}, "conns": ["c1", "c2", "c3"]}}
    assert await tracker.leave("chat:lobby", "c1", "alice") == (True, False)
    assert await tracker.leave("chat:lobby", "c2", "alice") == (True, False)
    assert await tracker.leave("chat:lobby", "c3", "alice") == (True, True)
    assert await tracker.present("chat:lobby") == {}
    assert events == [b"\x1epj1", b"\x1epj0", b"\x1epj0", b"\x1epl0", b"\x1epl0", b"\x1epl1"]


async def test_state_is_readable_with_plain_redis_commands():
    tracker, backend = await _tracker()
    await tracker.connect("c1", "bob", None, 5)
    await tracker.join("room", "c1", "bob", None, 5)
    assert set((await backend.execute("HGETALL", model.channel_key("room"))).keys()) == {b"c1"}
    assert await backend.execute("HGETALL", model.users_key("room")) == {b"bob": b"1"}
    assert await backend.execute("SMEMBERS", model.user_conns_key("bob")) == {b"c1"}
    assert await backend.execute("SMEMBERS", model.conn_channels_key("c1")) == {b"room"}
    assert (await backend.execute("HGETALL", model.conn_key("c1")))[b"user"] == b"bob"


async def test_leave_is_idempotent_so_two_cleaners_emit_one_leave():
    tracker, backend = await _tracker()
    other = PresenceTracker(backend, "n2")
    await tracker.connect("c1", "carol", None, 0)
    await tracker.join("room", "c1", "carol", None, 0)
    assert await tracker.leave("room", "c1", "carol") == (True, True)
    assert await other.leave("room", "c1", "carol") == (False, False)


async def test_dead_node_cleanup_removes_its_connections_with_leaves():
    tracker, backend = await _tracker("dead")
    await tracker.connect("d1", "dave", None, 0)
    await tracker.join("a", "d1", "dave", None, 0)
    await tracker.join("b", "d1", "dave", None, 0)
    survivor = PresenceTracker(backend, "alive")
    await survivor.connect("s1", "dave", None, 0)
    await survivor.join("a", "s1", "dave", None, 0)
    events: list[tuple[bytes, bytes]] = []
    backend.set_handler(lambda channel, data, pattern: events.append((channel, data[:4])))
    await backend.subscribe(b"a")
    await backend.subscribe(b"b")
    assert await survivor.cleanup_node("dead") == 2
    # dave stays in "a" through s1: a per-connection leave there, a user leave in "b"
    assert events == [(b"a", b"\x1epl0"), (b"b", b"\x1epl1")]
    assert await survivor.stats("a") == {"users": 1, "connections": 1}
    assert await survivor.stats("b") == {"users": 0, "connections": 0}
    assert await backend.execute("EXISTS", model.conn_key("d1"), model.node_conns_key("dead")) == 0
    assert await backend.execute("SMEMBERS", model.user_conns_key("dave")) == {b"s1"}


async def test_orphaned_nodes_are_found_without_their_heartbeat():
    tracker, backend = await _tracker("gone")
    await tracker.connect("g1", "gina", None, 0)
    await tracker.join("a", "g1", "gina", None, 0)
    alive = PresenceTracker(backend, "alive")
    await alive.heartbeat(0)
    await alive.connect("a1", "al", None, 0)
    await alive.join("a", "a1", "al", None, 0)
    assert await PresenceTracker(backend, "new").cleanup_orphans() == ["gone"]
    assert await tracker.present("a") == {"al": {"info": None, "conns": ["a1"]}}


async def test_large_presence_is_read_in_pages_with_the_same_result():
    tracker, _ = await _tracker()
    for n in range(2500):
        await tracker.join("big", f"c{n}", f"u{n % 700}", {"n": n}, n)
    present = await tracker.present("big")
    assert len(present) == 700
    assert sum(len(entry["conns"]) for entry in present.values()) == 2500
    assert present["u0"]["info"] == {"n": 2100}  # the latest connection's info
    assert await tracker.stats("big") == {"users": 700, "connections": 2500}


async def test_storm_of_joins_and_leaves_ends_with_exact_counts():
    tracker, _ = await _tracker()
    rng = random.Random(7)
    open_conns: dict[str, str] = {}
    for step in range(2000):
        if open_conns and rng.random() < 0.45:
            conn = rng.choice(sorted(open_conns))
            await tracker.disconnect(conn)
            del open_conns[conn]
        else:
            conn, user = f"c{step}", f"u{rng.randrange(50)}"
            await tracker.connect(conn, user, None, step)
            await tracker.join("storm", conn, user, None, step)
            open_conns[conn] = user
    stats = await tracker.stats("storm")
    assert stats == {"users": len(set(open_conns.values())), "connections": len(open_conns)}
