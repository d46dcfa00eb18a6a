"""The gateway's typed application state (``GatewayState``, reached as ``app[STATE]``)."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from broker.backend import Backend, Pipelining
from gateway.auth import Authenticator
from gateway.channels import ChannelPolicy
from gateway.connection import Connection, Counters
from gateway.node_view import broker_socket
from gateway.ratelimit import TokenBucket
from gateway.settings import GatewaySettings

if TYPE_CHECKING:
    from gateway.fanout import Hub
    from gateway.watch import LiveViews
    from presence.tracker import PresenceTracker

__all__ = ["STATE", "GatewaySettings", "GatewayState", "NodeInfo", "PATTERN_QUERY_RATE", "PATTERN_QUERY_BURST",
           "RECENT_DISCONNECTS"]

# Pattern queries of /api/channels per second per node, and the burst allowed.
PATTERN_QUERY_RATE = 50.0
PATTERN_QUERY_BURST = 100.0


# Disconnects kept for /api/disconnects and the console (bounded: a storm of
# closes must not grow memory).
RECENT_DISCONNECTS = 100


@dataclass
class NodeInfo:
    """What /api/info reports; set once by ``fanout serve``."""

    version: str = "unknown"
    broker_url: str = "memory://"
    worker: int = 0
    workers: int = 1
    # The supervisor's directory of worker sockets (gateway.node_view); "" when not a worker.
    worker_dir: str = ""
    started: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    # (time, connection id, user, reason), newest last.
    disconnects: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=RECENT_DISCONNECTS))

    @property
    def on_supervisor_broker(self) -> bool:
        """A worker of ``--workers N`` on the supervisor's embedded broker (not on a
        shared Redis the user gave with --broker)."""
        return bool(self.worker_dir) and self.broker_url == "unix://" + broker_socket(self.worker_dir)

    @property
    def broker_kind(self) -> str:
        """memory, redis, rediss, unix or cluster (never the address or password)."""
        scheme = self.broker_url.split("://", 1)[0] if "://" in self.broker_url else self.broker_url
        return {"redis+cluster": "cluster"}.get(scheme, scheme)


@dataclass
class GatewayState:
    settings: GatewaySettings
    backend: Backend
    auth: Authenticator
    hub: Hub
    counters: Counters
    registry: Any
    channels: ChannelPolicy
    tracker: PresenceTracker
    # Live views of keys (ops watch / unwatch), dropped with the connection.
    views: LiveViews
    node_id: str
    # The backend again when it pipelines publishes (gateway.session.publish_now), else None.
    pipeline: Pipelining | None = None
    # The backend is the broker in this very process (``broker.backend.InProcess``):
    # nothing a request awaits needs a task of its own (no redis-py client reading
    # ``asyncio.current_task()``), so gateway.wsserver starts a request's handling
    # inline, making a task only if it ever has to wait.
    in_process: bool = False
    connections: set[Connection] = field(default_factory=set)
    shutting_down: bool = False
    # Connections that closed while the broker was unreachable: removed from
    # presence once it is back.
    pending_leaves: set[str] = field(default_factory=set)
    # What operators see in /api/info and /api/disconnects (gateway.ops).
    node: NodeInfo | None = None
    # GET /api/channels?pattern=: one bucket for the whole node, since the route
    # may be unauthenticated (open mode) and each query globs every channel name.
    pattern_queries: TokenBucket = field(default_factory=lambda: TokenBucket(PATTERN_QUERY_RATE,
                                                                              PATTERN_QUERY_BURST))


STATE = web.AppKey("fanout_state", GatewayState)
