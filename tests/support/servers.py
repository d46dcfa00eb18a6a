"""Real servers for tests: redis-server and fanout processes on free loopback ports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO

__all__ = ["free_port", "ServerProcess", "start_redis_server", "start_fanout", "MS", "poll", "until",
           "wait_redis_ready"]

# One timing unit for waits in tests, scaled on slow machines (FANOUT_TEST_TIME_SCALE=3).
MS = 0.001 * float(os.environ.get("FANOUT_TEST_TIME_SCALE", "1"))


# Ports are handed out below Linux's ephemeral range (32768-60999), so a client
# socket's local port never takes one between free_port() and the server's bind, and
# each pytest-xdist worker ("gw0", "gw1", ...) counts through a slice of its own, so
# two workers never pick the same port.
_PORT_SLICE = 2000
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_PORT_FIRST = 12000 + (_WORKER % 10) * _PORT_SLICE
_next_port = _PORT_FIRST + (os.getpid() % _PORT_SLICE)


def free_port() -> int:
    """A loopback port nothing listens on, from this worker's slice; none is given out
    twice until the slice wraps (2,000 ports: a whole run uses far fewer)."""
    global _next_port
    for _ in range(_PORT_SLICE):
        port = _next_port
        _next_port = _PORT_FIRST + (port + 1 - _PORT_FIRST) % _PORT_SLICE
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (or in TIME_WAIT): the next one
        return port
    raise RuntimeError(f"no free loopback port in {_PORT_FIRST}-{_PORT_FIRST + _PORT_SLICE - 1}")


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[str]
    port: int
    extra_ports: dict[str, int] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    # Notified on each line ``capture`` reads and at the end of the output.
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _reader: threading.Thread | None = field(default=None, repr=False)
    _ended: bool = field(default=False, repr=False)

    def capture(self) -> "ServerProcess":
        """Keep reading the process's output into ``output`` (so a chatty server never
        blocks on a full pipe, and a test can wait for a line of its log); returns self.
        Calling it again is harmless."""
        if self._reader is not None:
            return self
        stream = self.process.stdout
        assert stream is not None

        def read() -> None:
            for line in stream:
                with self._changed:
                    self.output.append(line)
                    self._changed.notify_all()
            with self._changed:
                self._ended = True
                self._changed.notify_all()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        return self

    def log(self) -> str:
        """What the process printed so far (after ``capture``)."""
        with self._changed:
            return "".join(self.output)

    def wait_for_output(self, text: str | re.Pattern[str], count: int = 1, since: int = 0,
                        timeout: float = 30.0) -> list[str]:
        """Block until ``count`` lines from ``output[since:]`` contain ``text`` (a regex:
        searched), and return them: the event itself, read from the process's output
        (``capture`` first). Fails at once if the output ends first (the process exited)."""
        assert self._reader is not None, "capture() the output first"
        found: list[str] = []
        scanned = since
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.output[scanned:]:
                    if (text.search(line) if isinstance(text, re.Pattern) else text in line):
                        found.append(line)
                scanned = max(scanned, len(self.output))
                remaining = deadline - time.monotonic()
                if len(found) >= count or self._ended or remaining <= 0:
                    break
                self._changed.wait(remaining)
            if len(found) < count:
                tail = "".join(self.output[-20:])
                why = "its output ended first" if self._ended else f"within {timeout}s"
                raise AssertionError(f"{self.name} did not print {count} x {text!r} ({why}); last lines:\n{tail}")
            return found

    async def logged(self, text: str | re.Pattern[str], count: int = 1, since: int = 0,
                     timeout: float = 30.0) -> list[str]:
        """``wait_for_output`` from a coroutine (in a thread: the loop keeps running)."""
        return await asyncio.to_thread(self.wait_for_output, text, count, since, timeout)

    def stop(self, sig: int | None = None) -> int:
        if self.process.poll() is None:
            if sig is None:
                self.process.terminate()
            else:
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._reader is not None:
            # the last lines: read to the end (a BGSAVE child still holding the pipe
            # may keep it open, so bounded)
            self._reader.join(5)
        return self.process.returncode


def poll(condition: Callable[[], bool], what: str, timeout: float = 20.0, interval: float = 2 * MS) -> None:
    """Ask a server (``condition`` is a question to it) until the answer is yes.

    For states only the server sees and announces nowhere (an INFO field, a client
    blocked); where the server prints the event or a reply carries it, wait for that
    instead. Each question is a round trip, so the pause between them is short: it
    only keeps a loop of them from taking a core the server needs."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20.0,
                interval: float = 5 * MS) -> None:
    """``poll`` from a coroutine: ``check`` asks the server over HTTP or RESP (a
    metric, a stats endpoint) where it announces the state nowhere else."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


# redis-server says so once it listens and has loaded its data (at loglevel notice).
REDIS_READY = "Ready to accept connections"


def wait_redis_ready(server: ServerProcess, timeout: float = 20.0) -> ServerProcess:
    """Until redis-server prints that it is ready (its output captured from then on);
    raises if it exits first. Returns ``server``."""
    try:
        server.capture().wait_for_output(REDIS_READY, timeout=timeout)
    except AssertionError as exc:
        server.stop()
        raise RuntimeError(f"redis-server on {server.port} did not start: {exc}") from None
    return server


_PRIVATE_DIR: list[str] = []


def _private_dir() -> str:
    if not _PRIVATE_DIR:
        _PRIVATE_DIR.append(tempfile.mkdtemp(prefix="redis-tests-"))
    return _PRIVATE_DIR[0]


def start_redis_server(*extra: str, port: int | None = None) -> ServerProcess:
    """A real redis-server on a free loopback port (or ``port``, to restart one), no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: the test command installs it (scripts/test)")
    port = port or free_port()
    # A private --dir (a flag in ``extra`` comes later and wins): a redis-server
    # loads any dump.rdb in its directory at start, so one left in the worktree
    # would seed every test's server.
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no", "--loglevel", "notice", "--dir", _private_dir(), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return wait_redis_ready(ServerProcess("redis-server", process, port))


def _read_until(stream: IO[str], pattern: str, process: subprocess.Popen[str], name: str,
                timeout: float = 20.0) -> tuple[re.Match[str], list[str]]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:  # the end of the output: the process is exiting
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
            raise RuntimeError(f"{name} exited with {process.returncode}: {''.join(lines)}")
        lines.append(line)
        match = regex.search(line)
        if match:
            return match, lines
    raise RuntimeError(f"{name} did not print {pattern!r} within {timeout}s: {''.join(lines)}")


def start_fanout(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
    """``fanout broker`` or ``fanout serve`` as a subprocess on free ports.

    Pass the subcommand and its flags, e.g. ``start_fanout("broker", "--port", str(p))``.
    Returns once the process has printed that it listens.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})})
    assert process.stdout is not None
    port_flag = "--port" if args[0] == "broker" else "--http-port"
    port = int(args[list(args).index(port_flag) + 1]) if port_flag in args else 0
    pattern = r"RESP on 127\.0\.0\.1:(\d+)" if args[0] == "broker" else r"HTTP on .*:(\d+)"
    if "--workers" in args and args[list(args).index("--workers") + 1] != "1":
        pattern = r"HTTP on .*:(\d+) \(\d+ workers\)"  # every worker listens
    match, lines = _read_until(process.stdout, pattern, process, "fanout")
    return ServerProcess("fanout", process, port or int(match.group(1)), output=lines)
