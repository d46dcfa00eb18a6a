"""The reference peer for the fanout benchmark: a bare `websockets` broadcast server.

Every connection receives every message any connection sends, relayed with the
library's own ``broadcast()`` (its documented fanout idiom). No auth, no channels,
no buffers of its own, compression off (as fanout). Usage: ``bare_websockets.py PORT``.
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

CLIENTS: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    CLIENTS.add(ws)
    try:
        async for message in ws:
            broadcast(CLIENTS, message)
    finally:
        CLIENTS.discard(ws)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=20, backlog=4096):
        print(f"bare websockets: listening on 127.0.0.1:{port}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1])))
