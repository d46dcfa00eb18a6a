"""gateway.httpguard: one timer for every connection waiting for its request head."""

from __future__ import annotations

import asyncio

from gateway.httpguard import HttpGuard


class Transport:
    """Records what the guard writes; ``answered`` is set at the first write."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False
        self.answered = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.written += data
        self.answered.set()

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_only_the_connections_still_waiting_get_408_at_their_deadline() -> None:
    guard = HttpGuard(0.05, 100)
    first, second, third = Transport(), Transport(), Transport()
    for transport in (first, second, third):
        assert guard.admit(transport)  # type: ignore[arg-type]
    timer = guard.timer
    assert timer is not None  # one timer for the three
    guard.done(first)  # its head came: never answered
    await asyncio.wait_for(second.answered.wait(), 5)
    await asyncio.wait_for(third.answered.wait(), 5)
    assert first.written == b"" and not first.closed
    for transport in (second, third):
        assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and transport.closed
        assert b"no complete request head within 0.05s" in transport.written
    assert guard.waiting == {} and guard.timer is None


async def test_a_later_connection_waits_its_own_full_timeout() -> None:
    guard = HttpGuard(0.2, 100)
    loop = asyncio.get_running_loop()
    early, late = Transport(), Transport()
    guard.admit(early)  # type: ignore[arg-type]
    await asyncio.sleep(0.1)  # (time passing between two connects, not a synchronisation)
    started = loop.time()
    guard.admit(late)  # type: ignore[arg-type]
    guard.done(early)  # the timer, due at early's deadline, finds late's later one
    await asyncio.wait_for(late.answered.wait(), 5)
    assert loop.time() - started >= 0.2 - 0.002  # not at the earlier connection's deadline
    assert early.written == b"" and guard.timer is None


async def test_past_max_pending_the_oldest_is_answered_at_once() -> None:
    guard = HttpGuard(60, 2)
    transports = [Transport() for _ in range(3)]
    for transport in transports:
        guard.admit(transport)  # type: ignore[arg-type]
    assert b"over 2 connections were waiting" in transports[0].written
    assert list(guard.waiting) == transports[1:]
    for transport in transports[1:]:
        guard.done(transport)  # type: ignore[arg-type]
    assert guard.waiting == {}
