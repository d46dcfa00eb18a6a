"""Instructions per delivery of websocket publishes, one process vs ``--workers N``, for callgrind.

Starts ``fanout serve`` (``--workers 1``: one process on its embedded broker) or
``fanout serve --workers N`` (the supervisor with the embedded broker, N gateway
workers on its unix socket) under ``valgrind --tool=callgrind --trace-children=yes``
with instrumentation off; opens --connections websockets subscribed to one
channel (real sockets, this process, not traced, not reading meanwhile) and one
publisher, which sends --batch websocket publishes in one write and waits for its
own copy of the last (the closed loop of ``scaleout.py``), --batches times. Then
it counts what every server process executes in that window, minus an idle window
of the same length (timers), and prints instructions per delivery for each
process and in all. Kernel time (the socket calls) is not in callgrind's counts;
the write and read system calls each process made (``/proc/PID/io``) are printed
per delivery too, since they are most of what a delivery costs.

Usage: python bench/callgrind_workers.py [--workers 2] [--connections 1000] [--batches 20] [--batch 20]
       [--tree DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from callgrind_publish import control, subscribe, wait_port  # noqa: E402
from common import ROOT, descendants, free_port, stop  # noqa: E402
from rooms_vs_bun import client_frame  # noqa: E402

CHANNEL = "bench"



def syscalls(pid: int) -> tuple[int, int]:
    """(read system calls, write system calls) so far."""
    with open(f"/proc/{pid}/io") as io:
        fields = dict(line.split(": ") for line in io.read().splitlines())
    return int(fields["syscr"]), int(fields["syscw"])


def totals(path: Path) -> int:
    match = re.search(rb"^totals: (\d+)", path.read_bytes(), re.M)
    assert match is not None, path
    return int(match.group(1))


def latest_dump(out: Path, pid: int) -> Path:
    dumps = sorted(out.glob(f"callgrind.out.{pid}.*"), key=lambda path: int(path.name.rsplit(".", 1)[1]))
    return dumps[-1]


def closed_loop(sock: socket.socket, batches: int, batch: int, start: int) -> int:
    """``batches`` rounds of ``batch`` publishes; the next sequence number."""
    seq = start
    buffer = b""
    for _ in range(batches):
        last = seq + batch - 1
        frames = []
        for _ in range(batch):
            data = {"t": 1764800000.123456, "p": 0, "seq": seq, "text": "hello from the benchmark"}
            frames.append(client_frame(orjson.dumps({"op": "publish", "channel": CHANNEL, "data": data})))
            seq += 1
        sock.sendall(b"".join(frames))
        mark = b'"seq":%d,' % last
        while mark not in buffer:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("publisher closed")
            buffer = buffer[-64:] + chunk
        buffer = b""
    return seq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="1: one process, no supervisor")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch", type=int, default=20, help="publishes per write of the publisher")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the fanout checkout to run")
    parser.add_argument("--out", type=Path, help="keep the callgrind files here")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="callgrind-workers-"))
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    workers = ["--workers", str(args.workers)] if args.workers > 1 else []
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--trace-children=yes",
         f"--callgrind-out-file={out}/callgrind.out.%p", sys.executable, "-m", "gateway.cli", "serve",
         "--http-port", str(port), "--resp-port", "-1", "--publish-rate", "1000000000", "--publish-burst",
         "1000000000", "--max-connections", "1000000", "--ping-interval", "3600", "--log-level", "warning",
         "--save", "", *workers], cwd=args.tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 900)
        time.sleep(5 if workers else 0)  # (every worker listening: the port answers at the first)
        subscribers = [subscribe(port, CHANNEL) for _ in range(args.connections)]
        publisher = subscribe(port, CHANNEL)
        seq = closed_loop(publisher, 3, args.batch, 0)  # warm-up, not counted
        time.sleep(2)
        pids = [pid for pid in descendants(server.pid)
                if Path(f"/proc/{pid}/cmdline").read_bytes().find(b"gateway.cli") >= 0]
        for pid in pids:
            control(pid, "-z")
        calls_before = {pid: syscalls(pid) for pid in pids}
        for pid in pids:
            control(pid, "-i", "on")
        started = time.monotonic()
        closed_loop(publisher, args.batches, args.batch, seq)
        time.sleep(1)  # the last deliveries' writes
        window = time.monotonic() - started
        for pid in pids:
            control(pid, "-i", "off")
        calls = {pid: tuple(b - a for a, b in zip(calls_before[pid], syscalls(pid))) for pid in pids}
        for pid in pids:
            control(pid, "-d")
        busy = {pid: totals(latest_dump(out, pid)) for pid in pids}
        for pid in pids:
            control(pid, "-z")
            control(pid, "-i", "on")
        time.sleep(window)
        for pid in pids:
            control(pid, "-i", "off")
            control(pid, "-d")
        idle = {pid: totals(latest_dump(out, pid)) for pid in pids}
        deliveries = args.batches * args.batch * (args.connections + 1)
        print(f"--workers {args.workers}, {args.connections + 1} connections on one channel, "
              f"{args.batches} batches of {args.batch} websocket publishes: {deliveries:,} deliveries, "
              f"window {window:.1f}s, files in {out}")
        total = 0
        for pid in pids:
            counted = busy[pid] - idle[pid]
            total += counted
            role = "supervisor + broker" if pid == server.pid and workers else "worker" if workers else "process"
            print(f"  pid {pid} ({role}): {counted / deliveries:,.0f} instructions per delivery "
                  f"(busy {busy[pid]:,}, idle {idle[pid]:,}); per 1,000 deliveries {calls[pid][0] * 1e3 / deliveries:.1f} "
                  f"reads, {calls[pid][1] * 1e3 / deliveries:.1f} writes")
        reads = sum(c[0] for c in calls.values())
        writes = sum(c[1] for c in calls.values())
        print(f"  all: {total / deliveries:,.0f} instructions per delivery, {total / (args.batches * args.batch):,.0f} "
              f"per publish; per 1,000 deliveries {reads * 1e3 / deliveries:.1f} reads, "
              f"{writes * 1e3 / deliveries:.1f} writes", flush=True)
        for sock in subscribers:
            sock.close()
        publisher.close()
    finally:
        stop(server, 120)


if __name__ == "__main__":
    main()
