"""The gateway's Prometheus collector: its plain counters, read at scrape time.

``GatewayCollector`` reads ``GatewayState`` (connections, the hub's subscriptions,
``Counters``) when /metrics is scraped, so the hot paths only bump integers. Live
views have their own collector (``gateway.watch.LiveViews.collect``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from broker.backend import InProcess
from gateway import ops
from gateway.state import GatewayState

__all__ = ["GatewayCollector"]


class GatewayCollector:
    """Exposes the hub's plain counters in the Prometheus format at scrape time."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        state = self.state
        counters = state.counters
        yield GaugeMetricFamily("fanout_connections", "Open websocket connections", value=len(state.connections))
        yield GaugeMetricFamily("fanout_subscriptions", "Channel and pattern subscriptions of connections",
                                value=state.hub.subscription_count)
        yield GaugeMetricFamily("fanout_channels", "Channels with local subscribers",
                                value=len(state.hub.channels))
        yield GaugeMetricFamily("fanout_patterns", "Patterns with local subscribers (psubscribe)",
                                value=len(state.hub.patterns))
        yield CounterMetricFamily("fanout_messages_received", "Messages from the broker that reached local "
                                  "subscribers, from any publisher (websocket, HTTP, RESP, scripts, other nodes); "
                                  "one per matching channel or pattern subscription",
                                  value=state.hub.received)
        backend = state.backend
        if isinstance(backend, InProcess):  # (a worker's broker is in the supervisor: ops.metrics adds it)
            yield ops.broker_publishes_metric(backend.broker.stats.client_publishes)
        node = state.node
        if node is not None and node.workers > 1:
            yield GaugeMetricFamily("fanout_worker", "This worker's index (these metrics are this worker's)",
                                    value=node.worker)
        yield CounterMetricFamily("fanout_connections_opened", "Websocket connections accepted",
                                  value=counters.connections_total)
        yield CounterMetricFamily("fanout_messages_in", "Messages published through this gateway (websocket "
                                  "and HTTP API)",
                                  value=counters.messages_in)
        yield CounterMetricFamily("fanout_messages_out", "Events delivered to connections",
                                  value=counters.deliveries)
        yield CounterMetricFamily("fanout_messages_dropped", "Events skipped for slow connections",
                                  value=counters.dropped)
        disconnects = CounterMetricFamily("fanout_disconnects", "Closed connections by reason",
                                          labels=["reason"])
        for reason, count in sorted(counters.disconnects.items()):
            disconnects.add_metric([reason], count)
        yield disconnects
        rejected = CounterMetricFamily("fanout_rejected_connections", "Refused websocket upgrades by reason",
                                       labels=["reason"])
        for reason, count in sorted(counters.rejected.items()):
            rejected.add_metric([reason], count)
        yield rejected
