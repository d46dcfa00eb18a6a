"""The gateway's typed application state (``GatewayState``, reached as ``app[STATE]``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from broker.backend import Backend
from gateway.auth import Authenticator
from gateway.channels import ChannelPolicy
from gateway.connection import Connection, Counters
from gateway.ratelimit import TokenBucket
from gateway.settings import GatewaySettings

if TYPE_CHECKING:
    from gateway.fanout import Hub
    from gateway.ops import NodeInfo
    from presence.tracker import PresenceTracker

__all__ = ["STATE", "GatewaySettings", "GatewayState", "PATTERN_QUERY_RATE", "PATTERN_QUERY_BURST"]

# Pattern queries of /api/channels per second per node, and the burst allowed.
PATTERN_QUERY_RATE = 50.0
PATTERN_QUERY_BURST = 100.0


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
    node_id: str
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
