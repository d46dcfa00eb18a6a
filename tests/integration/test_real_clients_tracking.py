"""Client-side caching with real client libraries, as their docs use it, on redis-server
and on our broker (issue #18): node-redis v5's ``clientSideCache`` (RESP3), and a redis-py
RESP2 tracking connection whose invalidations are redirected to a pub/sub connection on
``__redis__:invalidate``. The same test must pass on both servers."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.servers import ServerProcess

JS = Path(__file__).resolve().parents[2] / "tests" / "js"


@pytest.fixture(params=["redis-server", "fanout"])
def server(request: pytest.FixtureRequest, redis_server: ServerProcess,
           fanout_broker: ServerProcess) -> Iterator[ServerProcess]:
    yield redis_server if request.param == "redis-server" else fanout_broker


def test_node_redis_client_side_cache(server: ServerProcess) -> None:
    done = subprocess.run(["node", str(JS / "client_side_cache.mjs"), str(server.port)],
                          capture_output=True, text=True, timeout=120, cwd=JS)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["first"] == ["1", "1"] and seen["hash"] == [{"f": "x"}, {"f": "x"}]
    # the second read of each key was served from the cache
    assert seen["afterReads"] == {"size": 2, "hits": 2, "misses": 2}
    assert seen["tracking"] is True
    # the other client's writes reached the cache as invalidations: new values read
    assert seen["afterWrite"] == ["2", "2"]
    assert seen["hashAfterWrite"] == {"f": "x", "g": "y"}
    assert seen["afterFlush"] is None
    assert seen["stats"]["hits"] == 3


def _invalidation(pubsub: Any) -> Any:
    """The data of the next message on __redis__:invalidate (keys, or None for a flush)."""
    message = pubsub.get_message(timeout=10)
    assert message is not None, "no invalidation arrived"
    assert message["type"] == "message" and message["channel"] == b"__redis__:invalidate", message
    return message["data"]


def test_redis_py_resp2_tracking_with_redirect(server: ServerProcess) -> None:
    writer = redis.Redis(port=server.port, protocol=2)
    listener = redis.Redis(port=server.port, protocol=2)
    tracker = redis.Redis(port=server.port, protocol=2, single_connection_client=True)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    try:
        writer.flushall()
        pubsub.subscribe("__redis__:invalidate")
        assert pubsub.get_message(timeout=5) is None  # the confirmation, ignored
        # the pub/sub connection's id, as an operator finds it
        subscribers = [c for c in writer.client_list() if c["cmd"] == "subscribe"]
        assert len(subscribers) == 1 and subscribers[0]["resp"] == "2"
        redirect = int(subscribers[0]["id"])
        assert tracker.client_info()["resp"] == "2"
        assert tracker.client_tracking_on(clientid=redirect) == b"OK"
        assert tracker.execute_command("CLIENT", "GETREDIR") == redirect

        writer.mset({"user:1": "ann", "user:2": "bob"})
        assert tracker.mget("user:1", "user:2") == [b"ann", b"bob"]
        writer.set("user:1", "anne")
        assert _invalidation(pubsub) == [b"user:1"]
        writer.set("user:1", "ann-marie")  # not read again since: no second message
        writer.delete("user:2")
        assert _invalidation(pubsub) == [b"user:2"]

        assert tracker.get("user:1") == b"ann-marie"
        writer.flushall()
        assert _invalidation(pubsub) is None  # everything is invalid

        # BCAST: every change under the prefix, read or not
        assert tracker.client_tracking_off() == b"OK"
        assert tracker.client_tracking_on(clientid=redirect, bcast=True, prefix=["session:"]) == b"OK"
        writer.set("session:9", "x")
        writer.set("other", "y")
        assert _invalidation(pubsub) == [b"session:9"]
        info = tracker.execute_command("CLIENT", "TRACKINGINFO")
        assert info[:2] == [b"flags", [b"on", b"bcast"]] and info[4:] == [b"prefixes", [b"session:"]]
        assert tracker.client_tracking_off() == b"OK"
    finally:
        pubsub.close()
        tracker.close()
        listener.close()
        writer.close()
