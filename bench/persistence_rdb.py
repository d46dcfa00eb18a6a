"""RDB snapshots side by side with redis-server: BGSAVE of N keys (time, and PING
latency p50/p99/max on another connection while it runs), the file's size, and
the start-up load of the same file.

    python bench/persistence_rdb.py [--keys 1000000]

Both servers get the same dataset (N string keys ``key:<i>`` -> 16-byte values,
loaded with pipelined MSETs), ``--save ""`` and a private directory. Load time is
measured from the process start to the first PING answered with PONG (not
-LOADING), which includes starting the interpreter for fanout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import ROOT, SERVER_CORE, free_port, stop, taskset, wait_port  # noqa: E402


def _command(*args: bytes | str) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Conn:
    """A blocking RESP connection that reads simple replies (enough for this bench)."""

    def __init__(self, port: int) -> None:
        import hiredis
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def call(self, *args: bytes | str) -> object:
        self.sock.sendall(_command(*args))
        return self.read()

    def read(self) -> object:
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            self.reader.feed(self.sock.recv(1 << 16))

    def close(self) -> None:
        self.sock.close()


def start(kind: str, directory: str) -> tuple[subprocess.Popen[bytes], int, float]:
    port = free_port()
    if kind == "redis":
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", directory]
    else:
        argv = [sys.executable, "-m", "gateway.cli", "broker", "--port", str(port), "--save", "", "--dir",
                directory, "--log-level", "warning"]
    began = time.monotonic()
    process = subprocess.Popen(taskset(SERVER_CORE) + argv, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_port(port, timeout=120)
    conn = Conn(port)
    while True:
        reply = conn.call("PING")
        if reply == b"PONG":
            break
        time.sleep(0.005)
    conn.close()
    return process, port, time.monotonic() - began


def fill(port: int, keys: int) -> None:
    conn = Conn(port)
    batch = 1000
    pending = 0
    for start_key in range(0, keys, batch):
        args: list[bytes | str] = ["MSET"]
        for i in range(start_key, min(keys, start_key + batch)):
            args += [b"key:%d" % i, b"value-%010d" % i]
        conn.sock.sendall(_command(*args))
        pending += 1
        if pending >= 50:
            for _ in range(pending):
                conn.read()
            pending = 0
    for _ in range(pending):
        conn.read()
    assert conn.call("DBSIZE") == keys
    conn.close()


def bgsave(port: int) -> tuple[float, list[float]]:
    """BGSAVE's duration (until INFO says done) and the PING latencies meanwhile (ms)."""
    latencies: list[float] = []
    done = threading.Event()

    def pinger() -> None:
        conn = Conn(port)
        while not done.is_set():
            began = time.perf_counter()
            conn.call("PING")
            latencies.append((time.perf_counter() - began) * 1000)
            time.sleep(0.001)
        conn.close()

    conn = Conn(port)
    thread = threading.Thread(target=pinger)
    thread.start()
    time.sleep(0.2)
    baseline = len(latencies)
    began = time.monotonic()
    assert conn.call("BGSAVE") == b"Background saving started"
    while b"rdb_bgsave_in_progress:1" in conn.call("INFO", "persistence"):  # type: ignore[operator]
        time.sleep(0.01)
    elapsed = time.monotonic() - began
    done.set()
    thread.join()
    info = conn.call("INFO", "persistence")
    assert b"rdb_last_bgsave_status:ok" in info, info  # type: ignore[operator]
    conn.close()
    return elapsed, latencies[baseline:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    args = parser.parse_args()
    rows = {}
    for kind in ("redis", "fanout"):
        directory = tempfile.mkdtemp(prefix=f"bench-rdb-{kind}-")
        try:
            process, port, _ = start(kind, directory)
            fill(port, args.keys)
            seconds, latencies = bgsave(port)
            stop(process)
            size = os.path.getsize(os.path.join(directory, "dump.rdb"))
            process, port, load = start(kind, directory)
            conn = Conn(port)
            assert conn.call("DBSIZE") == args.keys
            conn.close()
            stop(process)
            latencies.sort()
            rows[kind] = {
                "bgsave_s": seconds, "ping_p50_ms": statistics.median(latencies),
                "ping_p99_ms": latencies[int(len(latencies) * 0.99) - 1], "ping_max_ms": latencies[-1],
                "pings": len(latencies), "file_mb": size / 1e6, "load_s": load,
            }
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    print(f"RDB snapshots of {args.keys:,} keys (fanout / redis-server)")
    print(f"{'':16}{'redis-server':>14}{'fanout':>14}{'ratio':>10}")
    for name in ("bgsave_s", "ping_p50_ms", "ping_p99_ms", "ping_max_ms", "pings", "file_mb", "load_s"):
        theirs, ours = rows["redis"][name], rows["fanout"][name]
        ratio = ours / theirs if theirs else float("inf")
        print(f"{name:16}{theirs:>14.3f}{ours:>14.3f}{ratio:>9.2f}x")


if __name__ == "__main__":
    main()
