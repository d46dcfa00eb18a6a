"""Presence tracker over the in-process backend: per-user aggregation, atomic joins and leaves."""

from __future__ import annotations

import random

from broker.backends.memory import MemoryBackend
from broker.core import Broker
from presence import model
from presence.tracker import Change, PresenceTracker


async def _tracker(node: str = "n1") -> tuple[PresenceTracker, MemoryBackend]:
    backend = MemoryBackend(Broker())
    await backend.start()
    return PresenceTracker(backend, node), backend


async def test_a_user_with_three_tabs_joins_once_and_leaves_once():
    tracker, _ = await _tracker()
    changes = []
    for conn in ("c1", "c2", "c3"):
        await tracker.connect(conn, "alice", {"name": "Alice"}, 1000)
        changes.append(await tracker.join("chat:lobby", conn, "alice", {"name": "Alice"}, 1000))
    assert changes == [Change("join", "chat:lobby", "alice", None, "c1"), None, None]
    present = await tracker.present("chat:lobby")
    assert present == {"alice": {"info": {"name": "Alice"}, "conns": ["c1", "c2", "c3"]}}
    assert await tracker.leave("chat:lobby", "c1", "alice") is None
    assert await tracker.leave("chat:lobby", "c2", "alice") is None
    assert await tracker.leave("chat:lobby", "c3", "alice") == Change("leave", "chat:lobby", "alice", None, "c3")
    assert await tracker.present("chat:lobby") == {}


async def test_state_is_readable_with_plain_redis_commands():
    tracker, backend = await _tracker()
    await tracker.connect("c1", "bob", None, 5)
    await tracker.join("room", "c1", "bob", None, 5)
    assert set((await backend.execute("HGETALL", model.channel_key("room"))).keys()) == {b"c1"}
    assert await backend.execute("SMEMBERS", model.user_key("room", "bob")) == {b"c1"}
    assert (await backend.execute("HGETALL", model.conn_key("c1")))[b"user"] == b"bob"


async def test_leave_is_idempotent_so_two_cleaners_emit_one_leave():
    tracker, backend = await _tracker()
    other = PresenceTracker(backend, "n2")
    await tracker.connect("c1", "carol", None, 0)
    await tracker.join("room", "c1", "carol", None, 0)
    first = await tracker.leave("room", "c1", "carol")
    second = await other.leave("room", "c1", "carol")
    assert first is not None and second is None


async def test_dead_node_cleanup_removes_its_connections_with_leaves():
    tracker, backend = await _tracker("dead")
    await tracker.connect("d1", "dave", None, 0)
    await tracker.join("a", "d1", "dave", None, 0)
    await tracker.join("b", "d1", "dave", None, 0)
    survivor = PresenceTracker(backend, "alive")
    await survivor.connect("s1", "dave", None, 0)
    await survivor.join("a", "s1", "dave", None, 0)
    changes = await survivor.cleanup_node("dead")
    assert changes == [Change("leave", "b", "dave", None, "d1")]  # still in "a" through s1
    assert await survivor.stats("a") == {"users": 1, "connections": 1}
    assert await backend.execute("EXISTS", model.conn_key("d1"), model.node_conns_key("dead")) == 0


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
