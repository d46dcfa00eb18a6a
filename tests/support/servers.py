"""Real servers for tests: redis-server and fanout processes on free loopback ports."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO

__all__ = ["free_port", "ServerProcess", "start_redis_server", "start_fanout", "MS"]

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

    def capture(self) -> "ServerProcess":
        """Keep reading the process's output into ``output`` (so a chatty server never
        blocks on a full pipe, and a test can check its log); returns self."""
        stream = self.process.stdout
        assert stream is not None

        def read() -> None:
            for line in stream:
                self.output.append(line)

        threading.Thread(target=read, daemon=True).start()
        return self

    def log(self) -> str:
        """What the process printed so far (after ``capture``)."""
        return "".join(self.output)

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
        return self.process.returncode


def _wait_port(port: int, process: subprocess.Popen[str], name: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"{name} exited with {process.returncode} before listening on {port}: {out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {timeout}s")


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
         "--daemonize", "no", "--loglevel", "warning", "--dir", _private_dir(), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_port(port, process, "redis-server")
    return ServerProcess("redis-server", process, port)


def _read_until(stream: IO[str], pattern: str, process: subprocess.Popen[str], name: str,
                timeout: float = 20.0) -> tuple[re.Match[str], list[str]]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: {''.join(lines)}")
            continue
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
