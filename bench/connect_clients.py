"""Connect-storm client processes (bench/peers/connect_client.js under Bun or node) on the load core.

The Python client of bench/connect_storm.py tops out near 2,000 connects/s on one core,
below what the servers take; raw sockets under Bun's event loop (or node's) open the
same websockets (upgrade, one subscribe frame, its reply) several times faster, so the
server is what bounds the rate. Each process is driven over stdin/stdout: "ready", "go"
(storm), a JSON result, "close", "closed".
"""

from __future__ import annotations

import os
import subprocess
import time

import orjson

from common import LOAD_CORE, ROOT, taskset

__all__ = ["StormClients", "bun_runtime"]

SCRIPT = ROOT / "bench" / "peers" / "connect_client.js"


class StormClients:
    """``processes`` clients sharing ``count`` connects and ``inflight`` connects in flight."""

    def __init__(self, runtime: str, port: int, count: int, inflight: int, rooms: int, processes: int = 1,
                 first: int = 0) -> None:
        self.count = count
        self.storm_cpu = 0.0  # the clients' CPU seconds in the last storm
        self.processes: list[subprocess.Popen[bytes]] = []
        for number in range(processes):
            share = count // processes + (1 if number < count % processes else 0)
            offset = first + number * (count // processes) + min(number, count % processes)
            command = [runtime, str(SCRIPT), str(port), str(share), str(max(1, inflight // processes)),
                       str(rooms), str(offset)]
            self.processes.append(subprocess.Popen(taskset(LOAD_CORE) + command, stdin=subprocess.PIPE,
                                                   stdout=subprocess.PIPE))
        for process in self.processes:
            self._expect(process, b"ready")

    @staticmethod
    def _expect(process: subprocess.Popen[bytes], word: bytes) -> bytes:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith(word[:1]) or (word != b"{" and line != word):
            raise RuntimeError(f"connect client said {line!r}, exit {process.poll()}")
        return line

    def _send(self, word: bytes) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(word + b"\n")
            process.stdin.flush()

    def storm(self) -> float:
        """Every client's connects, in seconds from "go" to the last subscribe reply."""
        cpu = self.cpu_seconds()
        started = time.monotonic()
        self._send(b"go")
        results = [orjson.loads(self._expect(process, b"{")) for process in self.processes]
        elapsed = time.monotonic() - started
        self.storm_cpu = self.cpu_seconds() - cpu
        connects = sum(int(result["connects"]) for result in results)
        if connects != self.count:
            raise RuntimeError(f"{connects} of {self.count} connects done")
        return elapsed

    def cpu_seconds(self) -> float:
        """The clients' CPU seconds so far (user + system, from /proc)."""
        total = 0
        for process in self.processes:
            with open(f"/proc/{process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        """Close every socket and wait for the clients to exit."""
        self._send(b"close")
        for process in self.processes:
            self._expect(process, b"closed")
            process.wait(timeout=30)

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def bun_runtime() -> str:
    """The bun binary of rooms_vs_bun's npm cache (installed there the first time)."""
    from rooms_vs_bun import peer_tools
    return peer_tools()["bun"][0]


