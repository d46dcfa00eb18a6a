"""HTTP API calls the gateway tests make, as a backend or a curl user would."""

from __future__ import annotations

from typing import Any

import aiohttp

__all__ = ["http_publish"]


async def http_publish(http: aiohttp.ClientSession, port: int, channel: str, data: Any) -> dict[str, Any]:
    """POST /api/publish; asserts a 200 and returns the JSON reply."""
    async with http.post(f"http://127.0.0.1:{port}/api/publish", json={"channel": channel, "data": data}) as response:
        assert response.status == 200
        return await response.json()
