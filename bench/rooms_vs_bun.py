"""The chat shape and HTTP publishing: `fanout serve` vs Bun's native pub/sub and node `ws`, side by side.

Shapes (each server started fresh for each, alternating servers round by round):
- rooms: 10,000 connections in 1,000 rooms of 10, publishes rotating over the rooms;
- one channel: 1,000 and 10,000 connections on one channel.
Per shape and server:
- deliveries/s at saturation with HTTP publishes (``POST /api/publish``, kept-alive
  connections, a closed loop of --inflight requests per connection), and for fanout
  also with batch publishes (``{"messages": [...]}``, --batch per request) and RESP
  ``PUBLISH`` (pipelined);
- p50/p99 publish-to-receive latency at a fixed rate of deliveries/s (--rooms-rate for
  rooms, --latency-rate for one channel), HTTP publishes, measured first (on the fresh
  connections, before the saturation steps' backlog) over every message of a spread
  sample of the connections (~30,000 samples, bench/latency.py); a step that timed
  nothing or lost deliveries is printed as a failure with its cause, not a nan;
- memory per idle subscribed connection (RSS delta / C) and connections/s while the
  load generators connect (their own speed bounds this figure, for every server alike);
- connects/s and server CPU per connect of a storm of --storm connects + subscribes from
  the raw-socket Bun client of bench/connect_storm.py, made at the end of each run beside
  the C idle connections (the server, not that client, bounds it).
Peers: ``bench/peers/bun_rooms.js`` (Bun's ``server.publish``; the npm package ``bun``,
whose binary comes from the registry, installed once into a cache directory) and
``bench/peers/node_rooms.js`` (node ``ws`` with a Map of rooms). Servers run on core 0,
the load (picows load generators, this process's publishers) on core 1. Medians of
--rounds rounds; ratios are ours / the peer's.

Usage: python bench/rooms_vs_bun.py [--rounds 3] [--seconds 4] [--shapes rooms one:1000 one:10000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from itertools import count
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LOAD_CORE, ROOT, SERVER_CORE, LoadGen, cpu_seconds, cpu_times, free_port, rss_kb, taskset, wait_port  # noqa: E402
from connect_clients import StormClients  # noqa: E402
from latency import NoSamples, merge_samples, percentile, timing_stride  # noqa: E402

CACHE = Path(os.environ.get("FANOUT_BENCH_CACHE", Path.home() / ".cache" / "fanout-bench" / "peers"))
SERVERS = ("fanout", "bun", "node")
# --base DIR: another fanout checkout run as server "base" beside the others (before/after).
BASE: list[Path] = []
# fanout's --ping-interval (a connection is closed when a ping goes unanswered for half of
# it): by default 240 s, as Bun's 120 s idle timeout. With the server's 20 s, the pongs of
# one:10000's load generators, stuck behind a saturation step's backlog for over 10 s, got
# 3,600-9,400 of the 10,000 connections closed (ping_timeout) in rounds at load 5-8, so the
# later steps measured fanout with fewer receivers than Bun, which closed none.
PING_INTERVAL = [240.0]
# The latency steps that failed (server, shape: the cause), printed with the medians.
failures: list[str] = []


# ------------------------------------------------------------------ servers

def peer_tools() -> dict[str, list[str]]:
    """The peers' commands, installing bun and ws into CACHE with npm the first time."""
    bun = CACHE / "node_modules" / "bun" / "bin" / "bun.exe"
    if not bun.exists() or not (CACHE / "node_modules" / "ws").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(CACHE),
                        "bun@1", "ws@8"], check=True, stdout=subprocess.DEVNULL)
    peers = ROOT / "bench" / "peers"
    return {"bun": [str(bun), str(peers / "bun_rooms.js")], "node": ["node", str(peers / "node_rooms.js")]}


def start(kind: str, tools: dict[str, list[str]]) -> tuple[subprocess.Popen[bytes], int, int | None]:
    """A server on the server core: (process, HTTP port, RESP port or None)."""
    port, resp = free_port(), None
    env = dict(os.environ)
    if kind in ("fanout", "base"):
        resp = free_port()
        command = [sys.executable, "-m", "gateway.cli", "serve", "--http-port", str(port), "--resp-port", str(resp),
                   "--publish-rate", "1000000000", "--publish-burst", "1000000000", "--max-connections",
                   "1000000", "--log-level", "warning", "--save", "", "--ping-interval", str(PING_INTERVAL[0])]
    else:
        command = tools[kind] + [str(port)]
        env["NODE_PATH"] = str(CACHE / "node_modules")
    process = subprocess.Popen(taskset(SERVER_CORE) + command, cwd=BASE[0] if kind == "base" else ROOT, env=env,
                               stdout=subprocess.DEVNULL)
    wait_port(port, 30)
    return process, port, resp


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --------------------------------------------------------------- publishers

def _payload(channel: str, seq: int) -> dict[str, object]:
    return {"channel": channel, "data": {"t": time.time(), "seq": seq, "text": "hello from the benchmark"}}


def http_request(body: bytes) -> bytes:
    return (b"POST /api/publish HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


def resp_publish(channel: str, body: bytes) -> bytes:
    name = channel.encode()
    return b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(name), name, len(body), body)


class Answers(asyncio.Protocol):
    """Counts complete HTTP responses (by Content-Length) or RESP integer replies."""

    def __init__(self, resp: bool) -> None:
        self.resp = resp
        self.buffer = b""
        self.answered = 0
        self.waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        done = 0
        if self.resp:
            done = buffer.count(b"\r\n")
            buffer = buffer[buffer.rfind(b"\r\n") + 2:] if done else buffer
        else:
            while True:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buffer[:end + 2].lower()
                at = head.index(b"content-length:")
                length = int(head[at + 15:head.index(b"\r\n", at)])
                if len(buffer) < end + 4 + length:
                    break
                if not buffer.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"publish refused: {buffer[:end + 4 + length]!r}")
                buffer = buffer[end + 4 + length:]
                done += 1
        self.buffer = buffer
        self.answered += done
        if done and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


async def _connect(port: int, resp: bool) -> Answers:
    _, protocol = await asyncio.get_running_loop().create_connection(lambda: Answers(resp), "127.0.0.1", port)
    return protocol


async def saturate(port: int, channels: list[str], seconds: float, connections: int, inflight: int,
                   resp: bool = False, batch: int = 0) -> float:
    """Closed loop: each connection keeps ``inflight`` publishes (or batches) unanswered;
    returns messages published per second."""
    rotation = count()
    published = 0

    def request() -> bytes:
        nonlocal published
        if batch:
            messages = [_payload(channels[next(rotation) % len(channels)], 0) for _ in range(batch)]
            published += batch
            return http_request(orjson.dumps({"messages": messages}))
        channel = channels[next(rotation) % len(channels)]
        published += 1
        payload = _payload(channel, 0)
        return resp_publish(channel, orjson.dumps(payload["data"])) if resp else http_request(orjson.dumps(payload))

    async def drive(link: Answers, deadline: float) -> None:
        assert link.transport is not None
        link.transport.write(b"".join(request() for _ in range(inflight)))
        sent = inflight
        while time.monotonic() < deadline:
            link.waiter = asyncio.get_running_loop().create_future()
            await asyncio.wait_for(link.waiter, 60)
            more = link.answered + inflight - sent
            link.transport.write(b"".join(request() for _ in range(more)))
            sent += more
        while link.answered < sent:  # the last answers, so nothing is left queued for the next step
            link.waiter = asyncio.get_running_loop().create_future()
            await asyncio.wait_for(link.waiter, 60)

    links = [await _connect(port, resp) for _ in range(connections)]
    started = time.monotonic()
    await asyncio.gather(*(drive(link, started + seconds) for link in links))
    elapsed = time.monotonic() - started
    for link in links:
        assert link.transport is not None
        link.transport.close()
    return published / elapsed


def client_frame(payload: bytes) -> bytes:
    """A masked client text frame; the all-zero mask leaves the payload as it is (the
    RFC wants a masking key, any value; the benchmark's own is fixed)."""
    length = len(payload)
    header = b"\x81" + (bytes((0x80 | length,)) if length < 126 else b"\xfe" + length.to_bytes(2, "big"))
    return header + b"\0\0\0\0" + payload


class Frames(asyncio.Protocol):
    """A websocket client reduced to counting the server's text frames (after the handshake)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.opened = False
        self.frames = 0
        self.waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        if not self.opened:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            self.opened, buffer = True, buffer[end + 4:]
            self.frames -= 1  # the 101 counts as the first answer
        at, done = 0, 1 if self.frames < 0 else 0
        while len(buffer) - at >= 2:
            length, start = buffer[at + 1] & 0x7F, at + 2
            if length == 126:
                length, start = int.from_bytes(buffer[at + 2:at + 4], "big"), at + 4
            elif length == 127:
                length, start = int.from_bytes(buffer[at + 2:at + 10], "big"), at + 10
            if len(buffer) < start + length:
                break
            done += buffer[at] & 0x0F == 1
            at = start + length
        self.buffer = buffer[at:]
        self.frames += done
        if done and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def wait(self, frames: int) -> None:
        while self.frames < frames:
            self.waiter = asyncio.get_running_loop().create_future()
            await asyncio.wait_for(self.waiter, 60)


async def ws_saturate(kind: str, port: int, rooms: list[str], seconds: float, inflight: int) -> float:
    """The chat path: one publishing websocket in each of ``rooms`` (an 11th member),
    each keeping ``inflight`` publishes to its own room unanswered; a publish is
    answered by the publisher's own copy. Returns publishes/s."""
    links = []
    for room in rooms:
        _, link = await asyncio.get_running_loop().create_connection(Frames, "127.0.0.1", port)
        query = f"?room={room}" if kind in ("bun", "node") else ""
        assert link.transport is not None
        link.transport.write(f"GET /ws{query} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                             .encode())
        if kind in ("bun", "node"):
            await link.wait(0)
        else:
            link.transport.write(client_frame(orjson.dumps({"op": "subscribe", "channel": room, "id": 1})))
            await link.wait(1)  # the 101 and the subscribe reply
        link.frames = 0
        links.append((room, link))

    def frame(room: str) -> bytes:
        payload = _payload(room, 0)
        return client_frame(orjson.dumps({"op": "publish", **payload} if kind not in ("bun", "node") else payload))

    async def drive(room: str, link: Frames, deadline: float) -> int:
        assert link.transport is not None
        link.transport.write(b"".join(frame(room) for _ in range(inflight)))
        sent = inflight
        while time.monotonic() < deadline:
            await link.wait(link.frames + 1)
            more = link.frames + inflight - sent
            link.transport.write(b"".join(frame(room) for _ in range(more)))
            sent += more
        await link.wait(sent)
        return sent

    started = time.monotonic()
    published = sum(await asyncio.gather(*(drive(room, link, started + seconds) for room, link in links)))
    elapsed = time.monotonic() - started
    for _, link in links:
        assert link.transport is not None
        link.transport.close()
    return published / elapsed


async def paced(port: int, channels: list[str], rate: float, seconds: float) -> int:
    """Open loop: ``rate`` HTTP publishes/s, sent every millisecond as they fall due;
    returns how many were sent (every one answered, or an error)."""
    link = await _connect(port, False)
    assert link.transport is not None
    rotation = count()
    started = time.monotonic()
    sent = 0
    while (now := time.monotonic()) - started < seconds:
        due = int((now - started) * rate) - sent
        if due > 0:
            link.transport.write(b"".join(http_request(orjson.dumps(_payload(channels[next(rotation) % len(channels)],
                                                                             sent + i))) for i in range(due)))
            sent += due
        await asyncio.sleep(0.001)
    deadline = time.monotonic() + 10
    while link.answered < sent and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    link.transport.close()
    if link.answered < sent:
        raise NoSamples(f"{sent - link.answered} of {sent} paced publishes unanswered 10 s after the last")
    return sent


# ------------------------------------------------------------------ a round

def losses(port: int) -> dict[str, int]:
    """fanout's /metrics counts of events skipped for connections over their output budget
    ("dropped") and of closed connections by reason."""
    found = {"dropped": 0}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:  # (a --base tree without them: the failure is still named, without these)
        return {}
    for line in text.splitlines():
        if line.startswith("fanout_messages_dropped_total "):
            found["dropped"] = int(float(line.split()[1]))
        elif line.startswith("fanout_disconnects_total{"):
            found[line[line.index('"') + 1:line.rindex('"')]] = int(float(line.split()[-1]))
    return found


def counted(gens: list[LoadGen]) -> int:
    return sum(orjson.loads(gen.command("count"))["deliveries"] for gen in gens)


async def quiet(gens: list[LoadGen], timeout: float = 30.0) -> None:
    """Until the load generators have received nothing for 0.5 s; NoSamples after ``timeout``
    (a latency step behind that backlog would time its drain)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        now = counted(gens)
        if now == last:
            return
        last = now
        await asyncio.sleep(0.5)
    raise NoSamples(f"the saturation steps' deliveries still arriving {timeout:g} s after them")


async def arrived(gens: list[LoadGen], expected: int, timeout: float = 10.0) -> None:
    """Until the load generators have counted ``expected`` deliveries (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while counted(gens) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def run_one(kind: str, shape: tuple[str, int], args: argparse.Namespace,
            tools: dict[str, list[str]]) -> dict[str, float]:
    name, connections = shape
    rooms = connections // 10 if name == "rooms" else 0
    channels = [f"room-{i}" for i in range(rooms)] or ["bench"]
    process, port, resp_port = start(kind, tools)
    result: dict[str, float] = {}
    gens: list[LoadGen] = []
    try:
        base = rss_kb(process.pid)
        workers = max(1, min(args.processes, connections // 250 or 1))
        share = connections // workers
        started, cpu = time.monotonic(), cpu_seconds(process.pid)
        gens = [LoadGen(f"ws://127.0.0.1:{port}/ws", share, "peer" if kind in ("bun", "node") else "fanout",
                        rooms=rooms, offset=i * share) for i in range(workers)]
        for gen in gens:
            gen.wait_ready()
        result["connect_rate"] = connections / (time.monotonic() - started)
        result["connect_cpu"] = (cpu_seconds(process.pid) - cpu) * 1e6 / connections
        result["memory"] = (rss_kb(process.pid) - base) * 1024 / connections

        def delivered(step: float) -> float:
            return sum(orjson.loads(gen.command("report"))["deliveries"] for gen in gens) / step

        async def latency_step() -> None:
            """p50/p99 at the fixed rate, first, on the connections just made: after the
            saturation steps their backlog (seconds deep at 10,000 connections: each may
            hold up to its 1 MiB budget) was still draining, or fanout's heartbeat had
            closed the connections that could not answer its ping through it for 10 s
            (``ping_timeout``), the first 20 (the only timed ones) among them some rounds:
            no samples, a nan."""
            rate = args.rooms_rate if rooms else args.latency_rate
            members = connections // len(channels)
            ours = kind in ("fanout", "base")
            before = losses(port) if ours else {}
            try:
                await quiet(gens)
                stride = timing_stride(rate, args.seconds)
                for gen in gens:
                    gen.command(f"time {stride}")
                gen_cpu = sum(orjson.loads(gen.command("report"))["cpu"] for gen in gens)
                started, cpu = time.monotonic(), cpu_seconds(process.pid)
                sent = await paced(port, channels, rate / members, args.seconds)
                await arrived(gens, sent * members)
                elapsed = time.monotonic() - started
                reports = [orjson.loads(gen.command("report")) for gen in gens]
                latencies = merge_samples(reports, sent * members)
                result["p50"], result["p99"] = percentile(latencies, 0.5), percentile(latencies, 0.99)
                result["samples"] = len(latencies)
                # Who was busy: the server's CPU per delivery at this rate (one message per
                # write, unlike saturation's runs) and the load generators' share of a core.
                result["lat_cpu"] = (cpu_seconds(process.pid) - cpu) * 1e6 / (sent * members)
                result["lat_gen_load"] = (sum(r["cpu"] for r in reports) - gen_cpu) / elapsed
            except NoSamples as error:
                if ours:  # what the server counted: events skipped over a budget, closes by reason
                    error = NoSamples(f"{error}; before the step the server's /metrics counted {before}, after it "
                                      f"{losses(port)} (dropped: events skipped over a connection's output budget; "
                                      "the rest: connections closed, by reason)")
                # Named, not a nan: the round's other figures stand, its latency is missing.
                print(f"  {kind} {name} C={connections}: latency step at {rate:,.0f} deliveries/s failed: {error}",
                      flush=True)
                failures.append(f"{kind} {name} C={connections}: {error}")

        async def measure() -> None:
            await latency_step()
            if args.latency_only:
                return
            steps = [("http", {})]
            steps += [("batch", {"batch": args.batch})] if kind == "fanout" else []  # (base may predate batches)
            steps += [("resp", {"resp": True})] if kind in ("fanout", "base") else []
            steps += [("ws", {})] if rooms else []
            closed = closed_so_far = 0
            for label, extra in steps:
                for gen in gens:
                    gen.command("reset")
                started, (user, system) = time.monotonic(), cpu_times(process.pid)
                cpu = user + system
                target = resp_port if label == "resp" else port
                inflight = 1 if label == "batch" else args.inflight  # a batch is many publishes already
                if label == "ws":
                    result["ws_publishes"] = await ws_saturate(kind, port, channels[:args.ws_publishers], args.seconds,
                                                               2)
                else:
                    result[f"{label}_publishes"] = await saturate(target, channels, args.seconds, args.publishers,
                                                                  inflight, **extra)  # type: ignore[arg-type]
                await asyncio.sleep(0.3)  # the last deliveries land
                result[label] = delivered(time.monotonic() - started)
                user_after, system_after = cpu_times(process.pid)
                result[f"{label}_cpu"] = (user_after + system_after - cpu) * 1e6 / (result[label] * (
                    time.monotonic() - started))
                # The kernel's share (socket writes and reads) of that CPU: what user-space cuts cannot reach.
                result[f"{label}_sys"] = 100 * (system_after - system) / max(user_after + system_after - cpu, 1e-9)
                # Which step the server closed connections in (the round's line shows it).
                closed = sum(orjson.loads(gen.command("count"))["closed"] for gen in gens)
                if closed > closed_so_far:
                    result[f"{label}_closed"] = closed - closed_so_far
                    closed_so_far = closed
            # Connections the server closed by the end (a closed one receives nothing more,
            # so the later steps' deliveries/s count fewer receivers).
            result["closed"] = closed
            if closed and kind in ("fanout", "base"):
                print(f"  {kind} {name} C={connections}: closed by reason and events skipped, from its "
                      f"/metrics: {losses(port)}", flush=True)

        asyncio.run(measure())
        if args.storm:
            # Connects/s from the raw-socket Bun client (bench/connect_clients.py), beside the
            # load generators' connections: the picows clients above bound their own figure.
            clients = StormClients(tools["bun"][0], port, args.storm, args.storm_inflight, rooms, first=connections)
            try:
                cpu = cpu_seconds(process.pid)
                result["storm_rate"] = args.storm / clients.storm()
                result["storm_cpu"] = (cpu_seconds(process.pid) - cpu) * 1e6 / args.storm
                clients.close()
            finally:
                clients.kill()
    finally:
        for gen in gens:
            gen.quit()
        stop(process)
    print(f"  {kind:<6} {name} C={connections}: " + ", ".join(f"{key} {value:,.1f}" for key, value in result.items()),
          flush=True)
    return result


ROWS = (("http", "deliveries/s, HTTP publish", "higher"),
        ("http_publishes", "HTTP publishes/s", "higher"),
        ("batch", "deliveries/s, batch publish", "higher"),
        ("resp", "deliveries/s, RESP publish", "higher"),
        ("ws", "deliveries/s, websocket publish", "higher"),
        ("ws_publishes", "websocket publishes/s", "higher"),
        ("http_cpu", "server CPU us/delivery, HTTP", "lower"),
        ("batch_cpu", "server CPU us/delivery, batch", "lower"),
        ("resp_cpu", "server CPU us/delivery, RESP", "lower"),
        ("ws_cpu", "server CPU us/delivery, ws", "lower"),
        ("http_sys", "kernel % of that CPU, HTTP", "lower"),
        ("ws_sys", "kernel % of that CPU, ws", "lower"),
        ("p50", "p50 ms @ fixed rate (HTTP)", "lower"),
        ("p99", "p99 ms @ fixed rate (HTTP)", "lower"),
        ("samples", "latency samples", "higher"),
        ("lat_cpu", "server CPU us/delivery @ fixed", "lower"),
        ("lat_gen_load", "load generators' cores @ fixed", "lower"),
        ("closed", "connections closed by the server", "lower"),
        ("memory", "bytes per idle connection", "lower"),
        ("connect_rate", "connections/s (load-bound)", "higher"),
        ("connect_cpu", "server CPU us per connect+sub", "lower"),
        ("storm_rate", "connects/s, Bun client storm", "higher"),
        ("storm_cpu", "server CPU us/connect, storm", "lower"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["rooms", "one:1000", "one:10000"],
                        help="rooms[:C] (C connections, default 10,000, in rooms of 10) and one:C (C connections, "
                             "one channel)")
    parser.add_argument("--servers", nargs="+", default=list(SERVERS), choices=SERVERS + ("base",))
    parser.add_argument("--base", type=Path, help="another fanout checkout, run as server 'base' (before/after)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each measurement")
    parser.add_argument("--publishers", type=int, default=4, help="HTTP/RESP publisher connections")
    parser.add_argument("--inflight", type=int, default=8, help="unanswered publishes per publisher connection")
    parser.add_argument("--ws-publishers", type=int, default=100,
                        help="rooms shape: publishing websockets, one in each of the first rooms")
    parser.add_argument("--batch", type=int, default=50, help="messages per batch publish (fanout)")
    parser.add_argument("--rooms-rate", type=float, default=20_000,
                        help="deliveries/s for the rooms latency run (about half of Bun's saturation here)")
    parser.add_argument("--latency-rate", type=float, default=100_000,
                        help="deliveries/s for the one-channel latency run")
    parser.add_argument("--ping-interval", type=float, default=PING_INTERVAL[0],
                        help="fanout's heartbeat (the server's default is 20; 240 matches Bun's 120 s idle timeout)")
    parser.add_argument("--latency-only", action="store_true", help="only the fixed-rate latency step")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--storm", type=int, default=5000,
                        help="connects of the Bun-client connect storm at the end of each run (0: none)")
    parser.add_argument("--storm-inflight", type=int, default=500, help="connects in flight in that storm")
    parser.add_argument("--quick", action="store_true",
                        help="rooms:2000 and one:1000, fanout and bun, 3 rounds of 1 s steps (< 3 min)")
    args = parser.parse_args()
    PING_INTERVAL[0] = args.ping_interval
    if args.base:
        BASE.append(args.base)
        if "base" not in args.servers:
            args.servers.append("base")
    if args.quick:
        args.shapes, args.seconds = ["rooms:2000", "one:1000"], 1.0
        args.servers = ["fanout", "bun"] + (["base"] if args.base else [])
        args.ws_publishers = 20
    shapes = [(name, int(size or 10_000)) for name, _, size in (shape.partition(":") for shape in args.shapes)]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if taskset(LOAD_CORE):
        os.sched_setaffinity(0, {int(LOAD_CORE)})
    tools = peer_tools() if set(args.servers) - {"fanout", "base"} or args.storm else {}
    results: dict[tuple[str, int], dict[str, list[dict[str, float]]]] = {}
    begun = time.monotonic()
    for round_index in range(args.rounds):
        for shape in shapes:
            order = args.servers if round_index % 2 == 0 else args.servers[::-1]
            print(f"round {round_index + 1}, {shape[0]} C={shape[1]}", flush=True)
            for kind in order:
                results.setdefault(shape, {}).setdefault(kind, []).append(run_one(kind, shape, args, tools))
    print(f"\n(medians of {args.rounds} rounds, {time.monotonic() - begun:.0f} s)")
    peers = [kind for kind in args.servers if kind != "fanout"]
    print(f"{'shape':<12} {'metric':<30} " + " ".join(f"{kind:>10}" for kind in args.servers)
          + "".join(f" {'vs ' + kind:>9}" for kind in peers))
    for shape, by_kind in results.items():
        label = f"{shape[0]} {shape[1]}"
        for key, text, better in ROWS:
            # A failed latency step leaves its round out of that row's median (said below).
            medians = {kind: statistics.median(r[key] for r in runs if key in r) for kind, runs in by_kind.items()
                       if any(key in r for r in runs)}
            if "fanout" not in medians:
                continue
            cells = " ".join(f"{medians[kind]:>10,.1f}" if kind in medians else f"{'-':>10}" for kind in args.servers)
            ratios = "".join(f" {medians['fanout'] / medians[kind]:>8.2f}x" if medians.get(kind) else f" {'-':>9}"
                             for kind in peers)
            short = [f"{kind} {sum(key in r for r in runs)} of {len(runs)}" for kind, runs in by_kind.items()
                     if kind in medians and not all(key in r for r in runs)]
            print(f"{label:<12} {text:<30} {cells}{ratios}  ({better} is better)"
                  + (f" (rounds measured: {', '.join(short)})" if short else ""))
    print_paired(results, peers)
    for failure in failures:
        print(f"latency step failed: {failure}")


# Rows whose per-round ratios are printed too (see print_paired).
PAIRED = (("http", "deliveries/s, HTTP publish"), ("http_cpu", "server CPU us/delivery, HTTP"))


def print_paired(results: dict[tuple[str, int], dict[str, list[dict[str, float]]]], peers: list[str]) -> None:
    """Each round's ratio of fanout to a peer, and their median: the two ran minutes
    apart in the same round, so a change in the machine's load between rounds moves
    both (a ratio of medians can pair a quiet round of one with a busy one of the other)."""
    for shape, by_kind in results.items():
        for key, text in PAIRED:
            for kind in peers:
                pairs = [ours[key] / theirs[key] for ours, theirs in zip(by_kind.get("fanout", []), by_kind.get(kind, []))
                         if ours.get(key) and theirs.get(key)]
                if pairs:
                    print(f"{shape[0]} {shape[1]}: {text}, fanout / {kind} by round: "
                          + ", ".join(f"{ratio:.2f}" for ratio in pairs) + f" (median {statistics.median(pairs):.2f}x)")


if __name__ == "__main__":
    main()
