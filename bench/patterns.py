"""Pattern subscriptions (issue 13): PUBLISH on an unrelated channel with 0, 1,000 and
10,000 patterns subscribed, our broker vs redis-server side by side; the gateway's
HTTP publish with 10,000 browser pattern subscriptions vs none; one abusive KEYS.

Patterns are held by 10 RESP connections (or 10 websockets) with 1/10 each. Their
shapes (``--shape``):

- ``mixed`` (default): 80% ``user:<i>:*`` (literal prefix), 15% ``*:<i>:inbox``
  (literal suffix), 5% ``*room<i>*`` (no literal end: the bucket every publish tries);
- ``prefix``: all ``user:<i>:*``;
- ``infix``: all ``*room<i>*``, the worst case for our index (one compiled glob per
  pattern per publish, as a plain scan).

PUBLISH goes to ``unrelated:__rand_int__`` (redis-benchmark ``-r 1000000``), so our
per-channel cache of matches does not help: each publish is a cold lookup. Rates
are redis-benchmark's, unpipelined with 50 clients; each run is sized from a short
probe to last about ``--seconds``.

Each figure comes with the server's CPU µs per publish (``/proc``), which the
machine's other load moves much less than the rates. The gateway is measured in
alternating rounds (none, 10,000, none, ...) and medians are printed.

Run: ``python bench/patterns.py [--counts 0 1000 10000] [--shape mixed] [--seconds 2]
[--rounds 3]`` (~1.5 min).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.presence_storm import cpu_seconds  # noqa: E402
from bench.common import LOAD_CORE, pin_load, start_ours, start_redis, start_serve, stop, taskset  # noqa: E402

CONNECTIONS = 10


def patterns(count: int, shape: str) -> list[bytes]:
    """``count`` distinct patterns of the given shape mix (see the module docstring)."""
    out = []
    for i in range(count):
        kind = shape
        if shape == "mixed":
            kind = "prefix" if i % 20 < 16 else "suffix" if i % 20 < 19 else "infix"
        if kind == "prefix":
            out.append(b"user:%d:*" % i)
        elif kind == "suffix":
            out.append(b"*:%d:inbox" % i)
        else:
            out.append(b"*room%d*" % i)
    return out


def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def hold_patterns(port: int, pattern_list: list[bytes]) -> list[socket.socket]:
    """PSUBSCRIBE the patterns over CONNECTIONS sockets; returns once all are confirmed."""
    sockets = []
    for k in range(CONNECTIONS):
        share = pattern_list[k::CONNECTIONS]
        sock = socket.create_connection(("127.0.0.1", port))
        sockets.append(sock)
        if not share:
            continue
        sock.sendall(_command(b"PSUBSCRIBE", *share))
        seen, data = 0, b""
        while seen < len(share):
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("server closed the subscriber")
            data += chunk
            seen = data.count(b"$10\r\npsubscribe\r\n")
    return sockets


def publish_rate(port: int, pid: int, seconds: float) -> tuple[float, float]:
    """redis-benchmark PUBLISH on random unrelated channels: (requests/s, server CPU µs each)."""
    def run(requests: int) -> float:
        command = taskset(LOAD_CORE) + ["redis-benchmark", "-p", str(port), "-n", str(requests), "-c", "50",
                                        "-r", "1000000", "--csv", "PUBLISH", "unrelated:__rand_int__", "x"]
        output = subprocess.run(command, capture_output=True, text=True, timeout=300).stdout
        rows = [row for row in csv.reader(io.StringIO(output)) if row and row[0] != "test"]
        if not rows:
            raise RuntimeError(f"redis-benchmark printed nothing usable: {output!r}")
        return float(rows[-1][1])

    probe = run(300)
    requests = max(300, min(200_000, int(probe * seconds)))
    before = cpu_seconds(pid)
    rate = run(requests)
    return rate, (cpu_seconds(pid) - before) * 1e6 / requests


def keys_attack(port: int) -> float:
    """Seconds for KEYS with a 480-star pattern over 1,000 names of ~1 KB."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        names = [b"a" * 1000 + b":%d" % i for i in range(1000)]
        sock.sendall(_command(b"MSET", *[part for name in names for part in (name, b"v")]))
        _read_reply_line(sock)
        started = time.perf_counter()
        sock.sendall(_command(b"KEYS", b"*a" * 480 + b"*b"))
        line = _read_reply_line(sock)
        elapsed = time.perf_counter() - started
        assert line == b"*0\r\n", line
        sock.sendall(_command(b"FLUSHALL"))
        _read_reply_line(sock)
        return elapsed


def _read_reply_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        data += sock.recv(1 << 16)
    return data


def broker_table(counts: list[int], shape: str, seconds: float) -> None:
    print(f"PUBLISH unrelated:<random> with N patterns subscribed ({shape}), unpipelined -c 50:")
    print("requests/s, and server CPU µs per PUBLISH (steadier than rates on a shared machine)")
    print(f"{'patterns':>9} {'fanout/s':>10} {'redis/s':>10} {'ratio':>7} {'fanout µs':>10} {'redis µs':>9}")
    servers = {"fanout": start_ours(), "redis": start_redis()}
    try:
        for count in counts:
            rates, cpu = {}, {}
            for name, (process, port) in servers.items():
                held = hold_patterns(port, patterns(count, shape))
                rates[name], cpu[name] = publish_rate(port, process.pid, seconds)
                for sock in held:
                    sock.close()
            print(f"{count:>9} {rates['fanout']:>10.0f} {rates['redis']:>10.0f} "
                  f"{rates['fanout'] / rates['redis']:>6.2f}x {cpu['fanout']:>10.1f} {cpu['redis']:>9.1f}",
                  flush=True)
        attack = {name: keys_attack(port) for name, (_, port) in servers.items()}
        print(f"KEYS '*a'x480+'*b' over 1,000 names of 1 KB: fanout {attack['fanout'] * 1000:.1f} ms, "
              f"redis {attack['redis'] * 1000:.1f} ms")
    finally:
        for process, _ in servers.values():
            stop(process)


async def _gateway_rate(port: int, seconds: float) -> float:
    import aiohttp

    url = f"http://127.0.0.1:{port}/api/publish"
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        async with aiohttp.ClientSession() as http:
            i = 0
            while time.monotonic() < deadline:
                async with http.post(url, json={"channel": f"unrelated:{k}:{i}", "data": 1}) as response:
                    assert response.status == 200, response.status
                done += 1
                i += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(k) for k in range(16)))
    return done / (time.monotonic() - started)


async def _gateway_run(count: int, shape: str, seconds: float) -> tuple[float, float]:
    """(HTTP publishes/s, server CPU µs per publish) with ``count`` browser patterns."""
    import websockets

    import orjson

    process, port = start_serve()
    holders = []
    try:
        pattern_list = patterns(count, shape)
        for k in range(CONNECTIONS):
            share = pattern_list[k::CONNECTIONS]
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=None)
            holders.append(ws)
            for pattern in share:
                await ws.send(orjson.dumps({"op": "psubscribe", "pattern": pattern.decode()}).decode())
            for _ in share:
                reply = orjson.loads(await ws.recv())
                if not reply.get("ok"):
                    raise RuntimeError(f"psubscribe refused: {reply}")
        before = cpu_seconds(process.pid)
        started = time.monotonic()
        rate = await _gateway_rate(port, seconds)
        publishes = rate * (time.monotonic() - started)
        return rate, (cpu_seconds(process.pid) - before) * 1e6 / publishes
    finally:
        for ws in holders:
            await ws.close()
        stop(process)


def gateway_table(count: int, shape: str, seconds: float, rounds: int) -> None:
    print(f"\ngateway HTTP POST /api/publish on unrelated channels, 16 clients, {seconds:g} s")
    # Alternating rounds, medians: the shared machine's load moves single runs a lot.
    runs: dict[int, list[tuple[float, float]]] = {0: [], count: []}
    for _ in range(rounds):
        for n in (0, count):
            runs[n].append(asyncio.run(_gateway_run(n, shape, seconds)))
    (none, none_cpu), (many, many_cpu) = (_medians(runs[0]), _medians(runs[count]))
    print(f"  no pattern subscriptions: {none:.0f}/s, {none_cpu:.0f} µs CPU each; "
          f"{count} browser patterns ({shape}): {many:.0f}/s, {many_cpu:.0f} µs CPU each")
    print(f"  with/without: rate {many / none:.2f}x, CPU per publish {many_cpu / none_cpu:.2f}x "
          f"(medians of {rounds} alternating rounds)")


def _medians(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    rates, cpus = sorted(p[0] for p in pairs), sorted(p[1] for p in pairs)
    return rates[len(rates) // 2], cpus[len(cpus) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[0, 1000, 10000])
    parser.add_argument("--shape", choices=["mixed", "prefix", "infix"], default="mixed")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3, help="gateway rounds (alternating), medians")
    parser.add_argument("--skip-gateway", action="store_true")
    args = parser.parse_args()
    pin_load()
    broker_table(args.counts, args.shape, args.seconds)
    if not args.skip_gateway:
        gateway_table(max(args.counts), args.shape, args.seconds, args.rounds)


if __name__ == "__main__":
    main()
