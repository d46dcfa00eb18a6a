"""Connect + subscribe storms against `fanout serve` and Bun: connects/s, server CPU per connect, memory per connection.

Clients (--client): ``bun`` (default; bench/peers/connect_client.js under the npm ``bun``
binary that bench/rooms_vs_bun.py installs into its cache: raw sockets, fast enough that
the server is what bounds the rate), ``node`` (the same script under node) or ``python``
(the bounded uvloop loop below, ~2,000 connects/s: the client bounds that figure, for
every server alike). --clients P splits the storm over P client processes, all on the
load core. Each connection sends the upgrade, then a subscribe once the 101 is in, and
the connect is done at the subscribe reply, --concurrency connects in flight (over all
clients); the connections stay open (idle, subscribed) until all are done, then close.
Per round and server:
- connects/s (wall clock: on a shared machine the server gets a share of its core, so
  read it with the server's CPU %: near 100 % the server bounds it);
- server CPU µs per connect + subscribe, and per close (from /proc), and connects per
  server CPU-second (1e6 / µs: the rate of a server with its core to itself);
- the clients' CPU µs per connect and CPU % (below the server's µs: they are not the bound);
- how busy each core was (/proc/stat: every task, and the softirq work of loopback TCP
  that neither process's CPU time includes): a server core near 100 % is the bound;
- bytes per idle subscribed connection (RSS delta / N).
Rooms as in bench/rooms_vs_bun.py (connection i in ``room-<i % rooms>``). ``--base DIR``
runs another checkout beside this one, ``--peers bun`` Bun's server
(bench/peers/bun_rooms.js, which answers the subscribe frame as fanout does), alternating
round by round; medians and ratios at the end. Servers on core 0, clients on core 1.

``--callgrind``: one server under ``valgrind --tool=callgrind`` with instrumentation
off until --warmup connects are made, then instruction counts of --connections connects
+ subscribes alone (and of their closes, in a second file): per connect, stable under load.

Usage: python bench/connect_storm.py [--connections 5000] [--rounds 3] [--peers bun] [--client bun|node|python]
       [--clients 1] [--base DIR] [--callgrind]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LOAD_CORE, ROOT, SERVER_CORE, cpu_seconds, free_port, rss_kb, stop, taskset, wait_port  # noqa: E402
from connect_clients import StormClients, bun_runtime  # noqa: E402

PEERS = ("bun", "node")
SERVE_FLAGS = ["--resp-port", "-1", "--max-connections", "1000000", "--log-level", "warning", "--save", ""]


def core_times() -> dict[str, tuple[int, int]]:
    """Per core: (busy, total) jiffies from /proc/stat; busy counts every process and
    the kernel's softirq work (loopback TCP), which no process's own CPU time shows."""
    cores = {}
    with open("/proc/stat") as stat:
        for line in stat:
            if line.startswith("cpu") and line[3].isdigit():
                name, *fields = line.split()
                values = [int(field) for field in fields[:8]]
                cores[name[3:]] = (sum(values) - values[3] - values[4], sum(values))
    return cores


def busy_percent(before: dict[str, tuple[int, int]], core: str) -> float:
    after = core_times()
    if core not in before or core not in after:
        return float("nan")
    busy, total = (a - b for a, b in zip(after[core], before[core]))
    return busy * 100 / total if total else float("nan")


def client_frame(payload: bytes) -> bytes:
    """A masked text frame (clients must mask, RFC 6455 5.3); the zero mask keeps it cheap."""
    assert len(payload) < 126
    return b"\x81" + bytes((0x80 | len(payload),)) + b"\x00\x00\x00\x00" + payload


def upgrade_request(port: int, index: int) -> bytes:
    key = base64.b64encode(index.to_bytes(16, "big"))
    return (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (port, key))


class Client(asyncio.Protocol):
    """One connection: upgrade, subscribe once the 101 is in, done at the subscribe reply."""

    def __init__(self, request: bytes, subscribe: bytes, done: asyncio.Future[None]) -> None:
        self.request, self.subscribe, self.done = request, subscribe, done
        self.buffer = b""
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.done.done():
            if data[:1] == b"\x89":  # a ping: answer it (masked pong, empty)
                self.transport.write(b"\x8a\x80\x00\x00\x00\x00")
            return
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.done.set_exception(RuntimeError(self.buffer[:200].decode("latin-1")))
                return
            self.upgraded = True
            self.buffer = self.buffer[end + 4:]
            self.transport.write(self.subscribe)
        if len(self.buffer) >= 2 and self.buffer[0] == 0x81:
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError("closed before the subscribe reply"))


async def storm(port: int, count: int, concurrency: int, rooms: int, first: int = 0) -> list[asyncio.Transport]:
    """Open ``count`` subscribed connections, ``concurrency`` connects in flight at a time."""
    loop = asyncio.get_running_loop()
    transports: list[asyncio.Transport] = []
    slots = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with slots:
            done: asyncio.Future[None] = loop.create_future()
            channel = f"room-{index % rooms}" if rooms else "bench"
            subscribe = client_frame(orjson.dumps({"op": "subscribe", "channel": channel, "id": 1}))
            transport, _ = await loop.create_connection(
                lambda: Client(upgrade_request(port, index), subscribe, done), "127.0.0.1", port)
            await done
            transports.append(transport)

    await asyncio.gather(*(one(first + index) for index in range(count)))
    return transports


async def close_all(transports: list[asyncio.Transport]) -> None:
    for transport in transports:
        transport.close()
    await asyncio.sleep(0)


def wait_idle(pid: int, seconds: float = 0.3, timeout: float = 30.0) -> None:
    """Until the server's CPU stops moving (its closes handled)."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(seconds)
        now = cpu_seconds(pid)
        if now - last < 0.02:
            return
        last = now


def start(tree: Path, prefix: list[str], *flags: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(taskset(SERVER_CORE) + prefix + [sys.executable, "-m", "gateway.cli", "serve",
                               "--http-port", str(port), *SERVE_FLAGS, *flags], cwd=tree, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_port(port, 120)
    return process, port


def start_peer(kind: str) -> tuple[subprocess.Popen[bytes], int]:
    """A peer server of bench/rooms_vs_bun.py (bun, node) on the server core."""
    import rooms_vs_bun
    process, port, _ = rooms_vs_bun.start(kind, rooms_vs_bun.peer_tools())
    return process, port


def round_one(name: str, tree: Path, args: argparse.Namespace) -> dict[str, float]:
    process, port = start_peer(name) if name in PEERS else start(tree, [])
    clients: StormClients | None = None
    client_cpu = float("nan")  # (not measured for the in-process python client)
    server_core = load_core = float("nan")
    try:
        asyncio.run(storm(port, 50, 10, args.rooms, first=10**6))  # warm-up (imports, first-use caches)
        wait_idle(process.pid)
        n = args.connections
        if args.client != "python":
            runtime = bun_runtime() if args.client == "bun" else "node"
            clients = StormClients(runtime, port, n, args.concurrency, args.rooms, args.clients)
            base, cpu, cores = rss_kb(process.pid), cpu_seconds(process.pid), core_times()
            elapsed = clients.storm()
            server_core, load_core = busy_percent(cores, SERVER_CORE), busy_percent(cores, LOAD_CORE)
            connect_cpu = cpu_seconds(process.pid) - cpu
            memory = (rss_kb(process.pid) - base) * 1024
            before_close = cpu_seconds(process.pid)
            client_cpu = clients.storm_cpu
            clients.close()
        else:
            base, cpu, cores = rss_kb(process.pid), cpu_seconds(process.pid), core_times()
            started = time.monotonic()

            async def run() -> tuple[float, float, float, float]:
                nonlocal server_core, load_core
                transports = await storm(port, n, args.concurrency, args.rooms)
                elapsed = time.monotonic() - started
                server_core, load_core = busy_percent(cores, SERVER_CORE), busy_percent(cores, LOAD_CORE)
                connect_cpu = cpu_seconds(process.pid) - cpu
                memory = (rss_kb(process.pid) - base) * 1024
                before_close = cpu_seconds(process.pid)
                await close_all(transports)
                return elapsed, connect_cpu, memory, before_close

            elapsed, connect_cpu, memory, before_close = asyncio.run(run())
        wait_idle(process.pid)
        close_cpu = cpu_seconds(process.pid) - before_close
        return {"connects/s": n / elapsed, "server CPU us per connect+subscribe": connect_cpu * 1e6 / n,
                "connects per server CPU-second": n / connect_cpu if connect_cpu else float("nan"),
                "server CPU % while connecting": connect_cpu * 100 / elapsed,
                "client CPU us per connect": client_cpu * 1e6 / n,
                "client CPU % while connecting": client_cpu * 100 / elapsed,
                "server core busy % (all tasks, softirq)": server_core, "load core busy %": load_core,
                "server CPU us per close": close_cpu * 1e6 / n, "bytes per idle connection": memory / n}
    finally:
        if clients is not None:
            clients.kill()
        stop(process)


def callgrind(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prefix = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/callgrind.%p"]
    # No heartbeats while counting: under valgrind the storm takes minutes, and the
    # pings of the connections already open would be counted, more the slower it runs.
    process, port = start(ROOT, prefix, "--ping-interval", "86400")
    control = ["callgrind_control"]
    try:
        asyncio.run(storm(port, args.warmup, 10, args.rooms, first=10**6))
        subprocess.run(control + ["-i", "on", str(process.pid)], check=True, stdout=subprocess.DEVNULL)

        async def run() -> list[asyncio.Transport]:
            return await storm(port, args.connections, args.concurrency, args.rooms)

        loop = asyncio.new_event_loop()
        transports = loop.run_until_complete(run())
        subprocess.run(control + ["-d", "connects", str(process.pid)], check=True, stdout=subprocess.DEVNULL)
        loop.run_until_complete(close_all(transports))
        wait_idle(process.pid, 1.0, 300)
        subprocess.run(control + ["-d", "closes", str(process.pid)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(control + ["-i", "off", str(process.pid)], check=True, stdout=subprocess.DEVNULL)
        loop.close()
    finally:
        stop(process)
    for path in sorted(out.glob(f"callgrind.{process.pid}*")):
        text = path.read_text(errors="replace")
        trigger = next((line for line in text.splitlines() if line.startswith("desc: Trigger")), "")
        totals = next((line for line in text.splitlines() if line.startswith(("summary:", "totals:"))), "")
        if "connects" in trigger or "closes" in trigger:
            total = int(totals.split()[1])
            print(f"{path}: {trigger.split(':', 2)[-1].strip()}: {total / args.connections:,.0f} instructions each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--concurrency", type=int,
                        help="connects in flight, over all clients (500; 50 for --client python and --callgrind: "
                             "on loaded cores fewer leave client and server waiting for each other's turn)")
    parser.add_argument("--client", choices=("bun", "node", "python"), default="bun")
    parser.add_argument("--clients", type=int, default=1, help="client processes (bun, node)")
    parser.add_argument("--peers", nargs="*", choices=PEERS, default=[], help="peer servers run beside fanout")
    parser.add_argument("--rooms", type=int, default=0, help="0: every connection on one channel")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", type=Path, help="another checkout, run beside this one round by round")
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--warmup", type=int, default=100, help="--callgrind: connects before counting")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "connect-callgrind"),
                        help="--callgrind: output directory")
    args = parser.parse_args()
    if args.concurrency is None:
        args.concurrency = 50 if args.client == "python" or args.callgrind else 500
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {int(LOAD_CORE)})
    if args.callgrind:
        callgrind(args)
        return
    trees = [("this", ROOT)] + ([("base", args.base.resolve())] if args.base else [])
    trees += [(peer, ROOT) for peer in args.peers]
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    for number in range(args.rounds):
        for name, tree in trees if number % 2 == 0 else trees[::-1]:
            result = round_one(name, tree, args)
            results[name].append(result)
            print(f"round {number + 1} {name}: " + ", ".join(f"{k} {v:,.1f}" for k, v in result.items())
                  + f" (load {os.getloadavg()[0]:.1f})", flush=True)
    print(f"\nmedians of {args.rounds} rounds, {args.connections} connections, {args.concurrency} in flight, "
          f"{args.client} client x{args.clients} (load {os.getloadavg()[0]:.1f}); ratios this / the others:")
    for metric in results["this"][0]:
        row = {name: statistics.median(r[metric] for r in rows) for name, rows in results.items()}
        ratio = "".join(f"  /{name} {row['this'] / value:.2f}x"
                        for name, value in row.items() if name != "this" and value)
        print(f"  {metric:<40}" + "".join(f" {name} {value:>10,.1f}" for name, value in row.items()) + ratio)


if __name__ == "__main__":
    main()
