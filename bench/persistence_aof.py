"""AOF cost: pipelined SET throughput with AOF off, everysec and always, ours vs redis-server
configured the same; and start-up time from an AOF, ours vs redis-server's.

Each server runs pinned to core 0, redis-benchmark to core 1; each configuration is
measured alternately --rounds times on both servers and the medians are printed, with
the ratio to redis-server and our ratio to our own AOF-off figure. Every server gets a
fresh temporary --dir (removed afterwards) and no snapshot schedule.

The load-time part writes --keys keys (SET with redis-benchmark -r), then for the
base as commands (aof-use-rdb-preamble no, after BGREWRITEAOF) and as RDB (yes),
restarts each server on its AOF directory and times start to the first PONG.

Usage: python bench/persistence_aof.py [--requests 200000] [--rounds 3] [--keys 200000]
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from common import LOAD_CORE, ROOT, SERVER_CORE, free_port, taskset, wait_port

MODES = [("off", []), ("everysec", ["--appendonly", "yes", "--appendfsync", "everysec"]),
         ("always", ["--appendonly", "yes", "--appendfsync", "always"])]


def start(kind: str, directory: str, flags: list[str], port: int | None = None) -> tuple[subprocess.Popen[bytes], int]:
    port = port or free_port()
    if kind == "ours":
        command = [sys.executable, "-m", "gateway.cli", "broker", "--port", str(port), "--log-level", "warning",
                   "--save", "", "--dir", directory, *flags]
    else:
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory,
                   "--appendonly", "no", *flags]
    process = subprocess.Popen(taskset(SERVER_CORE) + command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    return process, port


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def call(port: int, *argv: str) -> bytes:
    payload = b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in argv)
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
        sock.sendall(payload)
        return sock.recv(65536)


def set_rate(port: int, requests: int, keys: int = 100_000) -> float:
    command = taskset(LOAD_CORE) + ["redis-benchmark", "-p", str(port), "-n", str(requests), "-r", str(keys),
                                    "-c", "50", "-P", "16", "-t", "set", "--csv"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=600).stdout
    rows = [row for row in csv.reader(io.StringIO(output)) if row and row[0] != "test"]
    return float(rows[-1][1])


def throughput(requests: int, rounds: int) -> None:
    print(f"pipelined SET (-c 50 -P 16, {requests} requests), median of {rounds} rounds")
    print(f"{'appendfsync':<12}{'ours':>12}{'redis':>12}{'ratio':>8}{'vs our off':>12}")
    our_off = None
    for name, flags in MODES:
        rates: dict[str, list[float]] = {"ours": [], "redis": []}
        for _ in range(rounds):
            for kind in ("ours", "redis"):
                directory = tempfile.mkdtemp(prefix=f"aof-bench-{kind}-")
                process, port = start(kind, directory, flags)
                try:
                    wait_port(port)
                    rates[kind].append(set_rate(port, requests))
                finally:
                    stop(process)
                    shutil.rmtree(directory, ignore_errors=True)
        ours, redis = statistics.median(rates["ours"]), statistics.median(rates["redis"])
        our_off = our_off or ours
        print(f"{name:<12}{ours:>12,.0f}{redis:>12,.0f}{ours / redis:>8.2f}{ours / our_off:>12.2f}", flush=True)


def time_to_pong(kind: str, directory: str, flags: list[str]) -> float:
    started = time.monotonic()
    process, port = start(kind, directory, flags)
    try:
        while True:
            try:
                if call(port, "PING").startswith(b"+PONG"):
                    return time.monotonic() - started
            except OSError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"{kind} exited while loading")
            time.sleep(0.01)
    finally:
        stop(process)


def load_times(keys: int) -> None:
    print(f"\nstart-up from the AOF ({keys} keys written by SET, base rewritten with BGREWRITEAOF)")
    print(f"{'base':<14}{'ours s':>10}{'redis s':>10}{'ratio':>8}")
    for preamble in ("no", "yes"):
        flags = ["--appendonly", "yes"]
        times = {}
        for kind in ("ours", "redis"):
            directory = tempfile.mkdtemp(prefix=f"aof-load-{kind}-")
            try:
                process, port = start(kind, directory, flags)
                wait_port(port)
                call(port, "CONFIG", "SET", "aof-use-rdb-preamble", preamble)
                set_rate(port, keys, keys)
                # half of the dataset in the base, the rest (overwrites) in the incr file
                call(port, "BGREWRITEAOF")  # the fork happens before the reply
                while b"aof_rewrite_in_progress:0" not in call(port, "INFO", "persistence"):
                    time.sleep(0.05)
                set_rate(port, keys // 2, keys)
                stop(process)
                times[kind] = time_to_pong(kind, directory, flags)
            finally:
                shutil.rmtree(directory, ignore_errors=True)
        label = "commands" if preamble == "no" else "RDB preamble"
        print(f"{label:<14}{times['ours']:>10.2f}{times['redis']:>10.2f}{times['ours'] / times['redis']:>8.1f}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=200_000)
    args = parser.parse_args()
    throughput(args.requests, args.rounds)
    load_times(args.keys)


if __name__ == "__main__":
    main()
