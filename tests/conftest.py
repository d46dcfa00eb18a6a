"""Shared fixtures: real redis-server and fanout broker processes on free ports."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.cluster import RedisCluster, start_redis_cluster
from tests.support.servers import ServerProcess, free_port, start_fanout, start_redis_server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ServerProcess]:
    server = start_redis_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fanout_broker() -> Iterator[ServerProcess]:
    server = start_fanout("broker", "--port", str(free_port()))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fanout_serve() -> Iterator[ServerProcess]:
    """``fanout serve`` (gateway + embedded broker) on free HTTP and RESP ports."""
    resp_port = free_port()
    server = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", str(resp_port),
                          "--publish-rate", "100000", "--publish-burst", "100000")
    server.extra_ports["resp"] = resp_port
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster (redis-server --cluster-enabled yes x3 + redis-cli --cluster create)."""
    cluster = start_redis_cluster()
    yield cluster
    cluster.stop()
