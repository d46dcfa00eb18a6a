"""Websocket test clients (the `websockets` library plays the browser)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
import websockets

__all__ = ["WsClient", "connect"]

_ids = itertools.count(1)


class WsClient:
    """A gateway client: request/reply by id, events queued in arrival order."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.replies: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.loose: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = orjson.loads(raw)
                if "id" in message and message["id"] in self.replies:
                    self.replies.pop(message["id"]).set_result(message)
                elif "channel" in message:
                    await self.events.put(message)
                else:
                    await self.loose.put(message)
        except websockets.ConnectionClosed:
            pass

    async def request(self, op: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        request_id = next(_ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[request_id] = future
        await self.ws.send(orjson.dumps({"op": op, "id": request_id, **fields}).decode())
        return await asyncio.wait_for(future, timeout)

    async def event(self, timeout: float = 10.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def connect(port: int, token: str | None = None, **kwargs: Any) -> WsClient:
    url = f"ws://127.0.0.1:{port}/ws" + (f"?token={token}" if token else "")
    ws = await websockets.connect(url, max_size=None, **kwargs)
    return WsClient(ws)
