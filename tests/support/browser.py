"""Helpers for the browser tests: Chromium flags and ``fanout serve`` for the demo pages."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.support.servers import ServerProcess, free_port, start_fanout

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "start_serve", "http_publish"]

# Debian's Chromium (scripts/test installs it); Playwright's own browser download is never used.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def start_serve(http_port: int | None = None, resp_port: int | None = None, *extra: str) -> ServerProcess:
    """``fanout serve`` on the given (or free) ports, with publish limits out of the way."""
    http_port = http_port or free_port()
    resp_port = resp_port or free_port()
    server = start_fanout("serve", "--http-port", str(http_port), "--resp-port", str(resp_port),
                          "--publish-rate", "100000", "--publish-burst", "100000", *extra)
    server.extra_ports["resp"] = resp_port
    return server


def http_publish(port: int, channel: str, data: Any) -> dict[str, Any]:
    """POST /api/publish, as a backend service would; returns the reply."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/publish", method="POST",
                                     data=json.dumps({"channel": channel, "data": data}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        reply: dict[str, Any] = json.loads(response.read())
    assert reply["ok"] is True, reply
    return reply
