"""``fanout demo-feed`` publishes over RESP what the demo pages show."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import redis

from gateway.demo_feed import PLAYERS, Metrics
from tests.support.servers import ServerProcess, free_port


def test_metrics_random_walks_stay_in_bounds() -> None:
    metrics = Metrics(random.Random(7))
    readings = [metrics.step() for _ in range(2000)]
    assert all(0 <= r["cpu"] <= 100 and 0.5 <= r["memory"] <= 16 and r["requests"] >= 0 for r in readings)
    assert len({r["cpu"] for r in readings}) > 100  # it moves


def test_demo_feed_publishes_metrics_and_writes_the_hash_and_leaderboard(fanout_serve: ServerProcess) -> None:
    port = fanout_serve.extra_ports["resp"]
    client = redis.Redis(port=port)
    pubsub = client.pubsub()
    pubsub.psubscribe("metrics:*")
    assert pubsub.get_message(timeout=5)["type"] == "psubscribe"
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "demo-feed", "--port", str(port),
                             "--count", "3", "--interval", "0.01", "--seed", "1"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stopped after 3 updates" in result.stdout
    channels = []
    while len(channels) < 9:
        message = pubsub.get_message(timeout=5)
        assert message is not None, f"only {channels}"
        if message["type"] == "pmessage":
            channels.append(message["channel"].decode())
            assert isinstance(json.loads(message["data"])["value"], (int, float))
    assert sorted(set(channels)) == ["metrics:cpu", "metrics:memory", "metrics:requests"]
    status = client.hgetall("dashboard:status")
    assert status[b"updates"] == b"3" and b"cpu_percent" in status
    board = client.zrange("leaderboard:demo", 0, -1, withscores=True)
    assert board and all(name.decode() in PLAYERS for name, _ in board)
    assert sum(score for _, score in board) >= 3
    pubsub.close()
    client.close()


def test_demo_feed_says_when_nothing_listens() -> None:
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "demo-feed", "--port", str(free_port()),
                             "--count", "1"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "cannot reach" in result.stdout
