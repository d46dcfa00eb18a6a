"""Helpers shared by the broker benchmarks: free ports, pinned servers, process stats."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE, LOAD_CORE = "0", "1"

__all__ = [
    "ROOT",
    "free_port",
    "pin_load",
    "start_ours",
    "start_redis",
    "start_serve",
    "stop",
    "taskset",
    "wait_port",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def taskset(core: str) -> list[str]:
    return ["taskset", "-c", core] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def start_ours(*flags: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(taskset(SERVER_CORE) + [sys.executable, "-m", "gateway.cli", "broker", "--port",
                                                      str(port), "--log-level", "warning", "--save", "", *flags],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return process, port


def start_serve(*flags: str) -> tuple[subprocess.Popen[bytes], int]:
    """``fanout serve`` on the server core (no RESP port), with extra ``flags``."""
    port = free_port()
    process = subprocess.Popen(taskset(SERVER_CORE) + [
        sys.executable, "-m", "gateway.cli", "serve", "--http-port", str(port), "--resp-port", "-1",
        "--log-level", "warning", "--save", "", *flags], cwd=ROOT, stdout=subprocess.DEVNULL)
    wait_port(port)
    return process, port


def pin_load() -> None:
    """Run the load generator (this process) on the load core."""
    if taskset(LOAD_CORE):
        os.sched_setaffinity(0, {int(LOAD_CORE)})


def start_redis(*flags: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(taskset(SERVER_CORE) + ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                                      "--save", "", "--appendonly", "no", *flags],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return process, port


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


class LoadGen:
    """A ``bench/loadgen.py`` process (picows connections) driven line by line over stdin/stdout."""

    def __init__(self, url: str, count: int, mode: str = "fanout", pin: bool = True, rooms: int = 0,
                 offset: int = 0) -> None:
        self.process = subprocess.Popen(
            (taskset(LOAD_CORE) if pin else []) + [sys.executable, str(ROOT / "bench" / "loadgen.py"), url,
                                                   str(count), mode, str(rooms), str(offset)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"load generator failed: {line!r}")

    def command(self, line: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline()

    def quit(self) -> None:
        try:
            self.command("quit")
        except (BrokenPipeError, OSError):
            pass
        self.process.wait(timeout=30)
