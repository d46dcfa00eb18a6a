"""The connect-storm client of bench/connect_storm.py (bench/peers/connect_client.js) against real servers.

It runs under node (the test command installs it; the bench runs the same script under
Bun, whose binary only the bench's npm cache holds); each storm is checked on the
server: every connection subscribed to its channel while open, none left after the close.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.resp_client import wait_until
from tests.support.servers import free_port, start_fanout

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from connect_clients import StormClients  # noqa: E402


def channel_counts(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/channels", timeout=10) as response:
        return dict(json.load(response)["channels"])


def test_storm_subscribes_every_connection_then_closes_them() -> None:
    server = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", "-1", "--save", "").capture()
    try:
        clients = StormClients("node", server.port, 60, 8, rooms=4, processes=2, first=10)
        try:
            assert clients.storm() > 0
            # Connection i (from first=10) is in room-<i % 4>: 15 in each room.
            assert channel_counts(server.port) == {f"room-{i}": 15 for i in range(4)}
            clients.close()
        finally:
            clients.kill()
        for process in clients.processes:
            assert process.returncode == 0
        # The server drops a closed connection's subscriptions once it has read the close.
        wait_until(lambda: channel_counts(server.port) == {}, "every subscription dropped")
    finally:
        server.stop()


def test_storm_reports_a_refused_upgrade() -> None:
    server = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", "-1", "--save", "",
                          "--max-connections", "5").capture()
    try:
        clients = StormClients("node", server.port, 20, 20, rooms=0)
        try:
            with pytest.raises(RuntimeError):
                clients.storm()
        finally:
            clients.kill()
    finally:
        server.stop()
