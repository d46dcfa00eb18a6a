"""Connection output budget without sockets: skip with a counted gap, then close 1013."""

import asyncio
import socket
import ssl

import orjson
import pytest

from gateway.auth import Identity
from gateway.connection import Connection, ConnectionState, Counters, send_to_all, text_frame
from tests.support.gateway import FakeTransport, FakeWs
from tests.support.ws import recv_exactly


def make(now: list[float]) -> tuple[Connection, FakeTransport, FakeWs, Counters]:
    transport, ws, counters = FakeTransport(), FakeWs(), Counters()
    identity = Identity("u", None, ("*",), ("*",))
    connection = Connection(ws, transport, identity, counters, max_buffer=100,  # type: ignore[arg-type]
                            slow_close_after=5.0, clock=lambda: now[0])
    return connection, transport, ws, counters


def test_text_frame_lengths():
    assert text_frame(b"hi") == b"\x81\x02hi"
    assert text_frame(b"x" * 200)[:4] == b"\x81\x7e\x00\xc8"
    assert text_frame(b"x" * 70000)[:2] == b"\x81\x7f"


async def test_writes_coalesce_into_one_transport_write_per_iteration():
    connection, transport, _, _ = make([0.0])
    for _ in range(3):
        connection.send_event(b"abc", b"c")
    await asyncio.sleep(0)  # let the scheduled flush run
    assert transport.written == [b"abcabcabc"]


async def test_over_budget_skips_then_announces_gap_when_caught_up():
    connection, transport, _, counters = make([0.0])
    frame = b"x" * 60
    connection.send_event(frame, b"room")
    connection.flush()
    connection.send_event(frame, b"room")  # 60 held by the transport + 60 > 100
    connection.send_event(frame, b"room")
    assert counters.dropped == 2
    transport.buffered = 0  # the client read everything
    connection.send_event(frame, b"room")
    connection.flush()
    gap = orjson.dumps({"channel": "room", "gap": {"dropped": 2}})
    assert transport.written[-1] == text_frame(gap) + frame
    assert connection.state is ConnectionState.OPEN


async def test_staying_over_budget_closes_with_1013():
    now = [0.0]
    connection, transport, ws, counters = make(now)
    connection.send_event(b"x" * 90, b"room")
    connection.flush()
    connection.send_event(b"x" * 20, b"room")
    now[0] = 4.9
    connection.send_event(b"x" * 20, b"room")
    assert connection.state is ConnectionState.OPEN
    now[0] = 5.0
    connection.send_event(b"x" * 20, b"room")
    assert connection.state is ConnectionState.CLOSING
    for _ in range(5):  # the close task runs on the loop
        await asyncio.sleep(0)
        if ws.closed_with:
            break
    assert ws.closed_with is not None and ws.closed_with[0] == 1013
    assert b"slow consumer" in ws.closed_with[1]


async def _until(condition, event: asyncio.Event, what: str) -> None:  # type: ignore[no-untyped-def]
    """Wait for the connection's drain timer (0.1 s) to act: for ``event``, until ``condition``."""
    while not condition():
        event.clear()
        try:
            await asyncio.wait_for(event.wait(), 3)
        except asyncio.TimeoutError:
            raise AssertionError(f"never happened: {what}") from None


async def test_a_client_that_caught_up_learns_of_its_gap_without_a_new_message():
    connection, transport, _, _ = make([0.0])
    frame = b"x" * 60
    connection.send_event(frame, b"room", 1)
    connection.flush()
    connection.send_event(frame, b"room", 2)  # skipped
    transport.buffered = 0  # the client read everything; the channel stays quiet
    gap = text_frame(orjson.dumps({"channel": "room", "gap": {"dropped": 1, "from_offset": 2}}))
    await _until(lambda: transport.written[-1:] == [gap], transport.changed, "gap announced")


async def test_a_client_stuck_behind_on_a_quiet_channel_is_still_closed():
    now = [0.0]
    connection, transport, ws, _ = make(now)
    connection.send_event(b"x" * 90, b"room")
    connection.flush()
    connection.send_event(b"x" * 20, b"room")  # skipped; no message comes after it
    now[0] = 5.0
    await _until(lambda: ws.closed_with is not None, ws.changed, "closed")
    assert ws.closed_with is not None and ws.closed_with[0] == 1013


async def test_a_message_larger_than_the_budget_reaches_an_idle_client():
    connection, transport, _, counters = make([0.0])
    connection.send_event(b"y" * 500, b"room")  # budget 100, nothing pending
    connection.flush()
    assert transport.written == [b"y" * 500] and counters.dropped == 0


async def test_live_events_held_during_recovery_are_bounded_by_the_budget():
    """Issue 13 item 3: while missed messages are read, live ones are held; past the
    output budget only their offsets are kept (one entry per run), to be skipped
    in order on release, as events over the budget are skipped."""
    connection, _, _, _ = make([0.0])
    connection.recovering = {b"ch": []}
    frame = text_frame(b"x" * 30)
    for offset in range(1, 11):
        assert connection.hold_or_pass(b"ch", offset, b"e", frame) is False
    held = connection.recovering[b"ch"]
    assert connection.held_bytes == 3 * len(frame) <= 100
    assert held[:3] == [(1, b"e", frame), (2, b"e", frame), (3, b"e", frame)]
    assert held[3:] == [(4, b"e", None, 7)]  # offsets 4-10: one run, no frames kept
    assert connection.state is ConnectionState.OPEN
    assert connection.release_held(b"ch") is held and connection.held_bytes == 0
    connection.skip_event(b"ch", 4)
    assert connection.dropped == {b"ch": 1} and connection.dropped_from == {b"ch": 4}


async def test_released_held_events_are_no_longer_counted():
    connection, _, _, _ = make([0.0])
    connection.recovering = {b"ch": []}
    frame = text_frame(b"x" * 30)
    connection.hold_or_pass(b"ch", 1, b"e", frame)
    assert connection.release_held(b"ch") == [(1, b"e", frame)] and connection.held_bytes == 0
    assert connection.release_held(b"other") is None


class BrokenTransport(FakeTransport):
    def write(self, data: bytes) -> None:
        raise OSError("broken")


async def test_the_flush_skips_closing_and_broken_transports_and_writes_the_others():
    """_Flusher.run flushes each pending connection itself (Connection.flush inline)."""
    now = [0.0]
    closing, closing_transport, _, _ = make(now)
    broken, _, _, _ = make(now)
    broken.transport = BrokenTransport()  # type: ignore[assignment]
    fine, fine_transport, _, _ = make(now)
    for connection in (closing, broken, fine):
        connection.send_event(b"ab", b"c")
        connection.send_reply(b"r")
    closing_transport.abort()
    await asyncio.sleep(0)
    assert closing_transport.written == [] and closing.queue == [] and closing.queued_bytes == 0
    assert fine_transport.written == [b"ab" + text_frame(b"r")]
    assert (fine.queue, fine.queued_bytes, fine.transport_bytes, fine.flush_scheduled) == ([], 0, 5, False)
    assert not broken.flush_scheduled
    fine.send_event(b"cd", b"c")  # flushed again at the next iteration
    await asyncio.sleep(0)
    assert fine_transport.written[-1] == b"cd"


class SocketTransport(FakeTransport):
    """A FakeTransport over a real socket: what it holds is its own, what is written
    past it goes to ``sock`` (as uvloop's or asyncio's plain TCP transport)."""

    def __init__(self, sock: socket.socket, **extra: object) -> None:
        super().__init__()
        self.extra = {"socket": sock, **extra}

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.extra.get(name, default)


def _connection_over(transport: FakeTransport) -> Connection:
    return Connection(FakeWs(), transport, Identity("u", None, ("*",), ("*",)), Counters(),  # type: ignore[arg-type]
                      max_buffer=1 << 22)


async def test_a_frame_goes_straight_to_the_socket_when_the_transport_holds_nothing():
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    with ours, peer:
        transport = SocketTransport(ours)
        connection = _connection_over(transport)
        assert connection.fd == ours.fileno()
        send_to_all([connection], b"one", b"c", write=True)
        assert transport.written == [] and recv_exactly(peer, 3) == b"one"
        transport.buffered = 5  # the transport holds bytes: they go first, so this waits behind them
        send_to_all([connection], b"two", b"c", write=True)
        assert transport.written == [b"two"]
        peer.setblocking(False)
        with pytest.raises(BlockingIOError):
            peer.recv(10)


async def test_what_the_socket_does_not_take_goes_to_the_transport_in_order():
    ours, peer = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    ours.setblocking(False)
    with ours, peer:
        transport = SocketTransport(ours)
        connection = _connection_over(transport)
        frame = bytes(range(256)) * 4096  # 1 MiB: more than the socket takes
        send_to_all([connection], frame, b"c", write=True)
        assert len(transport.written) == 1 and 0 < len(transport.written[0]) < len(frame)
        sent = len(frame) - len(transport.written[0])
        assert connection.transport_bytes == len(transport.written[0])
        assert recv_exactly(peer, sent) + transport.written[0] == frame


async def test_a_socket_that_is_gone_is_left_to_the_transport():
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    peer.close()
    with ours:
        transport = SocketTransport(ours)
        connection = _connection_over(transport)
        send_to_all([connection], b"lost", b"c", write=True)  # EPIPE: the transport meets it itself
        assert transport.written == [b"lost"]


async def test_tls_and_socketless_transports_are_never_written_around():
    ours, peer = socket.socketpair()
    with ours, peer:
        assert _connection_over(SocketTransport(ours, sslcontext=ssl.create_default_context())).fd == -1
        assert _connection_over(SocketTransport(ours, ssl_object=object())).fd == -1
    assert _connection_over(FakeTransport()).fd == -1
