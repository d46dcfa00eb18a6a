"""Real client libraries whose every operation is a Lua script, used as their docs
use them, on redis-server and on our broker (``fanout broker``): redis-py's Lock
and register_script, a Celery worker (``--pool=solo``) with a Redis broker and
result backend, and BullMQ (Node) with a Worker. The same test must pass on both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import redis
from redis.exceptions import LockError, LockNotOwnedError

from tests.support.servers import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "tests" / "js"


@pytest.fixture()
def r(either_client: redis.Redis) -> redis.Redis:
    return either_client  # the short name the tests below use


# ---------------------------------------------------------------- redis-py Lock

def test_lock_acquire_extend_reacquire_release(r: redis.Redis) -> None:
    lock = r.lock("resource", timeout=10)
    assert lock.acquire(blocking=False)
    assert lock.owned() and lock.locked()
    token = r.get("resource")
    assert token == lock.local.token
    assert 9000 < r.pttl("resource") <= 10000

    assert lock.extend(20)  # adds to the remaining time
    assert 25000 < r.pttl("resource") <= 30000
    assert lock.extend(5, replace_ttl=True)
    assert 4000 < r.pttl("resource") <= 5000
    assert lock.reacquire()  # back to the full timeout
    assert 9000 < r.pttl("resource") <= 10000

    other = r.lock("resource", timeout=10)
    assert not other.acquire(blocking=False)
    lock.release()
    assert not lock.locked()
    assert r.exists("resource") == 0
    with pytest.raises(LockError):
        lock.release()  # nothing held any more


def test_lock_release_by_another_owner_is_refused(r: redis.Redis) -> None:
    mine = r.lock("resource", timeout=10)
    assert mine.acquire(blocking=False)
    thief = r.lock("resource", timeout=10)
    thief.local.token = b"someone-else"
    with pytest.raises(LockNotOwnedError):
        thief.release()
    thief.local.token = b"someone-else"  # release() forgets the token before it asks
    with pytest.raises(LockNotOwnedError):
        thief.extend(5)
    with pytest.raises(LockNotOwnedError):
        thief.reacquire()
    assert r.get("resource") == mine.local.token  # untouched
    mine.release()


def test_lock_context_manager(r: redis.Redis) -> None:
    with r.lock("resource", timeout=5) as lock:
        assert r.get("resource") == lock.local.token
    assert r.exists("resource") == 0


def test_lock_blocking_waiter_gets_it_after_release(r: redis.Redis, either_server: ServerProcess) -> None:
    holder = r.lock("resource", timeout=30)
    assert holder.acquire(blocking=False)
    waiting = threading.Event()
    outcome: dict[str, object] = {}

    def wait_for_lock() -> None:
        client = redis.Redis(port=either_server.port)
        waiter = client.lock("resource", timeout=30, sleep=0.01)
        outcome["held_when_tried"] = not waiter.acquire(blocking=False)
        waiting.set()
        outcome["acquired"] = waiter.acquire(blocking=True, blocking_timeout=20)
        outcome["token"] = waiter.local.token
        waiter.release()
        client.close()

    thread = threading.Thread(target=wait_for_lock)
    thread.start()
    assert waiting.wait(20)
    holder.release()
    thread.join(30)
    assert outcome["held_when_tried"] is True
    assert outcome["acquired"] is True
    assert outcome["token"] != holder.local.token
    assert r.exists("resource") == 0


# ---------------------------------------------------------------- register_script

RATE_LIMIT = """
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {current, redis.call('TTL', KEYS[1])}
"""


def test_register_script_falls_back_after_script_flush(r: redis.Redis) -> None:
    limiter = r.register_script(RATE_LIMIT)
    assert limiter(keys=["hits"], args=[60]) == [1, 60]
    assert r.script_exists(limiter.sha) == [True]
    r.script_flush()
    assert r.script_exists(limiter.sha) == [False]
    # EVALSHA answers NOSCRIPT; redis-py loads the script and retries
    assert limiter(keys=["hits"], args=[60]) == [2, 60]
    assert r.script_exists(limiter.sha) == [True]


def test_register_script_in_a_pipeline(r: redis.Redis) -> None:
    limiter = r.register_script(RATE_LIMIT)
    r.script_flush()
    pipe = r.pipeline()
    for _ in range(3):
        limiter(keys=["hits"], args=[60], client=pipe)
    pipe.get("hits")
    assert pipe.execute() == [[1, 60], [2, 60], [3, 60], b"3"]


# ---------------------------------------------------------------- Celery

TASKS = textwrap.dedent("""
    import os
    from celery import Celery

    url = os.environ["CELERY_TEST_URL"]
    app = Celery("roundtrip", broker=url, backend=url)
    app.conf.broker_connection_retry_on_startup = True

    @app.task
    def add(x, y):
        return x + y
""")


def test_celery_worker_round_trip(either_server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "roundtrip.py").write_text(TASKS)
    url = f"redis://127.0.0.1:{either_server.port}/0"
    env = {**os.environ, "CELERY_TEST_URL": url,
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "roundtrip", "worker", "--pool=solo",
         "--concurrency=1", "--loglevel=INFO", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-n", f"roundtrip-{either_server.port}@localhost"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        sys.path.insert(0, str(tmp_path))
        os.environ["CELERY_TEST_URL"] = url
        import importlib

        import roundtrip  # type: ignore[import-not-found]
        importlib.reload(roundtrip)
        results = [roundtrip.add.delay(i, 10) for i in range(3)]
        assert [result.get(timeout=60) for result in results] == [10, 11, 12]
        assert all(result.successful() for result in results)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("roundtrip", None)
        os.environ.pop("CELERY_TEST_URL", None)
        worker.terminate()
        output, _ = worker.communicate(timeout=30)
    assert "ready." in output, output
    assert "Traceback" not in output, output


# ---------------------------------------------------------------- BullMQ

def test_bullmq_queue_and_worker_complete_jobs(either_server: ServerProcess) -> None:
    done = subprocess.run(["node", str(JS / "bullmq_roundtrip.mjs"), str(either_server.port), "5"],
                          capture_output=True, text=True, timeout=120, cwd=JS)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    names = [result["name"] for result in report["results"]]
    assert names == [f"job-{i}" for i in range(5)] + ["delayed", "flaky"]
    assert [result["doubled"] for result in report["results"]] == [0, 2, 4, 6, 8, 200, 14]
    assert report["results"][-1]["attempts"] == 1  # failed once, retried, completed
    assert report["counts"] == {"completed": 7, "failed": 0, "waiting": 0, "active": 0,
                                "delayed": 0, "paused": 0}
    assert report["firstState"] == "completed"
    assert report["firstReturn"] == {"doubled": 0, "name": "job-0", "attempts": 0}
