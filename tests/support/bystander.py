"""A bystander that measures how long other clients wait while one client misbehaves.

A RESP client publishes a tick every ``interval`` seconds on a channel that a
websocket client follows: the gaps between ticks arriving at the websocket, and
the RESP round trips of the publishes, show any stall of the server's event loop
(a stall of S seconds is a gap of about S + interval).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from tests.support.ws import WsClient, connect

__all__ = ["Bystander", "Delays"]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@dataclass
class Delays:
    """What the bystander saw, in seconds."""

    gaps: list[float] = field(default_factory=list)
    round_trips: list[float] = field(default_factory=list)
    received: int = 0
    sent: int = 0

    @property
    def p99_gap(self) -> float:
        return _quantile(self.gaps, 0.99)

    @property
    def max_gap(self) -> float:
        return max(self.gaps, default=0.0)

    @property
    def p99_round_trip(self) -> float:
        return _quantile(self.round_trips, 0.99)

    def __str__(self) -> str:
        return (f"ws gaps p99 {self.p99_gap * 1000:.1f} ms max {self.max_gap * 1000:.1f} ms; "
                f"RESP round trips p99 {self.p99_round_trip * 1000:.1f} ms "
                f"max {max(self.round_trips, default=0) * 1000:.1f} ms; {self.received}/{self.sent} ticks")


class Bystander:
    """Start with ``await Bystander.start(http_port, resp_port)``; ``stop()`` returns Delays."""

    def __init__(self, ws: WsClient, resp: aioredis.Redis, channel: str, interval: float) -> None:
        self.ws = ws
        self.resp = resp
        self.channel = channel
        self.interval = interval
        self.delays = Delays()
        self.running = True
        self.tasks: list[asyncio.Task[None]] = []
        self._arrived = asyncio.Condition()  # notified on each tick received

    @classmethod
    async def start(cls, http_port: int, resp_port: int, channel: str = "bystander",
                    interval: float = 0.01, password: str | None = None) -> "Bystander":
        ws = await connect(http_port)
        assert (await ws.request("subscribe", channel=channel))["ok"] is True
        resp = aioredis.Redis(port=resp_port, password=password)
        await resp.ping()
        self = cls(ws, resp, channel, interval)
        self.tasks = [asyncio.ensure_future(self._publish()), asyncio.ensure_future(self._receive())]
        return self

    async def _publish(self) -> None:
        while self.running:
            started = time.monotonic()
            await self.resp.publish(self.channel, b"%d" % self.delays.sent)
            self.delays.round_trips.append(time.monotonic() - started)
            self.delays.sent += 1
            await asyncio.sleep(self.interval)  # the tick rate, not a synchronisation

    async def _receive(self) -> None:
        last = None
        while True:
            await self.ws.event(timeout=60)
            now = time.monotonic()
            if last is not None:
                self.delays.gaps.append(now - last)
            last = now
            self.delays.received += 1
            async with self._arrived:
                self._arrived.notify_all()

    async def ticks(self, count: int, timeout: float = 60.0) -> None:
        """Until ``count`` ticks have arrived (in all)."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: self.delays.received >= count), timeout)

    async def stop(self) -> Delays:
        """Stop publishing, wait for every tick sent to arrive, close; the delays."""
        self.running = False
        await self.tasks[0]
        try:
            await self.ticks(self.delays.sent, timeout=10)  # the last ticks are on their way
        except TimeoutError:
            pass  # a tick lost: ``received`` < ``sent`` says so
        self.tasks[1].cancel()
        await self.ws.close()
        await self.resp.aclose()
        return self.delays
