"""A loopback TCP proxy the tests can cut or freeze, to play a flaky network.

``cut()`` closes every proxied connection and refuses new ones (a network outage the
client sees at once); ``freeze()`` keeps the connections open but forwards nothing (a
half-open connection: only an application-level ping notices); ``restore()`` undoes both.
The proxy runs its own event loop in a thread so sync tests (Playwright) can drive it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tests.support.servers import free_port

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tcp-proxy", daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.flowing = asyncio.Event()
        # How many client connections were accepted (reconnects show up here).
        self.accepted = 0
        self.thread.start()
        self._call(self._listen())
        self.loop.call_soon_threadsafe(self.flowing.set)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._client, self.host, self.port, reuse_address=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.close()
            return
        self.writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _restore(self) -> None:
        self.flowing.set()
        if self.server is None:
            await self._listen()

    def cut(self) -> None:
        """Drop every connection and refuse new ones until ``restore()``."""
        self._call(self._cut())

    def freeze(self) -> None:
        """Stop forwarding bytes, keeping the connections open."""
        self.loop.call_soon_threadsafe(self.flowing.clear)

    def restore(self) -> None:
        self._call(self._restore())

    def close(self) -> None:
        self._call(self._cut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
