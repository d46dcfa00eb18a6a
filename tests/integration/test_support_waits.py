"""The tests' own waits (tests/support/servers.py): a line of a process's output is
waited for, not polled; a wait fails when the line never comes or the process ends."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from tests.support.resp_client import RespClient
from tests.support.servers import MS, ServerProcess, poll, start_redis_server, until

# Prints "ready", then "tick 0".."tick 2" a line per read of stdin, then waits for EOF.
CHILD = """
import sys
print("ready", flush=True)
for n in range(3):
    sys.stdin.readline()
    print(f"tick {n}", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def child():
    process = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    server = ServerProcess("child", process, 0).capture()
    yield server
    process.kill()
    server.stop()


def _step(server: ServerProcess) -> None:
    assert server.process.stdin is not None
    server.process.stdin.write("\n")
    server.process.stdin.flush()


def test_a_line_is_waited_for_and_counted(child):
    assert child.wait_for_output("ready") == ["ready\n"]
    since = len(child.output)
    _step(child)
    _step(child)
    assert child.wait_for_output(re.compile(r"tick \d"), count=2, since=since) == ["tick 0\n", "tick 1\n"]
    assert child.capture() is child  # a second capture is harmless: the lines are read once
    _step(child)
    assert child.wait_for_output("tick", count=3) == ["tick 0\n", "tick 1\n", "tick 2\n"]
    assert child.log() == "ready\ntick 0\ntick 1\ntick 2\n"


def test_a_line_that_never_comes_fails_at_the_timeout(child):
    child.wait_for_output("ready")
    started = time.monotonic()
    with pytest.raises(AssertionError, match="did not print 1 x 'tick'"):
        child.wait_for_output("tick", timeout=200 * MS)
    assert time.monotonic() - started >= 190 * MS


def test_a_wait_fails_at_once_when_the_process_exits(child):
    child.wait_for_output("ready")
    child.process.kill()
    started = time.monotonic()
    with pytest.raises(AssertionError, match="its output ended first"):
        child.wait_for_output("tick", timeout=30)
    assert time.monotonic() - started < 10


async def test_logged_waits_in_a_thread_while_the_loop_runs(child):
    child.wait_for_output("ready")
    _step(child)
    assert await child.logged("tick 0") == ["tick 0\n"]


def test_redis_server_is_ready_when_started_and_keeps_its_log():
    server = start_redis_server()
    try:
        assert "Ready to accept connections" in server.log()
        with RespClient(server.port) as client:
            assert client.call("PING") == b"PONG"
            assert client.call("CONFIG", "GET", "loglevel") == [b"loglevel", b"notice"]
    finally:
        server.stop()


def test_a_redis_server_that_cannot_start_says_why():
    first = start_redis_server()
    try:
        with pytest.raises(RuntimeError, match="did not start"):
            start_redis_server(port=first.port)  # the port is taken
    finally:
        first.stop()


async def test_poll_and_until_fail_naming_what_they_waited_for():
    answers = iter([False, False, True])
    poll(lambda: next(answers), "the third answer")
    with pytest.raises(AssertionError, match="timed out waiting for never"):
        poll(lambda: False, "never", timeout=50 * MS)

    async def no() -> bool:
        return False

    with pytest.raises(AssertionError, match="timed out waiting for nothing"):
        await until(no, "nothing", timeout=50 * MS)
