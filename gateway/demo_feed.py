"""``fanout demo-feed``: a stand-in backend service that feeds the demo pages over RESP.

It does what a real service would do with the Redis client it already has (redis-py):
publishes metrics on ``metrics:cpu``, ``metrics:memory`` and ``metrics:requests`` (JSON
``{"value": v, "time": ms}``), keeps the hash ``dashboard:status`` up to date (HSET), and
bumps scores in the sorted set ``leaderboard:demo`` (ZINCRBY). The pages (dashboard,
leaderboard) show all three live.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Metrics", "run", "add_arguments", "PLAYERS"]

PLAYERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
           "oscar"]


@dataclass
class Metrics:
    """Random walks that look like a server's vitals (pure: the caller brings the random source)."""

    rng: random.Random = field(default_factory=random.Random)
    cpu: float = 35.0
    memory: float = 2.1
    requests: float = 400.0

    def step(self) -> dict[str, float]:
        """The next reading of each metric, kept within plausible bounds."""
        self.cpu = min(100.0, max(0.0, self.cpu + self.rng.gauss(0, 6)))
        self.memory = min(16.0, max(0.5, self.memory + self.rng.gauss(0, 0.08)))
        self.requests = max(0.0, self.requests + self.rng.gauss(0, 40))
        return {"cpu": round(self.cpu, 1), "memory": round(self.memory, 2), "requests": round(self.requests)}


def _checked(kind: str, minimum: float | None = None, above: float | None = None) -> Any:
    """An argparse type with gateway.options' checks and messages."""
    from gateway.options import Kind, Option, OptionError

    option = Option("value", Kind(kind), None, "", minimum=minimum, above=above)

    def convert(raw: str) -> Any:
        try:
            return option.parse(raw)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("--value ")) from None
    return convert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=_checked("port"), default=6380, help="RESP port of fanout (default 6380)")
    parser.add_argument("--password", default="", help="password for the RESP port, if any")
    parser.add_argument("--interval", type=_checked("duration", above=0), default=0.5, metavar="SECONDS",
                        help="time between updates (default 0.5)")
    parser.add_argument("--count", type=_checked("int", minimum=0), default=0,
                        help="stop after this many updates (default 0: until Ctrl-C)")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable feeds")


def run(args: argparse.Namespace) -> int:
    import redis

    client = redis.Redis(host=args.host, port=args.port, password=args.password or None)
    metrics = Metrics(random.Random(args.seed))
    rng = random.Random(args.seed)
    started = time.time()
    sent = 0
    print(f"fanout demo-feed: publishing to {args.host}:{args.port} every {args.interval:g}s (Ctrl-C stops)",
          flush=True)
    try:
        while args.count <= 0 or sent < args.count:
            readings = metrics.step()
            now_ms = int(time.time() * 1000)
            pipe = client.pipeline(transaction=False)
            for name, value in readings.items():
                pipe.publish(f"metrics:{name}", json.dumps({"value": value, "time": now_ms}))
            pipe.hset("dashboard:status", mapping={
                "uptime_s": int(time.time() - started),
                "cpu_percent": readings["cpu"],
                "memory_gb": readings["memory"],
                "requests_per_s": readings["requests"],
                "updates": sent + 1,
                "last_update": time.strftime("%H:%M:%S"),
            })
            pipe.zincrby("leaderboard:demo", rng.randint(1, 25), rng.choice(PLAYERS))
            pipe.execute()
            sent += 1
            if args.count <= 0 or sent < args.count:
                time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    except redis.ConnectionError as exc:
        print(f"fanout demo-feed: cannot reach {args.host}:{args.port}: {exc}", flush=True)
        return 1
    finally:
        client.close()
    print(f"fanout demo-feed: stopped after {sent} updates", flush=True)
    return 0
