"""Logs an operator can use (issue #17): start-up facts, debug lines for connections,
subscriptions and HTTP requests, JSON lines, the backplane's loss and return once each."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import urllib.error
import urllib.request

from tests.support.servers import MS, ServerProcess, start_fanout, start_redis_server
from tests.support.ws import connect


class Lines:
    """Everything a server prints (stdout and stderr), read in a thread as it comes."""

    def __init__(self, server: ServerProcess) -> None:
        self.lines = [line.rstrip("\n") for line in server.output]
        self.changed = threading.Condition()
        assert server.process.stdout is not None
        self.thread = threading.Thread(target=self._read, args=(server.process.stdout,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()

    def wait_for(self, pattern: str, count: int = 1) -> list[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + 15000 * MS
        with self.changed:
            while len(found := [line for line in self.lines if regex.search(line)]) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"no {count} lines matching {pattern!r} in:\n" + "\n".join(self.lines)
                self.changed.wait(left)
        return found


def get_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_startup_facts_then_debug_lines_for_a_connection_a_subscribe_publishes_and_a_404():
    server = start_fanout("serve", "--http-port", "0", "--resp-port", "-1", "--log-level", "debug")
    lines = Lines(server)
    try:
        facts = lines.wait_for(r"^fanout serve: ")
        assert facts[0] == f"fanout serve: HTTP on http://127.0.0.1:{server.port}"  # no jargon first
        lines.wait_for(r"^fanout serve: broker embedded, in memory \(node [0-9a-f]{8}\)$")
        lines.wait_for(r"^fanout serve: auth open: no --token-secret, so any websocket may subscribe and "
                       r"publish anywhere \(demo mode\); the HTTP API needs no key; the RESP port needs no password$")
        client = await connect(server.port)
        await client.request("subscribe", channel="news")
        await client.request("publish", channel="news", data=1)
        await client.request("publish", channel="news", data=2)
        await client.request("subscribe", channel="")  # refused: logged with its code
        await client.close()
        assert await asyncio.to_thread(get_status, server.port, "/no-such-page") == 404
        lines.wait_for(r"DEBUG fanout\.gateway: connection [0-9a-f]{8}-\d+ opened: user anon-[0-9a-f]{8}$")
        lines.wait_for(r"DEBUG fanout\.gateway: connection [0-9a-f]{8}-\d+ \(anon-[0-9a-f]{8}\): subscribe news$")
        lines.wait_for(r"DEBUG fanout\.gateway: connection [0-9a-f]{8}-\d+ \(anon-[0-9a-f]{8}\): publish news$", 2)
        lines.wait_for(r"DEBUG fanout\.gateway: HTTP GET /no-such-page -> 404 \(\d+\.\d ms\)$")
        lines.wait_for(r"DEBUG fanout\.gateway: connection [0-9a-f]{8}-\d+ \(anon-[0-9a-f]{8}\) closed: client_closed$")
    finally:
        server.stop()


async def test_json_format_is_one_object_per_line():
    server = start_fanout("serve", "--http-port", "0", "--resp-port", "-1", "--log-level", "debug",
                          "--log-format", "json")
    lines = Lines(server)
    try:
        assert await asyncio.to_thread(get_status, server.port, "/healthz") == 200
        lines.wait_for(r'"message":"HTTP GET /healthz -> 200')
        server.stop()
        lines.thread.join(10)
        assert lines.lines, "nothing was logged"
        records = [json.loads(line) for line in lines.lines]  # every line is JSON
        facts = [record for record in records if record["logger"] == "fanout"]
        assert facts[0]["message"] == f"fanout serve: HTTP on http://127.0.0.1:{server.port}"
        assert facts[0]["http"] == f"127.0.0.1:{server.port}" and facts[0]["level"] == "info"
        assert {"time", "level", "logger", "message"} <= set(records[-1])
        assert records[-1]["message"] == "fanout serve: stopped"
    finally:
        server.stop()


async def test_backplane_lost_and_regained_are_logged_once_each():
    redis = start_redis_server()
    server = start_fanout("serve", "--http-port", "0", "--resp-port", "-1", "--broker",
                          f"redis://127.0.0.1:{redis.port}/0")
    lines = Lines(server)
    try:
        client = await connect(server.port)
        await client.request("subscribe", channel="a")
        port = redis.port
        redis.stop()
        lost = lines.wait_for(rf"WARNING fanout\.backend: .* connection to 127\.0\.0\.1:{port} lost: ")
        redis = start_redis_server(port=port)
        regained = lines.wait_for(rf"WARNING fanout\.backend: reconnected to 127\.0\.0\.1:{port}; "
                                  r"\d+ channels and \d+ patterns resubscribed")
        lines.wait_for(r"broker connection restored: re-registering presence and filling history gaps")
        assert await asyncio.to_thread(get_status, server.port, "/readyz") == 200
        assert len(lost) == 1 and len(regained) == 1
        await client.close()
    finally:
        server.stop()
        redis.stop()


async def test_nodes_joining_and_leaving_are_logged_by_the_others():
    redis = start_redis_server()
    url = f"redis://127.0.0.1:{redis.port}/0"
    first = start_fanout("serve", "--http-port", "0", "--resp-port", "-1", "--broker", url)
    lines = Lines(first)
    try:
        second = start_fanout("serve", "--http-port", "0", "--resp-port", "-1", "--broker", url)
        node = re.search(r"\(node ([0-9a-f]{8})\)", "".join(second.output) + second.process.stdout.readline())
        assert node is not None
        lines.wait_for(rf"INFO fanout\.gateway: node {node[1]} joined$")
        second.stop()
        lines.wait_for(rf"INFO fanout\.gateway: node {node[1]} left$")
        assert len(lines.wait_for(r"fanout\.gateway: node [0-9a-f]{8} (joined|left)$")) == 2  # not itself
    finally:
        first.stop()
        redis.stop()


async def test_a_slow_consumer_cut_is_logged_once_and_listed_in_disconnects():
    import redis.asyncio as aioredis

    from tests.support.servers import free_port
    from tests.support.ws import raw_websocket

    resp_port = free_port()
    server = start_fanout("serve", "--http-port", "0", "--resp-port", str(resp_port), "--max-buffer", "64kb",
                          "--slow-close-after", "0.2")
    lines = Lines(server)
    resp = aioredis.Redis(port=resp_port)
    slow = raw_websocket(server.port, {"op": "subscribe", "channel": "flood"})  # never reads
    try:
        deadline = time.monotonic() + 60
        while not any("closed slow consumer" in line for line in lines.lines):
            assert time.monotonic() < deadline, "the slow consumer was never cut"
            await resp.publish("flood", json.dumps({"pad": "x" * 4000}))
        cut = lines.wait_for(r"INFO fanout\.gateway: closed slow consumer [0-9a-f]{8}-\d+ \(anon-[0-9a-f]{8}\): "
                             r"over its output budget of 65536 bytes for 0\.2s$")
        body = json.loads(await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/disconnects", timeout=5).read()))
        assert [entry["reason"] for entry in body["disconnects"]] == ["slow_consumer"]
        assert len(cut) == 1
    finally:
        slow.close()
        await resp.aclose()
        server.stop()


def _is_supervisors(line: str) -> bool:
    """The supervisor's own lines: its start-up facts and its fanout.workers records."""
    return line.startswith("fanout serve: ") or " fanout.workers: " in line


async def test_every_line_of_a_worker_names_the_worker():
    server = start_fanout("serve", "--workers", "2", "--http-port", "0", "--resp-port", "-1",
                          "--log-level", "debug")
    lines = Lines(server)
    try:
        client = await connect(server.port)
        await client.request("subscribe", channel="tagged")
        # The worker that takes /healthz asks its sibling for its part: both log the request.
        assert await asyncio.to_thread(get_status, server.port, "/healthz") == 200
        requests = lines.wait_for(r"DEBUG fanout\.gateway: HTTP GET /healthz -> 200", 2)
        opened = lines.wait_for(r"DEBUG fanout\.gateway: connection [0-9a-f]{8}-\d+ opened")
        await client.close()
        # Log records come from the workers' stderr, facts from their stdout: all tagged.
        assert {line[:len("[worker 1] ")] for line in requests} == {"[worker 1] ", "[worker 2] "}
        assert re.match(r"^\[worker [12]\] \d{4}-", opened[0])
        untagged = [line for line in lines.lines if not line.startswith(("[worker 1] ", "[worker 2] "))
                    and not _is_supervisors(line)]
        assert untagged == []
        assert lines.wait_for(r"^\[worker [12]\] fanout serve: HTTP on ", 2)
    finally:
        server.stop()


async def test_every_json_record_of_a_worker_has_its_worker_field():
    server = start_fanout("serve", "--workers", "2", "--http-port", "0", "--resp-port", "-1",
                          "--log-level", "debug", "--log-format", "json")
    lines = Lines(server)
    try:
        assert await asyncio.to_thread(get_status, server.port, "/healthz") == 200
        lines.wait_for(r'"message":"HTTP GET /healthz -> 200', 2)
        server.stop()
        lines.thread.join(10)
        records = [json.loads(line) for line in lines.lines]  # every line is one JSON object
        requests = [record for record in records if record["message"].startswith("HTTP GET /healthz -> 200")]
        assert sorted(record["worker"] for record in requests) == [1, 2]  # from the workers' stderr
        stopped = [record["worker"] for record in records if record["message"] == "fanout serve: stopped"
                   and "worker" in record]
        assert sorted(stopped) == [1, 2]  # from the workers' stdout
        supervisor = {f"fanout serve: HTTP on http://127.0.0.1:{server.port} (2 workers)",
                      "fanout serve: shutting down", "fanout serve: stopped"}
        untagged = {record["message"] for record in records
                    if "worker" not in record and record["logger"] != "fanout.workers"}
        assert untagged == supervisor
        assert all(record["worker"] in (1, 2) for record in records if "worker" in record)
    finally:
        server.stop()
