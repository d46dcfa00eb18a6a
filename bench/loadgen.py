"""Load generator worker for the fanout benchmark (picows: a Cython websocket client).

Holds N subscribed connections and counts what they receive. Driven by lines on
stdin: ``reset`` (zero the counters; time the messages of the first 20 connections),
``time S`` (zero the counters; time every message of every connection whose index,
counting from OFFSET across the load generators, is a multiple of S: a spread sample,
not only the connections a server writes first), ``count`` (print a JSON line:
deliveries, connections closed), ``report`` (print a JSON line: deliveries, latency
samples in ms, CPU seconds used, connections the server closed and the close codes
it gave, gap notices to timed connections), ``quit``. Prints ``ready N`` once every
connection is subscribed.

Usage: ``loadgen.py URL N MODE [ROOMS OFFSET]`` with MODE ``fanout`` (sends a subscribe op),
``bare`` (every connection gets everything) or ``peer`` (a rooms peer of bench/peers: the room
is in the URL, ``?room=R``). With ROOMS > 0, connection i (counting from OFFSET across the
load generators) is in room ``room-<i % ROOMS>``; else every connection is on ``bench``.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from typing import Callable

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

# Connections whose every message is timed (the others only count).
TIMED_CONNECTIONS = 20


class Stats:
    def __init__(self) -> None:
        self.deliveries = 0
        self.latencies: list[float] = []
        self.closed = 0  # connections lost (a close frame or the socket), since the start
        self.gaps = 0  # gap notices (events skipped) to timed connections, since the start
        self.close_codes: dict[str, int] = {}


class Listener(WSListener):  # type: ignore[misc]
    def __init__(self, stats: Stats, index: int, mode: str, ready: asyncio.Future[None],
                 channel: str = "bench") -> None:
        self.stats = stats
        self.channel = channel
        self.index = index  # counting from OFFSET across the load generators
        self.timed = index < TIMED_CONNECTIONS
        self.mode = mode
        self.ready = ready
        self.lost = False

    def on_ws_connected(self, transport: WSTransport) -> None:
        if self.mode == "fanout":
            transport.send(WSMsgType.TEXT, orjson.dumps({"op": "subscribe", "channel": self.channel, "id": 1}))
        elif not self.ready.done():
            self.ready.set_result(None)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            if not self.ready.done():
                self.ready.set_result(None)  # the subscribe reply
                return
            if self.timed:
                message = orjson.loads(frame.get_payload_as_bytes())
                if "data" not in message:
                    # fanout's {"channel":...,"gap":{"dropped":N}} after skipping events for
                    # a connection over its budget: not a delivery. (Its KeyError here made
                    # picows drop the connection: the 20 timed ones, in a one:1000 run.)
                    self.stats.gaps += 1
                    return
                self.stats.latencies.append((time.time() - message["data"]["t"]) * 1000)
            self.stats.deliveries += 1  # (an untimed connection's gap notice counts: not parsed)
        elif frame.msg_type == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            code = str(frame.get_close_code())
            self.stats.close_codes[code] = self.stats.close_codes.get(code, 0) + 1
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.lost:
            self.lost = True
            self.stats.closed += 1


def _factory(listeners: list[Listener], stats: Stats, index: int, mode: str, ready: asyncio.Future[None],
             channel: str) -> Callable[[], Listener]:
    def make() -> Listener:
        listener = Listener(stats, index, mode, ready, channel)
        listeners.append(listener)
        return listener

    # No parameters, not even defaulted ones: picows first calls a factory with
    # (request, response) and only falls back to () on a TypeError.
    return make


async def main(url: str, count: int, mode: str, rooms: int = 0, offset: int = 0) -> None:
    stats = Stats()
    loop = asyncio.get_running_loop()
    transports = []
    listeners: list[Listener] = []
    for start in range(0, count, 250):
        futures = []
        batch = []
        for index in range(start, min(count, start + 250)):
            ready: asyncio.Future[None] = loop.create_future()
            futures.append(ready)
            channel = f"room-{(offset + index) % rooms}" if rooms else "bench"
            target = f"{url}?room={channel}" if mode == "peer" else url
            batch.append(ws_connect(_factory(listeners, stats, offset + index, mode, ready, channel),
                                    target, websocket_handshake_timeout=30))
        transports += [transport for transport, _ in await asyncio.gather(*batch)]
        await asyncio.gather(*futures)
    print(f"ready {count}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        command, _, argument = line.partition(" ")
        if command in ("reset", "time"):
            stats.deliveries, stats.latencies = 0, []
            stride = int(argument) if command == "time" else 0
            for listener in listeners:
                listener.timed = listener.index % stride == 0 if stride else listener.index < TIMED_CONNECTIONS
            print("ok", flush=True)
        elif line == "count":
            print(orjson.dumps({"deliveries": stats.deliveries, "closed": stats.closed}).decode(), flush=True)
        elif line == "report":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            print(orjson.dumps({"deliveries": stats.deliveries, "latencies": stats.latencies,
                                "cpu": usage.ru_utime + usage.ru_stime, "closed": stats.closed, "gaps": stats.gaps,
                                "close_codes": stats.close_codes}).decode(), flush=True)
        elif line in ("quit", ""):
            for transport in transports:
                transport.disconnect()
            return


if __name__ == "__main__":
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], *map(int, sys.argv[4:6])))
