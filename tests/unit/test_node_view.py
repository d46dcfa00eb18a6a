"""gateway/node_view.py: merging the workers' answers (issue #17)."""

from __future__ import annotations

from gateway.node_view import merge_counts, merge_metrics

WORKER_1 = """# HELP fanout_connections Open websocket connections
# TYPE fanout_connections gauge
fanout_connections 3.0
# HELP fanout_disconnects_total Closed connections by reason
# TYPE fanout_disconnects_total counter
fanout_disconnects_total{reason="client_closed"} 2.0
"""
WORKER_2 = """# HELP fanout_connections Open websocket connections
# TYPE fanout_connections gauge
fanout_connections 4.0
# HELP fanout_disconnects_total Closed connections by reason
# TYPE fanout_disconnects_total counter
fanout_disconnects_total{reason="client_closed"} 1.0
fanout_disconnects_total{reason="ping_timeout"} 5.0
"""


def test_counts_are_summed_by_name():
    assert merge_counts([{"a": 1, "b": 2}, {"b": 3, "c": 4}, {}]) == {"a": 1, "b": 5, "c": 4}


def test_metrics_keep_each_family_together_with_worker_labels():
    assert merge_metrics({1: WORKER_1, 2: WORKER_2}).splitlines() == [
        "# HELP fanout_connections Open websocket connections",
        "# TYPE fanout_connections gauge",
        'fanout_connections{worker="1"} 3.0',
        'fanout_connections{worker="2"} 4.0',
        "# HELP fanout_disconnects_total Closed connections by reason",
        "# TYPE fanout_disconnects_total counter",
        'fanout_disconnects_total{worker="1",reason="client_closed"} 2.0',
        'fanout_disconnects_total{worker="2",reason="client_closed"} 1.0',
        'fanout_disconnects_total{worker="2",reason="ping_timeout"} 5.0',
    ]
