"""Scale-out benchmark (issue 7): one process, a Redis backplane, two nodes, ``--workers 2``.

For each configuration, 10,000 websocket connections (``bench/loadgen.py``, picows)
subscribe to one channel; a publisher connection sends batches over the websocket
and waits for its own copy of each batch's last message (closed loop, as in
``fanout_vs_websockets.py``) for --seconds. Measured:

- delivered messages/s (counted by the load generators);
- server CPU seconds per million deliveries, summed over ALL server processes
  (fanout nodes, the workers and their broker process, redis-server), from
  /proc: the cost that decides how far a machine goes, whatever core it lands on;
  also without the CPU the idle connections take (measured for --idle-seconds
  before publishing starts: heartbeats, timers), which otherwise weighs more the
  slower the load generators run;
- backplane messages per publish per node: a PUBLISH sent straight into the
  backplane during the run reports how many subscriber connections got it (one
  per node, however many browsers each node serves), with ``PUBSUB NUMSUB``;
  and on Redis the bytes redis-server sent per publish (INFO stats).

Nothing is pinned: ``--workers 2`` is about using both cores, so the servers and the
load generator share the machine's two cores, as they would on a small box.

Configurations:
  embedded   one ``fanout serve`` process, embedded broker (the default)
  redis      one node on a redis-server backplane
  redis x2   two nodes on one redis-server, the connections split between them
  workers 2  ``fanout serve --workers 2``: broker process + 2 workers (SO_REUSEPORT)

--rounds N measures the chosen configurations N times, alternating (one round is
each configuration once, so drift of the shared machine hits all alike), and
prints every round's ratios to embedded and their median: with the load
generators on the same two cores, one round's CPU per delivery moves with how
many messages each socket write carries, so the claim is the median of >= 5.
Each round also prints every server process's CPU and write system calls
(``/proc/PID/io``) per thousand deliveries: the writes are most of a delivery's
cost and are counted exactly.

--paced B sends B batches per second in all (the publishers take turns, each
writing its batch in one write and waiting for its own copy of its last message),
instead of closed loops at full speed: the messages then arrive alike in every configuration, one batch at a
time, whatever speed the load generators get from the shared cores; at full speed
how many messages one socket write carries moves with that speed, and the CPU per
delivery with it.

Usage: python bench/scaleout.py [--connections 10000] [--seconds 5] [--rounds 1] [--paced 0]
       [--only embedded redis ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import redis
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, LoadGen, descendants, free_port, wait_port  # noqa: E402
from rooms_vs_bun import client_frame  # noqa: E402

CHANNEL = "bench"
# The checkout whose server runs (--tree): another one for a before/after.
TREE = ROOT
CONFIGS = ("embedded", "redis", "redis x2", "workers 2")


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_calls(pid: int) -> int:
    """Write system calls so far (``/proc/PID/io`` syscw: write, send, writev ...)."""
    try:
        with open(f"/proc/{pid}/io") as io:
            for line in io:
                if line.startswith("syscw:"):
                    return int(line.split()[1])
    except (FileNotFoundError, PermissionError):
        pass
    return 0



@dataclass
class Servers:
    """The server processes of one configuration, their ws ports and RESP port."""
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    ws_ports: list[int] = field(default_factory=list)
    resp_port: int = 0
    is_redis: bool = False
    nodes: int = 1

    def pids(self) -> list[int]:
        return [pid for process in self.processes for pid in descendants(process.pid)]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    def per_process(self) -> dict[int, tuple[float, int]]:
        """pid -> (CPU seconds, write system calls) so far."""
        return {pid: (cpu_seconds(pid), write_calls(pid)) for pid in self.pids()}

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _serve(*flags: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--http-port", str(port), "--log-level", "warning",
         "--publish-rate", "1000000000", "--publish-burst", "1000000000", "--max-connections", "1000000",
         *flags], cwd=TREE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:  # "HTTP on" comes once every worker listens
        lines.append(line)
        if "HTTP on" in line:
            break
    else:
        raise RuntimeError(f"fanout serve {' '.join(flags)} did not start: {''.join(lines)}")
    # Keep reading its output so that a chatty log never blocks it on a full pipe.
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    return process, port


def start(config: str) -> Servers:
    servers = Servers()
    if config in ("embedded", "workers 2"):
        servers.resp_port = free_port()
        workers = ["--workers", "2"] if config == "workers 2" else []
        process, port = _serve("--resp-port", str(servers.resp_port), *workers)
        servers.processes.append(process)
        servers.ws_ports.append(port)
        servers.nodes = 2 if workers else 1
        return servers
    servers.resp_port, servers.is_redis = free_port(), True
    servers.processes.append(subprocess.Popen(
        ["redis-server", "--port", str(servers.resp_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True))
    wait_port(servers.resp_port)
    servers.nodes = 2 if config == "redis x2" else 1
    for _ in range(servers.nodes):
        process, port = _serve("--resp-port", "-1", "--broker", f"redis://127.0.0.1:{servers.resp_port}/0")
        servers.processes.append(process)
        servers.ws_ports.append(port)
    return servers


def _message(publisher: int, seq: int) -> str:
    data = {"t": time.time(), "p": publisher, "seq": seq, "text": "hello from the benchmark"}
    return orjson.dumps({"op": "publish", "channel": CHANNEL, "data": data}).decode()


async def saturate(ports: list[int], publishers: int, seconds: float, batch: int, paced: float = 0.0) -> int:
    """``publishers`` closed loops at once (spread over the nodes); the number of publishes.
    ``paced``: batches per second in all, the publishers taking turns (0: as fast as they go)."""
    counts = await asyncio.gather(*(_closed_loop(ports[n % len(ports)], n, seconds, batch,
                                                 publishers / paced if paced else 0.0,
                                                 n / paced if paced else 0.0)
                                    for n in range(publishers)))
    return sum(counts)


async def _closed_loop(port: int, publisher: int, seconds: float, batch: int, interval: float = 0.0,
                       phase: float = 0.0) -> int:
    """One connection: send a batch, wait for our own copy of its last message.

    One closed loop alone leaves a backplane node idle while its publishes make
    their round trips to Redis, and each message then goes out in its own write per
    connection; several keep the server busy, as many publishing clients would.
    """
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=None, compression=None) as ws:
        await ws.send(orjson.dumps({"op": "subscribe", "channel": CHANNEL, "id": 1}).decode())
        await ws.recv()
        seq = 0
        start = time.monotonic()
        deadline = start + seconds
        tick = start + phase
        while time.monotonic() < deadline:
            if interval:  # paced: wait for this publisher's next turn (one missed is not made up)
                if tick >= deadline:
                    break
                await asyncio.sleep(max(0.0, tick - time.monotonic()))
                tick = max(tick + interval, time.monotonic())
            last = seq + batch - 1
            if interval:  # the batch in one write, as a client's burst: the server reads it whole
                ws.transport.write(b"".join(client_frame(_message(publisher, n).encode())
                                            for n in range(seq, seq + batch)))
                seq += batch
            for _ in range(0 if interval else batch):
                await ws.send(_message(publisher, seq))
                seq += 1
            while True:
                event = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
                data = event.get("data")
                if isinstance(data, dict) and data.get("seq") == last and data.get("p") == publisher:
                    break
        return seq


def backplane_fanout(servers: Servers) -> tuple[int, int]:
    """(subscriber connections of the channel on the backplane, receivers of one PUBLISH)."""
    client = redis.Redis(port=servers.resp_port)
    try:
        numsub = int(client.pubsub_numsub(CHANNEL)[0][1])
        data = orjson.dumps({"t": time.time(), "seq": -1, "text": "straight into the backplane"})
        return numsub, int(client.publish(CHANNEL, data))
    finally:
        client.close()


def redis_bytes_out(servers: Servers) -> int:
    client = redis.Redis(port=servers.resp_port)
    try:
        return int(client.info("stats")["total_net_output_bytes"])
    finally:
        client.close()


def run(config: str, args: argparse.Namespace) -> dict[str, float]:
    servers = start(config)
    gens: list[LoadGen] = []
    try:
        per_gen = args.connections // args.processes
        for index in range(args.processes):
            port = servers.ws_ports[index % len(servers.ws_ports)]
            gens.append(LoadGen(f"ws://127.0.0.1:{port}/ws", per_gen, pin=False))
        for gen in gens:
            gen.wait_ready()
        numsub, receivers = backplane_fanout(servers)
        time.sleep(0.5)  # let that message reach every connection before counting starts
        for gen in gens:
            gen.command("reset")
        # What the open connections cost with nothing published (heartbeats, timers):
        # part of every configuration's CPU per delivery, the larger the slower the
        # load generators are, so it is reported and also taken out.
        idle_before, idle_started = servers.cpu(), time.monotonic()
        time.sleep(args.idle_seconds)
        idle_cores = (servers.cpu() - idle_before) / (time.monotonic() - idle_started)
        bytes_before = redis_bytes_out(servers) if servers.is_redis else 0
        cpu_before, each_before = servers.cpu(), servers.per_process()
        started = time.monotonic()
        published = asyncio.run(saturate(servers.ws_ports, args.publishers, args.seconds, args.batch, args.paced))
        elapsed = time.monotonic() - started
        cpu = servers.cpu() - cpu_before
        each = {pid: (seconds - each_before[pid][0], writes - each_before[pid][1])
                for pid, (seconds, writes) in servers.per_process().items() if pid in each_before}
        bytes_out = (redis_bytes_out(servers) - bytes_before) if servers.is_redis else 0
        delivered = sum(orjson.loads(gen.command("report"))["deliveries"] for gen in gens)
        row = {"delivered/s": delivered / elapsed, "publishes/s": published / elapsed,
               "cpu per M": cpu / delivered * 1e6 if delivered else float("nan"),
               "idle cores": idle_cores,
               "busy cpu per M": (cpu - idle_cores * elapsed) / delivered * 1e6 if delivered else float("nan"),
               "server cores": cpu / elapsed, "numsub": numsub, "receivers": receivers,
               "per node": receivers / servers.nodes,
               "redis bytes/publish": bytes_out / published if published else 0.0,
               "writes per k": sum(w for _, w in each.values()) / delivered * 1e3 if delivered else float("nan")}
        print(f"  {config}: {row['delivered/s']:,.0f} deliveries/s, {row['publishes/s']:,.0f} publishes/s, "
              f"{row['cpu per M']:.2f} server CPU s per million deliveries ({row['server cores']:.2f} cores; "
              f"{row['busy cpu per M']:.2f} without the {idle_cores:.3f} cores of the idle connections), "
              f"backplane: NUMSUB {numsub}, one PUBLISH reached {receivers} subscriber connection(s) "
              f"= {row['per node']:.0f} per node"
              + (f", redis-server sent {row['redis bytes/publish']:.0f} bytes per publish" if servers.is_redis
                 else ""), flush=True)
        if delivered:
            print("    per process (CPU s per M deliveries, writes per 1,000 deliveries): " + ", ".join(
                f"{pid}: {seconds / delivered * 1e6:.2f}, {writes / delivered * 1e3:.1f}"
                for pid, (seconds, writes) in each.items()), flush=True)
        return row
    finally:
        for gen in gens:
            gen.quit()
        servers.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measurement")
    parser.add_argument("--batch", type=int, default=20, help="messages per closed-loop batch")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--publishers", type=int, default=4, help="publishing connections, each a closed loop")
    parser.add_argument("--only", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--idle-seconds", type=float, default=3.0,
                        help="how long the idle connections' CPU is measured before each run")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds; the table shows medians")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the fanout checkout to run (before/after)")
    parser.add_argument("--paced", type=float, default=0.0,
                        help="batches per second in all (the publishers take turns), so every configuration "
                        "gets the same arrivals whatever its load generators' speed; 0: closed loops at full speed")
    args = parser.parse_args()
    global TREE
    TREE = args.tree
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"{args.connections:,} connections on one channel, {args.publishers} publishers, "
          f"{args.seconds:g} s per configuration", flush=True)
    rounds: list[dict[str, dict[str, float]]] = []
    for number in range(1, args.rounds + 1):
        if args.rounds > 1:
            print(f"round {number} (load average {os.getloadavg()[0]:.1f})", flush=True)
        rounds.append({config: run(config, args) for config in args.only})
        if "embedded" in rounds[-1] and len(args.only) > 1:
            base = rounds[-1]["embedded"]
            print("    CPU per delivery vs embedded: " + ", ".join(
                f"{config} x{row['cpu per M'] / base['cpu per M']:.2f} (without idle "
                f"x{row['busy cpu per M'] / base['busy cpu per M']:.2f})"
                for config, row in rounds[-1].items() if config != "embedded"), flush=True)
    rows = {config: {key: statistics.median(r[config][key] for r in rounds) for key in rounds[0][config]}
            for config in args.only}
    if args.rounds > 1 and "embedded" in args.only:
        print()
        for config in args.only:
            if config == "embedded":
                continue
            ratios = [r[config]["cpu per M"] / r["embedded"]["cpu per M"] for r in rounds]
            busy = [r[config]["busy cpu per M"] / r["embedded"]["busy cpu per M"] for r in rounds]
            writes = [r[config]["writes per k"] / r["embedded"]["writes per k"] for r in rounds]
            print(f"{config} / embedded CPU per delivery, by round: {', '.join(f'{x:.2f}' for x in ratios)}; "
                  f"median x{statistics.median(ratios):.2f} (without idle x{statistics.median(busy):.2f}); "
                  f"write calls per delivery median x{statistics.median(writes):.2f}")
        print("(the table below: the median of each column over the rounds)")
    print()
    print(f"{'configuration':<12} {'deliveries/s':>13} {'CPU s / M deliv.':>17} {'without idle':>13} "
          f"{'idle cores':>11} {'server cores':>13} {'writes / 1k deliv.':>19} {'backplane msgs / publish / node':>32}")
    for config, row in rows.items():
        print(f"{config:<12} {row['delivered/s']:>13,.0f} {row['cpu per M']:>17.2f} {row['busy cpu per M']:>13.2f} "
              f"{row['idle cores']:>11.3f} {row['server cores']:>13.2f} {row['writes per k']:>19.1f} {row['per node']:>32.0f}")
    base = rows.get("embedded")
    if base:
        print()
        for config, row in rows.items():
            if config != "embedded":
                print(f"{config} vs embedded: deliveries/s x{row['delivered/s'] / base['delivered/s']:.2f}, "
                      f"CPU per delivery x{row['cpu per M'] / base['cpu per M']:.2f} "
                      f"(without idle x{row['busy cpu per M'] / base['busy cpu per M']:.2f})")
    if "redis" in rows and "workers 2" in rows:
        a, b = rows["workers 2"], rows["redis"]
        print(f"workers 2 vs redis: deliveries/s x{a['delivered/s'] / b['delivered/s']:.2f}, "
              f"CPU per delivery x{a['cpu per M'] / b['cpu per M']:.2f}")


if __name__ == "__main__":
    main()
