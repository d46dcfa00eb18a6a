"""Instructions per HTTP publish, end to end in `fanout serve`, for callgrind.

Starts `fanout serve` under ``valgrind --tool=callgrind`` with instrumentation
off, opens --connections websockets (real sockets, this process, not traced)
subscribed in rooms of --room (one channel when --room is 0), then counts what
the server executes for --publishes ``POST /api/publish`` requests rotating over
the rooms (the HTTP route, JSON, the broker's publish, the hub, the frame, the
connections' writes), minus an idle window of the same length (heartbeats,
timers). The subscribers do not read meanwhile: the frames wait in their
sockets' buffers, so what is counted is the server's side only. Kernel time
(the socket calls themselves) is not in callgrind's counts.

--inflight 1 sends each publish after the previous one was answered (one
delivery per connection per loop iteration); higher values keep that many
unanswered, as the saturation benchmark does (its 8 per connection).

Usage: python bench/callgrind_publish.py [--connections 1000] [--room 10] [--publishes 200]
       [--inflight 1] [--tree DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SERVER_CORE, free_port, pin_load, stop, taskset  # noqa: E402
from rooms_vs_bun import client_frame, http_request  # noqa: E402

UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g}s")


def subscribe(port: int, channel: str) -> socket.socket:
    """A websocket subscribed to ``channel`` (its subscribe reply read)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.sendall(UPGRADE + client_frame(orjson.dumps({"op": "subscribe", "channel": channel, "id": 1})))
    data = b""
    while b'"id":1' not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"closed while subscribing: {data!r}")
        data += chunk
    return sock


def publish(sock: socket.socket, requests: list[bytes], inflight: int) -> None:
    """Send ``requests`` keeping ``inflight`` unanswered; read every answer."""
    sent = answered = 0
    buffer = b""
    while answered < len(requests):
        if sent - answered < inflight and sent < len(requests):
            more = min(inflight - (sent - answered), len(requests) - sent)
            sock.sendall(b"".join(requests[sent:sent + more]))
            sent += more
        buffer += sock.recv(1 << 20)
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            head = buffer[:end].lower()
            at = head.index(b"content-length:") + 15
            length = int(head[at:head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else len(head)])
            if len(buffer) < end + 4 + length:
                break
            if not buffer.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"publish refused: {buffer[:end + 4 + length]!r}")
            buffer = buffer[end + 4 + length:]
            answered += 1


def total_instructions(path: Path) -> int:
    match = re.search(rb"^totals: (\d+)", path.read_bytes(), re.M)  # (summary: is 0 with --instr-atstart=no)
    assert match is not None, path
    return int(match.group(1))


def cpu_times(pid: int) -> tuple[float, float]:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / os.sysconf("SC_CLK_TCK"), int(fields[12]) / os.sysconf("SC_CLK_TCK")


def control(pid: int, *flags: str) -> None:
    subprocess.run(["callgrind_control", *flags, str(pid)], check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--room", type=int, default=10, help="connections per channel (0: all on one channel)")
    parser.add_argument("--publishes", type=int, default=200)
    parser.add_argument("--inflight", type=int, default=1)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the fanout checkout to run")
    parser.add_argument("--out", type=Path, help="keep the callgrind files here")
    parser.add_argument("--attach", help="no callgrind: run the server natively and this command with its pid "
                        "appended while it publishes, e.g. a sampling profiler (\"py-spy record -f raw -o F "
                        "--pid\"), stopped with SIGINT")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="callgrind-publish-"))
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    wrap = taskset(SERVER_CORE) if args.attach else ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                   f"--callgrind-out-file={out}/callgrind.out"]
    server = subprocess.Popen(
        [*wrap, sys.executable, "-m", "gateway.cli", "serve", "--http-port", str(port), "--resp-port", "-1",
         "--publish-rate", "1000000000", "--publish-burst", "1000000000", "--max-connections", "1000000",
         "--ping-interval", "3600", "--log-level", "warning", "--save", ""],  # (pings: not what is measured)
        cwd=args.tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 600)
        rooms = max(1, args.connections // args.room) if args.room else 1
        channels = [f"room-{i}" for i in range(rooms)]
        subscribers = [subscribe(port, channels[i % rooms]) for i in range(args.connections)]
        publisher = socket.create_connection(("127.0.0.1", port), timeout=120)

        def requests(count: int) -> list[bytes]:
            return [http_request(orjson.dumps({"channel": channels[i % rooms], "data": {
                "t": 1764800000.123456, "seq": i, "text": "hello from the benchmark"}})) for i in range(count)]

        publish(publisher, requests(2 * rooms), args.inflight)  # warm-up: every channel once, not counted
        time.sleep(2)
        if args.attach:
            pin_load()
            profiler = subprocess.Popen([*args.attach.split(), str(server.pid)])
            time.sleep(1)
            started, (user, system) = time.monotonic(), cpu_times(server.pid)
            publish(publisher, requests(args.publishes), args.inflight)
            time.sleep(0.5)  # the last deliveries' writes
            after = cpu_times(server.pid)
            print(f"{args.publishes / (time.monotonic() - started - 0.5):,.0f} publishes/s with {args.attach}; server "
                  f"CPU per publish: user {(after[0] - user) * 1e6 / args.publishes:.1f} us, system "
                  f"{(after[1] - system) * 1e6 / args.publishes:.1f} us", flush=True)
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
            return
        control(server.pid, "-z")
        control(server.pid, "-i", "on")
        started = time.monotonic()
        publish(publisher, requests(args.publishes), args.inflight)
        time.sleep(1)  # the last deliveries' writes
        window = time.monotonic() - started
        control(server.pid, "-i", "off")
        control(server.pid, "-d")
        control(server.pid, "-z")
        control(server.pid, "-i", "on")
        time.sleep(window)
        control(server.pid, "-i", "off")
        control(server.pid, "-d")
        dumps = sorted(out.glob("callgrind.out.*"), key=lambda path: int(path.name.rsplit(".", 1)[1]))
        busy, idle = total_instructions(dumps[-2]), total_instructions(dumps[-1])
        per = (busy - idle) / args.publishes
        receivers = args.connections // rooms
        print(f"connections {args.connections}, {receivers} per channel, {args.publishes} publishes, inflight "
              f"{args.inflight}: {per:,.0f} instructions per publish, {per / receivers:,.0f} per delivery "
              f"(busy {busy:,}, idle {idle:,}; window {window:.1f}s; profile {dumps[-2]})", flush=True)
        for sock in subscribers:
            sock.close()
        publisher.close()
    finally:
        stop(server, 60)


if __name__ == "__main__":
    main()
