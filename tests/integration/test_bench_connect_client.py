"""The connect-storm client of bench/connect_storm.py (bench/peers/connect_client.js) against real servers.

It runs under node here (always installed) and under Bun when bench/rooms_vs_bun.py's
npm cache has it; each storm is checked on the server: every connection subscribed to
its channel while open, none left after the close.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.resp_client import wait_until
from tests.support.servers import free_port, start_fanout

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from connect_clients import StormClients  # noqa: E402

CACHE = Path(os.environ.get("FANOUT_BENCH_CACHE", Path.home() / ".cache" / "fanout-bench" / "peers"))
BUN = CACHE / "node_modules" / "bun" / "bin" / "bun.exe"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def channel_counts(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/channels", timeout=10) as response:
        return dict(json.load(response)["channels"])


def runtimes() -> list[str]:
    return ["node"] + ([str(BUN)] if BUN.exists() else [])


@pytest.mark.parametrize("runtime", runtimes(), ids=lambda path: Path(path).name)
def test_storm_subscribes_every_connection_then_closes_them(runtime: str) -> None:
    server = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", "-1", "--save", "").capture()
    try:
        clients = StormClients(runtime, server.port, 60, 8, rooms=4, processes=2, first=10)
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


@pytest.mark.skipif(not BUN.exists(), reason="bun is not in bench/rooms_vs_bun.py's npm cache")
@pytest.mark.parametrize("peer", ["bun_rooms.js", "node_rooms.js"])
def test_peers_answer_the_subscribe_frame(peer: str) -> None:
    """The peers of bench/rooms_vs_bun.py answer the storm's subscribe as fanout does."""
    port = free_port()
    runtime = str(BUN) if peer.startswith("bun") else "node"
    if peer.startswith("node") and not (CACHE / "node_modules" / "ws").exists():
        pytest.skip("ws is not in the npm cache")
    server = subprocess.Popen([runtime, str(BENCH / "peers" / peer), str(port)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "NODE_PATH": str(CACHE / "node_modules")})
    try:
        assert server.stdout is not None
        assert "listening" in server.stdout.readline()
        clients = StormClients("node", port, 30, 10, rooms=3)
        try:
            assert clients.storm() > 0
            clients.close()
        finally:
            clients.kill()
    finally:
        server.terminate()
        server.wait(timeout=10)
