"""broker/tracking.py through the sans-I/O core: what is remembered, who is told, when."""

from __future__ import annotations

from broker.core import Broker, Replies
from broker.keyspace import TRACKED
from broker.resp import Push
from tests.support.core import Clock, FakeClient, error, run


def _setup(proto: int = 3) -> tuple[Broker, Clock, FakeClient, FakeClient]:
    clock = Clock()
    broker = Broker(clock=clock)
    reader, writer = FakeClient(broker), FakeClient(broker)
    if proto == 3:
        run(broker, reader, "HELLO", "3")
    return broker, clock, reader, writer


def _pushes(client: FakeClient) -> list[bytes]:
    frames = [m.frame3 if client.proto == 3 else m.frame2 for m in client.messages]
    client.messages.clear()
    return frames  # type: ignore[return-value]


def _invalidate(*keys: bytes) -> bytes:
    return b">2\r\n$10\r\ninvalidate\r\n*%d\r\n" % len(keys) + b"".join(
        b"$%d\r\n%s\r\n" % (len(k), k) for k in keys)


# ------------------------------------------------------------ default mode

def test_a_read_key_is_invalidated_once_by_the_next_write() -> None:
    broker, _, reader, writer = _setup()
    run(broker, reader, "CLIENT", "TRACKING", "ON")
    run(broker, writer, "SET", "k", "v")
    assert run(broker, reader, "GET", "k") == b"v"
    assert broker.tracking.table == {b"k": {reader.id: None}}
    run(broker, writer, "SET", "k", "v2")
    run(broker, writer, "SET", "k", "v3")
    assert _pushes(reader) == [_invalidate(b"k")]
    assert broker.tracking.table == {} and broker.tracking.total_items == 0


def test_an_own_write_is_told_after_its_reply() -> None:
    broker, _, reader, _ = _setup()
    run(broker, reader, "CLIENT", "TRACKING", "ON")
    run(broker, reader, "GET", "k")
    reply = run(broker, reader, "SET", "k", "1")
    assert type(reply) is Replies and reply[1] == Push([b"invalidate", [b"k"]])
    assert reader.messages == []  # not delivered before the reply: it follows it


def test_a_transaction_gets_its_invalidations_after_exec() -> None:
    broker, _, reader, _ = _setup()
    run(broker, reader, "CLIENT", "TRACKING", "ON")
    run(broker, reader, "MGET", "a", "b")
    run(broker, reader, "MULTI")
    run(broker, reader, "INCR", "a")
    run(broker, reader, "INCR", "b")
    reply = run(broker, reader, "EXEC")
    assert list(reply) == [[1, 1], Push([b"invalidate", [b"a"]]), Push([b"invalidate", [b"b"]])]


def test_noloop_spares_the_client_its_own_writes() -> None:
    broker, _, reader, writer = _setup()
    run(broker, reader, "CLIENT", "TRACKING", "ON", "NOLOOP")
    run(broker, reader, "MGET", "mine", "theirs")
    assert run(broker, reader, "SET", "mine", "1") is not None
    run(broker, writer, "SET", "theirs", "1")
    assert _pushes(reader) == [_invalidate(b"theirs")]


def test_optin_tracks_only_after_caching_yes_for_one_command() -> None:
    broker, _, reader, writer = _setup()
    run(broker, reader, "CLIENT", "TRACKING", "ON", "OPTIN")
    run(broker, reader, "GET", "a")
    run(broker, reader, "CLIENT", "CACHING", "YES")
    run(broker, reader, "GET", "b")
    run(broker, reader, "GET", "c")
    assert set(broker.tracking.table) == {b"b"}
    run(broker, writer, "MSET", "a", "1", "b", "1", "c", "1")
    assert _pushes(reader) == [_invalidate(b"b")]


def test_resp2_without_redirect_gets_nothing_and_keeps_no_error() -> None:
    broker, _, reader, writer = _setup(proto=2)
    run(broker, reader, "CLIENT", "TRACKING", "ON")
    run(broker, reader, "GET", "k")
    assert run(broker, reader, "SET", "k", "1").text == "OK"  # no push appended
    run(broker, reader, "GET", "k")
    run(broker, writer, "SET", "k", "2")
    assert reader.messages == []


def test_redirect_to_a_resp2_subscriber_is_a_message() -> None:
    broker, _, reader, writer = _setup(proto=2)
    listener = FakeClient(broker)
    run(broker, listener, "SUBSCRIBE", "__redis__:invalidate")
    run(broker, reader, "CLIENT", "TRACKING", "ON", "REDIRECT", str(listener.id))
    run(broker, reader, "GET", "k")
    run(broker, writer, "SET", "k", "1")
    assert _pushes(listener) == [b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n"]
    run(broker, writer, "FLUSHALL")
    assert _pushes(listener) == [b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"]


def test_a_gone_redirect_client_is_reported_once_per_invalidation() -> None:
    broker, _, reader, writer = _setup()
    listener = FakeClient(broker)
    run(broker, reader, "CLIENT", "TRACKING", "ON", "REDIRECT", str(listener.id))
    run(broker, reader, "GET", "k")
    broker.disconnect(listener)
    run(broker, writer, "SET", "k", "1")
    assert _pushes(reader) == [b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n" % listener.id]
    assert reader.flags() == "tR"
    info = run(broker, reader, "CLIENT", "TRACKINGINFO")
    assert list(info[b"flags"]) == [b"on", b"broken_redirect"]


# ------------------------------------------------------------------ expiry

def test_expiry_lazy_and_active_invalidates() -> None:
    broker, clock, reader, writer = _setup()
    run(broker, reader, "CLIENT", "TRACKING", "ON")
    run(broker, writer, "SET", "lazy", "1", "PX", "100")
    run(broker, writer, "SET", "active", "1", "PX", "100")
    run(broker, reader, "MGET", "lazy", "active")
    clock.now += 1
    assert run(broker, writer, "GET", "lazy") is None
    assert _pushes(reader) == [_invalidate(b"lazy")]
    assert broker.active_expire() == 1
    assert _pushes(reader) == [_invalidate(b"active")]


def test_removed_keys_spare_no_bcast_noloop_client() -> None:
    """invalidate_removed (expiry, eviction) is no client's doing: even the client
    whose command runs hears of it under BCAST NOLOOP."""
    broker, _, reader, _ = _setup()
    run(broker, reader, "CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP")
    broker.tracking.current = reader
    broker.tracking.invalidate_key(b"by-me")
    broker.tracking.invalidate_removed(b"evicted")
    broker.tracking.current = None
    broker.tracking.broadcast()
    assert _pushes(reader) == [_invalidate(b"evicted")]


# ------------------------------------------------------------------- BCAST

def test_bcast_collects_keys_until_the_broadcast() -> None:
    broker, _, reader, writer = _setup()
    woken: list[bool] = []
    broker.tracking.wake = lambda: woken.append(True)
    run(broker, reader, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "b", "PREFIX", "a")
    run(broker, writer, "MSET", "bz", "1", "ax", "1", "c", "1", "by", "1")
    assert reader.messages == [] and woken == [True]  # one wake for the iteration
    broker.tracking.broadcast()
    assert _pushes(reader) == [_invalidate(b"ax"), _invalidate(b"by", b"bz")]
    broker.tracking.broadcast()
    assert reader.messages == []


def test_flush_tells_every_tracking_client_and_empties_the_table() -> None:
    broker, _, reader, writer = _setup()
    bcast = FakeClient(broker)
    run(broker, bcast, "HELLO", "3")
    run(broker, bcast, "CLIENT", "TRACKING", "ON", "BCAST")
    run(broker, reader, "CLIENT", "TRACKING", "ON")
    run(broker, reader, "GET", "k")
    run(broker, writer, "FLUSHDB")
    assert _pushes(reader) == [b">2\r\n$10\r\ninvalidate\r\n_\r\n"]
    assert _pushes(bcast) == [b">2\r\n$10\r\ninvalidate\r\n_\r\n"]
    assert broker.tracking.table == {}


# ------------------------------------------------------------- the limit

def test_the_table_is_kept_within_tracking_table_max_keys() -> None:
    broker, _, reader, writer = _setup()
    run(broker, reader, "CLIENT", "TRACKING", "ON")
    for i in range(300):
        run(broker, reader, "GET", f"k{i}")
    run(broker, writer, "CONFIG", "SET", "tracking-table-max-keys", "10")
    run(broker, reader, "PING")  # 100 keys this time: still over, the next try does 200
    assert len(broker.tracking.table) == 200
    run(broker, reader, "PING")
    assert len(broker.tracking.table) == 10
    assert len(_pushes(reader)) == 290
    run(broker, writer, "CONFIG", "SET", "tracking-table-max-keys", "0")
    for i in range(20):
        run(broker, reader, "GET", f"n{i}")
    assert len(broker.tracking.table) == 30  # 0: no limit


# -------------------------------------------------- state and bookkeeping

def test_writes_look_at_the_table_only_while_tracking_matters() -> None:
    broker, _, reader, writer = _setup()
    assert not any(db.watched for db in broker.dbs)
    run(broker, reader, "CLIENT", "TRACKING", "ON")
    assert all(TRACKED in db.watched for db in broker.dbs) and reader.special
    run(broker, reader, "GET", "k")
    run(broker, reader, "CLIENT", "TRACKING", "OFF")
    assert TRACKED in broker.dbs[0].watched  # k stays until it changes, as in Redis
    run(broker, writer, "WATCH", "k")
    run(broker, writer, "SET", "k", "1")
    assert not any(TRACKED in db.watched for db in broker.dbs) and not reader.special
    assert broker.dbs[0].watched == {b"k": 1}  # WATCH's own bookkeeping untouched
    run(broker, writer, "UNWATCH")
    assert not any(db.watched for db in broker.dbs)


def test_reset_and_disconnect_turn_tracking_off() -> None:
    broker, _, reader, writer = _setup()
    run(broker, reader, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p")
    run(broker, writer, "CLIENT", "TRACKING", "ON")
    assert broker.tracking.clients == 2 and list(broker.tracking.prefixes) == [b"p"]
    run(broker, reader, "RESET")
    assert reader.tracking is None and broker.tracking.prefixes == {}
    broker.disconnect(writer)
    assert broker.tracking.clients == 0


def test_errors_name_the_bad_combination() -> None:
    broker, _, reader, _ = _setup()
    assert error(run(broker, reader, "CLIENT", "CACHING", "YES")).startswith("ERR CLIENT CACHING can be called only")
    assert error(run(broker, reader, "CLIENT", "TRACKING", "ON", "PREFIX", "x")) == \
        "ERR PREFIX option requires BCAST mode to be enabled"
    run(broker, reader, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "FOO")
    assert error(run(broker, reader, "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "FO")) == (
        "ERR Prefix 'FO' overlaps with an existing prefix 'FOO'. Prefixes for a single client must not overlap.")
    assert error(run(broker, reader, "CLIENT", "TRACKING", "ON")).startswith(
        "ERR You can't switch BCAST mode on/off")


def test_a_read_that_rewrites_the_value_invalidates_it() -> None:
    """PFCOUNT stores the fresh count in the value (Redis's signalModifiedKey): a client
    that cached the raw value must drop it; XGROUP CREATE MKSTREAM creates the key."""
    broker, _, reader, writer = _setup()
    run(broker, writer, "PFADD", "hll", "a", "b")
    run(broker, reader, "CLIENT", "TRACKING", "ON")
    run(broker, reader, "MGET", "hll", "stream")
    assert run(broker, writer, "PFCOUNT", "hll") == 2
    run(broker, writer, "XGROUP", "CREATE", "stream", "g", "$", "MKSTREAM")
    assert _pushes(reader) == [_invalidate(b"hll"), _invalidate(b"stream")]
