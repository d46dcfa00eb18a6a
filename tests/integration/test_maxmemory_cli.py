"""--maxmemory and --maxmemory-policy on ``fanout broker`` and ``fanout serve``, as
flags and FANOUT_* variables, and ``--workers`` under a full noeviction limit
(issue 18)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.resp_client import RespClient, RespError
from tests.support.servers import free_port, start_fanout
from tests.support.ws import connect


def test_broker_flags_set_the_limit(tmp_path: Path) -> None:
    server = start_fanout("broker", "--port", str(free_port()), "--maxmemory", "2mb",
                          "--maxmemory-policy", "allkeys-lfu", "--save", "", "--dir", str(tmp_path))
    try:
        with RespClient(server.port) as client:
            assert client.call("CONFIG", "GET", "maxmemory") == [b"maxmemory", b"2097152"]
            assert client.call("CONFIG", "GET", "maxmemory-policy") == [b"maxmemory-policy", b"allkeys-lfu"]
            for i in range(5000):
                client.send("SET", f"k{i}", "x" * 500)
            for _ in range(5000):
                client.read()
            info = client.call("INFO").decode()
        assert int(info.split("evicted_keys:")[1].split()[0]) > 1000
        # over by at most what one loop iteration's commands and client buffers add after
        # the eviction that ran before them (as on Redis), far below the 2.5 MB written
        assert int(info.split("used_memory:")[1].split()[0]) <= 2 * 1024 * 1024 + 64 * 1024
        assert "maxmemory_human:2.00M" in info and "maxmemory_policy:allkeys-lfu" in info
    finally:
        server.stop()


def test_serve_takes_them_from_the_environment(tmp_path: Path) -> None:
    resp_port = free_port()
    server = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", str(resp_port), "--save", "",
                          "--dir", str(tmp_path),
                          env={"FANOUT_MAXMEMORY": "64mb", "FANOUT_MAXMEMORY_POLICY": "volatile-ttl"})
    try:
        with RespClient(resp_port) as client:
            assert client.call("CONFIG", "GET", "maxmemory") == [b"maxmemory", b"67108864"]
            assert client.call("CONFIG", "GET", "maxmemory-policy") == [b"maxmemory-policy", b"volatile-ttl"]
    finally:
        server.stop()


def test_a_bad_policy_is_refused_in_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "broker", "--maxmemory-policy", "allkeys-mru"],
                            capture_output=True, text=True, timeout=30,
                            env={k: v for k, v in os.environ.items() if not k.startswith("FANOUT_")})
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "--maxmemory-policy" in result.stderr and "allkeys-lru" in result.stderr


async def test_workers_keep_presence_when_services_are_refused(tmp_path: Path) -> None:
    """--workers 2 under noeviction, full: the services' writes get -OOM, the
    workers' own writes (presence, over the private socket) still go through."""
    resp_port = free_port()
    server = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", str(resp_port), "--workers", "2",
                          "--maxmemory", "4mb", "--save", "", "--dir", str(tmp_path))
    try:
        with RespClient(resp_port) as client:
            replies = []
            for i in range(10_000):
                client.send("SET", f"cache:{i}", "x" * 500)
            for _ in range(10_000):
                replies.append(client.read())
            assert isinstance(replies[-1], RespError) and replies[-1].message.startswith("OOM")
            ws = await connect(server.port)
            reply = await ws.request("subscribe", channel="chat:full", presence=True)
            assert reply["ok"] is True, reply
            present = await ws.request("presence", channel="chat:full")
            assert present["ok"] is True and present["users"], present
            assert client.call("EXISTS", "presence:{chat:full}") == 1
            assert isinstance(client.call("SET", "one-more", "x"), RespError)
            await ws.close()
    finally:
        server.stop()
