"""RedisBackend when its server dies and comes back on the same port.

redis-server and ``fanout broker`` each get killed (SIGKILL, like a crash) while a
backend holds subscriptions: calls fail with BackendUnavailable naming the
address, then the backend reconnects by itself, resubscribes, calls the
reconnect handler, and delivers again. Every wait is for an event.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Callable, Iterator

import pytest

from broker.backend import BackendUnavailable
from broker.backends.redis import RedisBackend
from tests.support.backends import WAIT, Collector
from tests.support.servers import ServerProcess, free_port, start_fanout, start_redis_server

Starter = Callable[[int], ServerProcess]


def _redis(port: int) -> ServerProcess:
    return start_redis_server(port=port)


def _fanout(port: int) -> ServerProcess:
    return start_fanout("broker", "--port", str(port))


@pytest.fixture(params=[_redis, _fanout], ids=["redis-server", "fanout-broker"])
def restartable(request: pytest.FixtureRequest) -> Iterator[tuple[Starter, list[ServerProcess]]]:
    """(start(port), started servers): a private server this test may kill and restart."""
    started: list[ServerProcess] = []

    def start(port: int) -> ServerProcess:
        server: ServerProcess = request.param(port)
        started.append(server)
        return server

    yield start, started
    for server in started:
        server.stop()


async def test_outage_fails_calls_then_reconnect_resubscribes_and_delivers(
        restartable: tuple[Starter, list[ServerProcess]]) -> None:
    start, _ = restartable
    server = start(free_port())
    address = f"127.0.0.1:{server.port}"
    backend = RedisBackend(f"redis://{address}/0", min_backoff=0.01, max_backoff=0.2)
    got = Collector()
    backend.set_handler(got)
    reconnected = asyncio.Event()
    after_reconnect: list[int] = []

    async def on_reconnect() -> None:
        # What the gateway does here (re-register presence) must find the
        # subscriptions already restored: this message must come back to us.
        after_reconnect.append(await backend.publish(b"room", b"from-handler"))
        reconnected.set()

    backend.set_reconnect_handler(on_reconnect)
    await backend.start()
    try:
        await backend.subscribe(b"room")
        await backend.psubscribe(b"news:*")
        await backend.subscribe(b"dropped-while-down")
        await backend.publish(b"room", b"before")
        assert await got.wait_for(1) == [(b"room", b"before", None)]

        server.stop(signal.SIGKILL)
        with pytest.raises(BackendUnavailable, match=address):
            await backend.publish(b"room", b"lost")
        with pytest.raises(BackendUnavailable, match=address):
            await backend.execute("SET", "k", "v")
        with pytest.raises(BackendUnavailable, match=address):
            await backend.history_publish(b"room", b"lost", 10, 1000)
        with pytest.raises(BackendUnavailable, match=address):
            await backend.subscribe(b"new-while-down")
        await backend.unsubscribe(b"dropped-while-down")  # no error: nothing to undo upstream

        start(server.port)
        await asyncio.wait_for(reconnected.wait(), WAIT)
        assert backend.connected
        assert after_reconnect == [1]
        assert await backend.publish(b"news:today", b"after") == 1
        assert await backend.publish(b"dropped-while-down", b"x") == 0  # not restored
        assert await backend.publish(b"new-while-down", b"x") == 0  # failed, so not restored
        assert await got.wait_until(b"after") == [(b"room", b"before", None), (b"room", b"from-handler", None)]
        assert got.messages[2] == (b"news:today", b"after", b"news:*")
        # Scripts were lost with a real Redis's memory: the backend reloads them (NOSCRIPT -> EVAL).
        assert (await backend.history_publish(b"room", b"kept", 10, 1000))[0] == 1
    finally:
        await backend.close()


async def test_backend_survives_several_outages_in_a_row(restartable: tuple[Starter, list[ServerProcess]]) -> None:
    start, _ = restartable
    server = start(free_port())
    backend = RedisBackend(f"redis://127.0.0.1:{server.port}/0", min_backoff=0.01, max_backoff=0.1)
    got = Collector()
    backend.set_handler(got)
    reconnects = asyncio.Queue[None]()
    backend.set_reconnect_handler(lambda: reconnects.put_nowait(None))
    await backend.start()
    try:
        await backend.subscribe(b"c")
        for round_ in range(3):
            server.stop(signal.SIGKILL)
            server = start(server.port)
            await asyncio.wait_for(reconnects.get(), WAIT)
            assert await backend.publish(b"c", b"%d" % round_) == 1
            # Received before the next kill: "1 receiver" only means the server queued it,
            # and a server killed before writing its output loses it (history recovers it).
            await got.wait_for(round_ + 1)
        assert [m[1] for m in got.messages] == [b"0", b"1", b"2"]
    finally:
        await backend.close()


async def test_start_fails_fast_naming_the_address_when_nothing_listens() -> None:
    port = free_port()
    backend = RedisBackend(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}"):
        await backend.start()
    await backend.close()


async def test_hung_server_is_noticed_by_keepalive_and_recovered_when_it_resumes() -> None:
    """SIGSTOP: the TCP connection stays open but nothing answers (like a half-open link)."""
    server = start_redis_server()
    backend = RedisBackend(f"redis://127.0.0.1:{server.port}/0", command_timeout=0.5,
                           min_backoff=0.01, max_backoff=0.1, ping_interval=0.05)
    got = Collector()
    backend.set_handler(got)
    reconnected = asyncio.Event()
    backend.set_reconnect_handler(reconnected.set)
    await backend.start()
    try:
        await backend.subscribe(b"c")
        server.process.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{server.port}.*no (PING )?reply within"):
                await backend.publish(b"c", b"lost")
            # The subscribe is queued behind a server that never answers: the keepalive
            # PING times out, the link is declared lost, and the waiting caller is told.
            with pytest.raises(BackendUnavailable):
                await backend.subscribe(b"other")
            assert not backend.connected
        finally:
            server.process.send_signal(signal.SIGCONT)
        await asyncio.wait_for(reconnected.wait(), WAIT)
        await backend.publish(b"c", b"back")
        # A timed-out call has an unknown outcome: the stopped server still had the
        # PUBLISH in its socket buffer and may run it on resume.
        assert {m[1] for m in await got.wait_until(b"back")} <= {b"lost"}
    finally:
        await backend.close()
        server.stop()
