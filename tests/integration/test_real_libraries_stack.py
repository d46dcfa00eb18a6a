"""The Redis-backed stack a team brings, run as the libraries' docs use it, against
redis-server and our broker alike (the same outcomes on both): RQ job queues, rate
limiters (Python's `limits`, Node's rate-limiter-flexible) and Express sessions
(connect-redis).

RQ: jobs enqueued from here, run by a real `rq worker --burst` process (it forks a
work horse per job), results, a failing job in the failed registry, a dependent job
held until its parent finished, scheduled jobs moved in by the worker's scheduler.
`limits`: its fixed-window, moving-window (a Lua script) and sliding-window counter
strategies on the Redis storage. rate-limiter-flexible: `RateLimiterRedis` on ioredis
(tests/js/rate_limiter.mjs). connect-redis: express-session's store on node-redis behind
a Node http either_server, a visitor's session kept across requests by its cookie
(tests/js/express_sessions.mjs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from tests.support.servers import ServerProcess

JOBS = '''\
import json
import os


def add(x, y):
    return x + y


def fail(message):
    raise ValueError(message)


def pid():
    return os.getpid()
'''


@pytest.fixture()
def jobs_module(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "rqjobs.py").write_text(JOBS)
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("rqjobs", None)


def _burst(either_server: ServerProcess, directory: Path, *flags: str) -> str:
    """One `rq worker --burst` run to completion: it works the queue until empty."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(directory), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "rq.cli", "worker", "--burst", "--url",
                           f"redis://127.0.0.1:{either_server.port}/0", *flags, "default"],
                          cwd=directory, env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


@pytest.fixture()
def r(either_client: redis.Redis) -> redis.Redis:
    return either_client  # the short name the tests below use

def test_rq_worker_runs_jobs_records_failures_and_holds_dependents(r, either_server, jobs_module):
    import rqjobs  # type: ignore[import-not-found]

    queue = Queue(connection=r)
    sums = [queue.enqueue(rqjobs.add, n, 10) for n in range(10)]
    failing = queue.enqueue(rqjobs.fail, "boom", retry=Retry(max=1))
    parent = queue.enqueue(rqjobs.pid)
    child = queue.enqueue(rqjobs.add, 1, 2, depends_on=parent)
    assert child.get_status() == JobStatus.DEFERRED and len(queue) == 12
    output = _burst(either_server, jobs_module)
    for job in (*sums, parent, child):
        job.refresh()
    assert [job.return_value() for job in sums] == [n + 10 for n in range(10)], output
    assert all(job.get_status() == JobStatus.FINISHED for job in (*sums, parent, child)), output
    assert child.return_value() == 3 and isinstance(parent.return_value(), int)
    failing.refresh()
    assert failing.get_status() == JobStatus.FAILED and failing.retries_left == 0
    assert "ValueError: boom" in (failing.latest_result().exc_string or "")
    assert FailedJobRegistry(queue=queue).get_job_ids() == [failing.id]
    assert len(queue) == 0
    # A finished job's data is kept for its result TTL and then gone, as RQ sets it.
    assert 0 < r.ttl(f"rq:job:{sums[0].id}") <= 500
    Job.fetch(sums[0].id, connection=r).delete()
    assert not r.exists(f"rq:job:{sums[0].id}")


def test_rq_scheduler_moves_due_jobs_into_the_queue(r, either_server, jobs_module):
    import rqjobs  # type: ignore[import-not-found]

    queue = Queue(connection=r)
    due = queue.enqueue_in(timedelta(seconds=0), rqjobs.add, 2, 3)
    later = queue.enqueue_in(timedelta(hours=1), rqjobs.add, 4, 5)
    registry = ScheduledJobRegistry(queue=queue)
    assert sorted(registry.get_job_ids()) == sorted([due.id, later.id]) and len(queue) == 0
    _burst(either_server, jobs_module, "--with-scheduler")
    due.refresh()
    later.refresh()
    assert due.get_status() == JobStatus.FINISHED and due.return_value() == 5
    assert later.get_status() == JobStatus.SCHEDULED and registry.get_job_ids() == [later.id]


@pytest.mark.parametrize("strategy", [FixedWindowRateLimiter, MovingWindowRateLimiter,
                                      SlidingWindowCounterRateLimiter])
def test_limits_rate_limiter_allows_the_limit_then_refuses(r, either_server, strategy):
    storage = RedisStorage(f"redis://127.0.0.1:{either_server.port}/0")
    limiter = strategy(storage)
    five_a_minute = parse("5/minute")
    assert limiter.test(five_a_minute, "user", "1")
    results = [limiter.hit(five_a_minute, "user", "1") for _ in range(8)]
    assert results == [True] * 5 + [False] * 3
    assert limiter.hit(five_a_minute, "user", "2")  # another identity has its own window
    stats = limiter.get_window_stats(five_a_minute, "user", "1")
    # (a sliding window counter's reset may be "now": when its weighted count drops)
    assert stats.remaining == 0 and time.time() - 1 < stats.reset_time <= time.time() + 120
    assert limiter.get_window_stats(five_a_minute, "user", "2").remaining == 4
    assert not limiter.test(five_a_minute, "user", "1")
    limiter.clear(five_a_minute, "user", "1")
    assert limiter.hit(five_a_minute, "user", "1") and limiter.get_window_stats(
        five_a_minute, "user", "1").remaining == 4
    assert storage.check()


def test_rate_limiter_flexible_on_ioredis(either_server):
    # Node's rate-limiter-flexible (RateLimiterRedis: a Lua script per consume)
    js = Path(__file__).resolve().parents[1] / "js"
    done = subprocess.run(["node", str(js / "rate_limiter.mjs"), str(either_server.port)],
                          capture_output=True, text=True, timeout=120, cwd=js)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outcomes"] == [{"ok": True, "remaining": n} for n in (4, 3, 2, 1, 0)] + \
        [{"ok": False, "remaining": 0, "waitPositive": True}] * 3
    assert (report["other"], report["penalised"], report["rewarded"]) == (3, 2, 4)
    assert report["consumedUser1"] == 8 and report["blockedMs"] and report["blockedRefused"]
    assert report["deleted"] is True and report["afterDelete"] == 4


def test_express_sessions_in_connect_redis(either_server):
    # express-session with connect-redis's RedisStore on node-redis, as its docs set it up
    js = Path(__file__).resolve().parents[1] / "js"
    done = subprocess.run(["node", str(js / "express_sessions.mjs"), str(either_server.port)],
                          capture_output=True, text=True, timeout=120, cwd=js)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "views": [1, 2, 3], "stranger": 1, "storedViews": 3, "ttlOk": True, "idsHasSid": True,
        "length": 2, "afterLogout": 0}
