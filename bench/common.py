"""Helpers shared by the broker benchmarks: free ports, pinned servers, process stats."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

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


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process ``pid`` so far (from /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (from /proc)."""
    return sum(cpu_times(pid))


def rss_kb(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


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


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (the workers of ``--workers``)."""
    found = [pid]
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as children:
                for child in children.read().split():
                    found += descendants(int(child))
        except FileNotFoundError:
            pass
    return found


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


# One row of an ours-vs-redis-server table: (command, mode, ours ops/s, redis ops/s,
# ours CPU µs/request, redis CPU µs/request), medians over alternating rounds.
Row = tuple[str, str, float, float, float, float]


def alternate_rounds(name: str, mode: str, rounds: int, servers: list[tuple[str, int, int]],
                     measure: Callable[[int, int], tuple[float, float]]) -> Row:
    """``measure(port, pid)`` -> (ops/s, CPU µs per request) for each server in turn,
    ``rounds`` times (ours and redis-server alternate, so drift hits both), printed
    as a line with the ratios and returned as medians. ``servers`` is
    [("ours", port, pid), ("redis", port, pid)]."""
    import statistics

    rate: dict[str, list[float]] = {"ours": [], "redis": []}
    cpu: dict[str, list[float]] = {"ours": [], "redis": []}
    for _ in range(rounds):
        for who, port, pid in servers:
            ops, us = measure(port, pid)
            rate[who].append(ops)
            cpu[who].append(us)
    a, b = statistics.median(rate["ours"]), statistics.median(rate["redis"])
    ca, cb = statistics.median(cpu["ours"]), statistics.median(cpu["redis"])
    print(f"  {name:<20} {mode:<18} fanout {a:>12,.0f}/s  redis-server {b:>12,.0f}/s  "
          f"ratio {a / b:.2f}  cpu/request {ca:.2f} vs {cb:.2f} us  cpu ratio {cb / ca:.2f}", flush=True)
    return name, mode, a, b, ca, cb


def print_ratio_table(results: list[Row]) -> None:
    """The rows of ``alternate_rounds`` as the Markdown table bench/README quotes."""
    print()
    print("| command | mode | fanout broker ops/s | redis-server ops/s | ratio | cpu µs/request fanout / redis | cpu ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, mode, a, b, ca, cb in results:
        print(f"| {name} | {mode} | {a:,.0f} | {b:,.0f} | {a / b:.2f} | {ca:.2f} / {cb:.2f} | {cb / ca:.2f} |")
