"""Truthful stats: channels, patterns and watches each counted; messages in counted on
every publish path (websocket, HTTP, RESP PUBLISH and SPUBLISH, a script's PUBLISH) (issue #17)."""

from __future__ import annotations

import json
import re
import urllib.request

import redis.asyncio as aioredis

from tests.support.browser import http_publish
from tests.support.servers import free_port, start_fanout
from tests.support.ws import connect


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {match[1]: float(match[2]) for match in re.finditer(r"^(fanout_\w+) (\S+)$", text, re.M)}


def subscriptions(port: int) -> dict[str, dict[str, int]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/subscriptions", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


async def test_metrics_count_patterns_watches_and_every_publish_path():
    resp_port = free_port()
    server = start_fanout("serve", "--http-port", "0", "--resp-port", str(resp_port))
    client = await connect(server.port)
    resp = aioredis.Redis(port=resp_port)
    try:
        before = metrics(server.port)
        assert before["fanout_channels"] == before["fanout_patterns"] == before["fanout_watches"] == 0
        assert (await client.request("psubscribe", pattern="room:*"))["ok"]
        assert (await client.request("watch", key="score:1", view={"type": "string"}))["ok"]
        await resp.set("score:1", "5")
        assert (await client.request("subscribe", channel="direct"))["ok"]
        counts = metrics(server.port)
        assert (counts["fanout_channels"], counts["fanout_patterns"], counts["fanout_watches"]) == (1, 1, 1)
        assert subscriptions(server.port) == {"channels": {"direct": 1}, "patterns": {"room:*": 1},
                                              "watches": {"score:1": 1}, "node": subscriptions(server.port)["node"]}

        assert await resp.publish("room:a", "over resp") == 1      # RESP PUBLISH
        assert await resp.execute_command("SPUBLISH", "shard:b", "sharded") == 0  # counted, no one listens
        assert await resp.eval("return redis.call('PUBLISH', KEYS[1], ARGV[1])", 1, "room:e", '"script"') == 1
        http_publish(server.port, "room:c", "over http")           # HTTP API
        assert (await client.request("publish", channel="room:d", data="over ws"))["ok"]  # websocket
        assert await resp.publish("nobody:listens", "x") == 0      # counted in, delivered to no one
        seen = [(await client.event())["channel"] for _ in range(4)]
        assert sorted(seen) == ["room:a", "room:c", "room:d", "room:e"]

        after = metrics(server.port)
        assert after["fanout_broker_publishes_total"] - before["fanout_broker_publishes_total"] == 6
        assert after["fanout_messages_in_total"] - before["fanout_messages_in_total"] == 2  # through the gateway
        assert after["fanout_messages_received_total"] - before["fanout_messages_received_total"] == 4
        assert after["fanout_messages_out_total"] - before["fanout_messages_out_total"] >= 4
    finally:
        await client.close()
        await resp.aclose()
        server.stop()
