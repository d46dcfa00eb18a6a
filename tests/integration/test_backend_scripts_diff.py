"""The Lua scripts on a real redis-server against FANOUT.* on our broker: same effects.

The same Lua scripts also run on our broker (its own EVAL/EVALSHA) and are
compared with its native FANOUT.* commands.

One sequence of history_publish / presence_join / presence_leave (including the
odd cases: duplicate join, unknown leave, meta hash lost, epoch field lost,
invalid arguments) runs through RedisBackend on both servers. Compared: every
return value, the keys afterwards (HGETALL, XRANGE without times, TTLs), and
the pub/sub messages a subscriber saw. Epochs and times come from each
server's clock, so they are checked for shape and consistency, then masked.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.backends.redis import RedisBackend
from broker.channel_keys import history_keys, presence_keys
from broker.resp import CommandError
from tests.support.backends import Collector
from tests.support.resp_client import RespClient
from tests.support.servers import ServerProcess

_runs = itertools.count()
TTL_MS = 60_000


def _mask_epochs(value: Any, epochs: set[bytes]) -> Any:
    if isinstance(value, bytes):
        for epoch in epochs:
            value = value.replace(epoch, b"<epoch>")
        return value
    if isinstance(value, str):
        return _mask_epochs(value.encode(), epochs).decode()
    if isinstance(value, (list, tuple)):
        return type(value)(_mask_epochs(v, epochs) for v in value)
    if isinstance(value, dict):
        return {k: _mask_epochs(v, epochs) for k, v in value.items()}
    return value


async def _call(coro: Any) -> Any:
    try:
        return await coro
    except CommandError as error:
        return ("error", str(error))


async def _subscribed(port: int, channel: bytes, lua: bool = False) -> tuple[RedisBackend, Collector]:
    """A started backend on ``port`` following ``channel``, and what it receives.

    ``lua``: run the Lua twins even where FANOUT.* exists (our broker).
    """
    backend = RedisBackend(f"redis://127.0.0.1:{port}/0")
    if lua:
        backend._native = False  # as it decides by itself on a server without FANOUT.*
    got = Collector()
    backend.set_handler(got)
    await backend.start()
    try:
        await backend.subscribe(channel)
    except BaseException:
        await backend.close()
        raise
    return backend, got


async def _scenario(port: int, channel: bytes, lua: bool = False) -> dict[str, Any]:
    backend, got = await _subscribed(port, channel, lua)
    try:
        stream, meta = history_keys(channel)
        members, users = presence_keys(channel)
        replies: list[Any] = []
        for n in range(5):
            replies.append(await backend.history_publish(channel, b'{"n":%d}' % n, 1000, TTL_MS))
        replies.append(await _call(backend.history_publish(channel, b"bad", 0, TTL_MS)))
        replies.append(await _call(backend.history_publish(channel, b"bad", 10, 0)))
        # Epoch field lost (e.g. a manual HDEL): offsets go on under a new epoch.
        await backend.execute("HDEL", meta, "epoch")
        replies.append(await backend.history_publish(channel, b"after-hdel", 1000, TTL_MS))
        # Meta hash lost (expired): offset 1 again, new epoch, the old stream is dropped.
        await backend.execute("DEL", meta)
        replies.append(await backend.history_publish(channel, b"restart", 1000, TTL_MS))
        replies.append(await backend.history_publish(channel, b"\x00\xff:binary:\r\n", 1000, TTL_MS))

        joins = [("c1", "alice"), ("c1", "alice"), ("c2", "alice"), ("c3", "bob")]
        for conn, user in joins:
            meta_json = b'{"user":"%s","conn":"%s"}' % (user.encode(), conn.encode())
            replies.append(await backend.presence_join(channel, conn, user, meta_json))
        # A rejoin with new meta replaces it without an event.
        replies.append(await backend.presence_join(channel, "c3", "bob", b'{"user":"bob","v":2}'))
        for conn, user in [("c1", "alice"), ("c1", "alice"), ("nobody", "alice"), ("c3", "bob")]:
            replies.append(await backend.presence_leave(channel, conn, user))

        await backend.publish(channel, b"end")
        messages = await got.wait_until(b"end")
        entries = await backend.execute("XRANGE", stream, "-", "+")
        state = {
            "meta": await backend.execute("HGETALL", meta),
            "entries": [(entry_id, fields[:2], fields[2:]) for entry_id, fields in entries],
            "members": await backend.execute("HGETALL", members),
            "users": await backend.execute("HGETALL", users),
            "pttl": [await backend.execute("PTTL", key) for key in (stream, meta, members, users)],
            "type": [await backend.execute("TYPE", key) for key in (stream, meta, members, users)],
        }
        native = backend.native_fanout
    finally:
        await backend.close()
    return {"replies": replies, "messages": messages, "state": state, "native": native}


def _normalise(run: dict[str, Any]) -> dict[str, Any]:
    """Check the clock-derived values' shape, then mask them so two servers compare."""
    epochs = {r[1].encode() for r in run["replies"] if isinstance(r, tuple) and r[0] != "error" and isinstance(r[1], str)}
    assert len(epochs) == 3  # first one, after HDEL epoch, after DEL meta
    assert all(re.fullmatch(rb"\d{16}", epoch) for epoch in epochs)
    state = run["state"]
    # Each entry ends with t=<publish time in ms>: a 13-digit number.
    assert all(t[0] == b"t" and re.fullmatch(rb"\d{13}", t[1]) for _, _, t in state["entries"])
    state["entries"] = [(entry_id, fields) for entry_id, fields, _ in state["entries"]]
    pttl = state.pop("pttl")
    assert 0 < pttl[0] <= TTL_MS and 0 < pttl[1] <= TTL_MS and pttl[2:] == [-1, -1]
    state["type"] = [t.decode() if isinstance(t, bytes) else str(t) for t in state["type"]]
    return _mask_epochs(run, epochs)  # type: ignore[no-any-return]


async def test_lua_on_redis_matches_fanout_commands_on_our_broker(
        redis_server: ServerProcess, fanout_broker: ServerProcess) -> None:
    channel = b"diff:%d" % next(_runs)
    lua = _normalise(await _scenario(redis_server.port, channel))
    native = _normalise(await _scenario(fanout_broker.port, channel))
    assert lua.pop("native") is False and native.pop("native") is True  # Lua vs FANOUT.* indeed
    assert lua["replies"] == native["replies"]
    assert lua["state"] == native["state"]
    assert lua["messages"] == native["messages"]
    # And the sequence did what the spec says (so "equal" is not "equally wrong").
    assert native["replies"][:5] == [(n, "<epoch>") for n in range(1, 6)]
    assert native["replies"][5] == ("error", "ERR maxlen and ttl must be positive")
    assert native["replies"][7:10] == [(6, "<epoch>"), (1, "<epoch>"), (2, "<epoch>")]
    assert native["state"]["entries"] == [(b"1-0", [b"d", b"restart"]), (b"2-0", [b"d", b"\x00\xff:binary:\r\n"])]
    assert native["state"]["members"] == {b"c2": b'{"user":"alice","conn":"c2"}'}
    assert native["state"]["users"] == {b"alice": b"1"}
    assert [m[1] for m in native["messages"]][8:] == [
        b'\x1epj1{"user":"alice","conn":"c1"}', b'\x1epj0{"user":"alice","conn":"c2"}',
        b'\x1epj1{"user":"bob","conn":"c3"}', b'\x1epl0{"user":"alice","conn":"c1"}',
        b'\x1epl1{"user":"bob","v":2}']


def _flushall(port: int) -> None:
    with RespClient(port) as client:
        assert client.call("FLUSHALL") == b"OK"


async def test_lua_twins_on_our_broker_match_its_fanout_commands(fanout_broker: ServerProcess) -> None:
    channel = b"twins:%d" % next(_runs)
    _flushall(fanout_broker.port)
    lua = _normalise(await _scenario(fanout_broker.port, channel, lua=True))
    _flushall(fanout_broker.port)
    native = _normalise(await _scenario(fanout_broker.port, channel))
    assert lua.pop("native") is False and native.pop("native") is True
    assert lua == native
    assert native["replies"][:5] == [(n, "<epoch>") for n in range(1, 6)]


@pytest.mark.parametrize("maxlen", [1, 3])
async def test_history_trimming_keeps_at_least_maxlen_on_both(
        redis_server: ServerProcess, fanout_broker: ServerProcess, maxlen: int) -> None:
    """``MAXLEN ~`` lets a server keep more than maxlen; both must keep at least the newest maxlen."""
    lengths = []
    for port in (redis_server.port, fanout_broker.port):
        backend = RedisBackend(f"redis://127.0.0.1:{port}/0")
        await backend.start()
        channel = b"trim:%d" % next(_runs)
        for n in range(1, 21):
            await backend.history_publish(channel, b"%d" % n, maxlen, TTL_MS)
        entries = await backend.execute("XRANGE", history_keys(channel)[0], "-", "+")
        await backend.close()
        assert entries[-1][0] == b"20-0" and len(entries) >= maxlen
        lengths.append(len(entries))
    assert all(length <= 20 for length in lengths)


# ------------------------------------------------------------------ random sequences

CONNS = st.sampled_from(["c1", "c2", "c3", "c4"])
USERS = st.sampled_from(["alice", "bob", "carol"])
OPERATIONS = st.one_of(
    st.tuples(st.just("publish"), st.binary(max_size=12)),
    st.tuples(st.just("join"), CONNS, USERS, st.sampled_from([b'{"v":1}', b'{"v":2}', b""])),
    st.tuples(st.just("leave"), CONNS, USERS),  # the user given may not be the conn's: same effects asked
    st.tuples(st.just("del-meta")),
    st.tuples(st.just("hdel-epoch")),
)


async def _random_run(port: int, channel: bytes, operations: list[tuple[Any, ...]],
                      lua: bool = False) -> dict[str, Any]:
    backend, got = await _subscribed(port, channel, lua)
    try:
        meta = history_keys(channel)[1]
        replies: list[Any] = []
        for operation in operations:
            if operation[0] == "publish":
                replies.append(await backend.history_publish(channel, operation[1], 1000, TTL_MS))
            elif operation[0] == "join":
                replies.append(await backend.presence_join(channel, operation[1], operation[2], operation[3]))
            elif operation[0] == "leave":
                replies.append(await backend.presence_leave(channel, operation[1], operation[2]))
            elif operation[0] == "del-meta":
                replies.append(await backend.execute("DEL", meta))
            else:
                replies.append(await backend.execute("HDEL", meta, "epoch"))
        await backend.publish(channel, b"\x00end")
        messages = [m[1] for m in await got.wait_until(b"\x00end")]
        entries = await backend.execute("XRANGE", history_keys(channel)[0], "-", "+")
        state = [await backend.execute("HGETALL", key) for key in (
            meta, b"presence:{" + channel + b"}", b"presence:{" + channel + b"}:users")]
        state.append([(entry_id, fields[:2]) for entry_id, fields in entries])
    finally:
        await backend.close()
    # Epochs come from each server's clock: number them by first appearance.
    epochs: dict[str, str] = {}
    for reply in replies:
        if isinstance(reply, tuple) and isinstance(reply[1], str):
            epochs.setdefault(reply[1], f"<epoch {len(epochs)}>")
    masked: dict[str, Any] = _mask_numbered({"replies": replies, "messages": messages, "state": state}, epochs)
    return masked


def _mask_numbered(value: Any, epochs: dict[str, str]) -> Any:
    if isinstance(value, str):
        return epochs.get(value, value)
    if isinstance(value, bytes):
        for epoch, name in epochs.items():
            value = value.replace(epoch.encode(), name.encode())
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_mask_numbered(v, epochs) for v in value)
    if isinstance(value, dict):
        return {k: _mask_numbered(v, epochs) for k, v in value.items()}
    return value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(OPERATIONS, min_size=1, max_size=30))
def test_random_sequences_have_the_same_effects(
        redis_server: ServerProcess, fanout_broker: ServerProcess, operations: list[tuple[Any, ...]]) -> None:
    channel = b"random:%d" % next(_runs)
    lua = asyncio.run(_random_run(redis_server.port, channel, operations))
    native = asyncio.run(_random_run(fanout_broker.port, channel, operations))
    assert lua == native
    # the same scripts on our broker's own Lua
    _flushall(fanout_broker.port)
    assert asyncio.run(_random_run(fanout_broker.port, channel, operations, lua=True)) == native


async def _once_scenario(port: int, channel: bytes) -> dict[str, Any]:
    backend, got = await _subscribed(port, channel)
    try:
        replies = []
        for key, history in ((b"k1", (100, TTL_MS)), (b"k1", (100, TTL_MS)), (b"k2", None), (b"k2", None),
                             (b"k3", (100, TTL_MS)), (b"k1", (100, TTL_MS))):
            replies.append(await backend.publish_once(channel, b'"%s"' % key, key, 5000, history))
        await backend.publish(channel, b"end")
        messages = await got.wait_until(b"end")
        keys = [b"once:{%s}:%s" % (channel, k) for k in (b"k1", b"k2", b"k3")]
        values = [await backend.execute("GET", key) for key in keys]
        ttls = [await backend.execute("PTTL", key) for key in keys]
        native = backend.native_fanout
    finally:
        await backend.close()
    assert all(0 < ttl <= 5000 for ttl in ttls), ttls
    epochs = {r[2].encode() for r in replies if r[2]}
    return _mask_epochs({"replies": replies, "messages": messages, "values": values, "native": native}, epochs)


async def test_publish_once_is_the_same_on_both(redis_server: ServerProcess, fanout_broker: ServerProcess) -> None:
    # Issue 13 item 8: FANOUT.ONCE natively, its Lua twins on redis-server.
    channel = b"once:%d" % next(_runs)
    lua = await _once_scenario(redis_server.port, channel)
    native = await _once_scenario(fanout_broker.port, channel)
    assert lua.pop("native") is False and native.pop("native") is True
    assert lua == native
    assert native["replies"] == [(False, 1, "<epoch>"), (True, 1, "<epoch>"), (False, 0, ""), (True, 0, ""),
                                 (False, 2, "<epoch>"), (True, 1, "<epoch>")]
    assert [m[1] for m in native["messages"]] == [b'\x1eh1:<epoch>:"k1"', b'"k2"', b'\x1eh2:<epoch>:"k3"']
    assert native["values"] == [b"1:<epoch>", b"0:", b"2:<epoch>"]
