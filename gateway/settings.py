"""``GatewaySettings``: every tunable of a gateway node, with its default (the one place it is written).

``gateway.options`` builds the flags, environment variables and TOML keys from
these fields (``_setting``), and ``gateway.serve.settings_from_args`` fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.channels import DEFAULT_RULES

__all__ = ["GatewaySettings"]


@dataclass
class GatewaySettings:
    # Largest websocket message / HTTP body accepted, in bytes.
    max_message_size: int = 64 * 1024
    # Output budget per connection (queued + in the socket buffer), in bytes.
    max_buffer: int = 1 << 20
    # How long a connection may stay over its budget before it is closed.
    slow_close_after: float = 5.0
    max_subscriptions: int = 1000
    max_connections: int = 100_000
    # Publishes per second per connection (token bucket), and the burst allowed.
    publish_rate: float = 100.0
    publish_burst: float = 200.0
    # Requests of any op per second per connection (token bucket) and the burst
    # allowed (a page may subscribe to max_subscriptions channels at once). A client
    # that keeps sending at over twice the rate is closed with 1008 (gateway.session).
    op_rate: float = 200.0
    op_burst: float = 1000.0
    # HTTP port: seconds to send a request head / a request body (408 after), and
    # connections that may wait to send a head (past it the longest waiting goes).
    http_header_timeout: float = 10.0
    http_body_timeout: float = 10.0
    max_pending_requests: int = 1024
    # A publish with an idempotency_key is not repeated within this many seconds.
    idempotency_window: float = 300.0
    # Websocket ping interval; a connection whose pong is late by half of it is closed.
    ping_interval: float = 20.0
    # How long shutdown waits for connections to close.
    shutdown_timeout: float = 5.0
    # Presence and history per channel pattern (gateway.channels), first match wins.
    channel: tuple[str, ...] = DEFAULT_RULES
    # TTL of a node's heartbeat key: its connections leave presence this long after it dies.
    node_ttl: float = 15.0
    # Least time between two computations (and pushes) of one live view.
    watch_interval: float = 0.05
